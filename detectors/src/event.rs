//! The typed event stream the models consume, in capture time.

use std::net::IpAddr;

use crate::flow::Flow;
use crate::proto::http::Request;
use crate::proto::tls::TlsInfo;

pub enum Event<'a> {
    /// The first packet of a new flow.
    FlowStart { ts: u64, flow: &'a Flow },
    /// A DNS response that mapped `name` to addresses, for the device that asked.
    DnsAnswer {
        ts: u64,
        device: IpAddr,
        name: &'a str,
        addrs: &'a [IpAddr],
    },
    /// An HTTP request whose headers were fully seen.
    HttpRequest {
        ts: u64,
        flow: &'a Flow,
        request: &'a Request,
    },
    /// A TLS handshake was seen through (established, failed, or the flow ended first): SNI,
    /// versions, fingerprints and, up to TLS 1.2, the server's certificates.
    Tls { ts: u64, flow: &'a Flow, info: &'a TlsInfo },
    /// A flow ended (closed, timed out, or end of capture).
    FlowEnd { ts: u64, flow: &'a Flow },
}

impl Event<'_> {
    pub fn ts(&self) -> u64 {
        match self {
            Event::FlowStart { ts, .. }
            | Event::DnsAnswer { ts, .. }
            | Event::HttpRequest { ts, .. }
            | Event::Tls { ts, .. }
            | Event::FlowEnd { ts, .. } => *ts,
        }
    }
}
