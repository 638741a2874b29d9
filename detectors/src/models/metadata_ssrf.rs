//! Metadata service after inbound: a server that was just contacted from outside asks the cloud
//! instance-metadata service for something, off its routine — server-side request forgery.
//!
//! In the Capital One breach a request to the WAF pointed it at the metadata service, and the WAF
//! fetched `…/iam/security-credentials/<role>` for the attacker within a second. Cloud flow logs
//! never show metadata traffic; a sensor on the host or interface does. The metadata service
//! lives on protocol-defined link-local addresses (169.254.169.254, fd00:ec2::254), so the model
//! recognises the flow by its destination — an address, not an indicator of any attack.
//!
//! Benign look-alike: the cloud SDK refreshing the instance role's credentials, the same paths on
//! a regular cadence for days. On a busy public server such a refresh often lands seconds after
//! some visitor's connection, so "after inbound" alone is not enough: the model learns, per
//! device and path, the cadence and user agents of metadata access and stays quiet for an access
//! that fits them. The score rises for credential paths and for a source the device never heard
//! from during learning.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use serde::Deserialize;

use crate::alert::{Alert, SCHEMA, secs};
use crate::event::Event;
use crate::flow::Flow;
use crate::life::Life;
use crate::models::Model;
use crate::net::is_special;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Addresses of the instance metadata service (link-local, fixed by the cloud providers).
    pub addresses: Vec<IpAddr>,
    /// URI substrings of requests for the instance's credentials.
    pub credential_paths: Vec<String>,
    /// A metadata request within this many seconds of an inbound external connection follows it.
    pub window_secs: u64,
    /// Earlier requests for the same path (by this device) before its cadence can be routine.
    pub routine_min_seen: u32,
    /// A routine request comes within this fraction of the learned interval of its expected time
    /// (one, two or three intervals after the last routine one).
    pub cadence_tolerance: f64,
    /// One alert per device per this many seconds.
    pub cooldown_secs: u64,
    pub min_score: f64,
}

/// Inbound connections remembered per device (only the last few seconds matter).
const RECENT_PER_DEVICE: usize = 16;
const MAX_DEVICES: usize = 4096;
/// (device, path) routines remembered.
const MAX_ROUTINES: usize = 16_384;
/// User agents remembered per routine: an SDK uses one or two.
const MAX_AGENTS: usize = 4;
const MAX_PATH: usize = 256;

#[derive(Clone, Copy, Debug)]
struct Inbound {
    ts: u64,
    src: IpAddr,
    port: u16,
}

/// What a device's metadata requests for one path normally look like.
#[derive(Clone, Debug, Default)]
struct Routine {
    seen: u32,
    /// The last request that kept the cadence (or started it).
    last: u64,
    /// Learned interval in ns; 0 until two requests were seen.
    interval: f64,
    /// Consecutive benign requests that did not fit the cadence (two re-start learning it).
    misfits: u8,
    agents: Vec<String>,
}

impl Routine {
    /// True when `ts` falls one, two or three learned intervals after the last routine request.
    fn fits(&self, ts: u64, tol: f64) -> bool {
        if self.interval <= 0.0 {
            return false;
        }
        let iv = ts.saturating_sub(self.last) as f64;
        let k = (iv / self.interval).round();
        (1.0..=3.0).contains(&k) && (iv - k * self.interval).abs() <= tol * self.interval
    }

    fn learn(&mut self, ts: u64, agent: Option<&str>, tol: f64) {
        if self.seen == 0 {
            self.last = ts;
        } else if self.interval <= 0.0 {
            self.interval = ts.saturating_sub(self.last) as f64;
            self.last = ts;
        } else if self.fits(ts, tol) {
            let iv = ts.saturating_sub(self.last) as f64;
            let k = (iv / self.interval).round().max(1.0);
            self.interval = 0.7 * self.interval + 0.3 * iv / k;
            self.last = ts;
            self.misfits = 0;
        } else {
            // One odd request (an admin's CLI call) leaves the cadence alone; a second in a row
            // means the schedule changed (a restart): learn it again from here.
            self.misfits += 1;
            if self.misfits >= 2 {
                self.interval = 0.0;
                self.misfits = 0;
                self.last = ts;
            }
        }
        self.seen = self.seen.saturating_add(1);
        if let Some(a) = agent
            && self.agents.len() < MAX_AGENTS
            && !self.agents.iter().any(|x| x == a)
        {
            self.agents.push(a.to_string());
        }
    }
}

