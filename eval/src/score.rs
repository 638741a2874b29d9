//! Scoring rules (documented in the README):
//!
//! - An alert is **true** when it points at a labelled flow — its `flow` Community ID equals
//!   that of a truth flow — or when it names the same device and external peer as a truth flow
//!   of an attack and falls inside that attack's window (first truth packet … last + 5 min).
//!   Every other alert is **false**.
//! - **Recall** is attack-level: the share of attacks with at least one true alert.
//! - **Precision** is true alerts / alerts.
//! - **False alerts per device-day** divide false alerts by devices × simulated days.
//! - **Time to detect** of an attack is its first true alert minus its first truth packet;
//!   median and p90 are over detected attacks.
//!
//! No point adjustment: an alert counts once, for the attack it matches.
//!
//! Incidents are scored as the model `incidents` by the same rules, except that an incident
//! points at a labelled flow when its `flow` or any of its `flows` does.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use detectors::alert::Alert;
use detectors::flow::community_id;
use serde::Serialize;

use crate::incidents::{self, Incident};
use crate::truth::Truth;

/// Grace after an attack's last packet during which an alert on its endpoints still counts.
const GRACE_S: f64 = 300.0;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TimeToDetect {
    pub median: Option<f64>,
    pub p90: Option<f64>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ModelScore {
    pub model: String,
    pub alerts: u64,
    pub true_alerts: u64,
    pub false_alerts: u64,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub false_alerts_per_device_day: f64,
    pub time_to_detect_s: TimeToDetect,
    /// Attacks with at least one true alert, out of all attacks.
    pub attacks_detected: u64,
}

pub(crate) fn proto_number(p: &str) -> u8 {
    match p {
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        _ => 0,
    }
}

struct Matcher {
    by_flow: HashMap<String, usize>,
    /// (device, peer) → attacks with a flow between them.
    by_pair: HashMap<(IpAddr, IpAddr), Vec<usize>>,
    windows: Vec<(f64, f64)>,
}

impl Matcher {
    fn new(truth: &Truth) -> Self {
        let index: HashMap<&str, usize> = truth
            .attacks
            .iter()
            .enumerate()
            .map(|(i, a)| (a.attack_id.as_str(), i))
            .collect();
        let mut by_flow = HashMap::new();
        let mut by_pair: HashMap<(IpAddr, IpAddr), Vec<usize>> = HashMap::new();
        for f in &truth.flows {
            let Some(&a) = index.get(f.attack_id.as_str()) else {
                continue;
            };
            by_flow.insert(
                community_id(0, proto_number(&f.proto), f.src_ip, f.src_port, f.dst_ip, f.dst_port),
                a,
            );
            for pair in [(f.src_ip, f.dst_ip), (f.dst_ip, f.src_ip)] {
                let v = by_pair.entry(pair).or_default();
                if !v.contains(&a) {
                    v.push(a);
                }
            }
        }
        let windows = truth.attacks.iter().map(|a| (a.ts_start, a.ts_end + GRACE_S)).collect();
        Matcher {
            by_flow,
            by_pair,
            windows,
        }
    }

    /// The attack a finding belongs to, if any: by one of its flows, else by its device and
    /// peer within an attack's window.
    fn attack_of<'f>(
        &self,
        ts: f64,
        device: IpAddr,
        peer: IpAddr,
        flows: impl IntoIterator<Item = &'f str>,
    ) -> Option<usize> {
        if let Some(i) = flows.into_iter().find_map(|f| self.by_flow.get(f).copied()) {
            return Some(i);
        }
        self.by_pair.get(&(device, peer))?.iter().copied().find(|&i| {
            let (s, e) = self.windows[i];
            ts >= s && ts <= e
        })
    }
}

