//! Inbound surge from rare sources: a device that was not reachable from the Internet before
//! suddenly receives connections from many distinct external sources it never saw, each making
//! only a few attempts.
//!
//! That is how an exposed service is discovered: stateless SYN sweeps, banner grabs, wordlist
//! walks, then brute force, from sources spread over many networks, most seen once. The surge is
//! judged against the device's own history, per service: connections to a port that already
//! served many distinct external sources (a public web server's visitors, whose numbers swing
//! with the time of day) are that service's normal life and do not count. What counts is new,
//! rare sources reaching ports that had no public before; a device whose closed ports always
//! catch some Internet background noise needs a surge several times that background. Sources
//! the device already knew (its uptime monitor, partners) and sources that internal devices
//! contact themselves do not count either.
//!
//! Only TCP connections opened from outside (a SYN from the external side) are counted: UDP
//! "inbound" is mostly the return leg of the device's own sessions through NAT.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use serde::Deserialize;

use crate::alert::{Alert, SCHEMA, secs};
use crate::event::Event;
use crate::life::{Endpoint, Life};
use crate::models::Model;
use crate::net::is_special;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Sliding window over which new sources are counted.
    pub window_secs: u64,
    /// Distinct new sources needed in the window, however quiet the device was before.
    pub min_sources: usize,
    /// A source with at most this many connections in the window is a "probe".
    pub max_probes: u32,
    /// At least this share of the new sources must be probes (discovery, not a few heavy users).
    pub min_probe_share: f64,
    /// New sources must also exceed this multiple of the device's usual background of new
    /// sources on non-public ports, per window.
    pub surge_factor: f64,
    /// A port that served this many distinct external sources during learning or before the
    /// window is public: its connections are the service's normal life.
    pub public_min_sources: usize,
    /// A source counts as rare when at most this many internal devices ever contacted it.
    pub max_devices: usize,
    /// One alert per device per this many seconds (unless the surge doubles meanwhile).
    pub cooldown_secs: u64,
    pub min_score: f64,
}

/// Devices and (device, port) services followed at once, and connections remembered per
/// device's window.
const MAX_DEVICES: usize = 4096;
const MAX_PORTS: usize = 65_536;
const MAX_EVENTS: usize = 8192;

/// The external sources a device's port has served (the first few: only "many or not" matters).
struct Service {
    sources: Vec<(IpAddr, u64)>,
    public: bool,
    last: u64,
}

#[derive(Default)]
struct Exposure {
    /// Connections from new rare sources to non-public ports in the window, oldest first.
    events: VecDeque<(u64, IpAddr, u16)>,
    /// Connections per source, and per port, in the window.
    per_source: HashMap<IpAddr, u32>,
    per_port: HashMap<u16, u32>,
    /// New rare sources ever counted, and since when (the device's background).
    counted: u64,
    since: u64,
    /// When the last alert was raised and how many sources it counted.
    last_alert: Option<(u64, usize)>,
    /// The window holds connections from the learning period (all sources were new then).
    learning: bool,
}

fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u32>, k: K) {
    if let Some(n) = map.get_mut(&k) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(&k);
        }
    }
}

impl Exposure {
    /// Learning-period connections feed the background only: the window starts afresh after.
    fn settle(&mut self, learning: bool) {
        if self.learning && !learning {
            self.events.clear();
            self.per_source.clear();
            self.per_port.clear();
        }
        self.learning = learning;
    }

    fn push(&mut self, ts: u64, src: IpAddr, port: u16, window: u64) {
        self.events.push_back((ts, src, port));
        let n = self.per_source.entry(src).or_default();
        if *n == 0 {
            self.counted += 1;
        }
        *n += 1;
        *self.per_port.entry(port).or_default() += 1;
        while let Some(&(t, s, p)) = self.events.front() {
            if ts.saturating_sub(t) <= window && self.events.len() <= MAX_EVENTS {
                break;
            }
            self.events.pop_front();
            decrement(&mut self.per_source, s);
            decrement(&mut self.per_port, p);
        }
    }

    fn newest(&self) -> u64 {
        self.events.back().map_or(self.since, |e| e.0)
    }
}

