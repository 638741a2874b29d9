//! Pattern of life: what the organisation and each device normally do, learned from the
//! capture itself. Models read it; the engine updates it after the models have seen an event,
//! so a model always judges an event against the past.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::event::Event;
use crate::net::{Cidr, is_special};

/// An external endpoint as the organisation knows it: by name when a device resolved one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Host(Arc<str>),
    Ip(IpAddr),
}

#[derive(Clone, Debug)]
pub struct Prevalence {
    pub first_seen: u64,
    /// Distinct internal devices that contacted the endpoint (capped: only "few" matters).
    pub devices: Vec<IpAddr>,
}

const DEVICE_CAP: usize = 64;
/// Most distinct values remembered per device and kind (user agents, fingerprints, peers…):
/// a device with more is not one whose "new" values mean anything.
const HISTORY_CAP: usize = 4096;

/// Running mean and variance (Welford) of a quantity, here log bytes per flow.
#[derive(Clone, Copy, Debug, Default)]
pub struct Running {
    pub n: u64,
    pub mean: f64,
    m2: f64,
}

impl Running {
    pub fn add(&mut self, x: f64) {
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
    }

    /// Sample standard deviation (0 with fewer than two values).
    pub fn std_dev(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            (self.m2 / (self.n - 1) as f64).sqrt()
        }
    }
}

/// What one internal device has done so far: the "normal" its own alerts are judged against.
#[derive(Clone, Debug, Default)]
pub struct DeviceHistory {
    pub first_seen: u64,
    /// HTTP user agents, with the time each was first seen.
    pub user_agents: HashMap<Arc<str>, u64>,
    /// TLS client fingerprints (JA4), with first-seen times.
    pub tls_fingerprints: HashMap<Arc<str>, u64>,
    /// External peers (either direction), with first-seen times.
    pub peers: HashMap<IpAddr, u64>,
    /// Destination ports of its outbound external flows, with first-seen times.
    pub ports: HashMap<u16, u64>,
    /// Outbound external flows: bytes sent, as ln(1 + bytes).
    pub bytes_out: Running,
    /// Outbound external bytes by hour of day (UTC).
    pub bytes_out_by_hour: [u64; 24],
    /// Inbound connections from external sources, and when the first one came.
    pub inbound_flows: u64,
    pub first_inbound: Option<u64>,
    /// Distinct external sources that connected in (capped).
    pub inbound_sources: HashMap<IpAddr, u64>,
}

impl DeviceHistory {
    fn remember<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u64>, key: K, ts: u64) {
        if map.len() < HISTORY_CAP {
            map.entry(key).or_insert(ts);
        }
    }
}

pub struct Life {
    internal: Vec<Cidr>,
    learning_ns: u64,
    /// Capture time of the first packet.
    pub start: Option<u64>,
    /// device → address → name it resolved to.
    resolved: HashMap<IpAddr, HashMap<IpAddr, Arc<str>>>,
    endpoints: HashMap<Endpoint, Prevalence>,
    devices: HashMap<IpAddr, DeviceHistory>,
}

impl Life {
    pub fn new(internal: Vec<Cidr>, learning_ns: u64) -> Self {
        Life {
            internal,
            learning_ns,
            start: None,
            resolved: HashMap::new(),
            endpoints: HashMap::new(),
            devices: HashMap::new(),
        }
    }

    pub fn is_internal(&self, ip: IpAddr) -> bool {
        self.internal.iter().any(|c| c.contains(ip))
    }

    /// An outbound conversation: internal device to a non-internal, non-special address.
    pub fn is_outbound(&self, src: IpAddr, dst: IpAddr) -> bool {
        self.is_internal(src) && !self.is_internal(dst) && !is_special(dst)
    }

    /// True while the initial learning period lasts.
    pub fn learning(&self, ts: u64) -> bool {
        self.start.is_none_or(|s| ts < s.saturating_add(self.learning_ns))
    }

    /// The name `device` resolved `addr` from, if any.
    pub fn hostname(&self, device: IpAddr, addr: IpAddr) -> Option<&Arc<str>> {
        self.resolved.get(&device)?.get(&addr)
    }

    pub fn endpoint(&self, device: IpAddr, addr: IpAddr) -> Endpoint {
        match self.hostname(device, addr) {
            Some(h) => Endpoint::Host(h.clone()),
            None => Endpoint::Ip(addr),
        }
    }

    pub fn prevalence(&self, e: &Endpoint) -> Option<&Prevalence> {
        self.endpoints.get(e)
    }