pub(crate) fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    // Nearest-rank on the sorted sample; exact for the small counts we have.
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// Scores every model (those in `models`, plus any other that alerted). Incidents are not
/// among them: they are scored from `incidents.jsonl` by [`score_incidents`].
pub fn score(truth: &Truth, alerts: &[Alert], models: &[&str], device_days: f64) -> Vec<ModelScore> {
    let m = Matcher::new(truth);
    let mut by_model: BTreeMap<&str, Vec<(f64, Option<usize>)>> = models
        .iter()
        .filter(|n| **n != incidents::MODEL)
        .map(|n| (*n, Vec::new()))
        .collect();
    for a in alerts.iter().filter(|a| a.model != incidents::MODEL) {
        let attack = m.attack_of(a.ts, a.device, a.dst_ip, [a.flow.as_str()]);
        by_model.entry(a.model.as_str()).or_default().push((a.ts, attack));
    }
    by_model
        .into_iter()
        .map(|(model, judged)| model_score(model, &judged, truth, device_days))
        .collect()
}

/// Scores incidents as the model `incidents`.
pub fn score_incidents(truth: &Truth, incidents: &[Incident], device_days: f64) -> ModelScore {
    let m = Matcher::new(truth);
    let judged: Vec<(f64, Option<usize>)> = incidents
        .iter()
        .map(|i| {
            let a = &i.alert;
            let flows = std::iter::once(a.flow.as_str()).chain(i.flows.iter().map(String::as_str));
            (a.ts, m.attack_of(a.ts, a.device, a.dst_ip, flows))
        })
        .collect();
    model_score(incidents::MODEL, &judged, truth, device_days)
}

