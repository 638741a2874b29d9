//! New HTTP user agent for a device, after the learning period — two models:
//!
//! - `new-user-agent`: the device sends a User-Agent it has never sent, to a host it resolved
//!   by name (a pasted `curl | osascript` fetching its stage from the lure host, a dropped tool).
//! - `new-user-agent-bare-ip`: the same, to an external address the device never resolved —
//!   the DPRK `curl` registration or the PowerShell poller talking straight to an IP. Stronger:
//!   ordinary software finds its servers by name.
//!
//! The two are exclusive (one alert per request at most). Benign look-alikes score low:
//! - a browser update changes only version numbers: when the device already sent a user agent
//!   of the same *shape* (digit runs replaced by `#`: same product tokens and layout), the
//!   new one is an update (score × 0.3);
//! - common software: the model keeps an organisation-wide count of the devices that sent each
//!   user agent and each shape; the more other devices use it, the lower the score (× 0.4 at
//!   `common_devices` others), so a device's first OCSP or browser request after learning
//!   stays quiet;
//! - a full browser-engine agent (three or more `product/version` tokens, as every browser
//!   sends) scores × 0.7: people install, update and switch browsers, and a device's first
//!   plain-HTTP page after learning would otherwise alert; scripts, tools and implants mostly
//!   announce one product (`curl/8.7.1`, `Go-http-client/1.1`, `node`). A browser-looking agent
//!   to a bare IP still alerts (0.56).
//!
//! It cannot tell a developer's first `curl` from an implant's: both are a new, org-rare agent.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde::Deserialize;

use crate::alert::{Alert, SCHEMA, secs};
use crate::event::Event;
use crate::life::Life;
use crate::models::Model;
use crate::models::cooldown::{Cooldown, make_room};
use crate::models::hostname::{dns_name, is_ip_literal};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Alerts below this score are dropped.
    pub min_score: f64,
    /// Other devices sending the same agent (or shape) at which it is common software.
    pub common_devices: usize,
    /// One alert per (device, user agent) per this many seconds.
    pub cooldown_secs: u64,
}

/// Distinct user agents (and as many shapes) remembered organisation-wide.
const MAX_AGENTS: usize = 16_384;
/// Devices remembered per agent: only "how many, up to a few" matters.
const DEVICES_PER_AGENT: usize = 16;
const MAX_COOLDOWNS: usize = 16_384;
/// Longest user agent judged; longer ones are cut before comparison (bounded memory).
const MAX_UA_LEN: usize = 512;

/// Score factor for a new agent whose shape the device already sent (a version bump).
const VERSION_BUMP: f64 = 0.3;
/// Score factor at `common_devices` other devices.
const COMMON: f64 = 0.4;
/// Score factor for a browser-engine agent (at least [`BROWSER_PRODUCTS`] product tokens).
const BROWSER: f64 = 0.7;
const BROWSER_PRODUCTS: usize = 3;

#[derive(Clone, Debug, Default)]
struct Users {
    devices: Vec<IpAddr>,
    last: u64,
}

impl Users {
    fn add(&mut self, device: IpAddr, ts: u64) {
        if !self.devices.contains(&device) && self.devices.len() < DEVICES_PER_AGENT {
            self.devices.push(device);
        }
        self.last = ts;
    }

    fn others(&self, device: IpAddr) -> usize {
        self.devices.iter().filter(|d| **d != device).count()
    }
}

/// A user agent with its version numbers blanked: `Safari/605.1.15` → `Safari/#.#.#`.
pub fn shape(ua: &str) -> String {
    let mut out = String::with_capacity(ua.len());
    let mut in_digits = false;
    for c in ua.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('#');
            }
            in_digits = true;
        } else {
            out.push(c);
            in_digits = false;
        }
    }
    out
}

/// Number of `product/version` tokens outside comments: 4 for Chrome's agent, 1 for curl's.
pub fn products(ua: &str) -> usize {
    let mut depth = 0u32;
    let mut outside = String::with_capacity(ua.len());
    for c in ua.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if depth == 0 => outside.push(c),
            _ => {}
        }
    }
    outside
        .split_whitespace()
        .filter(|t| t.split_once('/').is_some_and(|(name, _)| !name.is_empty()))
        .count()
}

fn cut(ua: &str) -> &str {
    match ua.char_indices().nth(MAX_UA_LEN) {
        Some((i, _)) => &ua[..i],
        None => ua,
    }
}

