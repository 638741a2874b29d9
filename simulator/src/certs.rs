//! X.509 certificates for simulated servers, made with rcgen: CA-issued chains (leaf +
//! intermediate) for public services and self-signed certificates for internal appliances.
//!
//! Keys are Ed25519 derived from the scenario seed, and Ed25519 signatures are deterministic,
//! so every certificate byte is fixed by the seed.

use rand::{Rng, RngExt};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SerialNumber, date_time_ymd,
};

use crate::units::Nanos;

/// An issuing CA: its intermediate certificate (sent in chains) and signing key.
pub struct Ca {
    pub intermediate_der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

/// (organisation, root name, intermediate name) of the public CAs in the simulated world.
const CAS: &[(&str, &str, &str)] = &[
    ("Let's Encrypt", "ISRG Root X1", "R11"),
    (
        "DigiCert Inc",
        "DigiCert Global Root G2",
        "DigiCert Global G2 TLS RSA SHA256 2020 CA1",
    ),
    ("Google Trust Services", "GTS Root R1", "WR2"),
    (
        "Sectigo Limited",
        "USERTrust RSA Certification Authority",
        "Sectigo RSA Domain Validation Secure Server CA",
    ),
];

/// PKCS#8 v1 wrapper of a raw Ed25519 seed (RFC 8410).
fn ed25519_key(rng: &mut impl Rng) -> KeyPair {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    ];
    der.extend((0..32).map(|_| rng.random::<u8>()));
    KeyPair::try_from(der.as_slice()).expect("a well-formed Ed25519 PKCS#8 key")
}

fn serial(rng: &mut impl Rng) -> SerialNumber {
    let mut b: Vec<u8> = (0..16).map(|_| rng.random::<u8>()).collect();
    b[0] &= 0x7f; // positive
    SerialNumber::from(b)
}

fn ymd(ns: Nanos) -> (i32, u8, u8) {
    let s = crate::units::format_rfc3339(ns);
    (
        s[0..4].parse().unwrap_or(2026),
        s[5..7].parse().unwrap_or(1),
        s[8..10].parse().unwrap_or(1),
    )
}

fn dn(pairs: &[(DnType, &str)]) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    for (t, v) in pairs {
        // X.520 requires PrintableString for country names (decoders flag UTF8String there).
        match t {
            DnType::CountryName => d.push(
                t.clone(),
                rcgen::DnValue::PrintableString((*v).try_into().expect("printable")),
            ),
            _ => d.push(t.clone(), *v),
        }
    }
    d
}

/// The public CAs, valid around `now`.
pub fn public_cas(rng: &mut impl Rng, now: Nanos) -> Vec<Ca> {
    let (y, _, _) = ymd(now);
    CAS.iter()
        .map(|(org, root_name, int_name)| {
            let root_key = ed25519_key(rng);
            let mut root = CertificateParams::default();
            root.distinguished_name = dn(&[
                (DnType::CountryName, "US"),
                (DnType::OrganizationName, org),
                (DnType::CommonName, root_name),
            ]);
            root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            root.not_before = date_time_ymd(y - 10, 1, 1);
            root.not_after = date_time_ymd(y + 15, 1, 1);
            root.serial_number = Some(serial(rng));
            let root_issuer = Issuer::new(root, root_key);

            let int_key = ed25519_key(rng);
            let mut int = CertificateParams::default();
            int.distinguished_name = dn(&[
                (DnType::CountryName, "US"),
                (DnType::OrganizationName, org),
                (DnType::CommonName, int_name),
            ]);
            int.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            int.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            int.not_before = date_time_ymd(y - 2, 3, 13);
            int.not_after = date_time_ymd(y + 3, 3, 12);
            int.serial_number = Some(serial(rng));
            let der = int
                .signed_by(&int_key, &root_issuer)
                .expect("signing with a valid key")
                .der()
                .to_vec();
            Ca {
                intermediate_der: der,
                issuer: Issuer::new(int, int_key),
            }
        })
        .collect()
}

/// A leaf for `name` issued by `ca`, with the chain as a server sends it (leaf, intermediate).
pub fn issued_chain(ca: &Ca, name: &str, rng: &mut impl Rng, now: Nanos) -> Vec<Vec<u8>> {
    let key = ed25519_key(rng);
    let mut sans = vec![name.to_string()];
    if let Some(apex) = name.strip_prefix("www.") {
        sans.push(apex.to_string());
    }
    let mut p = CertificateParams::new(sans).expect("valid DNS names");
    p.distinguished_name = dn(&[(DnType::CommonName, name)]);
    // Issued some weeks before the capture, valid for 90 days (the common ACME lifetime).
    let issued = now.saturating_sub(rng.random_range(2..60) * 86_400 * 1_000_000_000);
    let (y, m, d) = ymd(issued);
    let (ey, em, ed) = ymd(issued + 90 * 86_400 * 1_000_000_000);
    p.not_before = date_time_ymd(y, m, d);
    p.not_after = date_time_ymd(ey, em, ed);
    p.serial_number = Some(serial(rng));
    let leaf = p
        .signed_by(&key, &ca.issuer)
        .expect("signing with a valid key")
        .der()
        .to_vec();
    vec![leaf, ca.intermediate_der.clone()]
}

/// A self-signed certificate, as appliances generate for themselves at first boot.
pub fn self_signed(common_name: &str, organisation: &str, rng: &mut impl Rng, now: Nanos) -> Vec<Vec<u8>> {
    let key = ed25519_key(rng);
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("no names is valid");
    p.distinguished_name = dn(&[
        (DnType::OrganizationName, organisation),
        (DnType::CommonName, common_name),
    ]);
    let (y, m, d) = ymd(now.saturating_sub(rng.random_range(100..900) * 86_400 * 1_000_000_000));
    p.not_before = date_time_ymd(y, m, d);
    p.not_after = date_time_ymd(y + 20, m, d.min(28));
    p.serial_number = Some(serial(rng));
    vec![p.self_signed(&key).expect("signing with a valid key").der().to_vec()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn certificates_are_deterministic_per_seed() {
        let make = |seed| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let cas = public_cas(&mut rng, 1_772_438_400_000_000_000);
            let chain = issued_chain(&cas[0], "www.example.org", &mut rng, 1_772_438_400_000_000_000);
            let own = self_signed("printer-1", "HP", &mut rng, 1_772_438_400_000_000_000);
            (chain, own)
        };
        let (a, b) = (make(1), make(1));
        assert_eq!(a, b);
        assert_ne!(a.0[0], make(2).0[0]);
        assert_eq!(a.0.len(), 2);
        assert!(a.0[0].len() > 200 && a.1[0].len() > 150);
    }
}
