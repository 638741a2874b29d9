//! ClientHello, ServerHello and ServerKeyExchange bodies: the fixed parts through `tls-parser`,
//! the extension block by hand, because fingerprints need every extension type in wire order
//! (tls-parser folds unknown and GREASE types into enum variants), then each extension's content
//! through tls-parser's per-extension parsers.
//!
//! All functions take a handshake message body (without its 4-byte header) and return `None` on
//! anything malformed; they never panic.

use tls_parser::{
    SNIType, TlsCipherKx, TlsCipherSuite, TlsExtension, parse_tls_extension_alpn_content,
    parse_tls_extension_ec_point_formats_content, parse_tls_extension_elliptic_curves_content,
    parse_tls_extension_signature_algorithms_content, parse_tls_extension_sni_content,
    parse_tls_handshake_client_hello, parse_tls_handshake_server_hello,
};

pub(super) const EXT_SERVER_NAME: u16 = 0;
pub(super) const EXT_SUPPORTED_GROUPS: u16 = 10;
pub(super) const EXT_EC_POINT_FORMATS: u16 = 11;
pub(super) const EXT_SIGNATURE_ALGORITHMS: u16 = 13;
pub(super) const EXT_ALPN: u16 = 16;
pub(super) const EXT_SESSION_TICKET: u16 = 35;
pub(super) const EXT_PRE_SHARED_KEY: u16 = 41;
pub(super) const EXT_SUPPORTED_VERSIONS: u16 = 43;
pub(super) const EXT_KEY_SHARE: u16 = 51;

/// The ServerHello random that marks a HelloRetryRequest (RFC 8446 §4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11,
    0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// A session ID as Zeek compares them: zero-padded to 32 bytes (its `to_string_val`), and empty
/// when longer than 32.
pub(super) type SessionId = [u8; 32];

fn padded_session_id(sid: Option<&[u8]>) -> SessionId {
    let mut out = [0u8; 32];
    if let Some(sid) = sid.filter(|s| s.len() <= 32) {
        out[..sid.len()].copy_from_slice(sid);
    }
    out
}

/// What the session, ssl.log and the fingerprints need from a ClientHello.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct ClientHello {
    /// `legacy_version` (JA3's SSLVersion).
    pub version: u16,
    pub session_id: SessionId,
    pub ciphers: Vec<u16>,
    /// Extension types in wire order, GREASE included.
    pub extensions: Vec<u16>,
    /// First `host_name` entry of the SNI extension (Zeek logs `names[0]`).
    pub server_name: Option<String>,
    pub alpn: Vec<Vec<u8>>,
    pub groups: Vec<u16>,
    pub point_formats: Vec<u8>,
    pub signature_algorithms: Vec<u16>,
    pub supported_versions: Vec<u16>,
    /// A non-empty SessionTicket extension (resumption by ticket).
    pub ticket: bool,
    /// A pre_shared_key extension (TLS 1.3 resumption offer).
    pub psk: bool,
}

/// What ssl.log and JA3S need from a ServerHello.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct ServerHello {
    pub version: u16,
    pub retry_request: bool,
    pub session_id: SessionId,
    pub cipher: u16,
    pub extensions: Vec<u16>,
    /// The `supported_versions` extension's single value (TLS 1.3 negotiation).
    pub selected_version: Option<u16>,
    /// The `key_share` group (a ServerHello's share or a HelloRetryRequest's selected group).
    pub key_share_group: Option<u16>,
    pub alpn: Option<String>,
    pub psk: bool,
}

/// Iterates `(type, data)` over an extension block, stopping quietly at the first malformed entry.
pub(super) fn raw_extensions(mut block: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let (typ, len) = (u16_at(block, 0)?, u16_at(block, 2)? as usize);
        let data = block.get(4..4 + len)?;
        block = &block[4 + len..];
        Some((typ, data))
    })
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

/// A list of big-endian u16 behind a one-byte length (client `supported_versions`).
fn u16_list_u8_len(data: &[u8]) -> Vec<u16> {
    let len = data.first().copied().unwrap_or(0) as usize;
    let list = data.get(1..1 + len).unwrap_or_default();
    list.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect()
}

/// Text for a protocol string field (SNI, ALPN): UTF-8 as is, other bytes as `\xNN` the way
/// Zeek's log writer escapes them, so nothing is silently replaced.
pub(super) fn text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len() * 2);
            for chunk in bytes.utf8_chunks() {
                out.push_str(chunk.valid());
                for b in chunk.invalid() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            out
        }
    }
}