pub struct NewUserAgent {
    /// The bare-IP variant (`new-user-agent-bare-ip`) rather than the named one.
    bare_ip: bool,
    min_score: f64,
    common_devices: usize,
    agents: HashMap<Arc<str>, Users>,
    shapes: HashMap<Arc<str>, Users>,
    cooldown: Cooldown<(IpAddr, Arc<str>)>,
}

impl NewUserAgent {
    /// `new-user-agent`: new agents towards named hosts.
    pub fn named(t: &Config) -> Self {
        Self::new(t, false)
    }

    /// `new-user-agent-bare-ip`: new agents towards addresses the device never resolved.
    pub fn bare_ip(t: &Config) -> Self {
        Self::new(t, true)
    }

    fn new(t: &Config, bare_ip: bool) -> Self {
        NewUserAgent {
            bare_ip,
            min_score: t.min_score,
            common_devices: t.common_devices.max(1),
            agents: HashMap::new(),
            shapes: HashMap::new(),
            cooldown: Cooldown::new(t.cooldown_secs, MAX_COOLDOWNS),
        }
    }

    fn remember(map: &mut HashMap<Arc<str>, Users>, key: &str, device: IpAddr, ts: u64) {
        if let Some(u) = map.get_mut(key) {
            u.add(device, ts);
            return;
        }
        make_room(map, MAX_AGENTS, |u| u.last);
        map.entry(Arc::from(key)).or_default().add(device, ts);
    }

    fn others(map: &HashMap<Arc<str>, Users>, key: &str, device: IpAddr) -> usize {
        map.get(key).map_or(0, |u| u.others(device))
    }
}

impl Model for NewUserAgent {
    fn name(&self) -> &'static str {
        if self.bare_ip {
            "new-user-agent-bare-ip"
        } else {
            "new-user-agent"
        }
    }

    fn on_event(&mut self, ev: &Event<'_>, life: &Life, out: &mut Vec<Alert>) {
        let Event::HttpRequest { ts, flow, request } = ev else {
            return;
        };
        let Some(ua) = request.user_agent.as_deref().map(str::trim).filter(|u| !u.is_empty()) else {
            return;
        };
        let (device, dst) = (flow.id.orig, flow.id.resp);
        if !life.is_internal(device) {
            return;
        }
        let ua = cut(ua);
        let sh = shape(ua);
        let alert = self.judge(*ts, flow, request, ua, &sh, life);
        Self::remember(&mut self.agents, ua, device, *ts);
        Self::remember(&mut self.shapes, &sh, device, *ts);
        let Some((score, why)) = alert else { return };
        self.cooldown.fired((device, Arc::from(ua)), *ts);
        let resolved = life.hostname(device, dst).map(|h| h.to_string());
        let host = resolved.clone().or_else(|| request.host.as_deref().and_then(dns_name));
        out.push(Alert {
            schema: SCHEMA,
            flows: Vec::new(),
            ts: secs(*ts),
            model: self.name().into(),
            score,
            device,
            dst_ip: dst,
            dst_port: flow.id.resp_port,
            dst_host: host,
            flow: flow.community_id.clone(),
            uid: flow.uid.clone(),
            summary: format!(
                "{device} sent User-Agent \"{ua}\" for the first time: {} {} to {}:{} ({}); {why}",
                request.method,
                request.uri,
                dst,
                flow.id.resp_port,
                match (&resolved, request.host.as_deref()) {
                    (Some(name), _) => format!("resolved as {name}"),
                    (None, Some(h)) => format!("never resolved by the device, Host: {h}"),
                    (None, None) => "never resolved by the device, no Host header".into(),
                }
            ),
        });
    }
}

