//! Pattern of life: what the organisation and each device normally do, learned from the
//! capture itself. Models read it; the engine updates it after the models have seen an event,
//! so a model always judges an event against the past.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

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

pub struct Life {
    internal: Vec<Cidr>,
    learning_ns: u64,
    /// Capture time of the first packet.
    pub start: Option<u64>,
    /// device → address → name it resolved to.
    resolved: HashMap<IpAddr, HashMap<IpAddr, Arc<str>>>,
    endpoints: HashMap<Endpoint, Prevalence>,
}

impl Life {
    pub fn new(internal: Vec<Cidr>, learning_ns: u64) -> Self {
        Life {
            internal,
            learning_ns,
            start: None,
            resolved: HashMap::new(),
            endpoints: HashMap::new(),
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
