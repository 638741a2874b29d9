//! TLS records as byte streams: a real ClientHello per client implementation (SNI, ALPN,
//! supported_versions, key_share, GREASE where the client uses it), ServerHello, and in TLS 1.2
//! the certificate chain, ServerKeyExchange and Finished; then encrypted application data.
//! Encrypted bytes are pseudo-random: nobody can tell them from real ciphertext without keys.

use rand::{Rng, RngExt, SeedableRng};

use super::stream::Stream;
use super::tcp::{Pace, Turn};
use crate::session::{Session, TlsClient, TlsExchange, TlsSession, TlsVersion};

const HANDSHAKE: u8 = 22;
const CHANGE_CIPHER_SPEC: u8 = 20;
const APPLICATION_DATA: u8 = 23;
const MAX_RECORD: u64 = 16_384;

/// GREASE values (RFC 8701); a client picks one per hello.
const GREASE: [u16; 16] = [
    0x0a0a, 0x1a1a, 0x2a2a, 0x3a3a, 0x4a4a, 0x5a5a, 0x6a6a, 0x7a7a, 0x8a8a, 0x9a9a, 0xaaaa, 0xbaba, 0xcaca, 0xdada,
    0xeaea, 0xfafa,
];

/// Appends `n` random bytes (ciphertext, keys, nonces) in one draw from the stream.
fn append_random(v: &mut Vec<u8>, rng: &mut impl Rng, n: usize) {
    let start = v.len();
    v.resize(start + n, 0);
    rng.fill_bytes(&mut v[start..]);
}

fn random_bytes(rng: &mut impl Rng, n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n);
    append_random(&mut v, rng, n);
    v
}

fn u16be(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_be_bytes());
}

fn u24be(v: &mut Vec<u8>, x: usize) {
    v.extend_from_slice(&(x as u32).to_be_bytes()[1..]);
}

/// `len(u16) || body`.
fn vec16(v: &mut Vec<u8>, body: &[u8]) {
    u16be(v, body.len() as u16);
    v.extend_from_slice(body);
}

fn ext(v: &mut Vec<u8>, ty: u16, body: &[u8]) {
    u16be(v, ty);
    vec16(v, body);
}

fn u16_list(items: &[u16]) -> Vec<u8> {
    let mut b = Vec::with_capacity(items.len() * 2);
    for &i in items {
        u16be(&mut b, i);
    }
    b
}

fn handshake(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(body.len() + 4);
    m.push(ty);
    u24be(&mut m, body.len());
    m.extend_from_slice(body);
    m
}

fn record(stream: &mut Stream, ty: u8, version: u16, fragment: &[u8]) {
    let mut h = Vec::with_capacity(5 + fragment.len());
    h.push(ty);
    u16be(&mut h, version);
    vec16(&mut h, fragment);
    stream.push(&h);
}

/// Encrypted records carrying `plaintext` bytes, `overhead` per record, at most `size` each.
fn encrypted(stream: &mut Stream, rng: &mut impl Rng, mut plaintext: u64, overhead: u64, size: u64) {
    while plaintext > 0 {
        let chunk = plaintext.min(size);
        let len = chunk + overhead;
        let mut h = vec![APPLICATION_DATA];
        u16be(&mut h, 0x0303);
        u16be(&mut h, len as u16);
        stream.push(&h);
        stream.push_opaque(len, |b, k| append_random(b, rng, k));
        plaintext -= chunk;
    }
}

struct Profile {
    ciphers: &'static [u16],
    groups: &'static [u16],
    sigalgs: &'static [u16],
    grease: bool,
    tls13: bool,
    alpn: &'static [&'static str],
}