pub struct MetadataSsrf {
    cfg: Config,
    window_ns: u64,
    cooldown_ns: u64,
    inbound: HashMap<IpAddr, VecDeque<Inbound>>,
    routines: HashMap<(IpAddr, String), Routine>,
    last_alert: HashMap<IpAddr, u64>,
}

impl MetadataSsrf {
    pub fn new(cfg: &Config) -> Self {
        MetadataSsrf {
            cfg: cfg.clone(),
            window_ns: cfg.window_secs.saturating_mul(1_000_000_000),
            cooldown_ns: cfg.cooldown_secs.saturating_mul(1_000_000_000),
            inbound: HashMap::new(),
            routines: HashMap::new(),
            last_alert: HashMap::new(),
        }
    }

    /// An external source opened a connection to, or sent a request to, an internal device.
    fn note_inbound(&mut self, ts: u64, flow: &Flow, life: &Life) {
        let (src, device) = (flow.id.orig, flow.id.resp);
        if !life.is_internal(device) || life.is_internal(src) || is_special(src) {
            return;
        }
        if !self.inbound.contains_key(&device) && self.inbound.len() >= MAX_DEVICES {
            let window = self.window_ns;
            self.inbound
                .retain(|_, q| q.back().is_some_and(|i| ts.saturating_sub(i.ts) <= window));
            if self.inbound.len() >= MAX_DEVICES {
                return;
            }
        }
        let q = self.inbound.entry(device).or_default();
        q.push_back(Inbound {
            ts,
            src,
            port: flow.id.resp_port,
        });
        while q.len() > RECENT_PER_DEVICE || q.front().is_some_and(|i| ts.saturating_sub(i.ts) > self.window_ns) {
            q.pop_front();
        }
    }

    /// The latest inbound connection to `device` within the window before `ts`.
    fn preceding(&self, device: IpAddr, ts: u64) -> Option<Inbound> {
        self.inbound
            .get(&device)?
            .iter()
            .rev()
            .find(|i| i.ts <= ts && ts - i.ts <= self.window_ns)
            .copied()
    }

    fn access(&mut self, ts: u64, flow: &Flow, uri: &str, agent: Option<&str>, life: &Life, out: &mut Vec<Alert>) {
        let device = flow.id.orig;
        if !life.is_internal(device) {
            return;
        }
        let path: String = uri
            .split(['?', '#'])
            .next()
            .unwrap_or("")
            .chars()
            .take(MAX_PATH)
            .collect();
        let key = (device, path);
        let tol = self.cfg.cadence_tolerance;
        let routine = self.routines.get(&key);
        let agent_known =
            agent.is_none_or(|a| routine.is_some_and(|r| r.agents.is_empty() || r.agents.iter().any(|x| x == a)));
        let on_cadence = routine.is_some_and(|r| r.seen >= self.cfg.routine_min_seen && r.fits(ts, tol));
        let inbound = self.preceding(device, ts);
        // Quiet (and learned from) when nothing came in just before, while learning, or when the
        // request keeps the device's routine.
        let routine_now = on_cadence && agent_known;
        let Some(inb) = inbound.filter(|_| !routine_now && !life.learning(ts)) else {
            if !self.routines.contains_key(&key) && self.routines.len() >= MAX_ROUTINES {
                return;
            }
            self.routines.entry(key).or_default().learn(ts, agent, tol);
            return;
        };
        if self
            .last_alert
            .get(&device)
            .is_some_and(|&t| ts.saturating_sub(t) < self.cooldown_ns)
        {
            return;
        }
        let credentials = self
            .cfg
            .credential_paths
            .iter()
            .any(|p| !p.is_empty() && uri.contains(p.as_str()));
        let rare = match life.device(device).and_then(|h| h.inbound_sources.get(&inb.src)) {
            None => true,
            Some(&first) => !life.learning(first),
        };
        let novel = routine.is_none_or(|r| r.seen == 0) || !agent_known;
        let score = (0.55_f64
            + if credentials { 0.25 } else { 0.0 }
            + if rare { 0.1 } else { 0.0 }
            + if novel { 0.05 } else { 0.0 })
        .min(0.95);
        if score < self.cfg.min_score {
            return;
        }
        if self.last_alert.len() >= MAX_DEVICES {
            let cooldown = self.cooldown_ns;
            self.last_alert.retain(|_, t| ts.saturating_sub(*t) < cooldown);
        }
        self.last_alert.insert(device, ts);
        let habit = match routine.filter(|r| r.seen > 0) {
            None => "the device had never requested this path before".to_string(),
            Some(r) => format!(
                "the device requested this path {} time(s) before{}, the last routine one {:.0} min ago{}",
                r.seen,
                if r.interval > 0.0 {
                    format!(", about every {:.0} min", r.interval / 60e9)
                } else {
                    String::new()
                },
                ts.saturating_sub(r.last) as f64 / 60e9,
                if agent_known {
                    ""
                } else {
                    ", never with this user agent"
                },
            ),
        };
        out.push(Alert {
            schema: SCHEMA,
            flows: Vec::new(),
            ts: secs(ts),
            model: self.name().into(),
            score,
            device,
            dst_ip: flow.id.resp,
            dst_port: flow.id.resp_port,
            dst_host: None,
            flow: flow.community_id.clone(),
            uid: flow.uid.clone(),
            summary: format!(
                "{device} asked the instance metadata service {} for {}{} {:.2} s after {} connected in to port {} \
                 ({}); {habit} (User-Agent: {})",
                flow.id.resp,
                if key.1.is_empty() {
                    "an unparsed request"
                } else {
                    &key.1
                },
                if credentials { ", a credentials path," } else { "" },
                ts.saturating_sub(inb.ts) as f64 / 1e9,
                inb.src,
                inb.port,
                if rare {
                    "a source it had not heard from during learning"
                } else {
                    "a source known since learning"
                },
                agent.unwrap_or("-"),
            ),
        });
    }
}

