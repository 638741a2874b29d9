//! Incidents: alerts correlated as an analyst would, and the automatic response they trigger.
//!
//! Every model's alert is a weak signal on its own. An incident gathers the alerts about one
//! device over a window of capture time, and pulls in alerts of *other* devices that involve
//! the same external endpoint (the same C2 seen from two laptops is one incident). Its score
//! combines the strongest alert of each model as a noisy-OR of weighted evidence, so two
//! independent medium signals (a POST to a bare IP and a new user agent, say) outweigh many
//! repeats of one weak signal. When the score crosses `raise_score` with at least
//! `min_models` distinct models, the incident is raised — written to `incidents.jsonl` — and
//! the response policy decides what an automatic response would have done, written to
//! `responses.jsonl`.
//!
//! Baseline models (`ioc-baseline`, `rita-style-beacon`) exist for comparison: their weight is
//! 0, so they never shape incidents.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::alert::{Alert, SCHEMA};

/// The `incidents:` section of the thresholds file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Weight of each model's evidence (0..1); models not listed use `default_weight`.
    pub weights: BTreeMap<String, f64>,
    pub default_weight: f64,
    /// An incident is raised when its combined score reaches this…
    pub raise_score: f64,
    /// …with at least this many distinct models behind it…
    pub min_models: usize,
    /// …or when a single model's weighted evidence alone reaches this.
    pub single_model_score: f64,
    /// Alerts join an open incident when they come within this many seconds of its last alert.
    pub window_secs: u64,
    pub response: ResponsePolicy,
}

/// The `incidents.response:` section: what the automatic response does when an incident is
/// raised.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponsePolicy {
    /// Block the incident's external endpoints for the device(s), for this long.
    pub block_endpoint_secs: u64,
    /// Also restrict the device(s) to peers they already had, for this long (0: never).
    pub enforce_pattern_of_life_secs: u64,
    /// Only incidents at least this strong get the pattern-of-life restriction (it is the
    /// costlier action: it blocks every new peer of the device).
    pub enforce_min_score: f64,
}

/// One line of `incidents.jsonl`: an alert's fields (so it can be scored like one; its `flows`
/// are every flow behind the incident's alerts, capped) plus what the incident gathered.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct IncidentRecord {
    #[serde(flatten)]
    pub alert: Alert,
    pub id: String,
    pub models: Vec<String>,
    pub alerts: u64,
    pub devices: Vec<IpAddr>,
}

/// One line of `responses.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ResponseRecord {
    pub schema: u32,
    pub ts: f64,
    /// `block-endpoint` or `enforce-pattern-of-life`.
    pub action: String,
    pub device: IpAddr,
    pub dst_ip: Option<IpAddr>,
    pub dst_port: Option<u16>,
    pub dst_host: Option<String>,
    pub duration_s: f64,
    pub incident: String,
    pub reason: String,
}

/// Most flows listed per incident; most open incidents (the oldest are closed first).
const MAX_FLOWS: usize = 256;
const MAX_OPEN: usize = 10_000;

struct Open {
    id: u64,
    first_ts: f64,
    last_ts: f64,
    devices: Vec<IpAddr>,
    /// Strongest alert of each model.
    best: BTreeMap<String, Alert>,
    flows: Vec<String>,
    alerts: u64,
    /// External endpoints (address, port) in the incident's alerts.
    endpoints: Vec<(IpAddr, u16, Option<String>)>,
    raised: bool,
}

pub struct Correlator {
    cfg: Config,
    next_id: u64,
    open: HashMap<u64, Open>,
    by_device: HashMap<IpAddr, u64>,
    by_endpoint: HashMap<IpAddr, u64>,
}

impl Correlator {
    pub fn new(cfg: &Config) -> Self {
        Correlator {
            cfg: cfg.clone(),
            next_id: 1,
            open: HashMap::new(),
            by_device: HashMap::new(),
            by_endpoint: HashMap::new(),
        }
    }

    fn weight(&self, model: &str) -> f64 {
        self.cfg
            .weights
            .get(model)
            .copied()
            .unwrap_or(self.cfg.default_weight)
            .clamp(0.0, 1.0)
    }

    /// Noisy-OR of each model's strongest weighted alert.
    fn score(&self, o: &Open) -> (f64, f64, usize) {
        let mut miss = 1.0;
        let mut strongest: f64 = 0.0;
        let mut models = 0;
        for (m, a) in &o.best {
            let e = self.weight(m) * a.score.clamp(0.0, 1.0);
            if e > 0.0 {
                models += 1;
                miss *= 1.0 - e;
                strongest = strongest.max(e);
            }
        }
        (1.0 - miss, strongest, models)
    }

    fn live(&self, id: u64, ts: f64) -> bool {
        self.open
            .get(&id)
            .is_some_and(|o| ts - o.last_ts <= self.cfg.window_secs as f64)
    }

