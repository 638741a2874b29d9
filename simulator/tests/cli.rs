//! The simulator's command line: output files, determinism by seed, exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/small-dprk.yaml")
}

fn sha256(p: &Path) -> String {
    use sha2::{Digest, Sha256};
    format!("{:x}", Sha256::digest(std::fs::read(p).unwrap()))
}

fn simulate(out: &Path, seed: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_simulator"))
        .arg(fixture())
        .arg("--out")
        .arg(out)
        .arg("--seed")
        .arg(seed)
        .output()
        .unwrap()
}

#[test]
fn writes_capture_and_truth_identically_per_seed() {
    let base = std::env::temp_dir().join(format!("netbehave-simcli-{}", std::process::id()));
    let (a, b) = (base.join("a"), base.join("b"));
    for dir in [&a, &b] {
        let o = simulate(dir, "9");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stderr).contains("truth flows"));
    }
    for f in ["capture.pcapng", "truth.jsonl"] {
        assert_eq!(sha256(&a.join(f)), sha256(&b.join(f)), "{f}");
    }
    let truth = std::fs::read_to_string(a.join("truth.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(truth.lines().last().unwrap()).unwrap();
    assert_eq!(last["record"], "attack");
    assert_eq!(last["stages"][0]["stage"], "lure");
    assert!(
        last["stages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["technique"] == "T1071.001")
    );
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn invalid_scenario_exits_2_with_location() {
    let dir = std::env::temp_dir().join(format!("netbehave-simcli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        std::fs::read_to_string(fixture())
            .unwrap()
            .replace("duration: 4h", "duration: 4 hours"),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_simulator"))
        .arg(&file)
        .arg("--out")
        .arg(dir.join("o"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.yaml:5:11: `duration`: invalid duration `4 hours`"),
        "{err}"
    );
    assert!(!dir.join("o").exists(), "nothing is written for an invalid scenario");
}