impl Model for MetadataSsrf {
    fn name(&self) -> &'static str {
        "metadata-service-after-inbound"
    }

    fn on_event(&mut self, ev: &Event<'_>, life: &Life, out: &mut Vec<Alert>) {
        match ev {
            Event::FlowStart { ts, flow } => {
                // Connections opened from outside (a SYN from the external side, or a SYN-ACK showing
                // we missed it); UDP "inbound" is mostly the return leg of the device's own traffic.
                let opened_by_src = flow.orig_tcp.syn || flow.history.starts_with('^');
                if flow.id.proto == 6 && opened_by_src {
                    self.note_inbound(*ts, flow, life);
                }
            }
            Event::HttpRequest { ts, flow, request } => {
                if self.cfg.addresses.contains(&flow.id.resp) {
                    self.access(*ts, flow, &request.uri, request.user_agent.as_deref(), life, out);
                } else {
                    self.note_inbound(*ts, flow, life);
                }
            }
            // A metadata flow whose requests could not be read (header-only capture): judge the
            // connection itself, as an unknown path.
            Event::FlowEnd { flow, .. }
                if self.cfg.addresses.contains(&flow.id.resp) && !flow.services.contains(&"http") =>
            {
                self.access(flow.ts_first, flow, "", None, life, out);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::testkit::{Outcome, S, T0, ip, life, play, tcp_flow};
    use crate::proto::http::Request;

    const IMDS: &str = "169.254.169.254";
    const CREDS: &str = "/latest/meta-data/iam/security-credentials/web-role";
    const SDK: &str = "aws-sdk-go-v2/1.24.0 os/linux lang/go#1.21.5";

    fn model() -> MetadataSsrf {
        MetadataSsrf::new(&crate::config::Thresholds::default().metadata_service_after_inbound)
    }

    enum Step {
        /// An external source connects and sends a request.
        Inbound(u64, String),
        /// The server asks the metadata service for a path with a user agent.
        Metadata(u64, &'static str, &'static str),
    }

    fn run(m: &mut MetadataSsrf, learning_s: u64, server: &str, mut steps: Vec<Step>) -> Vec<Alert> {
        steps.sort_by_key(|s| match s {
            Step::Inbound(t, _) | Step::Metadata(t, ..) => *t,
        });
        let built: Vec<(Flow, Request)> = steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let port = 32768 + (i % 20000) as u16;
                match s {
                    Step::Inbound(t, src) => {
                        let f = tcp_flow(*t, src, port, server, 443, Outcome::Complete { up: 400, down: 9000 }, 1);
                        let r = Request {
                            method: "GET".into(),
                            uri: "/".into(),
                            ..Request::default()
                        };
                        (f, r)
                    }
                    Step::Metadata(t, uri, ua) => {
                        let f = tcp_flow(*t, server, port, IMDS, 80, Outcome::Complete { up: 180, down: 1300 }, 0);
                        let r = Request {
                            method: "GET".into(),
                            uri: (*uri).into(),
                            host: Some(IMDS.into()),
                            user_agent: Some((*ua).into()),
                            ..Request::default()
                        };
                        (f, r)
                    }
                }
            })
            .collect();
        // Requests were read: mark the flows as HTTP for the FlowEnd fallback.
        let marked: Vec<Flow> = built
            .iter()
            .map(|(f, _)| {
                let mut f = f.clone();
                f.add_service("http");
                f
            })
            .collect();
        let mut evs = Vec::new();
        for ((f, r), done) in built.iter().zip(&marked) {
            evs.push(Event::FlowStart {
                ts: f.ts_first,
                flow: f,
            });
            evs.push(Event::HttpRequest {
                ts: f.ts_first + 2,
                flow: f,
                request: r,
            });
            evs.push(Event::FlowEnd {
                ts: f.ts_last,
                flow: done,
            });
        }
        let mut l = life(learning_s);
        play(m, &mut l, &evs)
    }

    /// The SDK's refresh every `period_s` (± a little), over `hours`.
    fn sdk(period_s: u64, hours: u64) -> Vec<Step> {
        (0..hours * 3600 / period_s)
            .map(|i| Step::Metadata(T0 + (i * period_s + (i * 7) % 11) * S, CREDS, SDK))
            .collect()
    }

    #[test]
    fn credential_fetch_right_after_an_inbound_request_fires() {
        let mut steps = sdk(300, 1);
        let t = T0 + 3750 * S;
        steps.push(Step::Inbound(t, "203.0.113.66".into()));
        steps.push(Step::Metadata(t + S, CREDS, "curl/7.88.1"));
        let alerts = run(&mut model(), 0, "10.0.7.5", steps);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let a = &alerts[0];
        assert_eq!((a.device, a.dst_ip, a.dst_port), (ip("10.0.7.5"), ip(IMDS), 80));
        assert!(a.score >= 0.9, "{}", a.score);
        assert!(
            a.summary.contains("credentials path") && a.summary.contains("203.0.113.66"),
            "{}",
            a.summary
        );
    }

    #[test]
    fn sdk_refresh_without_inbound_is_quiet() {
        assert!(run(&mut model(), 0, "10.0.7.5", sdk(300, 48)).is_empty());
    }

    #[test]
    fn routine_refresh_on_a_busy_public_server_is_quiet_but_ssrf_is_not() {
        // Visitors every 4 s from 40 addresses, the SDK every 5 min, learning the first hour.
        let visitors = |from: u64, to: u64| -> Vec<Step> {
            (from / 4..to / 4)
                .map(|i| Step::Inbound(T0 + i * 4 * S + S / 2, format!("198.51.100.{}", 10 + i % 40)))
                .collect()
        };
        let mut steps = sdk(300, 6);
        steps.extend(visitors(0, 6 * 3600));
        assert!(run(&mut model(), 3600, "10.0.7.5", steps).is_empty());

        let mut steps = sdk(300, 6);
        steps.extend(visitors(0, 6 * 3600));
        // Off cadence (between two refreshes), from a new source.
        let t = T0 + (4 * 3600 + 140) * S;
        steps.push(Step::Inbound(t, "192.0.2.9".into()));
        steps.push(Step::Metadata(t + S / 4, CREDS, "curl/7.88.1"));
        let alerts = run(&mut model(), 3600, "10.0.7.5", steps);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert!(alerts[0].summary.contains("192.0.2.9"), "{}", alerts[0].summary);
    }

    #[test]
    fn cadence_is_learned_and_relearned() {
        let mut r = Routine::default();
        for i in 0..5 {
            r.learn(T0 + i * 300 * S, Some(SDK), 0.25);
        }
        assert!(r.fits(T0 + 1500 * S, 0.25));
        assert!(r.fits(T0 + 1800 * S, 0.25), "a missed refresh");
        assert!(!r.fits(T0 + 1200 * S + 140 * S, 0.25));
        // A schedule shift: two odd requests in a row, then the new cadence.
        r.learn(T0 + 1300 * S, Some(SDK), 0.25);
        r.learn(T0 + 1310 * S, Some(SDK), 0.25);
        r.learn(T0 + 1910 * S, Some(SDK), 0.25);
        assert!(r.fits(T0 + 2510 * S, 0.25));
    }
}
