//! X.509 certificates from a TLS Certificate message, reduced to the facts of Zeek's x509.log
//! (with Zeek's string formats) plus a self-signed verdict for the behavioural models.
//!
//! Zeek renders names with OpenSSL's `X509_NAME_print_ex(.., XN_FLAG_RFC2253)`; [`rfc2253`]
//! reproduces that: RDNs last-first, `,` between RDNs and `+` inside one, OpenSSL short names,
//! RFC 2253 escapes, every non-ASCII byte of the UTF-8 form as `\XX`, and `#`+hex DER for values
//! of unknown attribute types or of non-string types.
//!
//! Parsing never panics: a certificate x509-parser cannot read still yields its SHA-256 (Zeek's
//! `cert_chain_fps` lists every certificate), with `parsed == false`.

use std::fmt::Write;
use std::net::IpAddr;

use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::error::X509Error;
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::{OID_PKCS1_SHA1WITHRSA, OID_SHA1_WITH_RSA, OID_X509_EXT_SUBJECT_ALT_NAME};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

use super::hex_lower;

/// Most certificates remembered per thread (cleared when full: bounded memory).
const CACHE_MAX: usize = 2048;

thread_local! {
    static CACHE: std::cell::RefCell<foldhash::HashMap<[u8; 32], CertInfo>> =
        std::cell::RefCell::new(foldhash::HashMap::default());
}

/// One certificate as Zeek's x509.log describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertInfo {
    /// SHA-256 of the DER, lower-case hex (ssl.log `cert_chain_fps`, x509.log `fingerprint`).
    pub sha256: String,
    /// x509-parser read the certificate; when false only `sha256` is meaningful.
    pub parsed: bool,
    /// `certificate.version` (1-based, as printed: 3 for X.509v3).
    pub version: u32,
    /// Upper-case hex of the serial's magnitude (`0B6771`).
    pub serial: String,
    pub subject: String,
    pub issuer: String,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// OpenSSL long names, e.g. `rsaEncryption`, `sha256WithRSAEncryption`; dotted OID otherwise.
    pub key_alg: String,
    pub sig_alg: String,
    /// `rsa`, `dsa` or `ecdsa` (Zeek leaves other key types unset).
    pub key_type: Option<&'static str>,
    pub key_length: Option<u32>,
    /// RSA public exponent, decimal.
    pub exponent: Option<String>,
    /// OpenSSL short curve name of an EC key (`prime256v1`).
    pub curve: Option<&'static str>,
    pub san_dns: Vec<String>,
    pub san_uri: Vec<String>,
    pub san_email: Vec<String>,
    pub san_ip: Vec<IpAddr>,
    /// The certificate has a subjectAltName extension (then only SAN names count for hostname
    /// matching, RFC 2818 §3.1).
    pub has_san: bool,
    /// Last CN of the subject: the name hostnames are matched against when there is no SAN.
    pub common_name: Option<String>,
    /// basicConstraints, when present.
    pub ca: Option<bool>,
    pub path_len: Option<u32>,
    /// Subject and issuer are the same name (byte-equal DER) and the signature does not fail to
    /// verify with the certificate's own key. Where ring cannot check the algorithm (RSA below
    /// 2048 bits with SHA-2, DSA, uncommon curves) the name test alone decides, so a self-issued
    /// certificate is never missed; a failing signature means "issued by a namesake", not
    /// self-signed.
    pub self_signed: bool,
}