/// One model's scores from its findings: (time, attack it belongs to).
fn model_score(model: &str, judged: &[(f64, Option<usize>)], truth: &Truth, device_days: f64) -> ModelScore {
    let mut first: HashMap<usize, f64> = HashMap::new();
    let mut true_alerts = 0u64;
    for &(ts, attack) in judged {
        if let Some(i) = attack {
            true_alerts += 1;
            let e = first.entry(i).or_insert(ts);
            *e = e.min(ts);
        }
    }
    let detected: HashSet<usize> = first.keys().copied().collect();
    let mut ttd: Vec<f64> = first
        .iter()
        .map(|(&i, &t)| (t - truth.attacks[i].ts_start).max(0.0))
        .collect();
    ttd.sort_by(f64::total_cmp);
    let n = judged.len() as u64;
    let false_alerts = n - true_alerts;
    let n_attacks = truth.attacks.len();
    ModelScore {
        model: model.to_string(),
        alerts: n,
        true_alerts,
        false_alerts,
        precision: (n > 0).then(|| true_alerts as f64 / n as f64),
        recall: (n_attacks > 0).then(|| detected.len() as f64 / n_attacks as f64),
        false_alerts_per_device_day: if device_days > 0.0 {
            false_alerts as f64 / device_days
        } else {
            0.0
        },
        time_to_detect_s: TimeToDetect {
            median: quantile(&ttd, 0.5),
            p90: quantile(&ttd, 0.9),
        },
        attacks_detected: detected.len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::truth::{Stage, TruthAttack, TruthFlow};

    fn alert(ts: f64, model: &str, device: &str, dst: &str, flow: &str) -> Alert {
        Alert {
            schema: 1,
            flows: Vec::new(),
            ts,
            model: model.into(),
            score: 0.5,
            device: device.parse().unwrap(),
            dst_ip: dst.parse().unwrap(),
            dst_port: 6783,
            dst_host: None,
            flow: flow.into(),
            uid: "C1".into(),
            summary: String::new(),
        }
    }

    /// One attack of one flow 10.0.0.5:50000 → 203.0.113.9:6783, window 1000..2000 (+ grace).
    fn truth() -> Truth {
        Truth {
            flows: vec![TruthFlow {
                attack_id: "a1".into(),
                stage: "c2".into(),
                technique: "T1071.001".into(),
                ts_start: 1000.0,
                ts_end: 1001.0,
                proto: "tcp".into(),
                src_ip: "10.0.0.5".parse().unwrap(),
                src_port: 50000,
                dst_ip: "203.0.113.9".parse().unwrap(),
                dst_port: 6783,
                bytes_orig: 100,
                bytes_resp: 20,
            }],
            attacks: vec![TruthAttack {
                attack_id: "a1".into(),
                attack: "x".into(),
                victim: "mac-1".into(),
                victim_ip: "10.0.0.5".parse().unwrap(),
                ts_start: 1000.0,
                ts_end: 2000.0,
                stages: vec![Stage {
                    stage: "c2".into(),
                    technique: "T1071.001".into(),
                    ts_start: 1000.0,
                    ts_end: 2000.0,
                    flows: 1,
                }],
            }],
        }
    }

    fn c2_flow_id() -> String {
        community_id(
            0,
            6,
            "10.0.0.5".parse().unwrap(),
            50000,
            "203.0.113.9".parse().unwrap(),
            6783,
        )
    }

    #[test]
    fn matching_recall_precision_and_ttd() {
        let truth = truth();
        let cid = c2_flow_id();
        let alerts = vec![
            alert(1030.0, "m", "10.0.0.5", "203.0.113.9", &cid), // true by flow
            alert(1500.0, "m", "10.0.0.5", "203.0.113.9", "1:other"), // true by pair + window
            alert(9000.0, "m", "10.0.0.5", "203.0.113.9", "1:other"), // outside the window: false
            alert(1100.0, "m", "10.0.0.6", "198.51.100.1", "1:other"), // unrelated: false
        ];
        let s = score(&truth, &alerts, &["m", "quiet"], 2.0);
        let m = &s[0];
        assert_eq!((m.alerts, m.true_alerts, m.false_alerts), (4, 2, 2));
        assert_eq!(m.precision, Some(0.5));
        assert_eq!(m.recall, Some(1.0));
        assert_eq!(m.false_alerts_per_device_day, 1.0);
        assert_eq!(m.time_to_detect_s.median, Some(30.0));
        let q = &s[1];
        assert_eq!(
            (q.model.as_str(), q.alerts, q.recall, q.precision),
            ("quiet", 0, Some(0.0), None)
        );
    }

    #[test]
    fn incidents_match_by_any_of_their_flows_or_by_device_and_peer() {
        let truth = truth();
        let incident = |ts: f64, device: &str, dst: &str, flow: &str, flows: &[&str]| Incident {
            alert: alert(ts, incidents::MODEL, device, dst, flow),
            id: "I1".into(),
            flows: flows.iter().map(|f| f.to_string()).collect(),
            models: vec!["m".into()],
            alerts: flows.len() as u64,
        };
        let cid = c2_flow_id();
        let found = [
            // Its leading flow is benign but one of its flows is the attack's: true.
            incident(1060.0, "10.0.0.6", "198.51.100.1", "1:benign", &["1:benign", &cid]),
            // Device and peer of the attack within its window: true.
            incident(1900.0, "10.0.0.5", "203.0.113.9", "1:other", &["1:other"]),
            // Same pair, after the window and grace: false.
            incident(2400.0, "10.0.0.5", "203.0.113.9", "1:other", &["1:other"]),
            incident(1200.0, "10.0.0.7", "192.0.2.1", "1:x", &["1:x", "1:y"]),
        ];
        let m = score_incidents(&truth, &found, 4.0);
        assert_eq!(m.model, "incidents");
        assert_eq!((m.alerts, m.true_alerts, m.false_alerts), (4, 2, 2));
        assert_eq!((m.precision, m.recall), (Some(0.5), Some(1.0)));
        assert_eq!(m.false_alerts_per_device_day, 0.5);
        // Raised 60 s after the attack's first packet.
        assert_eq!(m.time_to_detect_s.median, Some(60.0));
        assert_eq!(score_incidents(&truth, &[], 4.0).recall, Some(0.0));
    }

    #[test]
    fn alerts_named_incidents_are_left_to_score_incidents() {
        let alerts = [alert(1030.0, incidents::MODEL, "10.0.0.5", "203.0.113.9", "1:x")];
        let s = score(&truth(), &alerts, &["m", incidents::MODEL], 1.0);
        assert_eq!(s.iter().map(|m| m.model.as_str()).collect::<Vec<_>>(), ["m"]);
    }
}
