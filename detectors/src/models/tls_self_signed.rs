//! Self-signed (or out-of-date) TLS certificate from a rare external endpoint: `curl -k`
//! payload pulls from a bare IP, implants with a generated certificate (T1573).
//!
//! Judged on the TLS handshake (ssl.log facts) of an outbound session after learning, to an
//! endpoint at most `max_devices` devices use and first used after learning. The server's leaf
//! certificate counts when it is
//! - self-signed, or self-issued (issuer name = subject name) — unless that issuer is one the
//!   organisation sees widely (`common_issuer_devices` devices got certificates from it: an
//!   in-house CA or inspection proxy);
//! - expired or not yet valid at capture time (beyond `validity_slack_secs` of clock skew).
//!
//! TLS 1.3 encrypts certificates. Then only what is visible counts, as a weaker signal (score
//! 0.4, 0.5 on an unusual port): no SNI *and* an address the device never resolved. Raise
//! `min_score` above 0.5 to drop it.
//!
//! Benign look-alikes: printers, appliances and intranet servers with self-signed certificates
//! are internal (not outbound); a self-signed service many devices use is popular by
//! prevalence; one used since learning is part of normal life.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde::Deserialize;

use crate::alert::{Alert, SCHEMA, secs};
use crate::event::Event;
use crate::life::{Endpoint, Life};
use crate::models::Model;
use crate::models::cooldown::{Cooldown, NS, make_room};
use crate::proto::tls::{CertInfo, TlsInfo};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// At most this many devices (including this one) use the endpoint.
    pub max_devices: usize,
    /// A self-issued leaf whose issuer this many other devices also received certificates
    /// from is an organisation CA, not a lone self-signed server.
    pub common_issuer_devices: usize,
    /// Tolerated clock skew before a certificate counts as expired or not yet valid.
    pub validity_slack_secs: u64,
    pub min_score: f64,
    /// One alert per (device, endpoint) per this many seconds.
    pub cooldown_secs: u64,
}

const MAX_ISSUERS: usize = 8192;
const DEVICES_PER_ISSUER: usize = 16;
const MAX_COOLDOWNS: usize = 16_384;
/// Issuer names longer than this are cut (bounded memory).
const MAX_NAME: usize = 512;

struct IssuerSeen {
    devices: Vec<IpAddr>,
    last: u64,
}

pub struct SelfSignedTls {
    max_devices: usize,
    common_issuer_devices: usize,
    slack_s: i64,
    min_score: f64,
    issuers: HashMap<Arc<str>, IssuerSeen>,
    cooldown: Cooldown<(IpAddr, Endpoint)>,
}

