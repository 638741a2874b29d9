//! Across seeds: one summary per scenario of its runs with different seeds (`aggregates` in
//! results.json). A detector must hold on every seed, so recall takes the worst seed; costs
//! (precision, false alerts) are averaged; time to detect takes the median of the seeds'
//! medians (nearest rank, as time to detect itself).

use serde::Serialize;

use crate::run::ScenarioResult;
use crate::score::quantile;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ModelAggregate {
    pub model: String,
    /// Totals over the seeds.
    pub alerts: u64,
    pub true_alerts: u64,
    pub false_alerts: u64,
    /// Over the seeds where it is defined; `null` where it is on none.
    pub min_recall: Option<f64>,
    pub mean_precision: Option<f64>,
    pub mean_false_alerts_per_device_day: f64,
    pub median_time_to_detect_s: Option<f64>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ResponseAggregate {
    pub attack_bytes: u64,
    pub prevented_bytes: u64,
    /// Over the seeds with attack bytes.
    pub min_prevented_fraction: Option<f64>,
    pub mean_prevented_fraction: Option<f64>,
    pub mean_benign_connections_blocked: f64,
    pub max_benign_connections_blocked: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AggregateExpect {
    /// Every seed met the expectations.
    pub passed: bool,
    pub failed_seeds: Vec<u64>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ScenarioAggregate {
    pub name: String,
    pub file: String,
    pub seeds: Vec<u64>,
    pub models: Vec<ModelAggregate>,
    pub response: ResponseAggregate,
    pub expect: AggregateExpect,
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn min(v: &[f64]) -> Option<f64> {
    v.iter().copied().min_by(f64::total_cmp)
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    quantile(&v, 0.5)
}

/// One aggregate per scenario name, in the order scenarios first appear in `results`.
pub fn aggregate(results: &[ScenarioResult]) -> Vec<ScenarioAggregate> {
    let mut names: Vec<&str> = Vec::new();
    for r in results {
        if !names.contains(&r.name.as_str()) {
            names.push(&r.name);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let runs: Vec<&ScenarioResult> = results.iter().filter(|r| r.name == name).collect();
            of_runs(&runs)
        })
        .collect()
}

/// The aggregate of one scenario's runs (at least one).
fn of_runs(runs: &[&ScenarioResult]) -> ScenarioAggregate {
    let mut model_names: Vec<&str> = Vec::new();
    for m in runs.iter().flat_map(|r| &r.models) {
        if !model_names.contains(&m.model.as_str()) {
            model_names.push(&m.model);
        }
    }
    let models = model_names
        .into_iter()
        .map(|model| {
            let scores: Vec<_> = runs
                .iter()
                .filter_map(|r| r.models.iter().find(|m| m.model == model))
                .collect();
            let defined = |f: &dyn Fn(&crate::score::ModelScore) -> Option<f64>| -> Vec<f64> {
                scores.iter().filter_map(|m| f(m)).collect()
            };
            let fa: Vec<f64> = scores.iter().map(|m| m.false_alerts_per_device_day).collect();
            ModelAggregate {
                model: model.to_string(),
                alerts: scores.iter().map(|m| m.alerts).sum(),
                true_alerts: scores.iter().map(|m| m.true_alerts).sum(),
                false_alerts: scores.iter().map(|m| m.false_alerts).sum(),
                min_recall: min(&defined(&|m| m.recall)),
                mean_precision: mean(&defined(&|m| m.precision)),
                mean_false_alerts_per_device_day: mean(&fa).unwrap_or(0.0),
                median_time_to_detect_s: median(defined(&|m| m.time_to_detect_s.median)),
            }
        })
        .collect();
    let fractions: Vec<f64> = runs.iter().filter_map(|r| r.response.prevented_fraction).collect();
    let benign: Vec<f64> = runs
        .iter()
        .map(|r| r.response.benign_connections_blocked as f64)
        .collect();
    ScenarioAggregate {
        name: runs[0].name.clone(),
        file: runs[0].file.clone(),
        seeds: runs.iter().map(|r| r.seed).collect(),
        models,
        response: ResponseAggregate {
            attack_bytes: runs.iter().map(|r| r.response.attack_bytes).sum(),
            prevented_bytes: runs.iter().map(|r| r.response.prevented_bytes).sum(),
            min_prevented_fraction: min(&fractions),
            mean_prevented_fraction: mean(&fractions),
            mean_benign_connections_blocked: mean(&benign).unwrap_or(0.0),
            max_benign_connections_blocked: runs
                .iter()
                .map(|r| r.response.benign_connections_blocked)
                .max()
                .unwrap_or(0),
        },
        expect: AggregateExpect {
            passed: runs.iter().all(|r| r.expect.passed),
            failed_seeds: runs.iter().filter(|r| !r.expect.passed).map(|r| r.seed).collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::ResponseScore;
    use crate::run::ExpectOutcome;
    use crate::score::{ModelScore, TimeToDetect};

    fn run(seed: u64, recall: f64, precision: Option<f64>, ttd: Option<f64>, fraction: Option<f64>) -> ScenarioResult {
        ScenarioResult {
            name: "s".into(),
            file: "s.yaml".into(),
            seed,
            devices: 2,
            device_days: 1.0,
            attacks: 1,
            packets: 10,
            truth_flows: 1,
            models: vec![ModelScore {
                model: "m".into(),
                alerts: 4,
                true_alerts: 3,
                false_alerts: 1,
                precision,
                recall: Some(recall),
                false_alerts_per_device_day: seed as f64,
                time_to_detect_s: TimeToDetect { median: ttd, p90: ttd },
                attacks_detected: recall as u64,
            }],
            response: ResponseScore {
                responses: 1,
                attack_bytes: 100,
                prevented_bytes: (fraction.unwrap_or(0.0) * 100.0) as u64,
                prevented_fraction: fraction,
                benign_connections_blocked: seed,
            },
            expect: ExpectOutcome {
                passed: seed != 2,
                failures: vec![],
            },
            dir: Default::default(),
            elapsed_s: 0.0,
        }
    }

    #[test]
    fn worst_recall_mean_costs_median_ttd() {
        let runs = [
            run(1, 1.0, Some(0.5), Some(30.0), Some(1.0)),
            run(2, 0.0, None, None, Some(0.5)),
            run(3, 1.0, Some(1.0), Some(90.0), Some(0.75)),
            run(4, 1.0, Some(0.75), Some(60.0), None),
        ];
        let a = aggregate(&runs);
        assert_eq!(a.len(), 1);
        let a = &a[0];
        assert_eq!(a.seeds, [1, 2, 3, 4]);
        let m = &a.models[0];
        assert_eq!((m.alerts, m.true_alerts, m.false_alerts), (16, 12, 4));
        assert_eq!(m.min_recall, Some(0.0));
        assert_eq!(m.mean_precision, Some(0.75));
        assert_eq!(m.mean_false_alerts_per_device_day, 2.5);
        // Nearest-rank median of 30, 60, 90.
        assert_eq!(m.median_time_to_detect_s, Some(60.0));
        assert_eq!(a.response.min_prevented_fraction, Some(0.5));
        assert_eq!(a.response.mean_prevented_fraction, Some(0.75));
        assert_eq!(a.response.max_benign_connections_blocked, 4);
        assert_eq!(a.response.mean_benign_connections_blocked, 2.5);
        assert_eq!(
            a.expect,
            AggregateExpect {
                passed: false,
                failed_seeds: vec![2]
            }
        );
    }
}
