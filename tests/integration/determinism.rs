//! A seed fixes every byte of output, whatever the thread count.

use std::process::Command;

use simulator::scenario::LoadedScenario;

use crate::common::{fixture, scratch, sha256};

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let sc = LoadedScenario::load(&fixture("small-dprk.yaml")).unwrap();
    let dir = scratch("determinism");
    let a = simulator::simulate(&sc, 5, &dir.join("a")).unwrap();
    let b = simulator::simulate(&sc, 5, &dir.join("b")).unwrap();
    let c = simulator::simulate(&sc, 6, &dir.join("c")).unwrap();
    assert_eq!(sha256(&a.capture), sha256(&b.capture));
    assert_eq!(sha256(&a.truth), sha256(&b.truth));
    assert_ne!(sha256(&a.capture), sha256(&c.capture));
    assert_ne!(sha256(&a.truth), sha256(&c.truth));
    assert!(a.truth_flows > 50, "the beacon ran: {} truth flows", a.truth_flows);
}

#[test]
fn eval_output_does_not_depend_on_thread_count() {
    let dir = scratch("threads");
    let mut hashes = Vec::new();
    for threads in ["1", "2"] {
        let out = dir.join(threads);
        let status = Command::new(env!("CARGO_BIN_EXE_eval"))
            .arg(fixture("small-dprk.yaml"))
            .arg(fixture("small-benign.yaml"))
            .arg("--out")
            .arg(&out)
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
        hashes.push(
            [
                "results.json",
                "small-dprk/capture.pcapng",
                "small-dprk/truth.jsonl",
                "small-dprk/alerts.jsonl",
                "small-benign/capture.pcap",
            ]
            .map(|f| sha256(&out.join(f))),
        );
    }
    assert_eq!(hashes[0], hashes[1]);
}