fn profile(c: TlsClient) -> Profile {
    const MODERN_SIGALGS: &[u16] = &[0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601];
    match c {
        TlsClient::Chrome => Profile {
            ciphers: &[
                0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d,
                0x002f, 0x0035,
            ],
            groups: &[0x001d, 0x0017, 0x0018],
            sigalgs: MODERN_SIGALGS,
            grease: true,
            tls13: true,
            alpn: &["h2", "http/1.1"],
        },
        TlsClient::Safari => Profile {
            ciphers: &[
                0x1301, 0x1302, 0x1303, 0xc02c, 0xc02b, 0xcca9, 0xc030, 0xc02f, 0xcca8, 0xc00a, 0xc009, 0xc014, 0xc013,
                0x009d, 0x009c, 0x0035, 0x002f, 0xc008, 0xc012, 0x000a,
            ],
            groups: &[0x001d, 0x0017, 0x0018, 0x0019],
            sigalgs: &[
                0x0403, 0x0804, 0x0401, 0x0503, 0x0203, 0x0805, 0x0805, 0x0501, 0x0806, 0x0601, 0x0201,
            ],
            grease: true,
            tls13: true,
            alpn: &["h2", "http/1.1"],
        },
        TlsClient::Firefox => Profile {
            ciphers: &[
                0x1301, 0x1303, 0x1302, 0xc02b, 0xc02f, 0xcca9, 0xcca8, 0xc02c, 0xc030, 0xc00a, 0xc009, 0xc013, 0xc014,
                0x009c, 0x009d, 0x002f, 0x0035,
            ],
            groups: &[0x001d, 0x0017, 0x0018, 0x0019, 0x0100, 0x0101],
            sigalgs: &[
                0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0203, 0x0201,
            ],
            grease: false,
            tls13: true,
            alpn: &["h2", "http/1.1"],
        },
        TlsClient::Curl => Profile {
            ciphers: &[
                0x1302, 0x1303, 0x1301, 0xc02c, 0xc030, 0x009f, 0xcca9, 0xcca8, 0xccaa, 0xc02b, 0xc02f, 0x009e, 0xc024,
                0xc028, 0x006b, 0xc023, 0xc027, 0x0067, 0xc00a, 0xc014, 0x0039, 0xc009, 0xc013, 0x0033, 0x009d, 0x009c,
                0x003d, 0x003c, 0x0035, 0x002f, 0x00ff,
            ],
            groups: &[0x001d, 0x0017, 0x001e, 0x0019, 0x0018],
            sigalgs: &[
                0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0809, 0x080a, 0x080b, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501,
                0x0601,
            ],
            grease: false,
            tls13: true,
            alpn: &["h2", "http/1.1"],
        },
        TlsClient::Schannel => Profile {
            ciphers: &[
                0xc02c, 0xc02b, 0xc030, 0xc02f, 0xc024, 0xc023, 0xc028, 0xc027, 0xc00a, 0xc009, 0xc014, 0xc013, 0x009d,
                0x009c, 0x003d, 0x003c, 0x0035, 0x002f, 0x000a,
            ],
            groups: &[0x001d, 0x0017, 0x0018],
            sigalgs: &[
                0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0201, 0x0403, 0x0503, 0x0203, 0x0202, 0x0601, 0x0603,
            ],
            grease: false,
            tls13: false,
            alpn: &["http/1.1"],
        },
        TlsClient::Embedded => Profile {
            ciphers: &[0xc02b, 0xc02f, 0xc030, 0x009c, 0x009d, 0x002f, 0x0035],
            groups: &[0x0017, 0x0018],
            sigalgs: &[0x0403, 0x0401, 0x0501, 0x0201],
            grease: false,
            tls13: false,
            alpn: &[],
        },
    }
}

/// Whether a client can speak TLS 1.3.
pub fn supports_tls13(c: TlsClient) -> bool {
    profile(c).tls13
}

