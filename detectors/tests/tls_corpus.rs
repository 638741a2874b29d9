//! TLS metadata against Zeek's own baselines: the corpus captures are read with the crate's
//! capture reader and decoder, TCP payloads are fed to `TlsSession` per connection, and every
//! ssl.log column (but `ts`/`uid`) and every x509.log column (but `ts`) must equal what Zeek
//! wrote. JA3 is cross-checked with tshark when it is installed.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use detectors::capture::CaptureReader;
use detectors::decode::decode;
use detectors::proto::tls::{CertInfo, TlsSession, alert_name, cipher_name, curve_name, version_name};

fn require_oracles() -> bool {
    std::env::var("REQUIRE_ORACLES").as_deref() == Ok("1")
}

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/zeek");
    if dir.join("INDEX.md").is_file() {
        return Some(dir);
    }
    assert!(
        !require_oracles(),
        "Zeek corpus missing at {} but REQUIRE_ORACLES=1",
        dir.display()
    );
    eprintln!("SKIPPED: Zeek corpus not found at {}", dir.display());
    None
}

/// Zeek's conn_id: originator first.
type ConnId = (IpAddr, u16, IpAddr, u16);

struct Connection {
    id: ConnId,
    tls: TlsSession,
}

/// Reads a capture and feeds every TCP payload to its connection's session. The originator is
/// the SYN sender (or, without a SYN in the capture, the first sender).
fn sessions(pcap: &Path) -> Vec<Connection> {
    let mut conns: BTreeMap<(IpAddr, u16, IpAddr, u16), Connection> = BTreeMap::new();
    let mut reader = CaptureReader::open(pcap).unwrap();
    reader
        .for_each(|frame| {
            let Ok(p) = decode(frame.ts, frame.linktype, frame.data) else {
                return;
            };
            let Some(tcp) = p.tcp else { return };
            let (a, b) = ((p.src, p.src_port), (p.dst, p.dst_port));
            let key = if a <= b {
                (a.0, a.1, b.0, b.1)
            } else {
                (b.0, b.1, a.0, a.1)
            };
            let conn = conns.entry(key).or_insert_with(|| {
                // A SYN-ACK first means the responder spoke first in this capture.
                let from_responder = tcp.syn && tcp.ack;
                let id = if from_responder {
                    (p.dst, p.dst_port, p.src, p.src_port)
                } else {
                    (p.src, p.src_port, p.dst, p.dst_port)
                };
                Connection {
                    id,
                    tls: TlsSession::default(),
                }
            });
            if p.payload_len > 0 {
                let from_client = (p.src, p.src_port) == (conn.id.0, conn.id.1);
                conn.tls.feed(from_client, tcp.seq, p.payload, p.payload_len);
            }
        })
        .unwrap();
    conns.into_values().collect()
}

/// A Zeek ASCII log: rows as column name → value.
fn zeek_log(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let fields: Vec<String> = text
        .lines()
        .find_map(|l| l.strip_prefix("#fields\t"))
        .expect("a #fields line")
        .split('\t')
        .map(str::to_string)
        .collect();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| fields.iter().cloned().zip(l.split('\t').map(str::to_string)).collect())
        .collect()
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map(f).unwrap_or_else(|| "-".to_string())
}

fn flag(b: bool) -> String {
    if b { "T" } else { "F" }.to_string()
}

/// A Zeek vector column: `(empty)` when set but empty.
fn vector(items: &[String]) -> String {
    if items.is_empty() {
        "(empty)".to_string()
    } else {
        items.join(",")
    }
}

/// An optional Zeek vector column (x509 SAN fields): unset when there is nothing.
fn opt_vector(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_string()
    } else {
        items.join(",")
    }
}

fn ssl_row(c: &Connection) -> BTreeMap<&'static str, String> {
    let i = c.tls.info();
    let fps = |certs: &[CertInfo]| vector(&certs.iter().map(|c| c.sha256.clone()).collect::<Vec<_>>());
    BTreeMap::from([
        ("id.orig_h", c.id.0.to_string()),
        ("id.orig_p", c.id.1.to_string()),
        ("id.resp_h", c.id.2.to_string()),
        ("id.resp_p", c.id.3.to_string()),
        ("version", opt(i.version, version_name)),
        ("cipher", opt(i.cipher, cipher_name)),
        ("curve", opt(i.curve, curve_name)),
        ("server_name", opt(i.server_name.clone(), |s| s)),
        ("resumed", flag(i.resumed)),
        ("last_alert", opt(i.last_alert, alert_name)),
        ("next_protocol", opt(i.alpn_selected.clone(), |s| s)),
        ("established", flag(i.established)),
        ("ssl_history", i.history.clone()),
        ("cert_chain_fps", fps(&i.certs)),
        ("client_cert_chain_fps", fps(&i.client_certs)),
        ("sni_matches_cert", opt(i.sni_matches_cert(), flag)),
    ])
}