fn cut(s: &str) -> &str {
    match s.char_indices().nth(MAX_NAME) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// What is wrong with the leaf certificate, if anything.
struct Findings {
    self_signed: bool,
    expired: bool,
    not_yet_valid: bool,
}

impl SelfSignedTls {
    pub fn new(t: &Config) -> Self {
        SelfSignedTls {
            max_devices: t.max_devices,
            common_issuer_devices: t.common_issuer_devices.max(1),
            slack_s: i64::try_from(t.validity_slack_secs).unwrap_or(i64::MAX),
            min_score: t.min_score,
            issuers: HashMap::new(),
            cooldown: Cooldown::new(t.cooldown_secs, MAX_COOLDOWNS),
        }
    }

    fn issuer_others(&self, issuer: &str, device: IpAddr) -> usize {
        self.issuers
            .get(cut(issuer))
            .map_or(0, |s| s.devices.iter().filter(|d| **d != device).count())
    }

    fn remember_issuers(&mut self, certs: &[CertInfo], device: IpAddr, ts: u64) {
        for c in certs.iter().filter(|c| c.parsed && !c.issuer.is_empty()) {
            let issuer = cut(&c.issuer);
            if !self.issuers.contains_key(issuer) {
                make_room(&mut self.issuers, MAX_ISSUERS, |s| s.last);
            }
            let s = self.issuers.entry(Arc::from(issuer)).or_insert_with(|| IssuerSeen {
                devices: Vec::new(),
                last: ts,
            });
            s.last = ts;
            if !s.devices.contains(&device) && s.devices.len() < DEVICES_PER_ISSUER {
                s.devices.push(device);
            }
        }
    }

    fn findings(&self, leaf: &CertInfo, ts: u64, device: IpAddr) -> Findings {
        let now = i64::try_from(ts / NS).unwrap_or(i64::MAX);
        let self_issued = leaf.self_signed || (!leaf.subject.is_empty() && leaf.subject == leaf.issuer);
        Findings {
            self_signed: self_issued && self.issuer_others(&leaf.issuer, device) < self.common_issuer_devices,
            expired: now > leaf.not_after.saturating_add(self.slack_s),
            not_yet_valid: now.saturating_add(self.slack_s) < leaf.not_before,
        }
    }

    /// Score and the reason in words, or `None` when nothing is wrong.
    fn judge(&self, info: &TlsInfo, ts: u64, device: IpAddr, no_name: bool, odd_port: bool) -> Option<(f64, String)> {
        let context = if odd_port { 0.1 } else { 0.0 } + if no_name { 0.1 } else { 0.0 };
        if let Some(leaf) = info.certs.first().filter(|c| c.parsed) {
            let f = self.findings(leaf, ts, device);
            let dated = f.expired || f.not_yet_valid;
            let base = match (f.self_signed, dated) {
                (false, false) => return None,
                (true, false) => 0.6,
                (false, true) => 0.5,
                (true, true) => 0.7,
            };
            let mut what = Vec::new();
            if f.self_signed {
                what.push(if leaf.self_signed { "self-signed" } else { "self-issued" });
            }
            if f.expired {
                what.push("expired");
            }
            if f.not_yet_valid {
                what.push("not yet valid");
            }
            let why = format!(
                "a {} certificate (subject {}, issuer {}, valid {}..{} unix s, chain of {})",
                what.join(" and "),
                nonempty(&leaf.subject),
                nonempty(&leaf.issuer),
                leaf.not_before,
                leaf.not_after,
                info.certs.len()
            );
            return Some((base + context, why));
        }
        // Certificate not visible (TLS 1.3, resumption): only a nameless session counts.
        if info.version.is_some() && info.server_name.is_none() && no_name {
            let why = "no visible certificate (TLS 1.3 or resumed), no SNI, to an address the device never resolved";
            return Some((0.4 + if odd_port { 0.1 } else { 0.0 }, why.into()));
        }
        None
    }
}

fn nonempty(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

impl Model for SelfSignedTls {
    fn name(&self) -> &'static str {
        "self-signed-tls-rare-endpoint"
    }

    fn on_event(&mut self, ev: &Event<'_>, life: &Life, out: &mut Vec<Alert>) {
        let Event::Tls { ts, flow, info } = ev else { return };
        let (device, dst) = (flow.id.orig, flow.id.resp);
        if !life.is_internal(device) {
            return;
        }
        // Internal servers count towards an issuer's reach too (an in-house CA).
        let alert = if life.is_outbound(device, dst) {
            self.judge_session(*ts, flow, info, life)
        } else {
            None
        };
        self.remember_issuers(&info.certs, device, *ts);
        let Some((score, endpoint, others, why)) = alert else {
            return;
        };
        self.cooldown.fired((device, endpoint.clone()), *ts);
        let host = match &endpoint {
            Endpoint::Host(h) => Some(h.to_string()),
            Endpoint::Ip(_) => info.server_name.clone(),
        };
        out.push(Alert {
            schema: SCHEMA,
            flows: Vec::new(),
            ts: secs(*ts),
            model: self.name().into(),
            score: score.min(1.0),
            device,
            dst_ip: dst,
            dst_port: flow.id.resp_port,
            summary: format!(
                "TLS from {device} to {} ({dst}:{}, SNI {}, JA3 {}): {why}; endpoint used by {others} other device(s), \
                 first seen after learning",
                host.as_deref().unwrap_or("an address it never resolved"),
                flow.id.resp_port,
                info.server_name.as_deref().unwrap_or("-"),
                info.ja3.as_deref().unwrap_or("-"),
            ),
            dst_host: host,
            flow: flow.community_id.clone(),
            uid: flow.uid.clone(),
        });
    }
}

impl SelfSignedTls {
    fn judge_session(
        &self,
        ts: u64,
        flow: &crate::flow::Flow,
        info: &TlsInfo,
        life: &Life,
    ) -> Option<(f64, Endpoint, usize, String)> {
        let (device, dst) = (flow.id.orig, flow.id.resp);
        if life.learning(ts) {
            return None;
        }
        let endpoint = life.endpoint(device, dst);
        let (others, seen_while_learning) = match life.prevalence(&endpoint) {
            None => (0, false),
            Some(p) => (
                p.devices.iter().filter(|d| **d != device).count(),
                life.learning(p.first_seen),
            ),
        };
        if seen_while_learning || others + 1 > self.max_devices {
            return None;
        }
        let no_name = matches!(endpoint, Endpoint::Ip(_)) && info.server_name.is_none();
        let odd_port = flow.id.resp_port != 443;
        let (score, why) = self.judge(info, ts, device, no_name, odd_port)?;
        if score < self.min_score || self.cooldown.cooling(&(device, endpoint.clone()), ts) {
            return None;
        }
        Some((score, endpoint, others, why))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::testkit::{S, T0, flow, life, play};

    fn cfg() -> Config {
        Config {
            max_devices: 2,
            common_issuer_devices: 3,
            validity_slack_secs: 86_400,
            min_score: 0.4,
            cooldown_secs: 86_400,
        }
    }

    const NOW_S: i64 = (T0 / S) as i64;

    fn cert(subject: &str, issuer: &str, self_signed: bool) -> CertInfo {
        CertInfo {
            parsed: true,
            subject: subject.into(),
            issuer: issuer.into(),
            self_signed,
            not_before: NOW_S - 30 * 86_400,
            not_after: NOW_S + 300 * 86_400,
            ..CertInfo::default()
        }
    }

    fn tls12(sni: Option<&str>, certs: Vec<CertInfo>) -> TlsInfo {
        TlsInfo {
            version: Some(0x0303),
            server_name: sni.map(String::from),
            established: true,
            ja3: Some("e7d705a3286e19ea42f587b344ee6865".into()),
            certs,
            ..TlsInfo::default()
        }
    }

    fn run(dev: &str, dst: &str, port: u16, info: &TlsInfo, at: u64) -> Vec<Alert> {
        let mut l = life(600);
        l.observe_packet(T0);
        let f = flow(at, dev, 50000, dst, port, 6);
        let events = [
            Event::FlowStart { ts: at, flow: &f },
            Event::Tls { ts: at, flow: &f, info },
        ];
        play(&mut SelfSignedTls::new(&cfg()), &mut l, &events)
    }

    const WIDGITS: &str = "CN=localhost,O=Internet Widgits Pty Ltd";

    #[test]
    fn self_signed_payload_server_on_a_bare_ip_fires() {
        let info = tls12(None, vec![cert(WIDGITS, WIDGITS, true)]);
        let alerts = run("10.0.0.5", "203.0.113.20", 8444, &info, T0 + 3600 * S);
        assert_eq!(alerts.len(), 1);
        let a = &alerts[0];
        assert!((a.score - 0.8).abs() < 1e-9, "{a:?}");
        assert!(
            a.summary.contains("self-signed certificate") && a.summary.contains("Widgits"),
            "{}",
            a.summary
        );
    }

    #[test]
    fn expired_certificate_counts() {
        let mut c = cert("CN=api.example", "CN=Some CA", false);
        c.not_after = NOW_S - 10 * 86_400;
        let info = tls12(Some("api.example"), vec![c]);
        let alerts = run("10.0.0.5", "203.0.113.21", 443, &info, T0 + 3600 * S);
        assert_eq!(alerts.len(), 1);
        assert!(alerts[0].summary.contains("expired") && (alerts[0].score - 0.5).abs() < 1e-9);
    }

    #[test]
    fn internal_printer_and_ca_issued_certificates_stay_quiet() {
        let printer = tls12(None, vec![cert("CN=HP LaserJet", "CN=HP LaserJet", true)]);
        assert!(run("10.0.0.5", "10.0.9.2", 443, &printer, T0 + 3600 * S).is_empty());
        let ok = tls12(Some("shop.example"), vec![cert("CN=shop.example", "CN=Some CA", false)]);
        assert!(run("10.0.0.5", "203.0.113.22", 443, &ok, T0 + 3600 * S).is_empty());
        // During learning: not judged.
        let bad = tls12(None, vec![cert(WIDGITS, WIDGITS, true)]);
        assert!(run("10.0.0.5", "203.0.113.20", 8444, &bad, T0 + 10 * S).is_empty());
    }

    #[test]
    fn widely_used_self_signed_endpoint_stays_quiet() {
        let mut l = life(600);
        l.observe_packet(T0);
        let info = tls12(None, vec![cert(WIDGITS, WIDGITS, true)]);
        let flows: Vec<_> = (1..=4)
            .map(|i| {
                flow(
                    T0 + 3600 * S + i * S,
                    &format!("10.0.0.{i}"),
                    50000,
                    "203.0.113.20",
                    8444,
                    6,
                )
            })
            .collect();
        let mut events = Vec::new();
        for f in &flows {
            events.push(Event::FlowStart {
                ts: f.ts_first,
                flow: f,
            });
        }
        for f in &flows[2..] {
            events.push(Event::Tls {
                ts: f.ts_first,
                flow: f,
                info: &info,
            });
        }
        assert!(play(&mut SelfSignedTls::new(&cfg()), &mut l, &events).is_empty());
    }

    #[test]
    fn hidden_certificate_without_any_name_is_a_weak_signal() {
        let mut info = tls12(None, Vec::new());
        info.version = Some(0x0304);
        let alerts = run("10.0.0.5", "203.0.113.23", 443, &info, T0 + 3600 * S);
        assert_eq!(alerts.len(), 1);
        assert!((alerts[0].score - 0.4).abs() < 1e-9);
        info.server_name = Some("api.example".into());
        assert!(run("10.0.0.5", "203.0.113.23", 443, &info, T0 + 3600 * S).is_empty());
    }

    #[test]
    fn self_issued_by_an_organisation_wide_issuer_stays_quiet() {
        let mut l = life(600);
        l.observe_packet(T0);
        let corp = "CN=Corp Root,O=Example";
        let issued = tls12(Some("a.example"), vec![cert("CN=a.example", corp, false)]);
        let own = tls12(None, vec![cert(corp, corp, false)]);
        let flows: Vec<_> = (1..=4)
            .map(|i| {
                flow(
                    T0 + 3600 * S + i * S,
                    &format!("10.0.0.{i}"),
                    50000,
                    &format!("198.51.100.{i}"),
                    443,
                    6,
                )
            })
            .collect();
        let mut events = Vec::new();
        for (i, f) in flows.iter().enumerate() {
            events.push(Event::FlowStart {
                ts: f.ts_first,
                flow: f,
            });
            let info = if i < 3 { &issued } else { &own };
            events.push(Event::Tls {
                ts: f.ts_first,
                flow: f,
                info,
            });
        }
        assert!(play(&mut SelfSignedTls::new(&cfg()), &mut l, &events).is_empty());
    }
}
