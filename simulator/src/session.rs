//! What happens on the network, in protocol terms. Behaviour and attack generators produce
//! sessions; `render` turns each into packets.

use std::net::IpAddr;
use std::sync::Arc;

use crate::units::Nanos;
use crate::world::OsTraits;

/// One end of a session as seen on the wire.
#[derive(Clone, Debug)]
pub struct Host {
    pub ip: IpAddr,
    pub mac: [u8; 6],
    pub port: u16,
}

/// Ground-truth label of a malicious session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub attack_id: Arc<str>,
    pub attack: &'static str,
    pub stage: &'static str,
    /// MITRE ATT&CK technique id, e.g. `T1071.001`.
    pub technique: &'static str,
}

/// A session: one conversation between a client and a server.
#[derive(Clone, Debug)]
pub struct Session {
    /// When the client sends its first packet.
    pub start: Nanos,
    pub client: Host,
    pub server: Host,
    /// Traits of the client's OS stack (TTL, MSS, options).
    pub client_os: OsTraits,
    pub server_os: OsTraits,
    /// Round-trip time between the capture point (beside the client) and the server.
    pub rtt: Nanos,
    pub kind: SessionKind,
    pub label: Option<Label>,
    /// Seed for the renderer's own choices (ISNs, IP ids, think times), so rendering a session
    /// never depends on what was rendered before it.
    pub seed: u64,
}

#[derive(Clone, Debug)]
pub enum SessionKind {
    /// A DNS query over UDP and its answer.
    Dns(DnsExchange),
    /// A TCP connection carrying HTTP/1.1 request/response pairs.
    Http(Vec<HttpExchange>),
    /// A TCP connection carrying TLS: handshake, then encrypted exchanges.
    Tls(TlsSession),
    /// A TCP connect that never completes.
    Failed(ConnectFailure),
    /// An NTP (UDP 123) client request and the server's reply.
    Ntp,
    /// A TCP connection carrying opaque bytes (e.g. a raw print job): (up, down) per turn.
    Raw(Vec<(u64, u64)>),
    /// A stretch of real-time media over UDP (RTP), e.g. one minute of a video call.
    Media(MediaStream),
}

#[derive(Clone, Copy, Debug)]
pub struct MediaStream {
    pub duration: Nanos,
    /// Packets per second each way.
    pub pps: u32,
    /// Payload size range each way.
    pub size: (u16, u16),
    /// RTP synchronisation sources (one per direction) and the starting sequence numbers.
    pub ssrc: (u32, u32),
    pub seq: (u16, u16),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectFailure {
    /// Answered with RST: nothing listens.
    Refused,
    /// Never answered: SYN retransmitted `retries` times with exponential back-off.
    Timeout { retries: u8 },
    /// A stateless scanner's half-open probe: SYN, the server's SYN-ACK, the scanner's RST.
    HalfOpen,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersion {
    V12,
    V13,
}

/// TLS client implementations, each with its own ClientHello (and so its own JA3/JA4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlsClient {
    Chrome,
    Safari,
    Firefox,
    /// curl/OpenSSL on macOS and Linux.
    Curl,
    /// Windows system services (SChannel); TLS 1.2 only here.
    Schannel,
    /// Printers and appliances: a small TLS 1.2 stack.
    Embedded,
}

#[derive(Clone, Debug)]
pub struct TlsSession {
    /// Server name indication; `None` when the client connects to a bare address.
    pub sni: Option<String>,
    pub version: TlsVersion,
    pub client: TlsClient,
    /// ALPN protocol the server selects, if the client offered it.
    pub alpn: Option<&'static str>,
    /// Server certificate chain (DER, leaf first).
    pub chain: std::sync::Arc<Vec<Vec<u8>>>,
    pub exchanges: Vec<TlsExchange>,
}

/// One request/response over TLS, as plaintext sizes.
#[derive(Clone, Debug)]
pub struct TlsExchange {
    pub up: u64,
    pub down: u64,
    pub think: Nanos,
    /// A streamed response (server-sent events): many small records spread over time;
    /// `None` sends the response at once in full records.
    pub streamed: Option<Streamed>,
}

#[derive(Clone, Copy, Debug)]
pub struct Streamed {
    /// Plaintext bytes per record.
    pub record: u32,
    /// How long the stream lasts.
    pub over: Nanos,
}

#[derive(Clone, Debug)]
pub struct DnsExchange {
    pub id: u16,
    pub name: String,
    pub qtype: DnsType,
    /// Addresses in the answer; empty means NXDOMAIN.
    pub answers: Vec<IpAddr>,
    pub ttl: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsType {
    A,
    Aaaa,
}

#[derive(Clone, Debug)]
pub struct HttpExchange {
    pub method: &'static str,
    pub uri: String,
    /// The `Host` header: a name, or `ip:port` when the client had no hostname.
    pub host: String,
    pub user_agent: String,
    pub request_content_type: Option<&'static str>,
    /// Further request headers (name, value), written after the standard ones.
    pub headers: Vec<(&'static str, String)>,
    pub request_body: Body,
    pub status: u16,
    pub response_content_type: &'static str,
    pub response_body: Body,
    /// Server processing time before the response starts.
    pub think: Nanos,
}

/// An HTTP body: either literal bytes (small, meaningful, e.g. JSON) or a length of filler.
#[derive(Clone, Debug)]
pub enum Body {
    Bytes(Vec<u8>),
    Filler(u64),
}

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::Filler(n) => *n,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
