//! What every injector needs to turn its plan into sessions: the victim's side of each
//! connection, labels, DNS lookups through the victim's resolver and HTTP exchanges.

use std::net::IpAddr;
use std::sync::Arc;

use rand::RngExt;

use crate::rng::Stream;
use crate::session::{Body, DnsExchange, DnsType, Host, HttpExchange, Label, Session, SessionKind};
use crate::units::Nanos;
use crate::world::{Device, OsTraits, World};

pub struct Kit<'w> {
    pub victim: &'w Device,
    pub rng: Stream,
    gateway_mac: [u8; 6],
    dns: (IpAddr, [u8; 6]),
    id: Arc<str>,
    attack: &'static str,
    next_src_port: u16,
}

/// `ip:port` as a client writes it in a `Host` header when it has no name.
pub fn host_port(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

impl<'w> Kit<'w> {
    pub fn new(
        world: &'w World,
        victim: &'w Device,
        rng: Stream,
        id: &str,
        attack: &'static str,
        first_port: u16,
    ) -> Self {
        Kit {
            victim,
            rng,
            gateway_mac: world.gateway_mac,
            dns: (world.dns_server, world.dns_mac),
            id: Arc::from(id),
            attack,
            next_src_port: first_port,
        }
    }

    pub fn label(&self, stage: &'static str, technique: &'static str) -> Option<Label> {
        Some(Label {
            attack_id: self.id.clone(),
            attack: self.attack,
            stage,
            technique,
        })
    }

    fn src_port(&mut self) -> u16 {
        let p = self.next_src_port;
        self.next_src_port = if p == u16::MAX { 49152 } else { p + 1 };
        p
    }

    /// A connection from the victim to `server`.
    pub fn session(
        &mut self,
        start: Nanos,
        server: (IpAddr, u16),
        rtt: Nanos,
        kind: SessionKind,
        label: Option<Label>,
    ) -> Session {
        let port = self.src_port();
        let server_mac = if server.0 == self.dns.0 {
            self.dns.1
        } else {
            self.gateway_mac
        };
        Session {
            start,
            client: Host {
                ip: self.victim.ip,
                mac: self.victim.mac,
                port,
            },
            server: Host {
                ip: server.0,
                mac: server_mac,
                port: server.1,
            },
            client_os: self.victim.os,
            server_os: OsTraits::LINUX,
            rtt,
            kind,
            label,
            seed: self.rng.random(),
        }
    }

    /// A connection from outside (`src`) to the victim's `port`.
    pub fn inbound(
        &mut self,
        start: Nanos,
        src: (IpAddr, u16),
        port: u16,
        rtt: Nanos,
        kind: SessionKind,
        label: Option<Label>,
    ) -> Session {
        Session {
            start,
            client: Host {
                ip: src.0,
                mac: self.gateway_mac,
                port: src.1,
            },
            server: Host {
                ip: self.victim.ip,
                mac: self.victim.mac,
                port,
            },
            client_os: OsTraits::LINUX,
            server_os: self.victim.os,
            rtt,
            kind,
            label,
            seed: self.rng.random(),
        }
    }

    /// The victim resolving `name` to `addr`.
    pub fn dns(&mut self, at: Nanos, name: &str, addr: IpAddr, label: Option<Label>) -> Session {
        let kind = SessionKind::Dns(DnsExchange {
            id: self.rng.random(),
            name: name.to_string(),
            qtype: DnsType::A,
            answers: vec![addr],
            ttl: 300,
        });
        let rtt = self.rng.random_range(500_000..3_000_000);
        self.session(at, (self.dns.0, 53), rtt, kind, label)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn http(
        &mut self,
        method: &'static str,
        uri: &str,
        host: String,
        ua: String,
        body: Body,
        content_type: Option<&'static str>,
        resp: Body,
    ) -> HttpExchange {
        HttpExchange {
            method,
            uri: uri.to_string(),
            host,
            user_agent: ua,
            request_content_type: content_type,
            headers: Vec::new(),
            request_body: body,
            status: 200,
            response_content_type: "application/json",
            response_body: resp,
            think: self.rng.random_range(5_000_000..60_000_000),
        }
    }
}