fn client_hello(t: &TlsSession, rng: &mut impl Rng) -> Vec<u8> {
    let p = profile(t.client);
    let grease = GREASE[rng.random_range(0..GREASE.len())];
    let mut b = Vec::with_capacity(512);
    u16be(&mut b, 0x0303);
    append_random(&mut b, rng, 32);
    if p.tls13 {
        // Middlebox-compatibility session id.
        b.push(32);
        append_random(&mut b, rng, 32);
    } else {
        b.push(0);
    }
    let mut ciphers = Vec::new();
    if p.grease {
        ciphers.push(grease);
    }
    ciphers.extend_from_slice(p.ciphers);
    vec16(&mut b, &u16_list(&ciphers));
    b.extend_from_slice(&[1, 0]); // compression: null

    let mut e = Vec::with_capacity(400);
    if p.grease {
        ext(&mut e, grease, &[]);
    }
    if let Some(sni) = &t.sni {
        let mut list = vec![0u8];
        vec16(&mut list, sni.as_bytes());
        let mut body = Vec::new();
        vec16(&mut body, &list);
        ext(&mut e, 0, &body);
    }
    ext(&mut e, 23, &[]); // extended_master_secret
    ext(&mut e, 0xff01, &[0]); // renegotiation_info
    let mut groups = Vec::new();
    if p.grease {
        groups.push(grease);
    }
    groups.extend_from_slice(p.groups);
    let mut body = Vec::new();
    vec16(&mut body, &u16_list(&groups));
    ext(&mut e, 10, &body); // supported_groups
    ext(&mut e, 11, &[1, 0]); // ec_point_formats: uncompressed
    ext(&mut e, 35, &[]); // session_ticket
    if !p.alpn.is_empty() {
        let mut list = Vec::new();
        for a in p.alpn {
            list.push(a.len() as u8);
            list.extend_from_slice(a.as_bytes());
        }
        let mut body = Vec::new();
        vec16(&mut body, &list);
        ext(&mut e, 16, &body);
    }
    ext(&mut e, 5, &[1, 0, 0, 0, 0]); // status_request (OCSP)
    let mut body = Vec::new();
    vec16(&mut body, &u16_list(p.sigalgs));
    ext(&mut e, 13, &body); // signature_algorithms
    if p.tls13 {
        ext(&mut e, 18, &[]); // signed_certificate_timestamp
        let mut shares = Vec::new();
        if p.grease {
            u16be(&mut shares, grease);
            vec16(&mut shares, &[0]);
        }
        u16be(&mut shares, 0x001d);
        let key = random_bytes(rng, 32);
        vec16(&mut shares, &key);
        let mut body = Vec::new();
        vec16(&mut body, &shares);
        ext(&mut e, 51, &body); // key_share
        ext(&mut e, 45, &[1, 1]); // psk_key_exchange_modes: psk_dhe_ke
        let mut versions = Vec::new();
        if p.grease {
            versions.push(grease);
        }
        versions.extend_from_slice(&[0x0304, 0x0303]);
        let list = u16_list(&versions);
        let mut body = vec![list.len() as u8];
        body.extend_from_slice(&list);
        ext(&mut e, 43, &body); // supported_versions
    }
    if p.grease {
        ext(&mut e, grease ^ 0x1010, &[0]);
    }
    vec16(&mut b, &e);
    handshake(1, &b)
}

fn server_hello(t: &TlsSession, session_id_len: u8, rng: &mut impl Rng) -> Vec<u8> {
    let mut b = Vec::with_capacity(128);
    u16be(&mut b, 0x0303);
    append_random(&mut b, rng, 32);
    b.push(session_id_len);
    append_random(&mut b, rng, usize::from(session_id_len));
    let mut e = Vec::new();
    match t.version {
        TlsVersion::V13 => {
            u16be(&mut b, 0x1301); // TLS_AES_128_GCM_SHA256
            b.push(0);
            ext(&mut e, 43, &[0x03, 0x04]);
            let mut share = Vec::new();
            u16be(&mut share, 0x001d);
            let key = random_bytes(rng, 32);
            vec16(&mut share, &key);
            ext(&mut e, 51, &share);
        }
        TlsVersion::V12 => {
            u16be(&mut b, 0xc02b); // ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 (Ed25519 certificates)
            b.push(0);
            ext(&mut e, 0xff01, &[0]);
            ext(&mut e, 23, &[]);
            ext(&mut e, 11, &[1, 0]);
            if let Some(a) = t.alpn {
                let mut list = vec![a.len() as u8];
                list.extend_from_slice(a.as_bytes());
                let mut body = Vec::new();
                vec16(&mut body, &list);
                ext(&mut e, 16, &body);
            }
        }
    }
    vec16(&mut b, &e);
    handshake(2, &b)
}

fn certificate_chain(chain: &[Vec<u8>]) -> Vec<u8> {
    let mut list = Vec::new();
    for c in chain {
        u24be(&mut list, c.len());
        list.extend_from_slice(c);
    }
    let mut b = Vec::with_capacity(list.len() + 3);
    u24be(&mut b, list.len());
    b.extend_from_slice(&list);
    handshake(11, &b)
}

fn server_key_exchange(rng: &mut impl Rng) -> Vec<u8> {
    let mut b = vec![3]; // named_curve
    u16be(&mut b, 0x001d);
    b.push(32);
    append_random(&mut b, rng, 32);
    u16be(&mut b, 0x0807); // ed25519
    let sig = random_bytes(rng, 64);
    vec16(&mut b, &sig);
    handshake(12, &b)
}

