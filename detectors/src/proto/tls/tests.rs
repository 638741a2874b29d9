//! Session tests over hand-made byte sequences: whole handshakes cut into segments the way TCP
//! delivers them, damaged and hostile input, and a deterministic fuzz loop.

use super::*;

/// Self-signed P-256 certificate (`openssl req -x509`), subject
/// `CN=host.example.org,O=Test\, Inc+OU=Lab,C=FI`, SAN host.example.org, *.example.org,
/// 192.0.2.1, serial 0x00A1B2.
const SELF_SIGNED_EC: &str = "\
30820209308201aea003020102020300a1b2300a06082a8648ce3d0403023048310b3009060355040613024649311e300a06\
0355040b0c034c61623010060355040a0c09546573742c20496e633119301706035504030c10686f73742e6578616d706c65\
2e6f7267301e170d3236313230343135343535365a170d3336313230313135343535365a3048310b30090603550406130246\
49311e300a060355040b0c034c61623010060355040a0c09546573742c20496e633119301706035504030c10686f73742e65\
78616d706c652e6f72673059301306072a8648ce3d020106082a8648ce3d0301070342000412de7112d2d9d62c387e3dadc7\
9d6c0dabf8a0a3ad66c9a693a2aa269368c8d4428ad65c6c5b1389cda0be1a3f1c77b1495dc87ae5ba7adce22f708a237fe3\
45a38186308183301d0603551d0e04160414597b96c4de00594b1fce315f2a13afe46fafb45d301f0603551d230418301680\
14597b96c4de00594b1fce315f2a13afe46fafb45d300f0603551d130101ff040530030101ff30300603551d110429302782\
10686f73742e6578616d706c652e6f7267820d2a2e6578616d706c652e6f72678704c0000201300a06082a8648ce3d040302\
0349003046022100c694eda91f853957814cb93db9d9fb2ec0ac8cb6c1ccec26f5bbc2f9c502cc87022100c08b8e6f29ebdd\
ee0f27d17bc31798b3ed012468e310f206216f6ff84d404bcd";

/// X.509v1 certificate with subject and issuer `CN=namesake`, signed by a *different* key that
/// carries the same name: self-issued but not self-signed.
const NAMESAKE_ISSUED: &str = "\
3082010e3081b4020107300a06082a8648ce3d04030230133111300f06035504030c086e616d6573616b65301e170d323631\
3230343135343535365a170d3336313230313135343535365a30133111300f06035504030c086e616d6573616b6530593013\
06072a8648ce3d020106082a8648ce3d03010703420004fccbd0f37b3d68ed74676854565dd5fcd2c1e9abd8291b9928d7d3\
43306c597a1183289fc6073d8eb098afe7bc9df830eb79f2f84cb9bb7ccf8513da8fdf1b99300a06082a8648ce3d04030203\
49003046022100b18347ab7e32a224dc378a82ea88c8f9364708f7f02e1fcd0c1dd1db91d2783a022100b68814da47f69f38\
d82a1cabcee4b1456b6342f3a59c56807be273d7afc6b595";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn u16s(v: &[u16]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_be_bytes()).collect()
}

