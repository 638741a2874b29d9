//! Lookalike hostname: a name that borrows a well-known brand inside a registered domain
//! (eTLD+1, public-suffix aware) that is not the brand's — `ua02webzoom[.]us`,
//! `zoom-meeting-update[.]com`, `teams-live[.]us`, `z00m-update[.]com` — the lure of a fake
//! meeting or ClickFix page (T1566, T1204).
//!
//! Brands are the organisation's own: the registrable label of every registered domain at
//! least `popular_devices` devices use (`zoom` from `zoom.us`), plus a small seed of major
//! meeting, collaboration and cloud brands ([`SEED_BRANDS`]: brands, not attack indicators),
//! so a lure on the first day is recognised too.
//!
//! Rules, for a name whose registered domain was first seen after learning and which fewer
//! than `popular_devices` devices use (what the organisation uses widely is not judged):
//! - own: the registrable label *is* a brand (`zoom.us`, `us02web.zoom.us`, `zoom.com`, country
//!   domains) → never a lookalike;
//! - the brand inside the label: with hyphens or digits in the label (`teams-live`,
//!   `ua02webzoom`) 0.65; letters only with the brand not at the start (`getzoom`) 0.55;
//!   letters only starting with the brand (`microsoftonline`, `googletagmanager`, `zoomgov`)
//!   0.4 — that is how brands name their own services, so it
//!   stays below the default `min_score`;
//! - digit-for-letter substitutions (`z00m`, `micr0soft`) 0.7; one edit away from a seed brand
//!   of six letters or more (`microsfot`) 0.6;
//! - the brand as a whole subdomain label of another registered domain (`zoom.uswebob.us`)
//!   0.45;
//! - +0.1 when the brand's own domain is one the organisation uses (the brand is learned).
//!
//! Everyday words among brands (`teams`, `apple`, `okta`) and every learned brand must stand as
//! a whole token (between dots, hyphens or digits): `steamstatic` does not contain the brand
//! `teams`. Brands shorter than `min_brand_len` are never learned.
//!
//! The alert comes with the first connection to the name (a flow to an address the device
//! resolved from it, its SNI, or its `Host` header), once per device and registered domain per
//! cooldown. Not covered: Unicode homographs (`xn--` labels are compared as ASCII), brand-owned
//! letters-only compounds an attacker registers (`zoomupdate.com` scores 0.4), TLD swaps
//! (`zoom.xyz` counts as the brand's own).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde::Deserialize;

use crate::alert::{Alert, SCHEMA, secs};
use crate::event::Event;
use crate::flow::Flow;
use crate::life::Life;
use crate::models::Model;
use crate::models::cooldown::{Cooldown, make_room};
use crate::models::hostname::{Registrable, dns_name, registrable};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// A registered domain at least this many devices use is the organisation's: never judged,
    /// and its registrable label becomes a learned brand.
    pub popular_devices: usize,
    /// Shortest label learned as a brand.
    pub min_brand_len: usize,
    pub min_score: f64,
    /// One alert per (device, registered domain) per this many seconds.
    pub cooldown_secs: u64,
}

/// How a brand must appear in a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fit {
    /// Anywhere in the label (distinctive names).
    Within,
    /// As a whole token between dots, hyphens or digits (everyday words, learned brands).
    Token,
}

/// Seed brands: the meeting, collaboration and productivity suites that fake-meeting and
/// ClickFix lures imitate. Brands, not attack indicators; the organisation's popular domains
/// add the rest. Deliberately short: every seed is also a source of false positives on the
/// brand's own auxiliary domains (Apple's `icloud-content.com` would match an `icloud` seed).
pub const SEED_BRANDS: &[(&str, Fit)] = &[
    ("zoom", Fit::Within),
    ("teams", Fit::Token),
    ("webex", Fit::Within),
    ("gotomeeting", Fit::Within),
    ("skype", Fit::Within),
    ("slack", Fit::Within),
    ("microsoft", Fit::Within),
    ("office365", Fit::Within),
    ("outlook", Fit::Within),
    ("onedrive", Fit::Within),
    ("sharepoint", Fit::Within),
    ("google", Fit::Within),
    ("dropbox", Fit::Within),
    ("docusign", Fit::Within),
    ("github", Fit::Within),
    ("okta", Fit::Token),
    ("telegram", Fit::Within),
];