pub(super) fn parse_client_hello(body: &[u8]) -> Option<ClientHello> {
    let (_, ch) = parse_tls_handshake_client_hello(body).ok()?;
    let mut out = ClientHello {
        version: ch.version.0,
        session_id: padded_session_id(ch.session_id),
        ciphers: ch.ciphers.iter().map(|c| c.0).collect(),
        ..ClientHello::default()
    };
    for (typ, data) in raw_extensions(ch.ext.unwrap_or_default()) {
        out.extensions.push(typ);
        match typ {
            EXT_SERVER_NAME => {
                if let Ok((_, TlsExtension::SNI(names))) = parse_tls_extension_sni_content(data) {
                    let host = names.iter().find(|(t, _)| *t == SNIType::HostName);
                    if let Some((_, name)) = host.filter(|_| out.server_name.is_none()) {
                        out.server_name = Some(text(name));
                    }
                }
            }
            EXT_ALPN => {
                if let Ok((_, TlsExtension::ALPN(protocols))) = parse_tls_extension_alpn_content(data) {
                    out.alpn = protocols.iter().map(|p| p.to_vec()).collect();
                }
            }
            EXT_SUPPORTED_GROUPS => {
                if let Ok((_, TlsExtension::EllipticCurves(groups))) = parse_tls_extension_elliptic_curves_content(data)
                {
                    out.groups = groups.iter().map(|g| g.0).collect();
                }
            }
            EXT_EC_POINT_FORMATS => {
                if let Ok((_, TlsExtension::EcPointFormats(formats))) =
                    parse_tls_extension_ec_point_formats_content(data)
                {
                    out.point_formats = formats.to_vec();
                }
            }
            EXT_SIGNATURE_ALGORITHMS => {
                if let Ok((_, TlsExtension::SignatureAlgorithms(algs))) =
                    parse_tls_extension_signature_algorithms_content(data)
                {
                    out.signature_algorithms = algs;
                }
            }
            EXT_SUPPORTED_VERSIONS => out.supported_versions = u16_list_u8_len(data),
            EXT_SESSION_TICKET => out.ticket |= !data.is_empty(),
            EXT_PRE_SHARED_KEY => out.psk = true,
            _ => {}
        }
    }
    Some(out)
}

pub(super) fn parse_server_hello(body: &[u8]) -> Option<ServerHello> {
    let (_, sh) = parse_tls_handshake_server_hello(body).ok()?;
    let mut out = ServerHello {
        version: sh.version.0,
        retry_request: sh.random == HRR_RANDOM,
        session_id: padded_session_id(sh.session_id),
        cipher: sh.cipher.0,
        ..ServerHello::default()
    };
    for (typ, data) in raw_extensions(sh.ext.unwrap_or_default()) {
        out.extensions.push(typ);
        match typ {
            // A server names exactly one version, without a list length.
            EXT_SUPPORTED_VERSIONS if data.len() == 2 => out.selected_version = u16_at(data, 0),
            EXT_KEY_SHARE => out.key_share_group = u16_at(data, 0),
            EXT_ALPN => {
                if let Ok((_, TlsExtension::ALPN(protocols))) = parse_tls_extension_alpn_content(data) {
                    out.alpn = protocols.first().map(|p| text(p));
                }
            }
            EXT_PRE_SHARED_KEY => out.psk = true,
            _ => {}
        }
    }
    Some(out)
}

/// The named curve of an (EC)DHE ServerKeyExchange. The message has no type field of its own:
/// its layout follows from the chosen cipher suite, as in Zeek, so a DHE prime whose length
/// happens to start with 0x03 is not mistaken for a curve.
pub(super) fn server_key_exchange_curve(cipher: Option<u16>, body: &[u8]) -> Option<u16> {
    let suite = TlsCipherSuite::from_id(cipher?)?;
    let ecdh = matches!(suite.kx, TlsCipherKx::Ecdhe | TlsCipherKx::Ecdh | TlsCipherKx::Aecdh);
    // ECCurveType 3 = named_curve (RFC 8422 §5.4).
    if ecdh && body.first() == Some(&3) {
        u16_at(body, 1)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_extensions_stop_at_damage() {
        let block = [0, 0, 0, 1, 9, 0x0a, 0x0a, 0, 0, 0, 5, 0, 9];
        let got: Vec<_> = raw_extensions(&block).collect();
        assert_eq!(got, vec![(0, &[9u8][..]), (0x0a0a, &[][..])]);
    }

    #[test]
    fn text_escapes_invalid_utf8() {
        assert_eq!(text(b"h2"), "h2");
        assert_eq!(text(b"a\xffb"), "a\\xffb");
    }

    #[test]
    fn ske_curve_follows_the_cipher() {
        let body = [3, 0, 23, 65];
        assert_eq!(server_key_exchange_curve(Some(0xc011), &body), Some(23));
        // TLS_DHE_RSA_WITH_AES_128_CBC_SHA: same bytes are a DH prime length.
        assert_eq!(server_key_exchange_curve(Some(0x0033), &body), None);
        assert_eq!(server_key_exchange_curve(None, &body), None);
    }

    #[test]
    fn garbage_hellos_are_none() {
        assert!(parse_client_hello(&[]).is_none());
        assert!(parse_client_hello(&[3, 3, 0]).is_none());
        assert!(parse_server_hello(&[0x7f, 0x7f, 1, 2]).is_none());
    }
}