    /// The device's history, if it has one (it has sent or received any flow).
    pub fn device(&self, device: IpAddr) -> Option<&DeviceHistory> {
        self.devices.get(&device)
    }

    /// Number of distinct internal devices that contacted the endpoint (0 if none).
    pub fn device_count(&self, e: &Endpoint) -> usize {
        self.endpoints.get(e).map_or(0, |p| p.devices.len())
    }

    fn history(&mut self, device: IpAddr, ts: u64) -> &mut DeviceHistory {
        self.devices.entry(device).or_insert_with(|| DeviceHistory {
            first_seen: ts,
            ..DeviceHistory::default()
        })
    }

    /// An HTTP request's user agent, after the models saw it.
    pub fn observe_user_agent(&mut self, ts: u64, device: IpAddr, ua: &str) {
        if !self.is_internal(device) {
            return;
        }
        let h = self.history(device, ts);
        if !h.user_agents.contains_key(ua) {
            DeviceHistory::remember(&mut h.user_agents, Arc::from(ua), ts);
        }
    }

    /// A TLS client fingerprint, after the models saw it.
    pub fn observe_tls_client(&mut self, ts: u64, device: IpAddr, ja4: &str) {
        if !self.is_internal(device) {
            return;
        }
        let h = self.history(device, ts);
        if !h.tls_fingerprints.contains_key(ja4) {
            DeviceHistory::remember(&mut h.tls_fingerprints, Arc::from(ja4), ts);
        }
    }

    /// A finished flow: peers, volumes and inbound exposure of the internal side(s).
    pub fn observe_flow_end(&mut self, ts_start: u64, orig: IpAddr, resp: IpAddr, resp_port: u16, orig_bytes: u64) {
        let (oi, ri) = (self.is_internal(orig), self.is_internal(resp));
        if oi && !ri && !is_special(resp) {
            let h = self.history(orig, ts_start);
            DeviceHistory::remember(&mut h.peers, resp, ts_start);
            DeviceHistory::remember(&mut h.ports, resp_port, ts_start);
            h.bytes_out.add((1.0 + orig_bytes as f64).ln());
            let hour = (ts_start / 3_600_000_000_000 % 24) as usize;
            h.bytes_out_by_hour[hour] += orig_bytes;
        } else if ri && !oi && !is_special(orig) {
            let h = self.history(resp, ts_start);
            DeviceHistory::remember(&mut h.peers, orig, ts_start);
            h.inbound_flows += 1;
            h.first_inbound.get_or_insert(ts_start);
            DeviceHistory::remember(&mut h.inbound_sources, orig, ts_start);
        }
    }

    /// Learns what an event shows, after the models have judged it against the past. The one
    /// place that maps events to the pattern of life: the engine and the model tests share it.
    pub fn observe(&mut self, ev: &Event<'_>) {
        match ev {
            Event::FlowStart { ts, flow } => self.observe_flow_start(*ts, flow.id.orig, flow.id.resp),
            Event::DnsAnswer {
                device, name, addrs, ..
            } => self.observe_dns(*device, name, addrs),
            Event::HttpRequest { ts, flow, request } => {
                if let Some(ua) = &request.user_agent {
                    self.observe_user_agent(*ts, flow.id.orig, ua);
                }
            }
            Event::Tls { ts, flow, info } => {
                if let Some(ja4) = &info.ja4 {
                    self.observe_tls_client(*ts, flow.id.orig, ja4);
                }
            }
            Event::FlowEnd { flow, .. } => self.observe_flow_end(
                flow.ts_first,
                flow.id.orig,
                flow.id.resp,
                flow.id.resp_port,
                flow.orig_bytes(),
            ),
        }
    }

    pub fn observe_packet(&mut self, ts: u64) {
        self.start.get_or_insert(ts);
    }

    pub fn observe_dns(&mut self, device: IpAddr, name: &str, addrs: &[IpAddr]) {
        let name: Arc<str> = Arc::from(name);
        let m = self.resolved.entry(device).or_default();
        for a in addrs {
            m.insert(*a, name.clone());
        }
    }

    pub fn observe_flow_start(&mut self, ts: u64, device: IpAddr, dst: IpAddr) {
        if !self.is_outbound(device, dst) {
            return;
        }
        let e = self.endpoint(device, dst);
        let p = self.endpoints.entry(e).or_insert_with(|| Prevalence {
            first_seen: ts,
            devices: Vec::new(),
        });
        if !p.devices.contains(&device) && p.devices.len() < DEVICE_CAP {
            p.devices.push(device);
        }
    }
}