/// The conversation as TCP turns: handshake flights, then one turn per exchange.
pub fn turns(s: &Session, t: &TlsSession) -> Vec<Turn> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(s.seed ^ 0x7415);
    let p = profile(t.client);
    let mut turns = Vec::with_capacity(t.exchanges.len() + 2);
    let mut hello = Stream::default();
    record(&mut hello, HANDSHAKE, 0x0301, &client_hello(t, &mut rng));
    let mut exchanges = t.exchanges.iter();
    match t.version {
        TlsVersion::V13 => {
            let mut flight = Stream::default();
            record(
                &mut flight,
                HANDSHAKE,
                0x0303,
                &server_hello(t, if p.tls13 { 32 } else { 0 }, &mut rng),
            );
            record(&mut flight, CHANGE_CIPHER_SPEC, 0x0303, &[1]);
            // EncryptedExtensions, Certificate, CertificateVerify, Finished — all encrypted.
            let certs: u64 = t.chain.iter().map(|c| c.len() as u64 + 5).sum();
            encrypted(&mut flight, &mut rng, 40 + certs + 8 + 72 + 36, 17, MAX_RECORD);
            turns.push(Turn {
                request: hello,
                think: 1_000_000,
                response: flight,
                pace: None,
            });
            // Client Finished rides with the first request; the server's tickets with the
            // first response.
            let first = exchanges.next();
            let mut up = Stream::default();
            record(&mut up, CHANGE_CIPHER_SPEC, 0x0303, &[1]);
            encrypted(&mut up, &mut rng, 36, 17, MAX_RECORD);
            let mut down = Stream::default();
            encrypted(&mut down, &mut rng, 230, 17, MAX_RECORD);
            let think = first.map(|e| e.think).unwrap_or(1_000_000);
            if let Some(e) = first {
                encrypted(&mut up, &mut rng, e.up, 17, MAX_RECORD);
                encrypted(&mut down, &mut rng, e.down, 17, MAX_RECORD);
            }
            turns.push(Turn {
                request: up,
                think,
                response: down,
                pace: None,
            });
        }
        TlsVersion::V12 => {
            let mut flight = Stream::default();
            record(&mut flight, HANDSHAKE, 0x0303, &server_hello(t, 32, &mut rng));
            record(&mut flight, HANDSHAKE, 0x0303, &certificate_chain(&t.chain));
            record(&mut flight, HANDSHAKE, 0x0303, &server_key_exchange(&mut rng));
            record(&mut flight, HANDSHAKE, 0x0303, &handshake(14, &[]));
            turns.push(Turn {
                request: hello,
                think: 1_500_000,
                response: flight,
                pace: None,
            });
            let mut up = Stream::default();
            let mut cke = vec![32u8];
            append_random(&mut cke, &mut rng, 32);
            record(&mut up, HANDSHAKE, 0x0303, &handshake(16, &cke));
            record(&mut up, CHANGE_CIPHER_SPEC, 0x0303, &[1]);
            // Encrypted Finished: 8-byte explicit nonce, 16 bytes verify data with header, tag.
            let fin = random_bytes(&mut rng, 40);
            record(&mut up, HANDSHAKE, 0x0303, &fin);
            let mut down = Stream::default();
            record(&mut down, CHANGE_CIPHER_SPEC, 0x0303, &[1]);
            let fin = random_bytes(&mut rng, 40);
            record(&mut down, HANDSHAKE, 0x0303, &fin);
            turns.push(Turn {
                request: up,
                think: 500_000,
                response: down,
                pace: None,
            });
        }
    }
    for e in exchanges {
        turns.push(exchange_turn(e, t.version, &mut rng));
    }
    turns
}

fn exchange_turn(e: &TlsExchange, v: TlsVersion, rng: &mut impl Rng) -> Turn {
    // AES-GCM: TLS 1.3 adds the inner type byte and the tag; TLS 1.2 the explicit nonce and tag.
    let overhead = if v == TlsVersion::V13 { 17 } else { 24 };
    let mut up = Stream::default();
    encrypted(&mut up, rng, e.up, overhead, MAX_RECORD);
    let mut down = Stream::default();
    let record = e.streamed.map_or(MAX_RECORD, |s| u64::from(s.record.max(1)));
    encrypted(&mut down, rng, e.down, overhead, record);
    // A streamed answer: one record per segment, spread over the stream's duration.
    let pace = e.streamed.map(|s| {
        let records = e.down.div_ceil(record).max(1);
        Pace {
            segment: record + overhead + 5,
            gap: s.over / records,
        }
    });
    Turn {
        request: up,
        think: e.think,
        response: down,
        pace,
    }
}
