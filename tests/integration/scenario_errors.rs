//! Invalid scenario files make eval exit 2 with `file:line:column` and the key, before
//! anything runs.

use std::process::Command;

use crate::common::{fixture, repo, scratch};

/// Runs eval on one scenario text; returns (exit code, stderr).
fn eval_on(name: &str, text: &str) -> (i32, String) {
    let dir = scratch(&format!("bad-{name}"));
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_eval"))
        .arg(&file)
        .arg("--out")
        .arg(dir.join("reports"))
        .output()
        .unwrap();
    assert!(
        !dir.join("reports/results.json").exists(),
        "nothing may run for an invalid scenario"
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn valid() -> String {
    std::fs::read_to_string(repo().join("scenarios/dprk-macos-clickfix.yaml")).unwrap()
}

#[test]
fn unknown_top_level_key() {
    let (code, err) = eval_on("unknown-key", &format!("{}colour: blue\n", valid()));
    assert_eq!(code, 2, "{err}");
    let line = valid().lines().count() + 1;
    assert!(
        err.contains(&format!("unknown-key.yaml:{line}:1: `colour`: unknown field `colour`")),
        "{err}"
    );
}

#[test]
fn number_replaced_by_lots() {
    let text = valid().replacen("count: 6", "count: lots", 1);
    let (code, err) = eval_on("lots", &text);
    assert_eq!(code, 2, "{err}");
    let line = text.lines().position(|l| l.contains("count: lots")).unwrap() + 1;
    assert!(
        err.contains(&format!("lots.yaml:{line}:12: `devices.count`: invalid u32")),
        "{err}"
    );
}

#[test]
fn bad_duration_size_cidr_and_device_reference_are_all_reported() {
    let text = valid()
        .replace("duration: 1d", "duration: 1 fortnight")
        .replace("10.20.1.0/24", "10.20.1.0/33");
    let (code, err) = eval_on("bad-units", &text);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`duration`: invalid duration `1 fortnight`"), "{err}");

    let text = valid().replace("post_size: 80..400", "post_size: 80..4 parsecs");
    let (code, err) = eval_on("bad-size", &text);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`attacks.dprk-macos-clickfix.post_size`: invalid size `4 parsecs`"),
        "{err}"
    );

    let text = valid().replace("10.20.0.0/16", "10.20.0.0/16x");
    let (code, err) = eval_on("bad-cidr", &text);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`network.internal`: invalid CIDR `10.20.0.0/16x`"),
        "{err}"
    );

    let text = valid().replace("10.20.1.0/24", "10.99.1.0/24");
    let (code, err) = eval_on("outside", &text);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`devices.subnet`: subnet 10.99.1.0/24 is not inside any network.internal block"),
        "{err}"
    );

    let text = valid().replace("victim: mac-3", "victim: mac-9");
    let (code, err) = eval_on("victim", &text);
    assert_eq!(code, 2, "{err}");
    let line = text.lines().position(|l| l.contains("victim: mac-9")).unwrap() + 1;
    assert!(
        err.contains(&format!(
            "victim.yaml:{line}:15: `attacks.dprk-macos-clickfix.victim`: device `mac-9` does not exist"
        )),
        "{err}"
    );

    let text = valid().replace("model: rare-external-endpoint", "model: rare-endpoint");
    let (code, err) = eval_on("model", &text);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown model `rare-endpoint`"), "{err}");
}

#[test]
fn every_broken_file_is_listed() {
    let dir = scratch("two-bad");
    std::fs::write(dir.join("a.yaml"), valid().replace("seed: 7", "seed: seven")).unwrap();
    std::fs::write(
        dir.join("b.yaml"),
        valid().replace("name: dprk-macos-clickfix", "name: b\nsize: 30MiB"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_eval"))
        .arg(&dir)
        .arg("--out")
        .arg(dir.join("reports"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("a.yaml:") && err.contains("b.yaml:"), "{err}");
    assert!(err.contains("2 problem(s)"), "{err}");
}

#[test]
fn simulator_cli_rejects_invalid_scenarios_with_exit_2() {
    let dir = scratch("sim-bad");
    let file = dir.join("x.yaml");
    std::fs::write(&file, valid().replace("jitter: 0..0.3", "jitter: 0..1.5")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_eval")).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("jitter 0..1.5 must be within 0..1"));
    // The fixture itself is valid.
    assert!(simulator::scenario::LoadedScenario::load(&fixture("small-dprk.yaml")).is_ok());
}
