//! Application protocol parsers. Contract (as smoltcp's `wire`): parsers never panic on any
//! input; they return `None`/errors for what they cannot read.

pub mod dns;
pub mod http;
pub mod tls;

/// Application-layer state kept with each flow, allocated only for flows that carry the
/// protocol (most flows need one of these at most).
#[derive(Clone, Debug, Default)]
pub struct AppState {
    pub http: Option<Box<http::HttpConn>>,
    pub dns: Option<Box<dns::DnsState>>,
    pub tls: Option<Box<tls::TlsSession>>,
    /// The flow's payload is not HTTP: stop trying.
    pub http_off: bool,
    /// The flow's payload is not TLS (no handshake within the STARTTLS search budget).
    pub tls_off: bool,
    /// The TLS handshake facts were passed to the models.
    pub tls_reported: bool,
}