impl CertInfo {
    /// Describes one DER certificate; never fails (see `parsed`).
    pub fn from_der(der: &[u8]) -> CertInfo {
        let digest: [u8; 32] = Sha256::digest(der).into();
        // The same few certificates come back in every handshake with a server; parsing and
        // (for self-issued ones) verifying a signature each time dominated TLS cost. The
        // digest identifies the DER exactly, so the cache cannot change any result.
        if let Some(hit) = CACHE.with(|c| c.borrow().get(&digest).cloned()) {
            return hit;
        }
        let mut info = CertInfo {
            sha256: hex_lower(&digest),
            ..CertInfo::default()
        };
        if let Ok((_, cert)) = X509Certificate::from_der(der) {
            info.fill(&cert);
        }
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() >= CACHE_MAX {
                c.clear();
            }
            c.insert(digest, info.clone());
        });
        info
    }

    fn fill(&mut self, cert: &X509Certificate<'_>) {
        self.parsed = true;
        self.version = cert.version().0.saturating_add(1);
        self.serial = serial_hex(cert.raw_serial());
        self.subject = rfc2253(cert.subject());
        self.issuer = rfc2253(cert.issuer());
        self.not_before = cert.validity().not_before.timestamp();
        self.not_after = cert.validity().not_after.timestamp();
        self.key_alg = openssl_long_name(&cert.public_key().algorithm.algorithm.to_id_string());
        self.sig_alg = openssl_long_name(&cert.signature_algorithm.algorithm.to_id_string());
        self.fill_key(cert);
        self.common_name = cert.subject().iter_common_name().last().map(|cn| attribute_text(cn));
        self.has_san = cert
            .get_extension_unique(&OID_X509_EXT_SUBJECT_ALT_NAME)
            .ok()
            .flatten()
            .is_some();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(s) => self.san_dns.push(s.to_string()),
                    GeneralName::URI(s) => self.san_uri.push(s.to_string()),
                    GeneralName::RFC822Name(s) => self.san_email.push(s.to_string()),
                    GeneralName::IPAddress(b) => {
                        if let Ok(v4) = <[u8; 4]>::try_from(*b) {
                            self.san_ip.push(IpAddr::from(v4));
                        } else if let Ok(v6) = <[u8; 16]>::try_from(*b) {
                            self.san_ip.push(IpAddr::from(v6));
                        }
                    }
                    _ => {}
                }
            }
        }
        if let Ok(Some(bc)) = cert.basic_constraints() {
            self.ca = Some(bc.value.ca);
            self.path_len = bc.value.path_len_constraint;
        }
        self.self_signed = cert.subject().as_raw() == cert.issuer().as_raw() && self_signature(cert) != Some(false);
    }

    fn fill_key(&mut self, cert: &X509Certificate<'_>) {
        let spki = cert.public_key();
        match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => {
                self.key_type = Some("rsa");
                self.key_length = Some(bit_length(rsa.modulus));
                self.exponent = Some(big_decimal(rsa.exponent));
            }
            Ok(PublicKey::EC(point)) => {
                self.key_type = Some("ecdsa");
                let curve_oid = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok());
                let curve = curve_oid.and_then(|oid| ec_curve(&oid.to_id_string()));
                self.curve = curve.map(|(name, _)| name);
                let bits = curve.map(|(_, bits)| bits).unwrap_or(point.key_size() as u32);
                self.key_length = Some(bits).filter(|b| *b > 0);
            }
            Ok(PublicKey::DSA(_)) => {
                self.key_type = Some("dsa");
                // OpenSSL reports the bits of the prime p, the first INTEGER of the parameters.
                let p = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|params| dsa_prime(params.data));
                self.key_length = p.map(bit_length);
            }
            _ => {}
        }
    }
}

/// `Some(true/false)` when ring can check the certificate's signature with its own key,
/// `None` when the algorithm or key size is outside what ring verifies.
fn self_signature(cert: &X509Certificate<'_>) -> Option<bool> {
    let sig = &cert.signature_algorithm.algorithm;
    let sha1_rsa = *sig == OID_PKCS1_SHA1WITHRSA || *sig == OID_SHA1_WITH_RSA;
    // ring's SHA-2 RSA verifiers reject moduli under 2048 bits: that says nothing about the
    // signature, so it must not read as "invalid".
    if let Ok(PublicKey::RSA(rsa)) = cert.public_key().parsed()
        && !sha1_rsa
        && bit_length(rsa.modulus) < 2048
    {
        return None;
    }
    match cert.verify_signature(None) {
        Ok(()) => Some(true),
        Err(X509Error::SignatureVerificationError) => Some(false),
        Err(_) => None,
    }
}

/// Bits of a big-endian unsigned integer (leading zero bytes and bits ignored).
fn bit_length(be: &[u8]) -> u32 {
    let start = be.iter().position(|b| *b != 0).unwrap_or(be.len());
    let rest = &be[start..];
    match rest.first() {
        Some(first) => (rest.len() as u32 - 1) * 8 + (8 - first.leading_zeros()),
        None => 0,
    }
}

/// Decimal of a big-endian unsigned integer of any size (RSA exponents are almost always 65537,
/// but nothing forces them to fit in 64 bits).
fn big_decimal(be: &[u8]) -> String {
    let mut digits: Vec<u8> = vec![0]; // little-endian base-10 digits
    for byte in be {
        let mut carry = u32::from(*byte);
        for d in digits.iter_mut() {
            let v = u32::from(*d) * 256 + carry;
            *d = (v % 10) as u8;
            carry = v / 10;
        }
        while carry > 0 {
            digits.push((carry % 10) as u8);
            carry /= 10;
        }
    }
    while digits.len() > 1 && digits.last() == Some(&0) {
        digits.pop();
    }
    digits.iter().rev().map(|d| char::from(b'0' + d)).collect()
}

