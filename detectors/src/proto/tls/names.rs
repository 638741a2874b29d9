//! Zeek's names for TLS numbers (`base/protocols/ssl/consts.zeek`), so that ssl.log columns read
//! exactly as analysts know them. Unknown values fall back the way Zeek's `&default` does.

use tls_parser::TlsCipherSuite;

/// Zeek's `SSL::version_strings`: `version_name(0x0303) == "TLSv12"`.
pub fn version_name(v: u16) -> String {
    let known = match v {
        0x0002 => "SSLv2",
        0x0300 => "SSLv3",
        0x0301 => "TLSv10",
        0x0302 => "TLSv11",
        0x0303 => "TLSv12",
        0x0304 => "TLSv13",
        0xfeff => "DTLSv10",
        0xfefd => "DTLSv12",
        0xfefc => "DTLSv13",
        // Zeek's own arithmetic for TLS 1.3 drafts (0x7fNN), kept bug-for-bug.
        _ if v / 0xff == 0x7f => return format!("TLSv13-draft{}", v % 0x7f),
        _ => return format!("unknown-{v}"),
    };
    known.to_string()
}

/// Zeek's `SSL::cipher_desc`: `cipher_name(0x009d) == "TLS_RSA_WITH_AES_256_GCM_SHA384"`.
///
/// Zeek's table and tls-parser's both use the IANA registry names; tls-parser's table is the
/// source here, so a few exotic pre-standard codes Zeek knows by name come out as `unknown-N`.
pub fn cipher_name(c: u16) -> String {
    match TlsCipherSuite::from_id(c) {
        Some(suite) => suite.name.to_string(),
        None => format!("unknown-{c}"),
    }
}

/// Zeek's `SSL::ec_curves`: `curve_name(23) == "secp256r1"`, `curve_name(29) == "x25519"`.
pub fn curve_name(g: u16) -> String {
    if super::fingerprint::is_grease(g) {
        return format!("grease_0x{g:04X}");
    }
    let known = match g {
        1 => "sect163k1",
        2 => "sect163r1",
        3 => "sect163r2",
        4 => "sect193r1",
        5 => "sect193r2",
        6 => "sect233k1",
        7 => "sect233r1",
        8 => "sect239k1",
        9 => "sect283k1",
        10 => "sect283r1",
        11 => "sect409k1",
        12 => "sect409r1",
        13 => "sect571k1",
        14 => "sect571r1",
        15 => "secp160k1",
        16 => "secp160r1",
        17 => "secp160r2",
        18 => "secp192k1",
        19 => "secp192r1",
        20 => "secp224k1",
        21 => "secp224r1",
        22 => "secp256k1",
        23 => "secp256r1",
        24 => "secp384r1",
        25 => "secp521r1",
        26 => "brainpoolP256r1",
        27 => "brainpoolP384r1",
        28 => "brainpoolP512r1",
        29 => "x25519",
        30 => "x448",
        31 => "brainpoolP256r1tls13",
        32 => "brainpoolP384r1tls13",
        33 => "brainpoolP512r1tls13",
        34 => "GC256A",
        35 => "GC256B",
        36 => "GC256C",
        37 => "GC256D",
        38 => "GC512A",
        39 => "GC512B",
        40 => "GC512C",
        41 => "curveSM2",
        256 => "ffdhe2048",
        257 => "ffdhe3072",
        258 => "ffdhe4096",
        259 => "ffdhe6144",
        260 => "ffdhe8192",
        512 => "MLKEM512",
        513 => "MLKEM768",
        514 => "MLKEM1024",
        4587 => "SecP256r1MLKEM768",
        4588 => "X25519MLKEM768",
        4589 => "SecP384r1MLKEM1024",
        4590 => "curveSM2MLKEM768",
        16696 => "CECPQ2",
        25497 => "X25519Kyber768Draft00",
        25498 => "SecP256r1Kyber768Draft00",
        0xff01 => "arbitrary_explicit_prime_curves",
        0xff02 => "arbitrary_explicit_char2_curves",
        _ => return format!("unknown-{g}"),
    };
    known.to_string()
}

/// Zeek's `SSL::alert_descriptions` (ssl.log `last_alert`).
pub fn alert_name(desc: u8) -> String {
    let known = match desc {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        117 => "general_error",
        120 => "no_application_protocol",
        121 => "ech_required",
        _ => return format!("unknown-{desc}"),
    };
    known.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeek_names() {
        assert_eq!(version_name(0x0303), "TLSv12");
        assert_eq!(version_name(0x0301), "TLSv10");
        assert_eq!(version_name(0x7f12), "TLSv13-draft18");
        assert_eq!(version_name(0x1234), "unknown-4660");
        assert_eq!(cipher_name(0x009d), "TLS_RSA_WITH_AES_256_GCM_SHA384");
        assert_eq!(cipher_name(0xc011), "TLS_ECDHE_RSA_WITH_RC4_128_SHA");
        assert_eq!(cipher_name(0x1301), "TLS_AES_128_GCM_SHA256");
        assert_eq!(cipher_name(0xeeee), "unknown-61166");
        assert_eq!(curve_name(23), "secp256r1");
        assert_eq!(curve_name(29), "x25519");
        assert_eq!(curve_name(0x0a0a), "grease_0x0A0A");
        assert_eq!(curve_name(999), "unknown-999");
        assert_eq!(alert_name(40), "handshake_failure");
        assert_eq!(alert_name(200), "unknown-200");
    }
}