const MAX_DOMAINS: usize = 65_536;
const MAX_LEARNED: usize = 4096;
const DEVICES_PER_DOMAIN: usize = 16;
const MAX_COOLDOWNS: usize = 16_384;
/// Typos are only looked for in seed brands at least this long (shorter ones are one edit away
/// from too many words; learned labels, the organisation's long tail, are one edit away from
/// each other too often).
const TYPO_MIN_LEN: usize = 6;

struct DomainSeen {
    first_seen: u64,
    last: u64,
    devices: Vec<IpAddr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    /// Digit-for-letter substitution.
    Substituted,
    /// Inside the label, with hyphens or digits around.
    Separated,
    /// Inside a letters-only label, not at its start.
    Embedded,
    /// One edit away.
    Typo,
    /// At the start of a letters-only label: how brands name their own services.
    Compound,
    /// A whole subdomain label.
    Subdomain,
}

impl How {
    fn base(self) -> f64 {
        match self {
            How::Substituted => 0.7,
            How::Separated => 0.65,
            How::Typo => 0.6,
            How::Embedded => 0.55,
            How::Subdomain => 0.45,
            How::Compound => 0.4,
        }
    }

    fn words(self) -> &'static str {
        match self {
            How::Substituted => "with digits standing for letters",
            How::Separated => "among hyphens or digits",
            How::Typo => "misspelt by one letter",
            How::Embedded => "inside the registered name",
            How::Subdomain => "as a subdomain of an unrelated registered domain",
            How::Compound => "at the start of the registered name",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    pub brand: String,
    pub how: How,
    /// The brand's own domain is one the organisation uses.
    pub learned: bool,
    pub score: f64,
}

pub struct Lookalike {
    popular_devices: usize,
    min_brand_len: usize,
    min_score: f64,
    domains: HashMap<Arc<str>, DomainSeen>,
    /// Learned brands (registrable labels of popular domains), with when last confirmed.
    learned: HashMap<String, u64>,
    cooldown: Cooldown<(IpAddr, Arc<str>)>,
}

/// A label's tokens: the runs of letters between hyphens, digits and underscores.
fn tokens(label: &str) -> impl Iterator<Item = &str> {
    label
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|t| !t.is_empty())
}

/// The label with digits read as the letters they imitate (two readings of `1`).
fn unleet(label: &str) -> [String; 2] {
    let read = |one: char| {
        label
            .chars()
            .map(|c| match c {
                '0' => 'o',
                '1' => one,
                '3' => 'e',
                '4' => 'a',
                '5' => 's',
                '7' => 't',
                '8' => 'b',
                '9' => 'g',
                c => c,
            })
            .collect()
    };
    [read('l'), read('i')]
}

/// True when `a` and `b` differ by exactly one substitution, insertion, deletion or swap of
/// neighbours.
fn one_edit(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a == b || a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let p = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[p..], &b[p..]);
    match ra.len().cmp(&rb.len()) {
        std::cmp::Ordering::Equal => {
            ra[1..] == rb[1..] || (ra.len() >= 2 && ra[0] == rb[1] && ra[1] == rb[0] && ra[2..] == rb[2..])
        }
        std::cmp::Ordering::Greater => ra[1..] == *rb,
        std::cmp::Ordering::Less => *ra == rb[1..],
    }
}

fn fits(label: &str, brand: &str, fit: Fit) -> bool {
    match fit {
        Fit::Within => label.contains(brand) || label.replace('-', "").contains(brand),
        Fit::Token => tokens(label).any(|t| t == brand) || label.replace('-', "") == brand,
    }
}

