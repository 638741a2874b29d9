//! Client and server fingerprints: JA3 and JA3S (Salesforce, MD5 of a decimal string) and JA4
//! (FoxIO, `technical_details/JA4.md`). GREASE values (RFC 8701, `0x?a?a`) are ignored
//! everywhere, as both specifications require.

use md5::{Digest, Md5};
use sha2::Sha256;

use super::hello::{ClientHello, EXT_ALPN, EXT_SERVER_NAME, ServerHello};
use super::{HEX, hex_lower};

/// RFC 8701 GREASE: both bytes equal, low nibble 0xa.
pub(crate) fn is_grease(v: u16) -> bool {
    let [hi, lo] = v.to_be_bytes();
    hi == lo && lo & 0x0f == 0x0a
}

/// Decimal without `fmt` machinery: this runs for every ClientHello in the capture.
fn push_decimal(out: &mut String, v: u16) {
    let mut digits = [0u8; 5];
    let mut n = v;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(d as char);
    }
}

fn join_decimal(values: impl Iterator<Item = u16>) -> String {
    let mut out = String::with_capacity(64);
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push('-');
        }
        push_decimal(&mut out, v);
    }
    out
}

fn md5_hex(s: &str) -> String {
    hex_lower(&Md5::digest(s.as_bytes()))
}

/// `SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats`.
pub(super) fn ja3_string(ch: &ClientHello) -> String {
    let keep = |v: &&u16| !is_grease(**v);
    let mut out = String::with_capacity(256);
    push_decimal(&mut out, ch.version);
    for part in [
        join_decimal(ch.ciphers.iter().filter(keep).copied()),
        join_decimal(ch.extensions.iter().filter(keep).copied()),
        join_decimal(ch.groups.iter().filter(keep).copied()),
        join_decimal(ch.point_formats.iter().map(|&f| u16::from(f))),
    ] {
        out.push(',');
        out.push_str(&part);
    }
    out
}

/// `(ja3 md5 hex, ja3 string)`.
pub(super) fn ja3(ch: &ClientHello) -> (String, String) {
    let s = ja3_string(ch);
    (md5_hex(&s), s)
}

/// JA3S: md5 of `SSLVersion,Cipher,Extensions`.
pub(super) fn ja3s(sh: &ServerHello) -> String {
    let mut s = String::with_capacity(64);
    push_decimal(&mut s, sh.version);
    s.push(',');
    push_decimal(&mut s, sh.cipher);
    s.push(',');
    s.push_str(&join_decimal(sh.extensions.iter().filter(|v| !is_grease(**v)).copied()));
    md5_hex(&s)
}

fn ja4_version(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// First and last character of the first ALPN value; hex digits when either end is not
/// alphanumeric; `00` when there is no usable value.
fn ja4_alpn(first: Option<&[u8]>) -> String {
    let Some(v) = first.filter(|v| !v.is_empty()) else {
        return "00".to_string();
    };
    let (a, z) = (v[0], v[v.len() - 1]);
    if a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric() {
        return format!("{}{}", a as char, z as char);
    }
    let hex = hex_lower(v);
    let mut chars = hex.chars();
    format!("{}{}", chars.next().unwrap_or('0'), chars.next_back().unwrap_or('0'))
}

/// First 12 hex digits of sha256, or twelve zeros for an empty list (the spec's marker).
fn ja4_hash(list: &str) -> String {
    if list.is_empty() {
        return "000000000000".to_string();
    }
    let mut h = hex_lower(&Sha256::digest(list.as_bytes()));
    h.truncate(12);
    h
}

fn hex_list(values: &[u16]) -> String {
    let mut out = String::with_capacity(values.len() * 5);
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for shift in [12, 8, 4, 0] {
            out.push(HEX[usize::from((v >> shift) & 0x0f)] as char);
        }
    }
    out
}