fn with_u16_len(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

fn with_u8_len(body: &[u8]) -> Vec<u8> {
    let mut out = vec![body.len() as u8];
    out.extend_from_slice(body);
    out
}

fn with_u24_len(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes()[1..].to_vec();
    out.extend_from_slice(body);
    out
}

fn handshake(typ: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![typ];
    out.extend(with_u24_len(body));
    out
}

fn record(typ: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![typ, 3, 1];
    out.extend(with_u16_len(body));
    out
}

fn extensions(exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (typ, data) in exts {
        block.extend(typ.to_be_bytes());
        block.extend(with_u16_len(data));
    }
    with_u16_len(&block)
}

fn sni(name: &str) -> (u16, Vec<u8>) {
    let mut entry = vec![0];
    entry.extend(with_u16_len(name.as_bytes()));
    (0, with_u16_len(&entry))
}

fn alpn(protocols: &[&str]) -> (u16, Vec<u8>) {
    let list: Vec<u8> = protocols.iter().flat_map(|p| with_u8_len(p.as_bytes())).collect();
    (16, with_u16_len(&list))
}

fn client_hello(session_id: &[u8], ciphers: &[u16], exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend([0x11; 32]);
    body.extend(with_u8_len(session_id));
    body.extend(with_u16_len(&u16s(ciphers)));
    body.extend([1, 0]);
    body.extend(extensions(exts));
    handshake(1, &body)
}

fn server_hello(random: [u8; 32], session_id: &[u8], cipher: u16, exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend(random);
    body.extend(with_u8_len(session_id));
    body.extend(cipher.to_be_bytes());
    body.push(0);
    if !exts.is_empty() {
        body.extend(extensions(exts));
    }
    handshake(2, &body)
}

fn certificate(ders: &[&[u8]]) -> Vec<u8> {
    let list: Vec<u8> = ders.iter().flat_map(|d| with_u24_len(d)).collect();
    handshake(11, &with_u24_len(&list))
}

/// A connection driver that keeps both sequence numbers.
struct Conn {
    tls: TlsSession,
    seq: [u32; 2],
}

impl Conn {
    fn new() -> Conn {
        Conn {
            tls: TlsSession::default(),
            seq: [1000, 5_000_000],
        }
    }

    /// Sends `bytes` from one side, cut into segments of at most `mss` bytes.
    fn send(&mut self, from_client: bool, bytes: &[u8], mss: usize) {
        let i = usize::from(!from_client);
        for seg in bytes.chunks(mss.max(1)) {
            self.tls.feed(from_client, self.seq[i], seg, seg.len() as u32);
            self.seq[i] = self.seq[i].wrapping_add(seg.len() as u32);
        }
    }

    fn client(&mut self, bytes: &[u8]) {
        self.send(true, bytes, 1460);
    }

    fn server(&mut self, bytes: &[u8]) {
        self.send(false, bytes, 1460);
    }
}

fn chrome_like_hello() -> Vec<u8> {
    client_hello(
        &[],
        &[0x0a0a, 0xc02b, 0xc02f, 0x009c],
        &[
            (0x1a1a, vec![]),
            sni("host.example.org"),
            (10, with_u16_len(&u16s(&[0x2a2a, 29, 23]))),
            (11, with_u8_len(&[0])),
            (13, with_u16_len(&u16s(&[0x0403, 0x0804]))),
            alpn(&["h2", "http/1.1"]),
            (35, vec![]),
        ],
    )
}

/// TLS 1.2 ECDHE with a session ticket: `CsxknGIti`, like Zeek's tls-sni-certchain baseline.
fn tls12_full_handshake(conn: &mut Conn) {
    let hello = record(22, &chrome_like_hello());
    // ClientHello across three segments.
    let third = hello.len() / 3;
    conn.send(true, &hello[..third], 1460);
    conn.send(true, &hello[third..2 * third], 1460);
    conn.send(true, &hello[2 * third..], 1460);

    let mut flight = server_hello([0x22; 32], &[7; 32], 0xc02f, &[(11, with_u8_len(&[0])), alpn(&["h2"])]);
    flight.extend(certificate(&[&unhex(SELF_SIGNED_EC)]));
    flight.extend(handshake(12, &[3, 0, 23, 1, 4]));
    flight.extend(handshake(14, &[]));
    // The whole server flight in one record, cut into small segments.
    conn.send(false, &record(22, &flight), 100);

    let mut client_flight = record(22, &handshake(16, &[1, 2, 3]));
    client_flight.extend(record(20, &[1]));
    client_flight.extend(record(22, &[0xee; 40])); // encrypted Finished
    conn.client(&client_flight);
    // NewSessionTicket is still plaintext: it precedes the server's change_cipher_spec.
    let mut server_flight = record(22, &handshake(4, &[0, 0, 0x1c, 0x20, 0, 2, 0xab, 0xcd]));
    server_flight.extend(record(20, &[1]));
    server_flight.extend(record(22, &[0xdd; 40]));
    conn.server(&server_flight);
}

#[test]
fn tls12_handshake_with_zeek_history() {
    let mut conn = Conn::new();
    tls12_full_handshake(&mut conn);
    let info = conn.tls.info();
    assert!(conn.tls.is_tls() && !conn.tls.gave_up() && conn.tls.is_done());
    assert_eq!(info.history, "CsxknGIti");
    assert!(info.established && !info.resumed);
    assert_eq!(info.version, Some(0x0303));
    assert_eq!(info.cipher, Some(0xc02f));
    assert_eq!(info.curve, Some(23));
    assert_eq!(info.server_name.as_deref(), Some("host.example.org"));
    assert_eq!(info.alpn_offered, ["h2", "http/1.1"]);
    assert_eq!(info.alpn_selected.as_deref(), Some("h2"));
    assert_eq!(
        info.ja3_string.as_deref(),
        Some("771,49195-49199-156,0-10-11-13-16-35,29-23,0")
    );
    assert_eq!(info.ja4.as_deref().map(|j| &j[..10]), Some("t12d0306h2"));
    assert!(info.ja3s.is_some());
    assert_eq!(info.certs.len(), 1);
    assert_eq!(info.sni_matches_cert(), Some(true));

    let cert = &info.certs[0];
    assert!(cert.parsed && cert.self_signed);
    assert_eq!(cert.subject, "CN=host.example.org,O=Test\\, Inc+OU=Lab,C=FI");
    assert_eq!(cert.issuer, cert.subject);
    assert_eq!(
        cert.sha256,
        "ab5c6f83b4cc78193d07495b8c6da80cd039a3b02e9fe8b20daa91d63e0ab1c1"
    );
    assert_eq!(cert.serial, "A1B2");
    assert_eq!((cert.not_before, cert.not_after), (1_796_399_156, 2_111_759_156));
    assert_eq!(
        (cert.key_alg.as_str(), cert.sig_alg.as_str()),
        ("id-ecPublicKey", "ecdsa-with-SHA256")
    );
    assert_eq!(
        (cert.key_type, cert.key_length, cert.curve),
        (Some("ecdsa"), Some(256), Some("prime256v1"))
    );
    assert_eq!(cert.san_dns, ["host.example.org", "*.example.org"]);
    assert_eq!(cert.san_ip, [std::net::IpAddr::from([192, 0, 2, 1])]);
    assert_eq!((cert.ca, cert.path_len, cert.version), (Some(true), None, 3));
}

#[test]
fn nothing_is_read_after_establishment() {
    let mut conn = Conn::new();
    tls12_full_handshake(&mut conn);
    let before = conn.tls.info().clone();
    for _ in 0..100 {
        conn.client(&record(23, &[0xab; 1000]));
        conn.server(&record(21, &[2, 40]));
    }
    assert_eq!(conn.tls.info(), &before);
    assert!(conn.tls.client().stopped() && conn.tls.server().stopped());
}

#[test]
fn namesake_issuer_is_not_self_signed() {
    let cert = CertInfo::from_der(&unhex(NAMESAKE_ISSUED));
    assert!(cert.parsed);
    assert_eq!(
        (cert.subject.as_str(), cert.issuer.as_str(), cert.version),
        ("CN=namesake", "CN=namesake", 1)
    );
    assert!(!cert.self_signed);
    // No SAN: the CN is what hostnames are matched against.
    assert!(!cert.has_san);
    assert!(cert_matches_host(&cert, "namesake"));
}

#[test]
fn tls13_compat_handshake_is_csii() {
    let mut conn = Conn::new();
    let hello = client_hello(
        &[9; 32],
        &[0x1301, 0x1302],
        &[
            sni("a.example"),
            (43, with_u8_len(&u16s(&[0x3a3a, 0x0304, 0x0303]))),
            (41, vec![0; 8]),
        ],
    );
    conn.client(&record(22, &hello));
    let sh = server_hello(
        [0x33; 32],
        &[9; 32],
        0x1301,
        &[(43, u16s(&[0x0304])), (51, u16s(&[29, 32]))],
    );
    let mut flight = record(22, &sh);
    flight.extend(record(20, &[1]));
    flight.extend(record(23, &[0x55; 200])); // EncryptedExtensions..Finished
    conn.server(&flight);
    assert!(!conn.tls.info().established);
    let mut client = record(20, &[1]);
    client.extend(record(23, &[0x66; 50]));
    conn.client(&client);
    let info = conn.tls.info();
    assert_eq!(info.history, "CsiI");
    assert!(info.established);
    assert_eq!(info.version.map(version_name).as_deref(), Some("TLSv13"));
    assert_eq!(info.curve.map(curve_name).as_deref(), Some("x25519"));
    // Same session ID is no resumption in 1.3, and the server did not accept the PSK.
    assert!(!info.resumed);
    assert!(info.ja4.as_deref().unwrap().starts_with("t13d0203"));
}

#[test]
fn resumption_by_session_id() {
    let mut conn = Conn::new();
    conn.client(&record(22, &client_hello(&[5; 32], &[0x002f], &[])));
    let mut flight = record(22, &server_hello([1; 32], &[5; 32], 0x002f, &[]));
    flight.extend(record(20, &[1]));
    flight.extend(record(22, &[0; 36]));
    conn.server(&flight);
    let mut client = record(20, &[1]);
    client.extend(record(22, &[0; 36]));
    conn.client(&client);
    let info = conn.tls.info();
    assert!(info.resumed && info.established);
    assert_eq!(info.history, "CsiI");
}

#[test]
fn resumption_by_ticket() {
    let mut conn = Conn::new();
    conn.client(&record(22, &client_hello(&[], &[0x002f], &[(35, vec![1, 2, 3])])));
    let mut flight = record(22, &server_hello([1; 32], &[], 0x002f, &[(35, vec![])]));
    flight.extend(record(20, &[1]));
    conn.server(&flight);
    conn.client(&record(20, &[1]));
    assert!(conn.tls.info().resumed);
}

#[test]
fn hello_retry_request_is_j() {
    let mut conn = Conn::new();
    conn.client(&record(
        22,
        &client_hello(&[], &[0x1301], &[(43, with_u8_len(&u16s(&[0x0304])))]),
    ));
    let hrr_random = [
        0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2,
        0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
    ];
    conn.server(&record(
        22,
        &server_hello(hrr_random, &[], 0x1301, &[(43, u16s(&[0x0304])), (51, u16s(&[23]))]),
    ));
    assert_eq!(conn.tls.info().history, "Cj");
    assert_eq!(conn.tls.info().curve, Some(23));
}

#[test]
fn server_alert_is_logged_and_not_established() {
    let mut conn = Conn::new();
    conn.client(&record(22, &chrome_like_hello()));
    conn.server(&record(21, &[2, 40]));
    let info = conn.tls.info();
    assert_eq!(info.history, "Cl");
    assert_eq!(info.last_alert.map(alert_name).as_deref(), Some("handshake_failure"));
    assert!(!info.established && conn.tls.is_tls());
}

#[test]
fn starttls_after_plaintext() {
    let mut conn = Conn::new();
    conn.server(b":irc.example NOTICE * :*** Looking up your hostname...\r\n");
    conn.client(b"CAP LS\r\nNICK x\r\n");
    conn.server(b":irc.example CAP * LS :multi-prefix tls\r\n");
    conn.client(b"STARTTLS\r\n");
    conn.server(b":irc.example 670 x :STARTTLS successful, go ahead with TLS handshake\r\n");
    assert!(!conn.tls.is_tls() && !conn.tls.gave_up());
    tls12_full_handshake(&mut conn);
    assert_eq!(conn.tls.info().history, "CsxknGIti");
    assert!(conn.tls.info().established);
}

#[test]
fn non_tls_stream_gives_up_and_costs_nothing_more() {
    let mut conn = Conn::new();
    conn.client(b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n");
    assert!(!conn.tls.gave_up());
    for _ in 0..40 {
        conn.server(&[b'x'; 1000]);
    }
    assert!(conn.tls.gave_up() && !conn.tls.is_tls());
    assert_eq!(conn.tls.info(), &TlsInfo::default());
}

#[test]
fn snap_length_cut_client_hello() {
    let mut conn = Conn::new();
    let hello = record(22, &chrome_like_hello());
    // Only the first 64 bytes were captured.
    conn.tls.feed(true, 1, &hello[..64], hello.len() as u32);
    assert_eq!(conn.tls.info().history, "C");
    assert!(!conn.tls.is_tls(), "an unreadable ClientHello is no evidence yet");
    let flight = record(22, &server_hello([2; 32], &[], 0x002f, &[]));
    conn.server(&flight);
    assert!(conn.tls.is_tls());
    assert_eq!(conn.tls.info().history, "Cs");
    assert!(conn.tls.info().ja3.is_none());
}

#[test]
fn garbage_after_a_hello_is_a_violation() {
    let mut conn = Conn::new();
    conn.client(&record(22, &chrome_like_hello()));
    conn.client(b"\x16\x09\x09garbage that is not a record");
    assert!(conn.tls.is_done() && conn.tls.is_tls() && !conn.tls.gave_up());
    assert_eq!(conn.tls.info().history, "C");
}

#[test]
fn garbage_is_not_tls() {
    let mut conn = Conn::new();
    for i in 0..50u32 {
        let junk: Vec<u8> = (0..200u32).map(|j| (i * 31 + j * 7) as u8).collect();
        conn.send(i % 2 == 0, &junk, 97);
    }
    assert!(conn.tls.gave_up());
}

/// A tiny deterministic generator (Knuth's MMIX LCG): reproducible "random" input.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
    fn below(&mut self, n: u32) -> u32 {
        self.next() % n.max(1)
    }
}

/// Valid handshakes with bytes flipped, truncated, duplicated, reordered and cut by snap
/// lengths, plus pure noise behind valid record headers: nothing may panic.
#[test]
fn fuzz_no_panic() {
    let mut client_stream = record(22, &chrome_like_hello());
    client_stream.extend(record(22, &handshake(16, &[1, 2, 3])));
    client_stream.extend(record(20, &[1]));
    let mut flight = server_hello([0x22; 32], &[7; 32], 0xc02f, &[(11, with_u8_len(&[0]))]);
    flight.extend(certificate(&[&unhex(SELF_SIGNED_EC), &unhex(NAMESAKE_ISSUED)]));
    flight.extend(handshake(12, &[3, 0, 23, 1, 4]));
    flight.extend(handshake(14, &[]));
    let mut server_stream = record(22, &flight);
    server_stream.extend(record(21, &[1, 0, 2, 40, 2]));
    server_stream.extend(record(20, &[1]));

    let mut rng = Lcg(0x5eed);
    for round in 0..3000 {
        let mut streams = [client_stream.clone(), server_stream.clone()];
        for s in streams.iter_mut() {
            for _ in 0..rng.below(6) {
                let at = rng.below(s.len() as u32) as usize;
                s[at] = rng.next() as u8;
            }
            if round % 7 == 0 {
                s.truncate(rng.below(s.len() as u32) as usize);
            }
            if round % 11 == 0 {
                let noise: Vec<u8> = (0..rng.below(3000)).map(|_| rng.next() as u8).collect();
                s.extend(record(22, &noise[..noise.len().min(MAX_RECORD_FOR_TESTS)]));
            }
        }
        let mut tls = TlsSession::default();
        let mut pos = [0usize; 2];
        let mut seq = [rng.next(), rng.next()];
        while pos[0] < streams[0].len() || pos[1] < streams[1].len() {
            let side = rng.below(2) as usize;
            let s = &streams[side];
            if pos[side] >= s.len() {
                continue;
            }
            let len = (1 + rng.below(300) as usize).min(s.len() - pos[side]);
            let seg = &s[pos[side]..pos[side] + len];
            let captured = if rng.below(10) == 0 {
                &seg[..rng.below(len as u32) as usize]
            } else {
                seg
            };
            let seg_seq = match rng.below(20) {
                0 => seq[side].wrapping_sub(rng.below(50)), // overlap
                1 => seq[side].wrapping_add(rng.below(50)), // gap
                _ => seq[side],
            };
            tls.feed(side == 0, seg_seq, captured, len as u32);
            if rng.below(15) != 0 {
                pos[side] += len;
                seq[side] = seq[side].wrapping_add(len as u32);
            }
            let _ = (
                tls.is_tls(),
                tls.gave_up(),
                tls.is_done(),
                tls.info().sni_matches_cert(),
            );
        }
    }
}

const MAX_RECORD_FOR_TESTS: usize = record::MAX_RECORD as usize;