/// The prime p from DER `Dss-Parms ::= SEQUENCE { p INTEGER, q INTEGER, g INTEGER }` content.
fn dsa_prime(seq_content: &[u8]) -> Option<&[u8]> {
    if *seq_content.first()? != 0x02 {
        return None;
    }
    let (len, header) = der_length(seq_content.get(1..)?)?;
    seq_content.get(1 + header..1 + header + len)
}

/// A DER length: `(length, bytes used)`.
fn der_length(b: &[u8]) -> Option<(usize, usize)> {
    let first = *b.first()?;
    if first < 0x80 {
        return Some((first as usize, 1));
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 4 {
        return None;
    }
    let mut len = 0usize;
    for byte in b.get(1..1 + n)? {
        len = (len << 8) | *byte as usize;
    }
    Some((len, 1 + n))
}

/// OpenSSL's `i2a_ASN1_INTEGER`: upper-case hex of the magnitude, without the sign byte.
fn serial_hex(raw: &[u8]) -> String {
    let magnitude = match raw {
        [0, rest @ ..] if !rest.is_empty() => rest,
        [] => &[0][..],
        _ => raw,
    };
    let mut out = String::with_capacity(magnitude.len() * 2);
    for b in magnitude {
        let _ = write!(out, "{b:02X}");
    }
    out
}

/// OpenSSL long names (what `i2a_ASN1_OBJECT` prints) of the algorithms seen in practice.
fn openssl_long_name(oid: &str) -> String {
    let name = match oid {
        "1.2.840.113549.1.1.1" => "rsaEncryption",
        "1.2.840.113549.1.1.2" => "md2WithRSAEncryption",
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "rsassaPss",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.14" => "sha224WithRSAEncryption",
        "1.3.14.3.2.29" => "sha1WithRSA",
        "1.2.840.10040.4.1" => "dsaEncryption",
        "1.2.840.10040.4.3" => "dsaWithSHA1",
        "2.16.840.1.101.3.4.3.1" => "dsa_with_SHA224",
        "2.16.840.1.101.3.4.3.2" => "dsa_with_SHA256",
        "1.2.840.10045.2.1" => "id-ecPublicKey",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.1" => "ecdsa-with-SHA224",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.110" => "X25519",
        "1.3.101.111" => "X448",
        "1.3.101.112" => "ED25519",
        "1.3.101.113" => "ED448",
        _ => return oid.to_string(),
    };
    name.to_string()
}

/// OpenSSL short name and order bits of the named curves seen in certificates.
fn ec_curve(oid: &str) -> Option<(&'static str, u32)> {
    Some(match oid {
        "1.2.840.10045.3.1.1" => ("prime192v1", 192),
        "1.3.132.0.33" => ("secp224r1", 224),
        "1.2.840.10045.3.1.7" => ("prime256v1", 256),
        "1.3.132.0.10" => ("secp256k1", 256),
        "1.3.132.0.34" => ("secp384r1", 384),
        "1.3.132.0.35" => ("secp521r1", 521),
        "1.3.36.3.3.2.8.1.1.7" => ("brainpoolP256r1", 256),
        "1.3.36.3.3.2.8.1.1.11" => ("brainpoolP384r1", 384),
        "1.3.36.3.3.2.8.1.1.13" => ("brainpoolP512r1", 512),
        _ => return None,
    })
}

/// OpenSSL short names of distinguished-name attributes (`XN_FLAG_FN_SN`).
fn attribute_short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "street",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "title",
        "2.5.4.13" => "description",
        "2.5.4.15" => "businessCategory",
        "2.5.4.16" => "postalAddress",
        "2.5.4.17" => "postalCode",
        "2.5.4.18" => "postOfficeBox",
        "2.5.4.20" => "telephoneNumber",
        "2.5.4.41" => "name",
        "2.5.4.42" => "GN",
        "2.5.4.43" => "initials",
        "2.5.4.44" => "generationQualifier",
        "2.5.4.45" => "x500UniqueIdentifier",
        "2.5.4.46" => "dnQualifier",
        "2.5.4.65" => "pseudonym",
        "2.5.4.72" => "role",
        "2.5.4.97" => "organizationIdentifier",
        "1.2.840.113549.1.9.1" => "emailAddress",
        "1.2.840.113549.1.9.2" => "unstructuredName",
        "1.2.840.113549.1.9.8" => "unstructuredAddress",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.3.6.1.4.1.311.60.2.1.1" => "jurisdictionL",
        "1.3.6.1.4.1.311.60.2.1.2" => "jurisdictionST",
        "1.3.6.1.4.1.311.60.2.1.3" => "jurisdictionC",
        _ => return None,
    })
}