/// `host_cert`: the chain's first (end-entity) certificate; `client_cert`: sent by the client.
fn x509_row(cert: &CertInfo, host: bool, client: bool) -> BTreeMap<&'static str, String> {
    let time = |t: i64| format!("{t}.000000");
    let san = |v: &[String]| if cert.has_san { opt_vector(v) } else { "-".to_string() };
    let ips: Vec<String> = cert.san_ip.iter().map(IpAddr::to_string).collect();
    BTreeMap::from([
        ("fingerprint", cert.sha256.clone()),
        ("certificate.version", cert.version.to_string()),
        ("certificate.serial", cert.serial.clone()),
        ("certificate.subject", cert.subject.clone()),
        ("certificate.issuer", cert.issuer.clone()),
        ("certificate.not_valid_before", time(cert.not_before)),
        ("certificate.not_valid_after", time(cert.not_after)),
        ("certificate.key_alg", cert.key_alg.clone()),
        ("certificate.sig_alg", cert.sig_alg.clone()),
        ("certificate.key_type", opt(cert.key_type, str::to_string)),
        ("certificate.key_length", opt(cert.key_length, |n| n.to_string())),
        ("certificate.exponent", opt(cert.exponent.clone(), |s| s)),
        ("certificate.curve", opt(cert.curve, str::to_string)),
        ("san.dns", san(&cert.san_dns)),
        ("san.uri", san(&cert.san_uri)),
        ("san.email", san(&cert.san_email)),
        ("san.ip", san(&ips)),
        ("basic_constraints.ca", opt(cert.ca, flag)),
        ("basic_constraints.path_len", opt(cert.path_len, |n| n.to_string())),
        ("host_cert", flag(host)),
        ("client_cert", flag(client)),
    ])
}

/// Compares our rows with Zeek's on every column we produce; `key` pairs rows up.
fn assert_rows_match(
    what: &str,
    ours: &[BTreeMap<&'static str, String>],
    zeek: &[BTreeMap<String, String>],
    key: &[&str],
) {
    assert_eq!(ours.len(), zeek.len(), "{what}: number of rows");
    for want in zeek {
        let found = ours.iter().find(|row| key.iter().all(|k| row.get(k) == want.get(*k)));
        let Some(got) = found else {
            panic!(
                "{what}: no row for {:?}",
                key.iter().map(|k| &want[*k]).collect::<Vec<_>>()
            )
        };
        for (column, value) in got {
            assert_eq!(Some(value), want.get(*column), "{what}: column {column}");
        }
    }
}

fn check_folder(corpus: &Path, folder: &str, pcap: &str) -> Vec<Connection> {
    let dir = corpus.join(folder);
    let conns: Vec<Connection> = sessions(&dir.join(pcap))
        .into_iter()
        .filter(|c| c.tls.is_tls())
        .collect();

    let ssl: Vec<_> = conns.iter().map(ssl_row).collect();
    assert_rows_match(
        &format!("{folder}/ssl.log"),
        &ssl,
        &zeek_log(&dir.join("ssl.log")),
        &["id.orig_h", "id.orig_p"],
    );

    let mut x509 = Vec::new();
    for c in &conns {
        let info = c.tls.info();
        x509.extend(
            info.certs
                .iter()
                .enumerate()
                .map(|(i, cert)| x509_row(cert, i == 0, false)),
        );
        x509.extend(
            info.client_certs
                .iter()
                .enumerate()
                .map(|(i, cert)| x509_row(cert, i == 0, true)),
        );
    }
    assert_rows_match(
        &format!("{folder}/x509.log"),
        &x509,
        &zeek_log(&dir.join("x509.log")),
        &["fingerprint"],
    );
    conns
}

#[test]
fn sni_and_certificate_chain_match_zeek() {
    let Some(corpus) = corpus() else { return };
    let conns = check_folder(&corpus, "tls-sni-certchain", "tls-conn-with-extensions.pcap");
    let info = conns[0].tls.info();
    // What Zeek does not log but the models use.
    assert!(info.certs.iter().all(|c| c.parsed && !c.self_signed));
    assert_eq!(info.ja4.as_deref().map(|j| &j[..10]), Some("t10d360600"));
    assert!(info.ja3s.is_some());
}

#[test]
fn starttls_self_signed_matches_zeek() {
    let Some(corpus) = corpus() else { return };
    let conns = check_folder(&corpus, "tls-selfsigned-irc-starttls", "irc-starttls.pcap");
    let leaf = &conns[0].tls.info().certs[0];
    // RSA-4096/SHA-256 self-signature, verified with the certificate's own key.
    assert!(leaf.self_signed);
    assert_eq!(conns[0].tls.info().server_name, None);
}

/// Every ClientHello's JA3 equals tshark's (`tls.handshake.ja3`, `ja3_full`).
#[test]
fn ja3_matches_tshark() {
    let Some(corpus) = corpus() else { return };
    if Command::new("tshark").arg("--version").output().is_err() {
        assert!(!require_oracles(), "tshark not on PATH but REQUIRE_ORACLES=1");
        eprintln!("SKIPPED: tshark not on PATH; JA3 not cross-checked");
        return;
    }
    let cases = [
        ("tls-sni-certchain", "tls-conn-with-extensions.pcap"),
        ("tls-selfsigned-irc-starttls", "irc-starttls.pcap"),
    ];
    for (folder, pcap) in cases {
        let path = corpus.join(folder).join(pcap);
        let conns: Vec<Connection> = sessions(&path).into_iter().filter(|c| c.tls.is_tls()).collect();
        let mut ours: Vec<String> = conns
            .iter()
            .map(|c| {
                format!(
                    "{}\t{}",
                    c.tls.info().ja3.clone().unwrap(),
                    c.tls.info().ja3_string.clone().unwrap()
                )
            })
            .collect();
        // Decode-as on each responder port: tshark does not follow IRC's STARTTLS on its own.
        let mut cmd = Command::new("tshark");
        cmd.arg("-r").arg(&path);
        for c in &conns {
            cmd.args(["-d", &format!("tcp.port=={},tls", c.id.3)]);
        }
        cmd.args([
            "-Y",
            "tls.handshake.type==1",
            "-T",
            "fields",
            "-e",
            "tls.handshake.ja3",
            "-e",
            "tls.handshake.ja3_full",
        ]);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "tshark failed on {}", path.display());
        let mut theirs: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        ours.sort();
        theirs.sort();
        assert!(!theirs.is_empty(), "tshark found no ClientHello in {}", path.display());
        assert_eq!(ours, theirs, "{folder}");
    }
}