    /// Takes one alert (in capture-time order); returns the incident and responses when this
    /// alert raised one.
    pub fn on_alert(&mut self, a: &Alert) -> Option<(IncidentRecord, Vec<ResponseRecord>)> {
        if self.weight(&a.model) <= 0.0 {
            return None;
        }
        let id = match (self.by_device.get(&a.device), self.by_endpoint.get(&a.dst_ip)) {
            (Some(&d), _) if self.live(d, a.ts) => d,
            (_, Some(&e)) if self.live(e, a.ts) => e,
            _ => self.start(a),
        };
        self.by_device.insert(a.device, id);
        self.by_endpoint.insert(a.dst_ip, id);
        let o = self.open.get_mut(&id).expect("incident just found or made");
        o.last_ts = o.last_ts.max(a.ts);
        o.alerts += 1;
        if !o.devices.contains(&a.device) {
            o.devices.push(a.device);
        }
        for f in std::iter::once(&a.flow).chain(&a.flows) {
            if o.flows.len() < MAX_FLOWS && !o.flows.contains(f) {
                o.flows.push(f.clone());
            }
        }
        if o.endpoints.len() < 64 && !o.endpoints.iter().any(|e| e.0 == a.dst_ip && e.1 == a.dst_port) {
            o.endpoints.push((a.dst_ip, a.dst_port, a.dst_host.clone()));
        }
        let better = o.best.get(&a.model).is_none_or(|b| a.score > b.score);
        if better {
            o.best.insert(a.model.clone(), a.clone());
        }
        let o = &self.open[&id];
        if o.raised {
            return None;
        }
        let (score, strongest, models) = self.score(o);
        let raise = (score >= self.cfg.raise_score && models >= self.cfg.min_models)
            || strongest >= self.cfg.single_model_score;
        if !raise {
            return None;
        }
        let record = self.record(o, a, score);
        let responses = self.respond(o, a, score);
        self.open.get_mut(&id).expect("open").raised = true;
        Some((record, responses))
    }

    fn start(&mut self, a: &Alert) -> u64 {
        if self.open.len() >= MAX_OPEN {
            // Close the stalest incidents: bounded memory whatever the alert rate.
            let mut ids: Vec<(u64, f64)> = self.open.iter().map(|(k, o)| (*k, o.last_ts)).collect();
            ids.sort_by(|x, y| x.1.total_cmp(&y.1).then(x.0.cmp(&y.0)));
            for (k, _) in ids.into_iter().take(MAX_OPEN / 10) {
                self.open.remove(&k);
            }
            self.by_device.retain(|_, v| self.open.contains_key(v));
            self.by_endpoint.retain(|_, v| self.open.contains_key(v));
        }
        let id = self.next_id;
        self.next_id += 1;
        self.open.insert(
            id,
            Open {
                id,
                first_ts: a.ts,
                last_ts: a.ts,
                devices: Vec::new(),
                best: BTreeMap::new(),
                flows: Vec::new(),
                alerts: 0,
                endpoints: Vec::new(),
                raised: false,
            },
        );
        id
    }

    fn record(&self, o: &Open, trigger: &Alert, score: f64) -> IncidentRecord {
        // The incident points at its strongest weighted alert.
        let lead = o
            .best
            .values()
            .max_by(|x, y| (self.weight(&x.model) * x.score).total_cmp(&(self.weight(&y.model) * y.score)))
            .unwrap_or(trigger);
        let models: Vec<String> = o.best.keys().filter(|m| self.weight(m) > 0.0).cloned().collect();
        let parts: Vec<String> = o
            .best
            .values()
            .filter(|a| self.weight(&a.model) > 0.0)
            .map(|a| format!("{} ({:.2})", a.model, a.score))
            .collect();
        IncidentRecord {
            alert: Alert {
                schema: SCHEMA,
                flows: o.flows.clone(),
                ts: trigger.ts,
                model: "incidents".into(),
                score: (score * 1000.0).round() / 1000.0,
                device: lead.device,
                dst_ip: lead.dst_ip,
                dst_port: lead.dst_port,
                dst_host: lead.dst_host.clone(),
                flow: lead.flow.clone(),
                uid: lead.uid.clone(),
                summary: format!(
                    "incident I{} on {}: {} alerts over {:.0} s from {} — {}",
                    o.id,
                    o.devices.iter().map(IpAddr::to_string).collect::<Vec<_>>().join(", "),
                    o.alerts,
                    trigger.ts - o.first_ts,
                    models.join(", "),
                    parts.join("; ")
                ),
            },
            id: format!("I{}", o.id),
            models,
            alerts: o.alerts,
            devices: o.devices.clone(),
        }
    }