/// Characters of an ASN.1 string value by its universal tag, as OpenSSL reads them; `None` for
/// non-string types. UTF8String is taken byte by byte (OpenSSL does the same to avoid a double
/// conversion), which gives the same `\XX` output for valid UTF-8.
fn string_chars(tag: u32, data: &[u8]) -> Option<Vec<u32>> {
    let chars = match tag {
        12 | 18..=27 => data.iter().map(|b| u32::from(*b)).collect(),
        28 => data
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        30 => data
            .chunks_exact(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .collect(),
        _ => return None,
    };
    Some(chars)
}

/// Appends one attribute value with OpenSSL's RFC 2253 escaping.
fn push_escaped(out: &mut String, tag: u32, chars: &[u32]) {
    let last = chars.len().saturating_sub(1);
    for (i, c) in chars.iter().enumerate() {
        // OpenSSL decides "last" after "first", so a one-character value is only "last".
        let (first_pos, last_pos) = (i == 0 && i != last, i == last);
        // UTF8String bytes are printed as they are; other types' characters go through UTF-8.
        let mut utf8 = [0u8; 4];
        let bytes: &[u8] = if tag == 12 || *c < 0x80 {
            utf8[0] = *c as u8;
            &utf8[..1]
        } else {
            match char::from_u32(*c) {
                Some(ch) => ch.encode_utf8(&mut utf8).as_bytes(),
                None => {
                    let _ = write!(out, "\\W{c:08X}");
                    continue;
                }
            }
        };
        for b in bytes {
            match *b {
                b',' | b'+' | b'"' | b'\\' | b'<' | b'>' | b';' => {
                    out.push('\\');
                    out.push(*b as char);
                }
                b' ' if first_pos || last_pos => out.push_str("\\ "),
                b'#' if first_pos => out.push_str("\\#"),
                b if !(0x20..0x7f).contains(&b) => {
                    let _ = write!(out, "\\{b:02X}");
                }
                b => out.push(b as char),
            }
        }
    }
}

/// DER of an attribute value (for OpenSSL's `#hex` dump of unknown or non-string values).
fn value_der(ava: &AttributeTypeAndValue<'_>) -> Vec<u8> {
    let any = ava.attr_value();
    let mut der = match any.header.raw_tag() {
        Some(tag) => tag.to_vec(),
        None => {
            let class = (any.class() as u8) << 6;
            let constructed = if any.header.is_constructed() { 0x20 } else { 0 };
            vec![class | constructed | (any.tag().0 & 0x1f) as u8]
        }
    };
    let len = any.data.len();
    if len < 0x80 {
        der.push(len as u8);
    } else {
        let be = (len as u32).to_be_bytes();
        let skip = be.iter().position(|b| *b != 0).unwrap_or(3);
        der.push(0x80 | (4 - skip) as u8);
        der.extend_from_slice(&be[skip..]);
    }
    der.extend_from_slice(any.data);
    der
}

/// A distinguished name the way Zeek logs it (`CN=irc.joulunet.org,OU=IRCd,...,C=FI`).
pub fn rfc2253(name: &X509Name<'_>) -> String {
    let mut avas: Vec<(usize, &AttributeTypeAndValue<'_>)> = Vec::new();
    for (set, rdn) in name.iter_rdn().enumerate() {
        avas.extend(rdn.iter().map(|ava| (set, ava)));
    }
    let mut out = String::new();
    for (k, (set, ava)) in avas.iter().enumerate().rev() {
        if k + 1 < avas.len() {
            out.push(if avas[k + 1].0 == *set { '+' } else { ',' });
        }
        let oid = ava.attr_type().to_id_string();
        let value = ava.attr_value();
        let chars = string_chars(value.tag().0, value.data);
        match (attribute_short_name(&oid), chars) {
            (Some(short), Some(chars)) => {
                out.push_str(short);
                out.push('=');
                push_escaped(&mut out, value.tag().0, &chars);
            }
            (short, _) => {
                out.push_str(short.unwrap_or(&oid));
                out.push_str("=#");
                out.push_str(&hex_upper(&value_der(ava)));
            }
        }
    }
    out
}

fn hex_upper(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02X}");
    }
    out
}

