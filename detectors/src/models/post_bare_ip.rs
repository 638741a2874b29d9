//! HTTP POST to an IP without a hostname.
//!
//! Browsers and SaaS clients reach servers by name, so the device looked the name up first.
//! An HTTP POST to an address the device never resolved — especially with an IP literal in the
//! `Host` header or on an unusual port — is how simple implants register and beacon (DPRK
//! `curl` POSTs to `/api/daemon`). Benign look-alikes — OCSP and telemetry POSTs, printers
//! phoning home — go to named hosts and stay quiet.

use std::net::IpAddr;

use crate::alert::{Alert, SCHEMA, secs};
use crate::config::PostBareIp;
use crate::event::Event;
use crate::life::Life;
use crate::models::Model;
use crate::models::cooldown::Cooldown;

/// Most (device, destination) cooldowns remembered: bounded memory whatever the capture.
const MAX_COOLDOWNS: usize = 65_536;

pub struct PostToBareIp {
    min_score: f64,
    cooldown: Cooldown<(IpAddr, IpAddr, u16)>,
}

impl PostToBareIp {
    pub fn new(t: &PostBareIp) -> Self {
        PostToBareIp {
            min_score: t.min_score,
            cooldown: Cooldown::new(t.cooldown_secs, MAX_COOLDOWNS),
        }
    }
}

/// True when a Host header value is an address literal (`1.2.3.4`, `1.2.3.4:8080`, `[::1]:80`).
fn host_is_ip(host: &str) -> bool {
    let h = host.trim();
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split(']').next().is_some_and(|a| a.parse::<IpAddr>().is_ok());
    }
    let bare = match h.rsplit_once(':') {
        Some((a, p)) if p.chars().all(|c| c.is_ascii_digit()) && !a.contains(':') => a,
        _ => h,
    };
    bare.parse::<IpAddr>().is_ok()
}

impl Model for PostToBareIp {
    fn name(&self) -> &'static str {
        "http-post-bare-ip"
    }

    fn on_event(&mut self, ev: &Event<'_>, life: &Life, out: &mut Vec<Alert>) {
        let Event::HttpRequest { ts, flow, request } = ev else {
            return;
        };
        let (device, dst) = (flow.id.orig, flow.id.resp);
        if request.method != "POST" || !life.is_outbound(device, dst) || life.hostname(device, dst).is_some() {
            return;
        }
        let ip_host = request.host.as_deref().is_none_or(host_is_ip);
        let odd_port = !matches!(flow.id.resp_port, 80 | 443 | 8080);
        let score = 0.5 + if ip_host { 0.25 } else { 0.0 } + if odd_port { 0.15 } else { 0.0 };
        if score < self.min_score {
            return;
        }
        let key = (device, dst, flow.id.resp_port);
        if self.cooldown.cooling(&key, *ts) {
            return;
        }
        self.cooldown.fired(key, *ts);
        out.push(Alert {
            schema: SCHEMA,
            flows: Vec::new(),
            ts: secs(*ts),
            model: self.name().into(),
            score,
            device,
            dst_ip: dst,
            dst_port: flow.id.resp_port,
            dst_host: request.host.clone().filter(|h| !host_is_ip(h)),
            flow: flow.community_id.clone(),
            uid: flow.uid.clone(),
            summary: format!(
                "HTTP POST {} to {}:{} which {} never resolved from DNS (Host: {}, User-Agent: {})",
                request.uri,
                dst,
                flow.id.resp_port,
                device,
                request.host.as_deref().unwrap_or("-"),
                request.user_agent.as_deref().unwrap_or("-")
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::host_is_ip;

    #[test]
    fn ip_literal_hosts() {
        assert!(host_is_ip("83.136.208.246:6783"));
        assert!(host_is_ip("10.0.0.1"));
        assert!(host_is_ip("[2001:db8::1]:8443"));
        assert!(!host_is_ip("check02id.com"));
        assert!(!host_is_ip("ocsp.digicert.com:80"));
    }
}
