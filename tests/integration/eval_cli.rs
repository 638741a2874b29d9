//! The main job: `eval scenarios/` writes reports and exits 0 when every expectation holds,
//! 1 when one fails.

use std::process::Command;

use crate::common::{fixture, repo, scratch};

#[test]
fn scenarios_folder_passes_and_writes_reports() {
    let out = scratch("eval-scenarios");
    let o = Command::new(env!("CARGO_BIN_EXE_eval"))
        .arg(repo().join("scenarios"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("index.md").is_file());
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["schema"], 1);
    let scenarios = results["scenarios"].as_array().unwrap();
    assert!(scenarios.len() >= 2);
    for s in scenarios {
        for key in ["name", "seed", "devices", "device_days", "attacks", "models", "expect"] {
            assert!(!s[key].is_null(), "{key} missing in {s}");
        }
        assert_eq!(s["expect"]["passed"], true);
        for m in s["models"].as_array().unwrap() {
            for key in [
                "model",
                "alerts",
                "true_alerts",
                "false_alerts",
                "precision",
                "recall",
                "false_alerts_per_device_day",
                "time_to_detect_s",
            ] {
                assert!(m.get(key).is_some(), "{key} missing in {m}");
            }
            assert!(m["time_to_detect_s"].get("median").is_some() && m["time_to_detect_s"].get("p90").is_some());
        }
    }
    let dprk = scenarios.iter().find(|s| s["name"] == "dprk-macos-clickfix").unwrap();
    let post = dprk["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "http-post-bare-ip")
        .unwrap();
    assert_eq!(post["recall"], 1.0);
    assert!(stdout.contains("scenarios passed"));
}

#[test]
fn failed_expectation_exits_1_and_says_why() {
    let dir = scratch("eval-fail");
    let text = std::fs::read_to_string(fixture("small-dprk.yaml")).unwrap()
        + "  - model: rare-external-endpoint\n    max_false_alerts_per_device_day: 0.0\n    min_precision: 1.0\n";
    let file = dir.join("strict.yaml");
    std::fs::write(&file, text).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_eval"))
        .arg(&file)
        .arg("--out")
        .arg(dir.join("r"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL small-dprk: rare-external-endpoint:"), "{stdout}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r/results.json")).unwrap()).unwrap();
    assert_eq!(results["scenarios"][0]["expect"]["passed"], false);
}