/// How `reg` borrows `brand`, if it does (the label is not the brand's own). `seed`: the brand
/// is a seed (typos are only looked for in seeds).
fn borrow(reg: &Registrable<'_>, brand: &str, fit: Fit, seed: bool) -> Option<How> {
    let label = reg.label;
    let separated = label.bytes().any(|b| b == b'-' || b.is_ascii_digit());
    if fits(label, brand, fit) {
        return Some(if separated {
            How::Separated
        } else if label.starts_with(brand) {
            How::Compound
        } else {
            How::Embedded
        });
    }
    if label.bytes().any(|b| b.is_ascii_digit()) && unleet(label).iter().any(|v| fits(v, brand, fit)) {
        return Some(How::Substituted);
    }
    if seed && brand.len() >= TYPO_MIN_LEN && (one_edit(label, brand) || tokens(label).any(|t| one_edit(t, brand))) {
        return Some(How::Typo);
    }
    let in_sub = reg
        .subdomain
        .split('.')
        .any(|l| l == brand || tokens(l).any(|t| t == brand));
    in_sub.then_some(How::Subdomain)
}

impl Lookalike {
    pub fn new(t: &Config) -> Self {
        Lookalike {
            popular_devices: t.popular_devices.max(1),
            min_brand_len: t.min_brand_len.max(1),
            min_score: t.min_score,
            domains: HashMap::new(),
            learned: HashMap::new(),
            cooldown: Cooldown::new(t.cooldown_secs, MAX_COOLDOWNS),
        }
    }

    /// The strongest brand borrowing of `reg`, or `None` (also when the label is a brand's own).
    pub fn find(&self, reg: &Registrable<'_>) -> Option<Found> {
        let seeds = SEED_BRANDS.iter().map(|&(b, f)| (b, f, true));
        let learned = self.learned.keys().map(|b| (b.as_str(), Fit::Token, false));
        let brands: Vec<(&str, Fit, bool)> = seeds.chain(learned).collect();
        if brands.iter().any(|(b, _, _)| *b == reg.label) {
            return None;
        }
        brands
            .into_iter()
            .filter_map(|(brand, fit, seed)| {
                let how = borrow(reg, brand, fit, seed)?;
                let learned = self.learned.contains_key(brand);
                let score = (how.base() + if learned { 0.1 } else { 0.0 }).min(0.95);
                Some(Found {
                    brand: brand.to_string(),
                    how,
                    learned,
                    score,
                })
            })
            .max_by(|a, b| a.score.total_cmp(&b.score))
    }

    /// Records that `device` used `name` (a DNS question, SNI or Host).
    fn observe(&mut self, device: IpAddr, name: &str, ts: u64, life: &Life) {
        if !life.is_internal(device) {
            return;
        }
        let Some(reg) = registrable(name) else { return };
        if !self.domains.contains_key(reg.domain) {
            make_room(&mut self.domains, MAX_DOMAINS, |d| d.last);
        }
        let d = self.domains.entry(Arc::from(reg.domain)).or_insert_with(|| DomainSeen {
            first_seen: ts,
            last: ts,
            devices: Vec::new(),
        });
        d.last = ts;
        if !d.devices.contains(&device) && d.devices.len() < DEVICES_PER_DOMAIN {
            d.devices.push(device);
        }
        let label = reg.label;
        if d.devices.len() >= self.popular_devices
            && label.len() >= self.min_brand_len
            && label.bytes().any(|b| b.is_ascii_alphabetic())
        {
            if !self.learned.contains_key(label) {
                make_room(&mut self.learned, MAX_LEARNED, |t| *t);
            }
            self.learned.insert(label.to_string(), ts);
        }
    }

    /// Judges `name` used by the flow's device; an alert when it is a lookalike.
    fn judge(&mut self, ts: u64, flow: &Flow, name: &str, seen_as: &str, life: &Life) -> Option<Alert> {
        let (device, dst) = (flow.id.orig, flow.id.resp);
        if life.learning(ts) || !life.is_outbound(device, dst) {
            return None;
        }
        let reg = registrable(name)?;
        let (others, first_seen) = self.domains.get(reg.domain).map_or((0, ts), |d| {
            (d.devices.iter().filter(|x| **x != device).count(), d.first_seen)
        });
        if others + 1 >= self.popular_devices || life.learning(first_seen) {
            return None;
        }
        let key = (device, Arc::from(reg.domain));
        if self.cooldown.cooling(&key, ts) {
            return None;
        }
        let found = self.find(&reg)?;
        if found.score < self.min_score {
            return None;
        }
        self.cooldown.fired(key, ts);
        Some(Alert {
            schema: SCHEMA,
            flows: Vec::new(),
            ts: secs(ts),
            model: "lookalike-hostname".into(),
            score: found.score,
            device,
            dst_ip: dst,
            dst_port: flow.id.resp_port,
            dst_host: Some(name.to_string()),
            flow: flow.community_id.clone(),
            uid: flow.uid.clone(),
            summary: format!(
                "{device} connected to {name} ({seen_as}, {dst}:{}): brand \"{}\" {} in registered domain {} \
                 (not the brand's own; {}), used by {others} other device(s) and first seen after learning",
                flow.id.resp_port,
                found.brand,
                found.how.words(),
                reg.domain,
                if found.learned {
                    "the brand's own domain is one the organisation uses"
                } else {
                    "a seed brand"
                },
            ),
        })
    }
}

