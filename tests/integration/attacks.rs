//! Attack scenarios: tshark finds each injector's stage observables, and seeds vary timings,
//! endpoints and volumes within the documented ranges while one seed fixes every byte.

use std::collections::HashSet;
use std::net::IpAddr;

use simulator::scenario::LoadedScenario;

use crate::common::{repo, run_tshark, scratch, sha256, tshark};

fn scenario(name: &str) -> LoadedScenario {
    LoadedScenario::load(&repo().join(format!("scenarios/{name}.yaml"))).unwrap()
}

#[test]
fn exposed_service_draws_many_rare_sources_and_cloud_ssrf_reaches_the_metadata_service() {
    if tshark().is_none() {
        return;
    }
    let dir = scratch("attacks-tshark");
    // Exposed service: ≥ 50 distinct external sources open connections to the VM.
    let sc = scenario("exposed-service-scan");
    let sim = simulator::simulate(&sc, sc.scenario.seed, &dir.join("exposed")).unwrap();
    let truth = eval::truth::read(&sim.truth).unwrap();
    let vm = truth.attacks[0].victim_ip;
    let port = truth.flows[0].dst_port;
    let syns = run_tshark(&[
        "-r",
        sim.capture.to_str().unwrap(),
        "-Y",
        &format!("ip.dst == {vm} && tcp.dstport == {port} && tcp.flags.syn == 1 && tcp.flags.ack == 0"),
        "-T",
        "fields",
        "-e",
        "ip.src",
    ]);
    let sources: HashSet<&str> = syns.lines().collect();
    assert!(sources.len() >= 50, "{} distinct sources", sources.len());
    let stages: HashSet<&str> = truth.flows.iter().map(|f| f.stage.as_str()).collect();
    assert_eq!(
        stages,
        HashSet::from(["syn-scan", "banner-grab", "path-probe", "brute-force"])
    );

    // Cloud SSRF: the WAF's GETs for the role list and the role's credentials.
    let sc = scenario("cloud-ssrf-exfil");
    let sim = simulator::simulate(&sc, sc.scenario.seed, &dir.join("ssrf")).unwrap();
    let gets = run_tshark(&[
        "-r",
        sim.capture.to_str().unwrap(),
        "-Y",
        "ip.dst == 169.254.169.254 && http.request.method == \"GET\" && frame.comment contains \"metadata-credentials\"",
        "-T",
        "fields",
        "-e",
        "http.request.uri",
    ]);
    let uris: Vec<&str> = gets.lines().collect();
    assert!(
        uris.contains(&"/latest/meta-data/iam/security-credentials/"),
        "{uris:?}"
    );
    assert!(
        uris.iter()
            .any(|u| u.starts_with("/latest/meta-data/iam/security-credentials/") && u.len() > 42),
        "{uris:?}"
    );
    let ssrf = run_tshark(&[
        "-r",
        sim.capture.to_str().unwrap(),
        "-Y",
        "http.request.uri contains \"169.254.169.254\"",
        "-T",
        "fields",
        "-e",
        "ip.src",
    ]);
    assert!(ssrf.lines().count() >= 2, "SSRF requests arrive from outside: {ssrf}");

    // Windows PowerShell: its user agent polling /api/daemon on a bare IP.
    let sc = scenario("dprk-windows-powershell");
    let sim = simulator::simulate(&sc, sc.scenario.seed, &dir.join("win")).unwrap();
    let polls = run_tshark(&[
        "-r",
        sim.capture.to_str().unwrap(),
        "-Y",
        "http.user_agent contains \"WindowsPowerShell/5.1\" && http.request.uri == \"/api/daemon\"",
        "-T",
        "fields",
        "-e",
        "http.host",
        "-e",
        "ip.dst",
    ]);
    assert!(polls.lines().count() > 100);
    for l in polls.lines() {
        let (host, ip) = l.split_once('\t').unwrap();
        assert!(host.starts_with(&format!("{ip}:")), "Host is the bare IP: {l}");
    }
}

