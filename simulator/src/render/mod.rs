//! Sessions become packets. Each session renders on its own (seeded by the session), so the
//! time-ordered merge in `capture` can interleave any number of them deterministically.

mod dns;
pub mod frame;
mod http;
mod media;
mod ntp;
pub mod ocsp;
pub mod stream;
mod tcp;
pub mod tls;

use std::net::IpAddr;
use std::sync::Arc;

use crate::session::{Session, SessionKind};
use crate::units::Nanos;

/// One captured packet; its bytes live in the session's [`Rendered::buf`] (one allocation per
/// session, not per packet).
#[derive(Clone, Copy, Debug)]
pub struct Packet {
    pub ts: Nanos,
    pub start: u32,
    pub len: u32,
    /// Length on the wire; larger than `len` when the capture truncated it.
    pub orig_len: u32,
}

impl Packet {
    pub fn at(ts: Nanos, placed: frame::Placed) -> Packet {
        Packet {
            ts,
            start: placed.start,
            len: placed.len,
            orig_len: placed.orig_len,
        }
    }

    /// The captured bytes.
    pub fn data<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        &buf[self.start as usize..(self.start + self.len) as usize]
    }
}

/// Transport protocol of a flow, named as Zeek names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

/// What a rendered session amounts to as one flow (the truth record's facts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowSummary {
    pub ts_start: Nanos,
    pub ts_end: Nanos,
    pub proto: Proto,
    pub src_ip: IpAddr,
    pub src_port: u16,
    pub dst_ip: IpAddr,
    pub dst_port: u16,
    /// Application payload bytes from the originator (Zeek's `orig_bytes`).
    pub bytes_orig: u64,
    /// Application payload bytes from the responder (Zeek's `resp_bytes`).
    pub bytes_resp: u64,
}

pub struct Rendered {
    pub packets: Vec<Packet>,
    /// Every packet's captured bytes, back to back.
    pub buf: Vec<u8>,
    /// pcapng comment for every packet of a labelled session.
    pub comment: Option<Arc<str>>,
    pub flow: FlowSummary,
}

pub fn render(s: &Session) -> Rendered {
    let mut buf = Vec::new();
    let (packets, bytes_orig, bytes_resp, proto) = match &s.kind {
        SessionKind::Dns(d) => {
            let (p, q, a) = dns::render(s, d, &mut buf);
            (p, q, a, Proto::Udp)
        }
        SessionKind::Http(ex) => {
            let (p, q, a) = tcp::render(s, &http::streams(s, ex), &mut buf);
            (p, q, a, Proto::Tcp)
        }
        SessionKind::Tls(t) => {
            let (p, q, a) = tcp::render(s, &tls::turns(s, t), &mut buf);
            (p, q, a, Proto::Tcp)
        }
        SessionKind::Raw(turns) => {
            let turns: Vec<tcp::Turn> = turns
                .iter()
                .map(|&(up, down)| tcp::Turn::opaque(up, down, s.seed))
                .collect();
            let (p, q, a) = tcp::render(s, &turns, &mut buf);
            (p, q, a, Proto::Tcp)
        }
        SessionKind::Failed(f) => (tcp::render_failed(s, *f, &mut buf), 0, 0, Proto::Tcp),
        SessionKind::Media(m) => {
            let (p, q, a) = media::render(s, m, &mut buf);
            (p, q, a, Proto::Udp)
        }
        SessionKind::Ntp => {
            let (p, q, a) = ntp::render(s, &mut buf);
            (p, q, a, Proto::Udp)
        }
    };
    let flow = FlowSummary {
        ts_start: packets.first().map(|p| p.ts).unwrap_or(s.start),
        ts_end: packets.last().map(|p| p.ts).unwrap_or(s.start),
        proto,
        src_ip: s.client.ip,
        src_port: s.client.port,
        dst_ip: s.server.ip,
        dst_port: s.server.port,
        bytes_orig,
        bytes_resp,
    };
    let comment = s.label.as_ref().map(|l| {
        Arc::from(format!(
            "attack_id={} attack={} stage={} technique={}",
            l.attack_id, l.attack, l.stage, l.technique
        ))
    });
    Rendered {
        packets,
        buf,
        comment,
        flow,
    }
}
