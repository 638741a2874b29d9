//! The simulator's failed connects, read back by the detectors with Zeek's vocabulary: a refused
//! connect is `REJ` (history `Sr`), SYNs into the void are `S0` (history `S`), and TCP/UDP
//! exchanges of every kind the simulator renders are `SF`.

use std::net::IpAddr;

use simulator::capture::{CaptureWriter, merge};
use simulator::scenario::CaptureFormat;
use simulator::session::{ConnectFailure, Host, Session, SessionKind};
use simulator::world::OsTraits;

use crate::common::scratch;

fn session(start_s: u64, port: u16, kind: SessionKind) -> Session {
    Session {
        start: 1_772_438_400_000_000_000 + start_s * 1_000_000_000,
        client: Host {
            ip: "10.1.1.10".parse::<IpAddr>().unwrap(),
            mac: [2, 0, 0, 0, 0, 1],
            port,
        },
        server: Host {
            ip: "93.184.216.34".parse().unwrap(),
            mac: [2, 0, 0, 0, 0, 2],
            port: 443,
        },
        client_os: OsTraits::MACOS,
        server_os: OsTraits::LINUX,
        rtt: 40_000_000,
        kind,
        label: None,
        seed: u64::from(port),
    }
}

#[test]
fn refused_and_unanswered_connects_read_as_rej_and_s0() {
    let dir = scratch("failed");
    let cap = dir.join("failed.pcapng");
    let sessions = vec![
        session(0, 50001, SessionKind::Failed(ConnectFailure::Refused)),
        session(1, 50002, SessionKind::Failed(ConnectFailure::Timeout { retries: 3 })),
        session(30, 50003, SessionKind::Raw(vec![(5000, 200)])),
    ];
    let mut w = CaptureWriter::create(&cap, CaptureFormat::Pcapng).unwrap();
    let stats = merge(vec![Box::new(sessions.into_iter())], &mut w, |_, _| Ok(())).unwrap();
    w.finish().unwrap();
    assert_eq!(stats.sessions, 3);
    let opts = detectors::Options {
        internal: detectors::net::default_internal(),
        learning_secs: 0,
        thresholds: Default::default(),
        zeek_logs: Some(detectors::LogFormat::Tsv),
    };
    detectors::run(&cap, &dir, &opts).unwrap();
    let log = std::fs::read_to_string(dir.join("conn.log")).unwrap();
    let fields: Vec<&str> = log
        .lines()
        .find_map(|l| l.strip_prefix("#fields\t"))
        .expect("#fields header")
        .split('\t')
        .collect();
    let rows: Vec<std::collections::HashMap<&str, &str>> = log
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| fields.iter().copied().zip(l.split('\t')).collect())
        .collect();
    let by_port = |p: &str| {
        rows.iter()
            .find(|r| r["id.orig_p"] == p)
            .unwrap_or_else(|| panic!("no flow from port {p}:\n{log}"))
    };
    let get = |r: &std::collections::HashMap<&str, &str>, names: [&str; 4]| names.map(|n| r[n].to_string());
    let cols = ["conn_state", "history", "orig_pkts", "resp_pkts"];
    assert_eq!(get(by_port("50001"), cols), ["REJ", "Sr", "1", "1"]);
    assert_eq!(
        get(by_port("50002"), cols),
        ["S0", "S", "4", "0"],
        "one SYN and three retries, no answer"
    );
    let ok = by_port("50003");
    assert_eq!(
        get(ok, ["conn_state", "orig_bytes", "resp_bytes", "proto"]),
        ["SF", "5000", "200", "tcp"]
    );
}
