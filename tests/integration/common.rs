//! Helpers shared by the integration tests: paths, oracles, hashing.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("eval sits in the workspace")
        .to_path_buf()
}

pub fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures").join(name)
}

/// A fresh, empty scratch folder for one test, under `<tmp>/netbehave-tests/<pid>/`. The first
/// call of a test process removes the folders of earlier processes that are gone, so captures
/// from past runs (gigabytes over a few runs) do not pile up.
pub fn scratch(name: &str) -> PathBuf {
    static CLEAN: std::sync::Once = std::sync::Once::new();
    let root = std::env::temp_dir().join("netbehave-tests");
    CLEAN.call_once(|| {
        if let Ok(entries) = std::fs::read_dir(&root) {
            for e in entries.flatten() {
                let alive = e
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<u32>().ok())
                    .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
                if !alive {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    });
    let dir = root.join(std::process::id().to_string()).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Under `REQUIRE_ORACLES=1` (set by CI) a missing oracle fails the test instead of skipping it.
pub fn require_oracles() -> bool {
    std::env::var("REQUIRE_ORACLES").is_ok_and(|v| v == "1")
}

/// `tshark`, if installed; otherwise says so and returns None (or panics under REQUIRE_ORACLES).
pub fn tshark() -> Option<PathBuf> {
    let ok = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(PathBuf::from("tshark"));
    }
    assert!(!require_oracles(), "tshark is not installed but REQUIRE_ORACLES=1");
    eprintln!(
        "SKIPPED: tshark is not installed (apt-get install -y tshark); set REQUIRE_ORACLES=1 to make this a failure"
    );
    None
}

/// Zeek's test-suite corpus beside the checkout (`../shared/corpus/zeek`).
pub fn zeek_corpus() -> Option<PathBuf> {
    let dir = repo().join("../shared/corpus/zeek");
    if dir.join("INDEX.md").is_file() {
        return Some(dir);
    }
    assert!(
        !require_oracles(),
        "the Zeek corpus is missing at {} but REQUIRE_ORACLES=1",
        dir.display()
    );
    eprintln!("SKIPPED: Zeek corpus not found at {}", dir.display());
    None
}

pub fn sha256(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format!("{:x}", Sha256::digest(bytes))
}

pub fn run_tshark(args: &[&str]) -> String {
    let out = Command::new("tshark").args(args).output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("tshark prints UTF-8")
}

/// tshark with checksum validation finds no malformed packet and no expert warning or error.
pub fn assert_tshark_clean(capture: &str) {
    let problems = run_tshark(&[
        "-r",
        capture,
        "-o",
        "tcp.check_checksum:TRUE",
        "-o",
        "ip.check_checksum:TRUE",
        "-o",
        "udp.check_checksum:TRUE",
        "-Y",
        "_ws.malformed || _ws.expert.severity >= warning",
    ]);
    assert!(
        problems.trim().is_empty(),
        "{capture}: tshark found problems:\n{}",
        &problems[..problems.len().min(3000)]
    );
}
