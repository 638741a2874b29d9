//! tshark, an independent decoder, reads the simulator's captures: no malformed packets, no
//! expert warnings, valid checksums, and the protocol fields the simulator meant to write.

use std::collections::HashMap;

use simulator::scenario::LoadedScenario;

use crate::common::{assert_tshark_clean, fixture, repo, run_tshark, scratch, tshark};

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

    // Every registration and beacon truth flow is an HTTP POST to /api/daemon whose Host is ip:port.
    let truth = std::fs::read_to_string(dir.join("small-dprk.yaml/truth.jsonl")).unwrap();
    let flows: Vec<serde_json::Value> = truth
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| {
            v["record"] == "flow" && (v["stage"] == "registration" || v["stage"] == "c2-beacon")
        })
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

#[test]
fn kill_chain_stages_are_visible_to_tshark() {
    if tshark().is_none() {
        return;
    }
    let dir = scratch("tshark-chain");
    let sc = LoadedScenario::load(&repo().join("scenarios/dprk-macos-clickfix.yaml")).unwrap();
    let sim = simulator::simulate(&sc, sc.scenario.seed, &dir).unwrap();
    let cap = sim.capture.to_str().unwrap();
    let truth = eval::truth::read(&sim.truth).unwrap();
    let stages: Vec<&str> = truth.attacks[0].stages.iter().map(|s| s.stage.as_str()).collect();
    for want in [
        "lure",
        "stage-fetch",
        "registration",
        "credential-theft",
        "payload",
        "exfil",
        "c2-beacon",
    ] {
        assert!(stages.contains(&want), "stage {want} missing: {stages:?}");
    }
    let flows = |stage: &str| truth.flows.iter().filter(|f| f.stage == stage).collect::<Vec<_>>();
    // The lure: the lookalike host's SNI, after its DNS answer.
    let lure = flows("lure");
    let sni = run_tshark(&[
        "-r",
        cap,
        "-Y",
        &format!(
            "tls.handshake.type == 1 && ip.dst == {}",
            lure.iter().find(|f| f.proto == "tcp").unwrap().dst_ip
        ),
        "-T",
        "fields",
        "-e",
        "tls.handshake.extensions_server_name",
    ]);
    assert!(sni.trim().ends_with("webzoom.us"), "lure SNI: {sni}");
    // Exfil: at least the labelled bytes reach the exfil port, in POSTs whose Host is a bare IP.
    let exfil = flows("exfil");
    let (ip, port) = (exfil[0].dst_ip, exfil[0].dst_port);
    let labelled: u64 = exfil.iter().map(|f| f.bytes_orig).sum();
    let seen: u64 = run_tshark(&[
        "-r",
        cap,
        "-Y",
        &format!("ip.dst == {ip} && tcp.dstport == {port}"),
        "-T",
        "fields",
        "-e",
        "tcp.len",
    ])
    .lines()
    .map(|l| l.parse::<u64>().unwrap())
    .sum();
    assert_eq!(seen, labelled, "bytes to the exfil port");
    assert!(labelled > 1 << 20);
    let hosts = run_tshark(&[
        "-r",
        cap,
        "-o",
        "http.desegment_body:FALSE",
        "-Y",
        &format!("http.request.method == \"POST\" && tcp.dstport == {port} && ip.dst == {ip}"),
        "-T",
        "fields",
        "-e",
        "http.host",
    ]);
    assert_eq!(hosts.lines().count(), exfil.len());
    assert!(hosts.lines().all(|h| h == format!("{ip}:{port}")), "{hosts}");
    // Payload pulls: TLS without SNI and a self-signed certificate.
    let payload = flows("payload");
    let p = payload[0];
    let certs = run_tshark(&[
        "-r",
        cap,
        "-d",
        &format!("tcp.port=={},tls", p.dst_port),
        "-Y",
        &format!("tls.handshake.type == 11 && ip.src == {}", p.dst_ip),
        "-T",
        "fields",
        "-e",
        "x509sat.uTF8String",
    ]);
    let first = certs.lines().next().unwrap_or_default();
    let names: Vec<&str> = first.split(',').collect();
    assert!(
        names.len() >= 2 && names[..names.len() / 2] == names[names.len() / 2..],
        "self-signed: {first}"
    );
}