impl NewUserAgent {
    /// Score and explanation of a request's agent, or `None` when it is not news.
    fn judge(
        &self,
        ts: u64,
        flow: &crate::flow::Flow,
        request: &crate::proto::http::Request,
        ua: &str,
        sh: &str,
        life: &Life,
    ) -> Option<(f64, String)> {
        let (device, dst) = (flow.id.orig, flow.id.resp);
        if life.learning(ts) || !life.is_outbound(device, dst) {
            return None;
        }
        let bare = life.hostname(device, dst).is_none();
        if bare != self.bare_ip {
            return None;
        }
        let history = life.device(device);
        let known = history.map(|h| &h.user_agents);
        if known.is_some_and(|k| k.contains_key(ua)) {
            return None;
        }
        let bump = known.is_some_and(|k| k.keys().any(|u| shape(cut(u)) == sh));
        let others = Self::others(&self.agents, ua, device).max(Self::others(&self.shapes, sh, device));
        let common = others.min(self.common_devices) as f64 / self.common_devices as f64;
        let base = if self.bare_ip { 0.8 } else { 0.6 };
        let ip_host = request.host.as_deref().is_none_or(is_ip_literal);
        let mut score = base * (1.0 - (1.0 - COMMON) * common);
        if bump {
            score *= VERSION_BUMP;
        }
        let browser = products(ua) >= BROWSER_PRODUCTS;
        if browser {
            score *= BROWSER;
        }
        if self.bare_ip && ip_host {
            score += 0.05;
        }
        let score = score.min(1.0);
        if score < self.min_score || self.cooldown.cooling(&(device, Arc::from(ua)), ts) {
            return None;
        }
        let n_known = known.map_or(0, |k| k.len());
        let why = format!(
            "{n_known} agent(s) known for the device{}, {others} other device(s) use this agent or its \
             version-free shape{}",
            if bump {
                ", one differing only in version numbers"
            } else {
                ""
            },
            if browser { "; a browser-engine agent" } else { "" },
        );
        Some((score, why))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::models::testkit::{S, T0, flow, ip, life, play};
    use crate::proto::http::Request;

    fn cfg() -> Config {
        Config {
            min_score: 0.5,
            common_devices: 3,
            cooldown_secs: 86_400,
        }
    }

    fn req(method: &str, uri: &str, host: &str, ua: &str) -> Request {
        Request {
            method: method.into(),
            uri: uri.into(),
            version: 1,
            host: Some(host.into()),
            user_agent: Some(ua.into()),
            ..Request::default()
        }
    }

    const SAFARI_3: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.3 Safari/605.1.15";
    const SAFARI_4: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.4 Safari/605.1.15";

    #[test]
    fn product_tokens() {
        assert_eq!(products(SAFARI_3), 4);
        assert_eq!(products("curl/8.7.1"), 1);
        assert_eq!(products("node"), 0);
        assert_eq!(
            products("Mozilla/5.0 (Windows NT; Windows NT 10.0; fr-FR) WindowsPowerShell/5.1.26100.7920"),
            2
        );
        assert_eq!(products("Debian APT-HTTP/1.3 (2.6.1)"), 1);
    }

    #[test]
    fn shapes_blank_versions() {
        assert_eq!(shape("curl/8.7.1"), "curl/#.#.#");
        assert_eq!(shape(SAFARI_3), shape(SAFARI_4));
        assert_ne!(shape("curl/8.7.1"), shape("Wget/1.21"));
    }

    #[test]
    fn curl_to_a_bare_ip_after_learning_fires_the_bare_ip_model() {
        let mut l = life(600);
        let dev = "10.0.0.5";
        let site = ip("198.51.100.7");
        let dns = [site];
        let f1 = flow(T0, dev, 50000, "198.51.100.7", 80, 6);
        let r1 = req("GET", "/", "news.example.com", SAFARI_3);
        let f2 = flow(T0 + 3600 * S, dev, 50001, "203.0.113.9", 6783, 6);
        let r2 = req("POST", "/api/daemon", "203.0.113.9:6783", "curl/8.7.1");
        let f3 = flow(T0 + 3700 * S, dev, 50002, "203.0.113.9", 6783, 6);
        let events = [
            Event::DnsAnswer {
                ts: T0,
                device: ip(dev),
                name: "news.example.com",
                addrs: &dns,
            },
            Event::HttpRequest {
                ts: T0 + S,
                flow: &f1,
                request: &r1,
            },
            Event::HttpRequest {
                ts: T0 + 3600 * S,
                flow: &f2,
                request: &r2,
            },
            // The same agent again: known now.
            Event::HttpRequest {
                ts: T0 + 3700 * S,
                flow: &f3,
                request: &r2,
            },
        ];
        let mut bare = NewUserAgent::bare_ip(&cfg());
        let alerts = play(&mut bare, &mut l, &events);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let a = &alerts[0];
        assert_eq!(
            (a.model.as_str(), a.flow.as_str(), a.dst_port),
            ("new-user-agent-bare-ip", f2.community_id.as_str(), 6783)
        );
        assert!(a.score >= 0.8 && a.summary.contains("curl/8.7.1"), "{a:?}");
        // The named model stays out of it (exclusive variants).
        let mut named = NewUserAgent::named(&cfg());
        assert!(play(&mut named, &mut life(600), &events).is_empty());
    }

    #[test]
    fn new_agent_to_a_named_host_fires_the_named_model() {
        let mut l = life(600);
        let dev = "10.0.0.5";
        let lure = [ip("198.51.100.50")];
        let f = flow(T0 + 3600 * S, dev, 50000, "198.51.100.50", 80, 6);
        let r = req("GET", "/update/sdk/fix.scpt", "lure.example", "ZoomSDK");
        let events = [
            Event::DnsAnswer {
                ts: T0 + 3599 * S,
                device: ip(dev),
                name: "lure.example",
                addrs: &lure,
            },
            Event::HttpRequest {
                ts: T0 + 3600 * S,
                flow: &f,
                request: &r,
            },
        ];
        l.observe_packet(T0);
        let alerts = play(&mut NewUserAgent::named(&cfg()), &mut l, &events);
        assert_eq!(alerts.len(), 1);
        assert!((alerts[0].score - 0.6).abs() < 1e-9 && alerts[0].dst_host.as_deref() == Some("lure.example"));
    }

    #[test]
    fn safari_version_bump_stays_quiet() {
        let mut l = life(600);
        let dev = "10.0.0.5";
        let addrs = [ip("198.51.100.7")];
        let f1 = flow(T0, dev, 50000, "198.51.100.7", 80, 6);
        let f2 = flow(T0 + 7200 * S, dev, 50001, "198.51.100.7", 80, 6);
        let (r1, r2) = (
            req("GET", "/", "site.example", SAFARI_3),
            req("GET", "/", "site.example", SAFARI_4),
        );
        let events = [
            Event::DnsAnswer {
                ts: T0,
                device: ip(dev),
                name: "site.example",
                addrs: &addrs,
            },
            Event::HttpRequest {
                ts: T0,
                flow: &f1,
                request: &r1,
            },
            Event::HttpRequest {
                ts: T0 + 7200 * S,
                flow: &f2,
                request: &r2,
            },
        ];
        assert!(play(&mut NewUserAgent::named(&cfg()), &mut l, &events).is_empty());
    }

    #[test]
    fn agent_many_devices_use_is_common_software() {
        // Ten devices send the OS's revocation checker agent during learning; an eleventh
        // sends it for the first time later: common software, quiet.
        let mut l = life(600);
        let ocsp = [ip("198.51.100.9")];
        let flows: Vec<_> = (1..=11)
            .map(|i| flow(T0 + i * S, &format!("10.0.0.{i}"), 50000, "198.51.100.9", 80, 6))
            .collect();
        let r = req("POST", "/", "ocsp.example", "com.apple.trustd/3.0");
        let mut events = Vec::new();
        let names: Vec<String> = (1..=11).map(|i| format!("10.0.0.{i}")).collect();
        for (i, f) in flows.iter().enumerate() {
            let ts = if i < 10 { T0 + i as u64 * S } else { T0 + 3600 * S };
            events.push(Event::DnsAnswer {
                ts,
                device: ip(&names[i]),
                name: "ocsp.example",
                addrs: &ocsp,
            });
            events.push(Event::HttpRequest {
                ts,
                flow: f,
                request: &r,
            });
        }
        assert!(play(&mut NewUserAgent::named(&cfg()), &mut l, &events).is_empty());
    }

    #[test]
    fn learning_period_and_internal_targets_are_quiet() {
        let mut l = life(600);
        let f = flow(T0, "10.0.0.5", 50000, "203.0.113.9", 6783, 6);
        let r = req("POST", "/api/daemon", "203.0.113.9:6783", "curl/8.7.1");
        let g = flow(T0 + 3600 * S, "10.0.0.5", 50001, "10.0.0.9", 8080, 6);
        let q = req("GET", "/", "10.0.0.9:8080", "python-requests/2.31");
        let events = [
            Event::HttpRequest {
                ts: T0,
                flow: &f,
                request: &r,
            },
            Event::HttpRequest {
                ts: T0 + 3600 * S,
                flow: &g,
                request: &q,
            },
        ];
        assert!(play(&mut NewUserAgent::bare_ip(&cfg()), &mut l, &events).is_empty());
    }
}