pub struct InboundSurge {
    cfg: Config,
    window_ns: u64,
    cooldown_ns: u64,
    services: HashMap<(IpAddr, u16), Service>,
    devices: HashMap<IpAddr, Exposure>,
}

impl InboundSurge {
    pub fn new(cfg: &Config) -> Self {
        InboundSurge {
            cfg: cfg.clone(),
            window_ns: cfg.window_secs.saturating_mul(1_000_000_000).max(1),
            cooldown_ns: cfg.cooldown_secs.saturating_mul(1_000_000_000),
            services: HashMap::new(),
            devices: HashMap::new(),
        }
    }

    /// Records `src` reaching `device:port` and tells whether the port was already public.
    fn public_port(&mut self, ts: u64, device: IpAddr, port: u16, src: IpAddr, life: &Life) -> bool {
        let (window, needed) = (self.window_ns, self.cfg.public_min_sources);
        if !self.services.contains_key(&(device, port)) && self.services.len() >= MAX_PORTS {
            // Sweeps of random ports fill this with one-off entries: drop the stale ones.
            self.services
                .retain(|_, s| s.public || ts.saturating_sub(s.last) <= window);
            if self.services.len() >= MAX_PORTS {
                return false;
            }
        }
        let s = self.services.entry((device, port)).or_insert(Service {
            sources: Vec::new(),
            public: false,
            last: ts,
        });
        s.last = ts;
        if !s.public {
            let established = s
                .sources
                .iter()
                .filter(|(_, first)| life.learning(*first) || ts.saturating_sub(*first) > window)
                .count();
            s.public = established >= needed;
        }
        if !s.public && s.sources.len() < needed && !s.sources.iter().any(|(a, _)| *a == src) {
            s.sources.push((src, ts));
        }
        s.public
    }
}

