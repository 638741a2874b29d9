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

#[test]
fn several_seeds_give_one_entry_per_seed_and_an_aggregate() {
    let dir = scratch("eval-seeds");
    let mut reports = Vec::new();
    for threads in ["1", "2"] {
        let out = dir.join(threads);
        let o = Command::new(env!("CARGO_BIN_EXE_eval"))
            .arg(fixture("small-dprk.yaml"))
            .args(["--seeds", "2,1", "--out"])
            .arg(&out)
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
        assert!(stdout.starts_with("seeds 1-2: "), "{stdout}");
        for seed in [1, 2] {
            assert!(out.join(format!("small-dprk/seed-{seed}/alerts.jsonl")).is_file());
        }
        reports.push(["results.json", "index.md"].map(|f| std::fs::read_to_string(out.join(f)).unwrap()));
    }
    assert!(reports[0] == reports[1], "reports depend on the thread count");
    let out = dir.join("1");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let runs = results["scenarios"].as_array().unwrap();
    assert_eq!(
        runs.iter().map(|r| r["seed"].as_u64().unwrap()).collect::<Vec<_>>(),
        [1, 2]
    );
    for r in runs {
        let response = &r["response"];
        for key in ["attack_bytes", "prevented_bytes", "benign_connections_blocked"] {
            assert!(response[key].is_u64(), "{key} in {response}");
        }
        assert!(response["attack_bytes"].as_u64().unwrap() > 0);
        assert!(response["prevented_fraction"].is_f64(), "{response}");
        assert!(
            r["models"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["model"] == "incidents")
        );
    }
    let aggregates = results["aggregates"].as_array().unwrap();
    assert_eq!(aggregates.len(), 1);
    let a = &aggregates[0];
    assert_eq!(
        (a["name"].as_str(), a["seeds"].to_string().as_str()),
        (Some("small-dprk"), "[1,2]")
    );
    assert_eq!(a["expect"]["passed"], true);
    let post = a["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "http-post-bare-ip")
        .unwrap();
    assert_eq!(post["min_recall"], 1.0);
    for key in [
        "mean_precision",
        "mean_false_alerts_per_device_day",
        "median_time_to_detect_s",
    ] {
        assert!(post[key].is_f64(), "{key} in {post}");
    }
    assert!(a["response"]["attack_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn a_response_expectation_failing_on_every_seed_names_each_seed() {
    let dir = scratch("eval-seeds-fail");
    // No attack, so no prevented fraction: fails on any detector.
    let text = std::fs::read_to_string(fixture("small-benign.yaml")).unwrap()
        + "  - response:\n      min_prevented_fraction: 0.5\n";
    let file = dir.join("benign.yaml");
    std::fs::write(&file, text).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_eval"))
        .arg(&file)
        .args(["--seeds", "1-2", "--out"])
        .arg(dir.join("r"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{stdout}");
    for seed in [1, 2] {
        assert!(
            stdout.contains(&format!(
                "FAIL small-benign seed {seed}: response: no attack bytes, so no prevented fraction"
            )),
            "{stdout}"
        );
    }
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r/results.json")).unwrap()).unwrap();
    assert_eq!(results["aggregates"][0]["expect"]["failed_seeds"].to_string(), "[1,2]");
    assert!(results["scenarios"][0]["response"]["prevented_fraction"].is_null());
}