/// Plain text of one attribute (for hostname matching against a CN).
fn attribute_text(ava: &AttributeTypeAndValue<'_>) -> String {
    match ava.as_str() {
        Ok(s) => s.to_string(),
        Err(_) => String::from_utf8_lossy(ava.as_slice()).into_owned(),
    }
}

/// Zeek's `check_hostname` (x509 `functions.bif`): exact match, or a wildcard in the leftmost
/// label only, directly before the first dot, at least three labels deep (`*.a.b`), standing for
/// exactly one label; characters before `*` must match too. Case-sensitive, like Zeek.
pub fn hostname_matches(hostname: &str, certname: &str) -> bool {
    if hostname == certname {
        return true;
    }
    let Some(wild) = certname.find('*') else { return false };
    let Some(first_dot) = certname.find('.') else {
        return false;
    };
    if !certname[first_dot + 1..].contains('.') || wild + 1 != first_dot {
        return false;
    }
    let Some(host_dot) = hostname.find('.') else {
        return false;
    };
    if hostname[host_dot..] != certname[first_dot..] {
        return false;
    }
    wild == 0 || hostname.get(..wild) == Some(&certname[..wild])
}

/// Zeek's `x509_check_cert_hostname`: SAN DNS names when a SAN is present, else the last CN.
pub fn cert_matches_host(cert: &CertInfo, hostname: &str) -> bool {
    if cert.has_san {
        cert.san_dns.iter().any(|name| hostname_matches(hostname, name))
    } else {
        cert.common_name
            .as_deref()
            .is_some_and(|cn| hostname_matches(hostname, cn))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeek_hostname_rules() {
        assert!(hostname_matches("ssl.gstatic.com", "*.gstatic.com"));
        assert!(hostname_matches("gstatic.com", "gstatic.com"));
        assert!(!hostname_matches("a.b.gstatic.com", "*.gstatic.com"));
        assert!(!hostname_matches("gstatic.com", "*.com"));
        assert!(!hostname_matches("x.com", "*.com"));
        assert!(hostname_matches("abc.example.org", "ab*.example.org"));
        assert!(!hostname_matches("xbc.example.org", "ab*.example.org"));
        assert!(!hostname_matches("a.example.org", "a*b.example.org"));
        assert!(!hostname_matches("SSL.gstatic.com", "ssl.gstatic.com"));
    }

    #[test]
    fn escaping_follows_openssl() {
        let mut s = String::new();
        let chars: Vec<u32> = " a,b+c#".bytes().map(u32::from).collect();
        push_escaped(&mut s, 19, &chars);
        assert_eq!(s, "\\ a\\,b\\+c#");
        s.clear();
        push_escaped(&mut s, 19, &[u32::from(b'#')]);
        assert_eq!(s, "#");
        s.clear();
        push_escaped(&mut s, 19, &[u32::from(b'#'), u32::from(b' ')]);
        assert_eq!(s, "\\#\\ ");
        s.clear();
        // Latin-1 (T61String) é goes through UTF-8; a UTF8String's bytes stay as they are.
        push_escaped(&mut s, 20, &[0xe9, 0x01]);
        assert_eq!(s, "\\C3\\A9\\01");
        s.clear();
        push_escaped(&mut s, 12, &[0xc3, 0xa9]);
        assert_eq!(s, "\\C3\\A9");
    }

    #[test]
    fn numbers() {
        assert_eq!(bit_length(&[0x00, 0x80, 0, 0]), 24);
        assert_eq!(bit_length(&[0x01]), 1);
        assert_eq!(bit_length(&[]), 0);
        assert_eq!(big_decimal(&[0x01, 0x00, 0x01]), "65537");
        assert_eq!(big_decimal(&[0xff; 9]), "4722366482869645213695");
        assert_eq!(big_decimal(&[]), "0");
        assert_eq!(serial_hex(&[0x00, 0x9a, 0x01]), "9A01");
        assert_eq!(serial_hex(&[0x0b, 0x67, 0x71]), "0B6771");
        assert_eq!(serial_hex(&[0]), "00");
    }

    #[test]
    fn garbage_der_keeps_the_fingerprint() {
        let info = CertInfo::from_der(b"not a certificate");
        assert!(!info.parsed);
        assert_eq!(info.sha256.len(), 64);
        assert!(!info.self_signed);
    }
}
