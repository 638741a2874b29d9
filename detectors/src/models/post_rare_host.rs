//! Repeated HTTP POSTs to a rare hostname: exfiltration or a beacon over plain HTTP to a named
//! C2 (`Go-http-client` POSTing to `check02id[.]com`, weeks of POSTs to rare hosts).
//!
//! Fires when a device sends at least `min_posts` POSTs within `window_secs` to one hostname
//! (the name it resolved for the address, else the `Host` header) whose endpoint few devices
//! use (`max_devices`) and which was first used after the learning period. Bare-IP POSTs are
//! left to `http-post-bare-ip`.
//!
//! Benign look-alikes: OCSP and telemetry POSTs go to endpoints many devices share (popular by
//! prevalence); a printer's status POSTs start with the capture, during learning, and so are
//! part of normal life. A rare web form posted a few times stays below `min_posts` unless it
//! is posted repeatedly within the window — then it is what the model reports.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

use serde::Deserialize;

use crate::alert::{Alert, SCHEMA, secs};
use crate::event::Event;
use crate::life::Life;
use crate::models::Model;
use crate::models::cooldown::{Cooldown, NS, make_room};
use crate::models::hostname::dns_name;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Fewest POSTs to the hostname…
    pub min_posts: usize,
    /// …within this many seconds.
    pub window_secs: u64,
    /// At most this many devices (including this one) use the endpoint.
    pub max_devices: usize,
    pub min_score: f64,
    /// One alert per (device, hostname) per this many seconds.
    pub cooldown_secs: u64,
}

const MAX_PAIRS: usize = 16_384;
const MAX_COOLDOWNS: usize = 16_384;

struct Recent {
    times: VecDeque<u64>,
    last: u64,
}

pub struct PostsToRareHost {
    min_posts: usize,
    window_ns: u64,
    max_devices: usize,
    min_score: f64,
    recent: HashMap<(IpAddr, Arc<str>), Recent>,
    cooldown: Cooldown<(IpAddr, Arc<str>)>,
}

impl PostsToRareHost {
    pub fn new(t: &Config) -> Self {
        PostsToRareHost {
            min_posts: t.min_posts.max(1),
            window_ns: t.window_secs.saturating_mul(NS),
            max_devices: t.max_devices,
            min_score: t.min_score,
            recent: HashMap::new(),
            cooldown: Cooldown::new(t.cooldown_secs, MAX_COOLDOWNS),
        }
    }
}

