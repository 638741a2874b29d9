//! Hand-made event sequences for model unit tests: flows built through the real flow table
//! (so ids, uids and community ids are genuine), a pattern of life with RFC 1918 as internal,
//! and helpers to play events to a model with the engine's ordering (models first, then life).

use std::net::IpAddr;

use crate::alert::Alert;
use crate::decode::{Packet, TcpInfo};
use crate::event::Event;
use crate::flow::{Flow, FlowTable, Timeouts};
use crate::life::Life;
use crate::models::Model;
use crate::net::default_internal;

pub const S: u64 = 1_000_000_000;
/// 2026-03-02 09:00:00 UTC, a Monday morning.
pub const T0: u64 = 1_772_442_000 * S;

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// A pattern of life with the default internal ranges and no learning period (or `learning_s`).
pub fn life(learning_s: u64) -> Life {
    Life::new(default_internal(), learning_s * S)
}

/// A flow from `orig:oport` to `resp:rport` (`proto` 6 or 17) that started at `ts`: one SYN
/// (TCP) or one datagram (UDP) through the real flow table. Set byte counts and state with
/// [`tcp_flow`] when a model needs them.
pub fn flow(ts: u64, orig: &str, oport: u16, resp: &str, rport: u16, proto: u8) -> Flow {
    let mut t = FlowTable::new(Timeouts::default());
    let p = Packet {
        ts,
        src: ip(orig),
        dst: ip(resp),
        proto,
        src_port: oport,
        dst_port: rport,
        tcp: (proto == 6).then_some(TcpInfo {
            syn: true,
            seq: 1000,
            ..TcpInfo::default()
        }),
        payload: &[],
        payload_len: if proto == 17 { 40 } else { 0 },
        ip_len: 60,
    };
    let u = t.update(&p, &mut |_| {});
    t.get(u.flow).clone()
}

/// How a test TCP connection went.
#[derive(Clone, Copy, Debug)]
pub enum Outcome {
    /// Handshake, `up` bytes sent, `down` received, FIN both ways.
    Complete { up: u32, down: u32 },
    /// The responder answered the SYN with RST.
    Refused,
    /// `syns` SYNs without an answer.
    Unanswered { syns: u32 },
}

/// A whole TCP connection through the real flow table, lasting `dur_s` seconds; conn_state,
/// history and byte counts are what the engine would compute.
pub fn tcp_flow(ts: u64, orig: &str, oport: u16, resp: &str, rport: u16, outcome: Outcome, dur_s: u64) -> Flow {
    let mut t = FlowTable::new(Timeouts::default());
    let (o, r) = (ip(orig), ip(resp));
    let mut send = |ts: u64, from_orig: bool, info: TcpInfo, len: u32| {
        let (src, dst, sp, dp) = if from_orig {
            (o, r, oport, rport)
        } else {
            (r, o, rport, oport)
        };
        let p = Packet {
            ts,
            src,
            dst,
            proto: 6,
            src_port: sp,
            dst_port: dp,
            tcp: Some(info),
            payload: &[],
            payload_len: len,
            ip_len: 40 + len,
        };
        t.update(&p, &mut |_| {}).flow
    };
    let syn = TcpInfo {
        syn: true,
        seq: 100,
        ..TcpInfo::default()
    };
    let end = ts + dur_s * S;
    let r = match outcome {
        Outcome::Complete { up, down } => {
            send(ts, true, syn, 0);
            let synack = TcpInfo {
                syn: true,
                ack: true,
                seq: 5000,
                ack_no: 101,
                ..TcpInfo::default()
            };
            send(ts + 1, false, synack, 0);
            let ack = TcpInfo {
                ack: true,
                seq: 101,
                ack_no: 5001,
                ..TcpInfo::default()
            };
            send(ts + 2, true, ack, up);
            let data = TcpInfo {
                ack: true,
                seq: 5001,
                ack_no: 101 + up,
                ..TcpInfo::default()
            };
            send(ts + 3, false, data, down);
            let fin_o = TcpInfo {
                ack: true,
                fin: true,
                seq: 101 + up,
                ack_no: 5001 + down,
                ..TcpInfo::default()
            };
            send(end, true, fin_o, 0);
            let fin_r = TcpInfo {
                ack: true,
                fin: true,
                seq: 5001 + down,
                ack_no: 102 + up,
                ..TcpInfo::default()
            };
            send(end + 1, false, fin_r, 0)
        }
        Outcome::Refused => {
            send(ts, true, syn, 0);
            let rst = TcpInfo {
                rst: true,
                ack: true,
                seq: 0,
                ack_no: 101,
                ..TcpInfo::default()
            };
            send(ts + 1, false, rst, 0)
        }
        Outcome::Unanswered { syns } => {
            let mut last = send(ts, true, syn, 0);
            for i in 1..syns.max(1) {
                last = send(ts + u64::from(i) * S, true, syn, 0);
            }
            last
        }
    };
    t.get(r).clone()
}

/// Plays `events` to `model` as the engine does (each event to the model, then into `life`),
/// returning every alert.
pub fn play(model: &mut dyn Model, life: &mut Life, events: &[Event<'_>]) -> Vec<Alert> {
    let mut out = Vec::new();
    for ev in events {
        life.observe_packet(ev.ts());
        model.on_event(ev, life, &mut out);
        life.observe(ev);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_flows_have_zeek_states() {
        let ok = tcp_flow(
            T0,
            "10.0.0.5",
            50000,
            "198.51.100.7",
            443,
            Outcome::Complete { up: 300, down: 5000 },
            2,
        );
        assert_eq!((ok.conn_state(), ok.orig_bytes(), ok.resp_bytes()), ("SF", 300, 5000));
        let rej = tcp_flow(T0, "10.0.0.5", 50001, "198.51.100.7", 443, Outcome::Refused, 0);
        assert_eq!(rej.conn_state(), "REJ");
        let s0 = tcp_flow(
            T0,
            "10.0.0.5",
            50002,
            "198.51.100.7",
            443,
            Outcome::Unanswered { syns: 3 },
            0,
        );
        assert_eq!((s0.conn_state(), s0.orig.pkts), ("S0", 3));
    }
}
