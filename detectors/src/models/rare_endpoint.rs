//! Rare external endpoint: a device starts talking to an endpoint (a hostname, or an address it
//! never resolved) that almost nobody in the organisation has used, after the learning period.
//!
//! A weak signal on its own — the long tail of benign sites is rare too — which is why its
//! score is modest and why incidents combine it with others.

use std::net::IpAddr;

use crate::alert::{Alert, SCHEMA, secs};
use crate::config::RareEndpoint as Config;
use crate::event::Event;
use crate::life::{Endpoint, Life};
use crate::models::Model;
use crate::models::cooldown::Cooldown;

/// Most (device, destination) cooldowns remembered: bounded memory whatever the capture.
const MAX_COOLDOWNS: usize = 65_536;

pub struct RareEndpoint {
    max_devices: usize,
    min_score: f64,
    cooldown: Cooldown<(IpAddr, Endpoint)>,
}

impl RareEndpoint {
    pub fn new(t: &Config) -> Self {
        RareEndpoint {
            max_devices: t.max_devices,
            min_score: t.min_score,
            cooldown: Cooldown::new(t.cooldown_secs, MAX_COOLDOWNS),
        }
    }
}

impl Model for RareEndpoint {
    fn name(&self) -> &'static str {
        "rare-external-endpoint"
    }

    fn on_event(&mut self, ev: &Event<'_>, life: &Life, out: &mut Vec<Alert>) {
        let Event::FlowStart { ts, flow } = ev else { return };
        let (device, dst) = (flow.id.orig, flow.id.resp);
        if life.learning(*ts) || !life.is_outbound(device, dst) {
            return;
        }
        let endpoint = life.endpoint(device, dst);
        let (others, seen_while_learning) = match life.prevalence(&endpoint) {
            None => (0, false),
            Some(p) => (
                p.devices.iter().filter(|d| **d != device).count(),
                life.learning(p.first_seen),
            ),
        };
        // Endpoints already used during learning are part of normal life, however rare.
        if seen_while_learning || others + 1 > self.max_devices {
            return;
        }
        let no_name = matches!(endpoint, Endpoint::Ip(_));
        let odd_port = !matches!(flow.id.resp_port, 53 | 80 | 123 | 443);
        let score = 0.4 + if no_name { 0.2 } else { 0.0 } + if odd_port { 0.1 } else { 0.0 };
        if score < self.min_score {
            return;
        }
        let key = (device, endpoint.clone());
        if self.cooldown.cooling(&key, *ts) {
            return;
        }
        self.cooldown.fired(key, *ts);
        let host = match &endpoint {
            Endpoint::Host(h) => Some(h.to_string()),
            Endpoint::Ip(_) => None,
        };
        out.push(Alert {
            schema: SCHEMA,
            flows: Vec::new(),
            ts: secs(*ts),
            model: self.name().into(),
            score,
            device,
            dst_ip: dst,
            dst_port: flow.id.resp_port,
            summary: format!(
                "{device} contacted {} ({}:{}/{}), used by {} other device(s) and first seen after learning",
                host.as_deref().unwrap_or("an address with no hostname"),
                dst,
                flow.id.resp_port,
                flow.id.proto_name(),
                others
            ),
            dst_host: host,
            flow: flow.community_id.clone(),
            uid: flow.uid.clone(),
        });
    }
}