impl Model for InboundSurge {
    fn name(&self) -> &'static str {
        "inbound-surge-rare-sources"
    }

    fn on_event(&mut self, ev: &Event<'_>, life: &Life, out: &mut Vec<Alert>) {
        let Event::FlowStart { ts, flow } = ev else { return };
        let (src, device, port) = (flow.id.orig, flow.id.resp, flow.id.resp_port);
        // Opened from outside: a SYN from the external side (or a SYN-ACK that shows we missed it).
        let opened_by_src = flow.orig_tcp.syn || flow.history.starts_with('^');
        if flow.id.proto != 6 || !opened_by_src || !life.is_internal(device) || life.is_internal(src) || is_special(src)
        {
            return;
        }
        if self.public_port(*ts, device, port, src, life) {
            return;
        }
        let window = self.window_ns;
        let history = life.device(device);
        let learning = life.learning(*ts);
        if let Some(e) = self.devices.get_mut(&device) {
            e.settle(learning);
        }
        // A source already in this window keeps counting even after life learned it from its
        // earlier, finished connections.
        let in_window = self
            .devices
            .get(&device)
            .is_some_and(|e| e.per_source.contains_key(&src));
        if !in_window {
            let known = history.is_some_and(|h| h.inbound_sources.contains_key(&src));
            if known || life.device_count(&Endpoint::Ip(src)) > self.cfg.max_devices {
                return;
            }
            if !self.devices.contains_key(&device) && self.devices.len() >= MAX_DEVICES {
                let now = *ts;
                self.devices.retain(|_, e| now.saturating_sub(e.newest()) <= window);
                if self.devices.len() >= MAX_DEVICES {
                    return;
                }
            }
        }
        let since = life.start.unwrap_or(*ts);
        let e = self.devices.entry(device).or_insert_with(|| Exposure {
            since,
            learning,
            ..Exposure::default()
        });
        e.push(*ts, src, port, window);
        let sources = e.per_source.len();
        // Within the cooldown, only a surge that doubled since the last alert is reported again.
        if learning
            || sources < self.cfg.min_sources
            || e.last_alert
                .is_some_and(|(t, n)| ts.saturating_sub(t) < self.cooldown_ns && sources < 2 * n)
        {
            return;
        }
        let probes = e.per_source.values().filter(|&&n| n <= self.cfg.max_probes).count();
        let probe_share = probes as f64 / sources as f64;
        if probe_share < self.cfg.min_probe_share {
            return;
        }
        // The device's background: new rare sources on its non-public ports before this window.
        let background = e.counted.saturating_sub(sources as u64);
        let span_ns = ts.saturating_sub(e.since).max(window);
        let expected = background as f64 * window as f64 / span_ns as f64;
        let needed = (self.cfg.surge_factor * expected).max(self.cfg.min_sources as f64);
        if (sources as f64) < needed {
            return;
        }
        let ratio = sources as f64 / needed;
        let before = history.map_or(0, |h| {
            let learned_now = e
                .per_source
                .keys()
                .filter(|s| h.inbound_sources.contains_key(s))
                .count();
            h.inbound_sources.len().saturating_sub(learned_now)
        });
        let never_public = before == 0;
        // Only ports that never served the outside world are counted, so many strangers finding
        // them is an exposure in itself: the score starts high, higher still for a device that
        // was not public at all, and grows with the surge.
        let base = if never_public { 0.8 } else { 0.75 };
        let score = (base + 0.4 * (1.0 - 1.0 / ratio)).min(0.98);
        if score < self.cfg.min_score {
            return;
        }
        e.last_alert = Some((*ts, sources));
        let mut ports: Vec<(u16, u32)> = e.per_port.iter().map(|(p, n)| (*p, *n)).collect();
        ports.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let ports: Vec<String> = ports.iter().take(3).map(|(p, n)| format!("{p} ({n})")).collect();
        let past = if never_public {
            "no external source had connected to it before".to_string()
        } else {
            format!(
                "before this window {before} distinct external sources had connected to it, and its background of \
                 new sources on non-public ports was {background} in {:.1} h (≈{expected:.1} per window)",
                span_ns as f64 / 3.6e12
            )
        };
        out.push(Alert {
            schema: SCHEMA,
            flows: Vec::new(),
            ts: secs(*ts),
            model: self.name().into(),
            score,
            device,
            dst_ip: src,
            dst_port: port,
            dst_host: None,
            flow: flow.community_id.clone(),
            uid: flow.uid.clone(),
            summary: format!(
                "{device} received TCP connections from {sources} new rare external sources in the last {:.1} h on \
                 ports with no public before ({:.0}% made at most {} attempts; busiest ports {}; latest {src}); {past}",
                self.cfg.window_secs as f64 / 3600.0,
                probe_share * 100.0,
                self.cfg.max_probes,
                ports.join(", "),
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Flow;
    use crate::models::testkit::{Outcome, S, T0, ip, life, play, tcp_flow};

    fn model() -> InboundSurge {
        InboundSurge::new(&crate::config::Thresholds::default().inbound_surge_rare_sources)
    }

    fn ext(i: u32) -> String {
        format!(
            "{}.{}.{}.{}",
            23 + i % 100,
            (i / 100) % 250 + 1,
            (i * 7) % 250 + 1,
            i % 200 + 20
        )
    }

    fn visit(ts: u64, src: &str, vm: &str, port: u16, outcome: Outcome) -> Flow {
        tcp_flow(ts, src, 40000 + (ts / S % 20000) as u16, vm, port, outcome, 1)
    }

    fn run(m: &mut InboundSurge, learning_s: u64, flows: &mut [Flow]) -> Vec<Alert> {
        flows.sort_by_key(|f| f.ts_first);
        let mut l = life(learning_s);
        let evs: Vec<Event<'_>> = flows
            .iter()
            .flat_map(|f| {
                [
                    Event::FlowStart {
                        ts: f.ts_first,
                        flow: f,
                    },
                    Event::FlowEnd { ts: f.ts_last, flow: f },
                ]
            })
            .collect();
        play(m, &mut l, &evs)
    }

    const LEARN: u64 = 4 * 3600;

    /// The VM's uptime monitor: three known sources, every 30 s, through the whole run.
    fn monitors(vm: &str, hours: u64) -> Vec<Flow> {
        (0..hours * 120)
            .map(|i| {
                let m = ["198.51.100.1", "198.51.100.2", "198.51.100.3"][i as usize % 3];
                visit(T0 + i * 30 * S, m, vm, 443, Outcome::Complete { up: 200, down: 300 })
            })
            .collect()
    }

    #[test]
    fn discovery_of_a_private_vm_fires() {
        let vm = "10.0.8.2";
        let mut flows = monitors(vm, 6);
        let exposed = T0 + (LEARN + 3600) * S;
        for i in 0..60u32 {
            let src = ext(i);
            for k in 0..(1 + i % 3) {
                let at = exposed + u64::from(i) * 30 * S + u64::from(k) * 5 * S;
                let outcome = if i % 2 == 0 {
                    Outcome::Refused
                } else {
                    Outcome::Complete { up: 120, down: 400 }
                };
                flows.push(visit(at, &src, vm, 8080, outcome));
            }
        }
        let alerts = run(&mut model(), LEARN, &mut flows);
        // Raised at 10 sources, raised again as the surge doubled to 20 and 40.
        let counts: Vec<&str> = alerts
            .iter()
            .map(|a| {
                a.summary
                    .split(" new rare")
                    .next()
                    .unwrap_or("")
                    .rsplit(' ')
                    .next()
                    .unwrap_or("")
            })
            .collect();
        assert_eq!(counts, ["10", "20", "40"], "{alerts:?}");
        assert!(alerts.windows(2).all(|w| w[1].score > w[0].score), "{alerts:?}");
        let a = &alerts[0];
        assert_eq!((a.device, a.dst_port), (ip(vm), 8080));
        assert!(a.score >= 0.55, "{}", a.score);
        // Raised within the 30 minutes.
        assert!(alerts.iter().all(|a| a.ts < crate::alert::secs(exposed + 1800 * S)));
    }

    #[test]
    fn public_web_vm_with_steady_visitors_is_quiet() {
        let vm = "10.0.7.2";
        let mut flows = monitors(vm, 12);
        // 50 new visitors an hour, before and after learning: 200 during learning.
        for i in 0..600u32 {
            let at = T0 + u64::from(i) * 72 * S;
            let n = 1 + i % 2;
            for k in 0..n {
                let outcome = Outcome::Complete { up: 800, down: 40_000 };
                flows.push(visit(at + u64::from(k) * 3 * S, &ext(i), vm, 443, outcome));
            }
        }
        assert!(run(&mut model(), LEARN, &mut flows).is_empty());
    }

    #[test]
    fn surge_on_a_new_port_of_a_public_vm_fires() {
        let vm = "10.0.7.3";
        let mut flows = monitors(vm, 8);
        // Public on 443: a steady stream of new visitors, which alone stays quiet...
        for i in 0..400u32 {
            let at = T0 + u64::from(i) * 72 * S;
            flows.push(visit(at, &ext(i), vm, 443, Outcome::Complete { up: 800, down: 40_000 }));
        }
        // ...then 8080 is exposed and scanned by sources the visitors never included.
        let exposed = T0 + (LEARN + 1800) * S;
        for i in 1000..1030u32 {
            let at = exposed + u64::from(i - 1000) * 60 * S;
            flows.push(visit(at, &ext(i), vm, 8080, Outcome::Refused));
        }
        let alerts = run(&mut model(), LEARN, &mut flows);
        assert!(!alerts.is_empty(), "no alert");
        assert!(alerts.iter().all(|a| a.dst_port == 8080), "{alerts:?}");
        assert!(
            alerts[0].summary.contains("busiest ports 8080 ("),
            "{}",
            alerts[0].summary
        );
    }

    #[test]
    fn a_few_new_sources_are_quiet() {
        let vm = "10.0.8.3";
        let mut flows = monitors(vm, 6);
        for i in 0..5u32 {
            let at = T0 + (LEARN + 600 + u64::from(i) * 60) * S;
            flows.push(visit(at, &ext(i), vm, 22, Outcome::Refused));
        }
        assert!(run(&mut model(), LEARN, &mut flows).is_empty());
    }
}