impl Model for Lookalike {
    fn name(&self) -> &'static str {
        "lookalike-hostname"
    }

    fn on_event(&mut self, ev: &Event<'_>, life: &Life, out: &mut Vec<Alert>) {
        match ev {
            Event::DnsAnswer { ts, device, name, .. } => {
                if let Some(n) = dns_name(name) {
                    self.observe(*device, &n, *ts, life);
                }
            }
            Event::FlowStart { ts, flow } => {
                let Some(name) = life.hostname(flow.id.orig, flow.id.resp).and_then(|h| dns_name(h)) else {
                    return;
                };
                out.extend(self.judge(*ts, flow, &name, "resolved", life));
            }
            Event::Tls { ts, flow, info } => {
                let Some(name) = info.server_name.as_deref().and_then(dns_name) else {
                    return;
                };
                out.extend(self.judge(*ts, flow, &name, "TLS SNI", life));
                self.observe(flow.id.orig, &name, *ts, life);
            }
            Event::HttpRequest { ts, flow, request } => {
                let Some(name) = request.host.as_deref().and_then(dns_name) else {
                    return;
                };
                out.extend(self.judge(*ts, flow, &name, "HTTP Host", life));
                self.observe(flow.id.orig, &name, *ts, life);
            }
            Event::FlowEnd { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::testkit::{S, T0, flow, ip, life, play};
    use crate::proto::tls::TlsInfo;

    fn cfg() -> Config {
        Config {
            popular_devices: 3,
            min_brand_len: 4,
            min_score: 0.55,
            cooldown_secs: 86_400,
        }
    }

    /// A model that learned `zoom.us` from three devices.
    fn with_zoom() -> (Lookalike, Life) {
        let mut m = Lookalike::new(&cfg());
        let mut l = life(600);
        l.observe_packet(T0);
        for i in 1..=3 {
            m.observe(ip(&format!("10.0.0.{i}")), "zoom.us", T0, &l);
        }
        l.observe_packet(T0);
        (m, l)
    }

    fn found(m: &Lookalike, name: &str) -> Option<(String, How, f64)> {
        let reg = registrable(name).expect("registrable test name");
        m.find(&reg)
            .map(|f| (f.brand, f.how, (f.score * 100.0).round() / 100.0))
    }

    #[test]
    fn edits() {
        assert!(one_edit("microsfot", "microsoft"));
        assert!(one_edit("gooogle", "google"));
        assert!(one_edit("githb", "github"));
        assert!(!one_edit("github", "github"));
        assert!(!one_edit("gitlab", "github"));
    }

    #[test]
    fn lookalikes_are_found() {
        let (m, _) = with_zoom();
        assert_eq!(found(&m, "ua02webzoom.us"), Some(("zoom".into(), How::Separated, 0.75)));
        assert_eq!(
            found(&m, "zoom-meeting-update.com"),
            Some(("zoom".into(), How::Separated, 0.75))
        );
        assert_eq!(found(&m, "teams-live.us").map(|f| f.1), Some(How::Separated));
        assert_eq!(found(&m, "z00m-update.com").map(|f| f.1), Some(How::Substituted));
        assert_eq!(found(&m, "micr0soft.com").map(|f| f.1), Some(How::Substituted));
        assert_eq!(found(&m, "microsfot.com").map(|f| f.1), Some(How::Typo));
        assert_eq!(found(&m, "getzoom.app").map(|f| f.1), Some(How::Embedded));
        assert_eq!(
            found(&m, "zoom.uswebob.us"),
            Some(("zoom".into(), How::Subdomain, 0.55))
        );
    }

    #[test]
    fn brand_own_names_and_everyday_words_are_not() {
        let (m, _) = with_zoom();
        for own in [
            "us02web.zoom.us",
            "zoom.us",
            "zoom.com",
            "zoomff01mmr.cloud.zoom.us",
            "www.zoom.de",
        ] {
            assert_eq!(found(&m, own), None, "{own}");
        }
        // Letters-only compounds starting with the brand: how brands name their services.
        for compound in ["login.microsoftonline.com", "www.googletagmanager.com", "zoomgov.com"] {
            assert!(
                found(&m, compound).is_some_and(|f| f.2 < 0.55),
                "{compound}: {:?}",
                found(&m, compound)
            );
        }
        for word in [
            "steamstatic.com",
            "pineapple.shop",
            "www.bbc.co.uk",
            "www.zenmarcraft.io",
            // `googleapis.com` is itself a (private) public suffix: `ajax.googleapis.com` is
            // the registered domain.
            "ajax.googleapis.com",
        ] {
            assert_eq!(found(&m, word), None, "{word}");
        }
    }

    fn tls(sni: &str) -> TlsInfo {
        TlsInfo {
            version: Some(0x0304),
            server_name: Some(sni.into()),
            ..TlsInfo::default()
        }
    }

    #[test]
    fn lure_after_learning_fires_once_with_its_flow() {
        let (mut m, mut l) = with_zoom();
        let dev = "10.0.0.7";
        let addrs = [ip("198.51.100.77")];
        let at = T0 + 3600 * S;
        let f = flow(at, dev, 50000, "198.51.100.77", 443, 6);
        let g = flow(at + 5 * S, dev, 50001, "198.51.100.77", 443, 6);
        let info = tls("ua02webzoom.us");
        let events = [
            Event::DnsAnswer {
                ts: at,
                device: ip(dev),
                name: "ua02webzoom.us",
                addrs: &addrs,
            },
            Event::FlowStart { ts: at, flow: &f },
            Event::Tls {
                ts: at,
                flow: &f,
                info: &info,
            },
            Event::FlowStart {
                ts: at + 5 * S,
                flow: &g,
            },
        ];
        let alerts = play(&mut m, &mut l, &events);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let a = &alerts[0];
        assert_eq!(
            (a.flow.as_str(), a.dst_host.as_deref()),
            (f.community_id.as_str(), Some("ua02webzoom.us"))
        );
        assert!(
            a.summary.contains("brand \"zoom\"") && a.summary.contains("ua02webzoom.us"),
            "{}",
            a.summary
        );
    }

    #[test]
    fn real_zoom_traffic_and_popular_names_stay_quiet() {
        let (mut m, mut l) = with_zoom();
        let at = T0 + 3600 * S;
        let addrs = [ip("198.51.100.80")];
        let info = tls("us02web.zoom.us");
        let flows: Vec<_> = (4..=7)
            .map(|i| flow(at + i * S, &format!("10.0.0.{i}"), 50000, "198.51.100.80", 443, 6))
            .collect();
        let names: Vec<String> = (4..=7).map(|i| format!("10.0.0.{i}")).collect();
        let mut events = Vec::new();
        for (f, d) in flows.iter().zip(&names) {
            events.push(Event::DnsAnswer {
                ts: f.ts_first,
                device: ip(d),
                name: "us02web.zoom.us",
                addrs: &addrs,
            });
            events.push(Event::FlowStart {
                ts: f.ts_first,
                flow: f,
            });
            events.push(Event::Tls {
                ts: f.ts_first,
                flow: f,
                info: &info,
            });
        }
        assert!(play(&mut m, &mut l, &events).is_empty());
        // A lookalike name the whole office uses (seen during learning) is normal life.
        let mut m = Lookalike::new(&cfg());
        let mut l = life(600);
        let f = flow(T0, "10.0.0.4", 50000, "198.51.100.81", 443, 6);
        let info = tls("zoom-rooms-partner.com");
        let events = [Event::Tls {
            ts: T0,
            flow: &f,
            info: &info,
        }];
        assert!(play(&mut m, &mut l, &events).is_empty());
    }
}
