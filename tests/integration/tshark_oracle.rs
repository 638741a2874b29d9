//! tshark, an independent decoder, reads the simulator's captures: no malformed packets, no
//! expert warnings, valid checksums, and the protocol fields the simulator meant to write.

use std::collections::HashMap;

use simulator::scenario::LoadedScenario;

use crate::common::{assert_tshark_clean, fixture, run_tshark, scratch, tshark};

#[test]
fn simulated_captures_are_clean_and_say_what_truth_says() {
    if tshark().is_none() {
        return;
    }
    let dir = scratch("tshark");
    for name in ["small-dprk.yaml", "small-benign.yaml"] {
        let sc = LoadedScenario::load(&fixture(name)).unwrap();
        let sim = simulator::simulate(&sc, sc.scenario.seed, &dir.join(name)).unwrap();
        let cap = sim.capture.to_str().unwrap();
        assert_tshark_clean(cap);
        let count = run_tshark(&["-r", cap, "-T", "fields", "-e", "frame.number"])
            .lines()
            .count() as u64;
        assert_eq!(count, sim.packets, "{name}: tshark reads every packet");

        // DNS answers exist and every answered name maps to one address.
        let dns = run_tshark(&[
            "-r",
            cap,
            "-Y",
            "dns.flags.response == 1 && dns.a",
            "-T",
            "fields",
            "-e",
            "dns.qry.name",
            "-e",
            "dns.a",
        ]);
        assert!(dns.lines().count() > 10, "{name}: DNS answers");
        let mut zone: HashMap<String, String> = HashMap::new();
        for l in dns.lines() {
            let (q, a) = l.split_once('\t').unwrap();
            assert_eq!(
                zone.entry(q.to_string()).or_insert_with(|| a.to_string()),
                a,
                "{name}: {q} has a stable address"
            );
        }
    }

    // Every truth flow of the beacon is an HTTP POST to /api/daemon whose Host is ip:port.
    let truth = std::fs::read_to_string(dir.join("small-dprk.yaml/truth.jsonl")).unwrap();
    let flows: Vec<serde_json::Value> = truth
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["record"] == "flow")
        .collect();
    assert!(flows.len() > 50);
    let posts = run_tshark(&[
        "-r",
        dir.join("small-dprk.yaml/capture.pcapng").to_str().unwrap(),
        "-Y",
        "http.request.method == \"POST\" && http.request.uri == \"/api/daemon\"",
        "-T",
        "fields",
        "-e",
        "ip.src",
        "-e",
        "tcp.srcport",
        "-e",
        "ip.dst",
        "-e",
        "tcp.dstport",
        "-e",
        "http.host",
        "-e",
        "http.user_agent",
        "-e",
        "frame.comment",
    ]);
    let seen: Vec<Vec<&str>> = posts.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(seen.len(), flows.len(), "one POST per truth flow");
    for (f, s) in flows.iter().zip(&seen) {
        let want = [
            f["src_ip"].as_str().unwrap().to_string(),
            f["src_port"].to_string(),
            f["dst_ip"].as_str().unwrap().to_string(),
            f["dst_port"].to_string(),
        ];
        assert_eq!(&s[..4], &want.iter().map(String::as_str).collect::<Vec<_>>()[..]);
        assert_eq!(s[4], format!("{}:{}", want[2], want[3]), "Host is the bare IP and port");
        assert_eq!(s[5], "curl/8.7.1");
        assert!(
            s[6].contains("attack_id=dprk-small") && s[6].contains("technique=T1071.001"),
            "pcapng comment carries the label: {}",
            s[6]
        );
    }

    // Per-flow payload bytes: tshark's conversation table against truth.
    let conv = run_tshark(&[
        "-r",
        dir.join("small-dprk.yaml/capture.pcapng").to_str().unwrap(),
        "-q",
        "-z",
        "conv,tcp",
    ]);
    let first = &flows[0];
    let needle = format!("{}:{}", first["src_ip"].as_str().unwrap(), first["src_port"]);
    assert!(conv.contains(&needle), "tshark lists the first beacon's conversation");
}
