//! No label without evidence: every truth flow of every scenario is found by the detectors' own
//! decoder in the capture, with its direction, ports and byte counts.

use std::collections::HashMap;

use simulator::scenario::LoadedScenario;

use crate::common::{repo, scratch};

#[test]
fn every_truth_flow_is_in_the_capture() {
    let dir = scratch("labels");
    let files = eval::scenario_files(&[repo().join("scenarios")]).unwrap();
    let mut total = 0;
    for file in files {
        let sc = LoadedScenario::load(&file).unwrap();
        if sc.scenario.attacks.is_empty() {
            continue;
        }
        let out = dir.join(&sc.name);
        let sim = simulator::simulate(&sc, sc.scenario.seed, &out).unwrap();
        let internal = sc
            .scenario
            .network
            .internal
            .iter()
            .map(|c| c.value.to_string().parse().unwrap())
            .collect();
        let opts = detectors::Options {
            internal,
            learning_secs: 0,
            thresholds: Default::default(),
            zeek_logs: Some(detectors::LogFormat::Tsv),
        };
        detectors::run(&sim.capture, &out, &opts).unwrap();
        // conn.log rows by (orig, orig port, resp, resp port, proto) → (ts, orig_bytes, resp_bytes)
        let log = std::fs::read_to_string(out.join("conn.log")).unwrap();
        let mut conns: HashMap<String, Vec<(f64, String, String)>> = HashMap::new();
        for f in log
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split('\t').collect::<Vec<_>>())
        {
            conns
                .entry([f[2], f[3], f[4], f[5], f[6]].join(" "))
                .or_default()
                .push((f[0].parse().unwrap(), f[9].into(), f[10].into()));
        }
        let truth = eval::truth::read(&sim.truth).unwrap();
        assert!(!truth.flows.is_empty(), "{}: the attack left flows", sc.name);
        for t in &truth.flows {
            let key = format!("{} {} {} {} {}", t.src_ip, t.src_port, t.dst_ip, t.dst_port, t.proto);
            let found = conns
                .get(&key)
                .and_then(|rows| rows.iter().find(|r| (r.0 - t.ts_start).abs() < 0.001));
            let Some((_, ob, rb)) = found else {
                panic!("{}: truth flow {key} at {} is not in the capture", sc.name, t.ts_start)
            };
            let unset_or = |v: &str| if v == "-" { "0".to_string() } else { v.to_string() };
            assert_eq!(
                (unset_or(ob), unset_or(rb)),
                (t.bytes_orig.to_string(), t.bytes_resp.to_string()),
                "{}: {key} ({} {}) byte counts",
                sc.name,
                t.stage,
                t.technique
            );
            total += 1;
        }
    }
    assert!(total > 100, "only {total} truth flows checked");
    eprintln!("{total} truth flows found in their captures with matching direction, ports and bytes");
}
