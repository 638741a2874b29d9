//! One scenario end to end: simulate → detect → score → check `expect:`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use simulator::scenario::{LoadedScenario, ResponseExpectation};

use crate::response::{self, ResponseScore};
use crate::score::{ModelScore, score, score_incidents};
use crate::{conn_log, incidents, truth};

#[derive(Clone, Debug, Serialize)]
pub struct ExpectOutcome {
    pub passed: bool,
    pub failures: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ScenarioResult {
    pub name: String,
    pub file: String,
    pub seed: u64,
    pub devices: u32,
    pub device_days: f64,
    pub attacks: usize,
    pub packets: u64,
    pub truth_flows: u64,
    pub models: Vec<ModelScore>,
    pub response: ResponseScore,
    pub expect: ExpectOutcome,
    /// Where the capture, truth and alerts of this run are.
    #[serde(skip)]
    pub dir: PathBuf,
    /// Wall-clock seconds (printed, not saved: results.json stays reproducible).
    #[serde(skip)]
    pub elapsed_s: f64,
}

pub struct RunOptions {
    pub thresholds: detectors::config::Thresholds,
    /// Several seeds run: each run goes to `<out>/<scenario>/seed-<n>/` rather than
    /// `<out>/<scenario>/`.
    pub seed_folders: bool,
    /// Delete each run's capture once it is scored (many seeds of big scenarios take GBs).
    pub discard_captures: bool,
}

/// Runs `sc` with `seed` (default: the scenario's own) into a folder of `out_root`.
pub fn run(sc: &LoadedScenario, seed: Option<u64>, out_root: &Path, opts: &RunOptions) -> Result<ScenarioResult> {
    let started = Instant::now();
    let s = &sc.scenario;
    let seed = seed.unwrap_or(s.seed);
    let dir = if opts.seed_folders {
        out_root.join(&sc.name).join(format!("seed-{seed}"))
    } else {
        out_root.join(&sc.name)
    };
    let sim = simulator::simulate(sc, seed, &dir).with_context(|| format!("{}: simulation failed", sc.name))?;
    let internal = s
        .network
        .internal
        .iter()
        .map(|c| {
            c.value
                .to_string()
                .parse::<detectors::net::Cidr>()
                .map_err(anyhow::Error::msg)
        })
        .collect::<Result<Vec<_>>>()?;
    let det_opts = detectors::Options {
        internal,
        learning_secs: s.learning().0 / 1_000_000_000,
        thresholds: opts.thresholds.clone(),
        zeek_logs: Some(detectors::LogFormat::Tsv),
    };
    let summary =
        detectors::run(&sim.capture, &dir, &det_opts).with_context(|| format!("{}: detection failed", sc.name))?;
    if let Some(e) = summary.capture_error {
        anyhow::bail!("{}: the simulated capture is damaged: {e}", sc.name);
    }
    let truth = truth::read(&sim.truth)?;
    let alerts: Vec<detectors::alert::Alert> = crate::jsonl::read(&summary.alerts_path)?;
    let incidents = incidents::read(&dir.join("incidents.jsonl"))?;
    let responses = response::read(&dir.join("responses.jsonl"))?;
    let conns = conn_log::read(&dir.join("conn.log"))?;
    let devices = sc.device_count();
    let device_days = f64::from(devices) * s.duration.value.as_secs_f64() / 86_400.0;
    let names = detectors::models::names();
    let mut models = score(&truth, &alerts, &names, device_days);
    models.push(score_incidents(&truth, &incidents, device_days));
    let response = response::replay(&truth, &conns, &responses);
    let expect = check(sc, &models, &response);
    if opts.discard_captures {
        std::fs::remove_file(&sim.capture)
            .with_context(|| format!("{}: cannot delete {}", sc.name, sim.capture.display()))?;
    }
    Ok(ScenarioResult {
        name: sc.name.clone(),
        file: sc.path.display().to_string(),
        seed,
        devices,
        device_days,
        attacks: truth.attacks.len(),
        packets: sim.packets,
        truth_flows: sim.truth_flows,
        models,
        response,
        expect,
        dir,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "n/a".into())
}

/// Checks the scenario's `expect:` entries against the scores and the response replay.
pub fn check(sc: &LoadedScenario, models: &[ModelScore], response: &ResponseScore) -> ExpectOutcome {
    let mut failures = Vec::new();
    for e in &sc.scenario.expect {
        let e = &e.value;
        if let Some(r) = &e.response {
            check_response(&r.value, response, &mut failures);
        }
        let Some(name) = e.model.as_ref().map(|m| &m.value) else {
            continue;
        };
        let Some(m) = models.iter().find(|m| &m.model == name) else {
            failures.push(format!("{name}: no such model in the results"));
            continue;
        };
        if let Some(min) = e.min_recall
            && m.recall.is_none_or(|r| r < min)
        {
            failures.push(format!(
                "{name}: recall {} < min_recall {min} ({} of {} attacks detected)",
                fmt_opt(m.recall),
                m.attacks_detected,
                sc.scenario.attacks.len()
            ));
        }
        if let Some(max) = e.max_recall
            && m.recall.is_some_and(|r| r > max)
        {
            failures.push(format!(
                "{name}: recall {} > max_recall {max} ({} of {} attacks detected)",
                fmt_opt(m.recall),
                m.attacks_detected,
                sc.scenario.attacks.len()
            ));
        }
        if let Some(min) = e.min_precision
            && m.precision.is_none_or(|p| p < min)
        {
            failures.push(format!(
                "{name}: precision {} < min_precision {min} ({} true of {} alerts)",
                fmt_opt(m.precision),
                m.true_alerts,
                m.alerts
            ));
        }
        if let Some(max) = e.max_false_alerts_per_device_day
            && m.false_alerts_per_device_day > max
        {
            failures.push(format!(
                "{name}: {:.3} false alerts per device-day > max {max} ({} false alerts)",
                m.false_alerts_per_device_day, m.false_alerts
            ));
        }
        if let Some(max) = e.max_time_to_detect {
            match m.time_to_detect_s.median {
                None => failures.push(format!("{name}: no attack detected, so no time to detect (max {max})")),
                Some(t) if t > max.as_secs_f64() => {
                    failures.push(format!("{name}: median time to detect {t:.1}s > max {max}"))
                }
                Some(_) => {}
            }
        }
    }
    ExpectOutcome {
        passed: failures.is_empty(),
        failures,
    }
}

fn check_response(bounds: &ResponseExpectation, r: &ResponseScore, failures: &mut Vec<String>) {
    if let Some(min) = &bounds.min_prevented_fraction {
        let min = min.value;
        match r.prevented_fraction {
            None => failures.push(format!(
                "response: no attack bytes, so no prevented fraction (min_prevented_fraction {min})"
            )),
            Some(f) if f < min => failures.push(format!(
                "response: prevented fraction {f:.3} < min_prevented_fraction {min} ({} of {} attack bytes, {} responses)",
                r.prevented_bytes, r.attack_bytes, r.responses
            )),
            Some(_) => {}
        }
    }
    if let Some(max) = bounds.max_benign_connections_blocked
        && r.benign_connections_blocked > max
    {
        failures.push(format!(
            "response: {} benign connections blocked > max_benign_connections_blocked {max}",
            r.benign_connections_blocked
        ));
    }
}