    fn respond(&self, o: &Open, trigger: &Alert, score: f64) -> Vec<ResponseRecord> {
        let p = &self.cfg.response;
        let mut out = Vec::new();
        for &device in &o.devices {
            for (ip, port, host) in &o.endpoints {
                out.push(ResponseRecord {
                    schema: SCHEMA,
                    ts: trigger.ts,
                    action: "block-endpoint".into(),
                    device,
                    dst_ip: Some(*ip),
                    dst_port: None,
                    dst_host: host.clone(),
                    duration_s: p.block_endpoint_secs as f64,
                    incident: format!("I{}", o.id),
                    reason: format!("{ip}:{port} is part of incident I{} (score {score:.2})", o.id),
                });
            }
            if p.enforce_pattern_of_life_secs > 0 && score >= p.enforce_min_score {
                out.push(ResponseRecord {
                    schema: SCHEMA,
                    ts: trigger.ts,
                    action: "enforce-pattern-of-life".into(),
                    device,
                    dst_ip: None,
                    dst_port: None,
                    dst_host: None,
                    duration_s: p.enforce_pattern_of_life_secs as f64,
                    incident: format!("I{}", o.id),
                    reason: format!(
                        "incident I{} (score {score:.2}) on {device}: only peers it already had are allowed",
                        o.id
                    ),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Thresholds;

    fn alert(ts: f64, model: &str, score: f64, device: &str, dst: &str) -> Alert {
        Alert {
            schema: SCHEMA,
            flows: Vec::new(),
            ts,
            model: model.into(),
            score,
            device: device.parse().unwrap(),
            dst_ip: dst.parse().unwrap(),
            dst_port: 8443,
            dst_host: None,
            flow: format!("1:{model}{ts}"),
            uid: "C1".into(),
            summary: String::new(),
        }
    }

    fn cfg() -> Config {
        Thresholds::default().incidents
    }

    #[test]
    fn one_weak_signal_repeated_is_not_an_incident() {
        let mut c = Correlator::new(&cfg());
        for i in 0..50 {
            let a = alert(
                f64::from(i) * 600.0,
                "rare-external-endpoint",
                0.5,
                "10.0.0.5",
                "203.0.113.9",
            );
            assert!(c.on_alert(&a).is_none());
        }
    }

    #[test]
    fn independent_signals_combine_and_respond() {
        let mut c = Correlator::new(&cfg());
        assert!(
            c.on_alert(&alert(0.0, "rare-external-endpoint", 0.5, "10.0.0.5", "203.0.113.9"))
                .is_none()
        );
        let mut raised = None;
        for (t, m) in [
            (30.0, "http-post-bare-ip"),
            (90.0, "beacon-rare-endpoint"),
            (120.0, "new-user-agent"),
        ] {
            if let Some(r) = c.on_alert(&alert(t, m, 0.9, "10.0.0.5", "203.0.113.9")) {
                raised = Some(r);
                break;
            }
        }
        let (inc, responses) = raised.expect("an incident");
        assert_eq!(inc.alert.model, "incidents");
        assert!(inc.models.len() >= 2 && inc.alert.score >= cfg().raise_score);
        assert!(
            responses
                .iter()
                .any(|r| r.action == "block-endpoint" && r.dst_ip == Some(inc.alert.dst_ip))
        );
        // Raised once.
        assert!(
            c.on_alert(&alert(200.0, "new-user-agent", 0.9, "10.0.0.5", "203.0.113.9"))
                .is_none()
        );
    }

    #[test]
    fn baselines_never_shape_incidents() {
        let mut c = Correlator::new(&cfg());
        for i in 0..10 {
            for m in ["ioc-baseline", "rita-style-beacon"] {
                assert!(
                    c.on_alert(&alert(f64::from(i), m, 1.0, "10.0.0.5", "203.0.113.9"))
                        .is_none()
                );
            }
        }
    }

    #[test]
    fn a_shared_endpoint_links_devices() {
        let mut c = Correlator::new(&cfg());
        assert!(
            c.on_alert(&alert(0.0, "http-post-bare-ip", 0.9, "10.0.0.5", "203.0.113.9"))
                .is_none()
        );
        let r = c.on_alert(&alert(60.0, "beacon-rare-endpoint", 0.95, "10.0.0.6", "203.0.113.9"));
        let (inc, _) = r.expect("linked by the endpoint");
        assert_eq!(inc.devices.len(), 2);
    }

    #[test]
    fn alerts_after_the_window_start_a_new_incident() {
        let mut c = Correlator::new(&cfg());
        let w = cfg().window_secs as f64;
        assert!(
            c.on_alert(&alert(0.0, "http-post-bare-ip", 0.9, "10.0.0.5", "203.0.113.9"))
                .is_none()
        );
        assert!(
            c.on_alert(&alert(w + 10.0, "beacon-rare-endpoint", 0.8, "10.0.0.5", "203.0.113.9"))
                .is_none()
        );
    }
}
