//! OCSP request and response bodies (RFC 6960) in DER, for the revocation checks operating
//! systems make over plain HTTP.

use rand::{Rng, RngExt};

use crate::units::{Nanos, format_rfc3339};

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = content.len();
    if n < 128 {
        v.push(n as u8);
    } else if n < 256 {
        v.extend_from_slice(&[0x81, n as u8]);
    } else {
        v.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    }
    v.extend_from_slice(content);
    v
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    der(0x30, &parts.concat())
}

fn random(rng: &mut impl Rng, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rng.fill_bytes(&mut v);
    v
}

/// SHA-1 AlgorithmIdentifier.
fn sha1_alg() -> Vec<u8> {
    seq(&[der(0x06, &[0x2b, 0x0e, 0x03, 0x02, 0x1a]), vec![0x05, 0x00]])
}

fn cert_id(rng: &mut impl Rng) -> Vec<u8> {
    let mut serial = random(rng, 16);
    serial[0] &= 0x7f;
    seq(&[
        sha1_alg(),
        der(0x04, &random(rng, 20)),
        der(0x04, &random(rng, 20)),
        der(0x02, &serial),
    ])
}

fn generalized_time(t: Nanos) -> Vec<u8> {
    let s = format_rfc3339(t);
    let text = format!(
        "{}{}{}{}{}{}Z",
        &s[0..4],
        &s[5..7],
        &s[8..10],
        &s[11..13],
        &s[14..16],
        &s[17..19]
    );
    der(0x18, text.as_bytes())
}

/// An OCSPRequest for one certificate (about 80 bytes).
pub fn request(rng: &mut impl Rng) -> Vec<u8> {
    let request = seq(&[cert_id(rng)]);
    let tbs = seq(&[seq(&[request])]);
    seq(&[tbs])
}

/// A successful OCSPResponse saying "good", signed with ECDSA P-256 (signature bytes opaque).
pub fn response(rng: &mut impl Rng, now: Nanos) -> Vec<u8> {
    let produced = now.saturating_sub(rng.random_range(3600..86_400) * 1_000_000_000);
    let single = seq(&[
        cert_id(rng),
        vec![0x80, 0x00], // certStatus: good
        generalized_time(produced),
        der(0xa0, &generalized_time(produced + 7 * 86_400 * 1_000_000_000)),
    ]);
    let responder = der(0xa2, &der(0x04, &random(rng, 20))); // byKey
    let data = seq(&[responder, generalized_time(produced), seq(&[single])]);
    let ecdsa_sha256 = seq(&[der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02])]);
    let mut sig = vec![0u8];
    sig.extend(random(rng, 71));
    let basic = seq(&[data, ecdsa_sha256, der(0x03, &sig)]);
    let basic_oid = der(0x06, &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01]);
    let bytes = der(0xa0, &seq(&[basic_oid, der(0x04, &basic)]));
    seq(&[der(0x0a, &[0]), bytes])
}
