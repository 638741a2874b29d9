//! Inbound traffic to cloud servers: the WAF/reverse proxy receives visitors over HTTPS around
//! the clock with a daytime rise, and every cloud VM has its own uptime monitor probing
//! `/health` on a fixed period from a few monitoring addresses.

use std::net::IpAddr;
use std::sync::Arc;

use rand::RngExt;
use rand_distr::{Distribution, Exp};

use crate::certs;
use crate::rng::{Stream, stream};
use crate::scenario::Role;
use crate::session::{Body, Host, HttpExchange, Session, SessionKind, TlsClient, TlsExchange, TlsSession, TlsVersion};
use crate::units::{NS_PER_SEC, Nanos};
use crate::world::{Device, OsTraits, World, public_ipv4};

use super::activity;

/// Peak visitor connections per hour to one public VM.
const VISITS_PER_HOUR: f64 = 30.0;

pub struct Inbound<'w> {
    dev: &'w Device,
    gateway_mac: [u8; 6],
    rng: Stream,
    end: Nanos,
    next_visit: Nanos,
    next_probe: Nanos,
    probe_period: Nanos,
    monitors: Vec<IpAddr>,
    /// Each monitor's next ephemeral port: its stack allocates them in sequence.
    monitor_ports: Vec<u16>,
    chain: Arc<Vec<Vec<u8>>>,
    hostname: String,
}

/// Whether a role serves the public.
pub fn is_public(role: Role) -> bool {
    matches!(role, Role::CloudWebVm | Role::CloudWafVm)
}

impl<'w> Inbound<'w> {
    pub fn new(world: &'w World, dev: &'w Device, seed: u64, start: Nanos, end: Nanos) -> Self {
        let mut rng = stream(seed, "inbound", dev.index as u64);
        let hostname = format!("app{}.example-corp.com", dev.index + 1);
        let cas = certs::public_cas(&mut rng, start);
        let chain = Arc::new(certs::issued_chain(&cas[0], &hostname, &mut rng, start));
        let monitors = (0..3).map(|_| IpAddr::V4(public_ipv4(&mut rng))).collect();
        let monitor_ports = (0..3).map(|_| rng.random_range(32768..40000)).collect();
        let probe_period = rng.random_range(10..=60) * NS_PER_SEC;
        let next_probe = start + rng.random_range(0..probe_period);
        let mut me = Inbound {
            dev,
            gateway_mac: world.gateway_mac,
            rng,
            end,
            next_visit: start,
            next_probe,
            probe_period,
            monitors,
            monitor_ports,
            chain,
            hostname,
        };
        me.next_visit = start + me.gap();
        me
    }

    fn gap(&mut self) -> Nanos {
        let g: f64 = Exp::new(VISITS_PER_HOUR / 3600.0)
            .map(|d| d.sample(&mut self.rng))
            .unwrap_or(120.0);
        (g * NS_PER_SEC as f64) as Nanos + 1
    }

    fn session(
        &mut self,
        start: Nanos,
        client: (IpAddr, u16),
        client_os: OsTraits,
        rtt: Nanos,
        kind: SessionKind,
    ) -> Session {
        Session {
            start,
            client: Host {
                ip: client.0,
                mac: self.gateway_mac,
                port: client.1,
            },
            server: Host {
                ip: self.dev.ip,
                mac: self.dev.mac,
                port: if matches!(kind, SessionKind::Tls(_)) { 443 } else { 80 },
            },
            client_os,
            server_os: self.dev.os,
            rtt,
            kind,
            label: None,
            seed: self.rng.random(),
        }
    }
}

impl Iterator for Inbound<'_> {
    type Item = Session;
    fn next(&mut self) -> Option<Session> {
        loop {
            let t = self.next_visit.min(self.next_probe);
            if t >= self.end {
                return None;
            }
            if self.next_probe <= self.next_visit {
                self.next_probe += self.probe_period;
                let m = self.rng.random_range(0..self.monitors.len());
                let port = self.monitor_ports[m];
                self.monitor_ports[m] = if port >= 60999 { 32768 } else { port + 1 };
                let monitor = (self.monitors[m], port);
                let ex = HttpExchange {
                    method: "GET",
                    uri: "/health".into(),
                    host: self.hostname.clone(),
                    user_agent: "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)".into(),
                    request_content_type: None,
                    headers: Vec::new(),
                    request_body: Body::Bytes(Vec::new()),
                    status: 200,
                    response_content_type: "application/json",
                    response_body: Body::Bytes(b"{\"status\":\"ok\"}".to_vec()),
                    think: 2_000_000,
                };
                return Some(self.session(t, monitor, OsTraits::LINUX, 30_000_000, SessionKind::Http(vec![ex])));
            }
            self.next_visit += self.gap();
            // Only the WAF/reverse proxy is public by design; web app VMs sit behind it and are
            // reached from outside only by their uptime monitor (until someone exposes one).
            if self.dev.role != Role::CloudWafVm
                || self.rng.random::<f64>() >= activity(Role::MacosLaptop, t, 0).max(0.15)
            {
                continue;
            }
            let visitor = (
                IpAddr::V4(public_ipv4(&mut self.rng)),
                self.rng.random_range(32768..61000),
            );
            let (os, client) = if self.rng.random_bool(0.6) {
                (OsTraits::WINDOWS, TlsClient::Chrome)
            } else {
                (OsTraits::MACOS, TlsClient::Safari)
            };
            let exchanges = (0..self.rng.random_range(1..6))
                .map(|_| TlsExchange {
                    up: self.rng.random_range(300..1500),
                    down: self.rng.random_range(2_000..80_000),
                    think: self.rng.random_range(3_000_000..40_000_000),
                    streamed: None,
                })
                .collect();
            let tls = TlsSession {
                sni: Some(self.hostname.clone()),
                version: TlsVersion::V13,
                client,
                alpn: Some("h2"),
                chain: self.chain.clone(),
                exchanges,
            };
            let rtt = self.rng.random_range(20_000_000..200_000_000);
            return Some(self.session(t, visitor, os, rtt, SessionKind::Tls(tls)));
        }
    }
}