/// JA4 for TLS over TCP, e.g. `t13d1516h2_8daaf6152771_e5627efa2ab1`.
pub(super) fn ja4(ch: &ClientHello) -> String {
    let not_grease = |v: &&u16| !is_grease(**v);
    let mut ciphers: Vec<u16> = ch.ciphers.iter().filter(not_grease).copied().collect();
    let extensions: Vec<u16> = ch.extensions.iter().filter(not_grease).copied().collect();
    let version = ch
        .supported_versions
        .iter()
        .filter(not_grease)
        .max()
        .copied()
        .unwrap_or(ch.version);
    let sni = if extensions.contains(&EXT_SERVER_NAME) {
        'd'
    } else {
        'i'
    };
    let a = format!(
        "t{}{sni}{:02}{:02}{}",
        ja4_version(version),
        ciphers.len().min(99),
        extensions.len().min(99),
        ja4_alpn(ch.alpn.first().map(Vec::as_slice)),
    );

    ciphers.sort_unstable();
    let b = ja4_hash(&hex_list(&ciphers));

    // SNI and ALPN are already in part a; leaving them out keeps part c stable across
    // destinations and protocols of the same client.
    let mut sorted: Vec<u16> = extensions
        .into_iter()
        .filter(|e| *e != EXT_SERVER_NAME && *e != EXT_ALPN)
        .collect();
    sorted.sort_unstable();
    let c = if sorted.is_empty() {
        ja4_hash("")
    } else {
        let sigs: Vec<u16> = ch.signature_algorithms.iter().filter(not_grease).copied().collect();
        let mut list = hex_list(&sorted);
        if !sigs.is_empty() {
            list.push('_');
            list.push_str(&hex_list(&sigs));
        }
        ja4_hash(&list)
    };
    format!("{a}_{b}_{c}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hexes(s: &str) -> Vec<u16> {
        s.split(',').map(|h| u16::from_str_radix(h, 16).unwrap()).collect()
    }

    /// The worked example of FoxIO's JA4.md, with GREASE sprinkled in that must not matter.
    fn spec_example() -> ClientHello {
        let mut ciphers = vec![0x0a0a];
        ciphers.extend(hexes(
            "1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035",
        ));
        let mut extensions = vec![0x1a1a];
        extensions.extend(hexes(
            "001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015",
        ));
        extensions.push(0xfafa);
        ClientHello {
            version: 0x0303,
            ciphers,
            extensions,
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            signature_algorithms: hexes("0403,0804,0401,0503,0805,0501,0806,0601"),
            supported_versions: vec![0x2a2a, 0x0304, 0x0303],
            groups: vec![0x2a2a, 29, 23, 24],
            point_formats: vec![0],
            ..ClientHello::default()
        }
    }

    #[test]
    fn ja4_spec_worked_example() {
        assert_eq!(ja4(&spec_example()), "t13d1516h2_8daaf6152771_e5627efa2ab1");
        // Without signature algorithms the list ends without an underscore (spec: 6d807ffa2a79).
        let mut ch = spec_example();
        ch.signature_algorithms.clear();
        assert!(ja4(&ch).ends_with("_6d807ffa2a79"));
    }

    #[test]
    fn ja4_edge_cases() {
        let mut ch = ClientHello {
            version: 0x0301,
            ..ClientHello::default()
        };
        assert_eq!(ja4(&ch), "t10i000000_000000000000_000000000000");
        ch.alpn = vec![vec![0x30, 0xab]];
        assert!(ja4(&ch).starts_with("t10i00003b_"));
        ch.alpn = vec![vec![0x30, 0xab, 0xcd, 0x31]];
        assert!(ja4(&ch).starts_with("t10i000001_"));
        ch.alpn = vec![b"h".to_vec()];
        assert!(ja4(&ch).starts_with("t10i0000hh_"));
        ch.alpn = vec![vec![]];
        assert!(ja4(&ch).starts_with("t10i000000_"));
    }

    #[test]
    fn ja3_removes_grease() {
        let ch = spec_example();
        assert_eq!(
            ja3_string(&ch),
            "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,\
             27-0-51-16-17513-23-45-13-5-35-18-43-65281-11-10-21,29-23-24,0"
        );
        let (hash, _) = ja3(&ch);
        assert_eq!(hash.len(), 32);
    }

    #[test]
    fn grease_values() {
        assert!(is_grease(0x0a0a) && is_grease(0xfafa) && is_grease(0x3a3a));
        assert!(!is_grease(0x0a0b) && !is_grease(0x1a2a) && !is_grease(0x0000) && !is_grease(0xaaab));
    }

    /// A Chrome ClientHello published with its JA3 and JA4 (browserleaks): original-order lists
    /// from its `ja4_ro`, curves and point formats from its `ja3_text`.
    #[test]
    fn chrome_published_fingerprints() {
        let ch = ClientHello {
            version: 0x0303,
            ciphers: [
                vec![0x5a5a],
                hexes("1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035"),
            ]
            .concat(),
            extensions: [
                vec![0x8a8a],
                hexes("002d,0033,0010,fe0d,0017,44cd,0000,000b,000a,002b,ff01,0023,0012,0005,000d,001b"),
                vec![0x3a3a],
            ]
            .concat(),
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            signature_algorithms: hexes("0403,0804,0401,0503,0805,0501,0806,0601"),
            supported_versions: vec![0x7a7a, 0x0304, 0x0303],
            groups: vec![0x6a6a, 4588, 29, 23, 24],
            point_formats: vec![0],
            ..ClientHello::default()
        };
        assert_eq!(ja4(&ch), "t13d1516h2_8daaf6152771_d8a2da3f94cd");
        let (hash, s) = ja3(&ch);
        assert_eq!(
            s,
            "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,\
             45-51-16-65037-23-17613-0-11-10-43-65281-35-18-5-13-27,4588-29-23-24,0"
        );
        assert_eq!(hash, "98487aa16281980e7d1120d399efb6a4");
    }
}