impl Model for PostsToRareHost {
    fn name(&self) -> &'static str {
        "http-posts-rare-hostname"
    }

    fn on_event(&mut self, ev: &Event<'_>, life: &Life, out: &mut Vec<Alert>) {
        let Event::HttpRequest { ts, flow, request } = ev else {
            return;
        };
        let (device, dst) = (flow.id.orig, flow.id.resp);
        if !request.method.eq_ignore_ascii_case("POST") || life.learning(*ts) || !life.is_outbound(device, dst) {
            return;
        }
        let resolved = life.hostname(device, dst);
        let Some(name): Option<Arc<str>> = resolved
            .cloned()
            .or_else(|| request.host.as_deref().and_then(dns_name).map(Arc::from))
        else {
            return;
        };
        let endpoint = life.endpoint(device, dst);
        let (others, seen_while_learning) = match life.prevalence(&endpoint) {
            None => (0, false),
            Some(p) => (
                p.devices.iter().filter(|d| **d != device).count(),
                life.learning(p.first_seen),
            ),
        };
        if seen_while_learning || others + 1 > self.max_devices {
            return;
        }
        let key = (device, name.clone());
        if !self.recent.contains_key(&key) {
            make_room(&mut self.recent, MAX_PAIRS, |r| r.last);
        }
        let r = self.recent.entry(key.clone()).or_insert_with(|| Recent {
            times: VecDeque::new(),
            last: *ts,
        });
        r.last = *ts;
        r.times.push_back(*ts);
        while r.times.front().is_some_and(|&t| ts.saturating_sub(t) > self.window_ns) || r.times.len() > self.min_posts
        {
            r.times.pop_front();
        }
        let n = r.times.len();
        let span_s = ts.saturating_sub(r.times.front().copied().unwrap_or(*ts)) as f64 / 1e9;
        if n < self.min_posts {
            return;
        }
        let odd_port = !matches!(flow.id.resp_port, 80 | 443 | 8080);
        let score: f64 = 0.55
            + if others == 0 { 0.1 } else { 0.0 }
            + if odd_port { 0.1 } else { 0.0 }
            + if resolved.is_none() { 0.1 } else { 0.0 };
        if score < self.min_score || self.cooldown.cooling(&key, *ts) {
            return;
        }
        self.cooldown.fired(key, *ts);
        out.push(Alert {
            schema: SCHEMA,
            flows: Vec::new(),
            ts: secs(*ts),
            model: self.name().into(),
            score: score.min(1.0),
            device,
            dst_ip: dst,
            dst_port: flow.id.resp_port,
            dst_host: Some(name.to_string()),
            flow: flow.community_id.clone(),
            uid: flow.uid.clone(),
            summary: format!(
                "{n} HTTP POSTs in {span_s:.0} s from {device} to {name} ({dst}:{}), a hostname {} used by {others} \
                 other device(s) since after learning; last: POST {} ({} bytes, User-Agent: {})",
                flow.id.resp_port,
                if resolved.is_some() {
                    "it resolved,"
                } else {
                    "it never resolved (Host header only),"
                },
                request.uri,
                request.body_len,
                request.user_agent.as_deref().unwrap_or("-"),
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::testkit::{S, T0, flow, ip, life, play};
    use crate::proto::http::Request;

    fn cfg() -> Config {
        Config {
            min_posts: 3,
            window_secs: 600,
            max_devices: 2,
            min_score: 0.5,
            cooldown_secs: 3600,
        }
    }

    fn post(host: &str) -> Request {
        Request {
            method: "POST".into(),
            uri: "/api/v2/upload".into(),
            version: 1,
            host: Some(host.into()),
            user_agent: Some("Go-http-client/1.1".into()),
            body_len: 4096,
            ..Request::default()
        }
    }

    /// DNS + flow start + one POST per `(device, minute)`, after a 60 s learning period.
    fn posts(to: &str, addr: &str, port: u16, who: &[(&str, u64)]) -> Vec<crate::alert::Alert> {
        let mut l = life(60);
        l.observe_packet(T0);
        let addrs = [ip(addr)];
        let r = post(to);
        let flows: Vec<_> = who
            .iter()
            .enumerate()
            .map(|(i, (d, m))| flow(T0 + 120 * S + m * 60 * S, d, 40000 + i as u16, addr, port, 6))
            .collect();
        let mut events = Vec::new();
        for ((d, _), f) in who.iter().zip(&flows) {
            events.push(Event::DnsAnswer {
                ts: f.ts_first,
                device: ip(d),
                name: to,
                addrs: &addrs,
            });
            events.push(Event::FlowStart {
                ts: f.ts_first,
                flow: f,
            });
            events.push(Event::HttpRequest {
                ts: f.ts_first + 1000,
                flow: f,
                request: &r,
            });
        }
        play(&mut PostsToRareHost::new(&cfg()), &mut l, &events)
    }

    #[test]
    fn repeated_posts_to_a_rare_host_fire_once() {
        let who: Vec<(&str, u64)> = (0..6).map(|m| ("10.0.0.5", m)).collect();
        let alerts = posts("check02id.example", "203.0.113.80", 7365, &who);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let a = &alerts[0];
        assert_eq!(a.dst_host.as_deref(), Some("check02id.example"));
        assert!((a.score - 0.75).abs() < 1e-9, "{a:?}");
        assert!(a.summary.starts_with("3 HTTP POSTs in 120 s"), "{}", a.summary);
    }

    #[test]
    fn posts_spread_wider_than_the_window_stay_quiet() {
        let who: Vec<(&str, u64)> = (0..4).map(|m| ("10.0.0.5", m * 20)).collect();
        assert!(posts("check02id.example", "203.0.113.80", 443, &who).is_empty());
    }

    #[test]
    fn ocsp_posts_from_ten_devices_stay_quiet() {
        let devs: Vec<String> = (1..=10).map(|i| format!("10.0.0.{i}")).collect();
        let mut who: Vec<(&str, u64)> = devs.iter().map(|d| (d.as_str(), 0)).collect();
        who.extend([(devs[0].as_str(), 1), (devs[0].as_str(), 2), (devs[0].as_str(), 3)]);
        assert!(posts("ocsp.example", "198.51.100.9", 80, &who).is_empty());
    }

    #[test]
    fn endpoints_used_while_learning_stay_quiet() {
        // A printer's status POSTs, starting during learning.
        let mut l = life(600);
        let addrs = [ip("198.51.100.30")];
        let r = post("printer-status.example");
        let flows: Vec<_> = (0..6)
            .map(|i| flow(T0 + i * 300 * S, "10.0.9.2", 40000 + i as u16, "198.51.100.30", 80, 6))
            .collect();
        let mut events = vec![Event::DnsAnswer {
            ts: T0,
            device: ip("10.0.9.2"),
            name: "printer-status.example",
            addrs: &addrs,
        }];
        for f in &flows {
            events.push(Event::FlowStart {
                ts: f.ts_first,
                flow: f,
            });
            events.push(Event::HttpRequest {
                ts: f.ts_first,
                flow: f,
                request: &r,
            });
        }
        assert!(play(&mut PostsToRareHost::new(&cfg()), &mut l, &events).is_empty());
    }
}