#[test]
fn ai_services_answer_with_long_streams_and_mcp_speaks_streamable_http() {
    if tshark().is_none() {
        return;
    }
    let dir = scratch("tshark-ai");
    let sc = LoadedScenario::load(&repo().join("scenarios/shadow-ai.yaml")).unwrap();
    let sim = simulator::simulate(&sc, sc.scenario.seed, &dir).unwrap();
    let cap = sim.capture.to_str().unwrap();
    let truth = eval::truth::read(&sim.truth).unwrap();
    let ai: Vec<_> = truth
        .flows
        .iter()
        .filter(|f| f.stage == "unsanctioned-ai" && f.proto == "tcp")
        .collect();
    assert!(ai.len() >= 5, "{} AI sessions", ai.len());
    // One pass over the victim's TLS traffic: per connection, its SNI and the server's data
    // segments with their times.
    let victim = truth.attacks[0].victim_ip;
    let rows = run_tshark(&[
        "-r",
        cap,
        "-Y",
        &format!("ip.addr == {victim} && tcp.port == 443 && (tls.handshake.type == 1 || tcp.len > 0)"),
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
        "tls.handshake.extensions_server_name",
        "-e",
        "tcp.len",
        "-e",
        "frame.time_epoch",
    ]);
    let mut sni: HashMap<(String, String), String> = HashMap::new();
    let mut answers: HashMap<(String, String), Vec<f64>> = HashMap::new();
    for l in rows.lines() {
        let f: Vec<&str> = l.split('\t').collect();
        if !f[4].is_empty() {
            sni.insert((f[0].to_string(), f[1].to_string()), f[4].to_string());
        }
        let len: u64 = f[5].parse().unwrap_or(0);
        if f[3] != "443" && len > 0 && len < 400 {
            answers
                .entry((f[2].to_string(), f[3].to_string()))
                .or_default()
                .push(f[6].parse().unwrap());
        }
    }
    const AI: [&str; 9] = [
        "api.openai.com",
        "chatgpt.com",
        "claude.ai",
        "api.anthropic.com",
        "gemini.google.com",
        "generativelanguage.googleapis.com",
        "api.deepseek.com",
        "perplexity.ai",
        "api.mistral.ai",
    ];
    for f in ai {
        let key = (f.src_ip.to_string(), f.src_port.to_string());
        let name = sni.get(&key).unwrap_or_else(|| panic!("no ClientHello for {key:?}"));
        assert!(AI.contains(&name.as_str()), "SNI {name}");
        // The answer: many small segments (one record each; past the snap length only their
        // headers are captured) from the server over at least two seconds.
        let times = answers.get(&key).cloned().unwrap_or_default();
        assert!(times.len() >= 8, "{key:?}: {} small server segments", times.len());
        let span = times.iter().cloned().fold(f64::MIN, f64::max) - times.iter().cloned().fold(f64::MAX, f64::min);
        assert!(span >= 2.0, "{key:?}: streamed for {span:.1} s");
    }
    let mcp = run_tshark(&[
        "-r",
        cap,
        "-Y",
        "http.request.uri == \"/mcp\"",
        "-T",
        "fields",
        "-e",
        "http.request.method",
        "-e",
        "http.request.line",
    ]);
    let methods: Vec<&str> = mcp.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert!(
        methods.first() == Some(&"POST") && methods.contains(&"GET") && methods.last() == Some(&"DELETE"),
        "{methods:?}"
    );
    assert!(
        mcp.contains("Mcp-Session-Id: ") && mcp.contains("Accept: application/json, text/event-stream"),
        "{mcp}"
    );
}