/// (attack start, set of external endpoints, labelled bytes each way, per-stage flow counts)
fn fingerprint(
    dir: &std::path::Path,
    sc: &LoadedScenario,
    seed: u64,
) -> (f64, Vec<IpAddr>, (u64, u64), Vec<(String, u64)>) {
    let sim = simulator::simulate(sc, seed, dir).unwrap();
    let t = eval::truth::read(&sim.truth).unwrap();
    let mut ends: Vec<IpAddr> = t
        .flows
        .iter()
        .flat_map(|f| [f.src_ip, f.dst_ip])
        .filter(|ip| *ip != t.attacks[0].victim_ip)
        .collect();
    ends.sort();
    ends.dedup();
    let bytes = t
        .flows
        .iter()
        .fold((0, 0), |a, f| (a.0 + f.bytes_orig, a.1 + f.bytes_resp));
    let stages = t.attacks[0].stages.iter().map(|s| (s.stage.clone(), s.flows)).collect();
    (t.attacks[0].ts_start, ends, bytes, stages)
}

#[test]
fn seeds_vary_the_attack_within_its_ranges() {
    let dir = scratch("seeds");
    for name in [
        "dprk-macos-clickfix",
        "dprk-windows-powershell",
        "exposed-service-scan",
        "cloud-ssrf-exfil",
        "shadow-ai",
    ] {
        let sc = scenario(name);
        let a = fingerprint(&dir.join(format!("{name}-1")), &sc, 1);
        let b = fingerprint(&dir.join(format!("{name}-2")), &sc, 2);
        assert_ne!(a.0, b.0, "{name}: start time");
        assert_ne!(a.1, b.1, "{name}: endpoints");
        assert_ne!(a.2, b.2, "{name}: volumes");
        let again = fingerprint(&dir.join(format!("{name}-1b")), &sc, 1);
        assert_eq!(a, again, "{name}: the same seed repeats");
        assert_eq!(
            sha256(&dir.join(format!("{name}-1/truth.jsonl"))),
            sha256(&dir.join(format!("{name}-1b/truth.jsonl")))
        );
    }
    // The DPRK defaults stay within the reports' ranges, whatever the seed.
    let sc = scenario("dprk-macos-clickfix");
    for seed in 1..=4 {
        let out = dir.join(format!("ranges-{seed}"));
        let sim = simulator::simulate(&sc, seed, &out).unwrap();
        let t = eval::truth::read(&sim.truth).unwrap();
        let exfil: Vec<_> = t.flows.iter().filter(|f| f.stage == "exfil").collect();
        let total: u64 = exfil.iter().map(|f| f.bytes_orig).sum();
        assert!(
            (6..=9).contains(&exfil.len()),
            "seed {seed}: {} exfil POSTs",
            exfil.len()
        );
        assert!(
            total >= 5 << 20 && total <= (60 << 20) + 9 * 400,
            "seed {seed}: {total} bytes out (plus HTTP headers)"
        );
        let mut beacons: Vec<f64> = t
            .flows
            .iter()
            .filter(|f| f.stage == "c2-beacon")
            .map(|f| f.ts_start)
            .collect();
        beacons.sort_by(f64::total_cmp);
        let mut gaps: Vec<f64> = beacons.windows(2).map(|w| w[1] - w[0]).collect();
        gaps.sort_by(f64::total_cmp);
        let median = gaps[gaps.len() / 2];
        // scenario: interval 30s..120s, jitter up to 30 % (multiplicative shortens the sleep)
        assert!(
            (21.0..=120.5).contains(&median),
            "seed {seed}: median beacon gap {median:.1}s"
        );
        let ports: HashSet<u16> = t
            .flows
            .iter()
            .filter(|f| f.stage == "c2-beacon")
            .map(|f| f.dst_port)
            .collect();
        assert_eq!(ports.len(), 1);
        assert!([6783, 8443, 8444, 5202, 7365, 1224].contains(ports.iter().next().unwrap()));
    }
}
