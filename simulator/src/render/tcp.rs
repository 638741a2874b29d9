//! A TCP conversation as seen from a tap beside the client: handshake, MSS-sized segments within
//! the receiver's window, delayed ACKs, FIN teardown, and failed connects (RST, or SYN retries
//! with back-off), with sequence numbers and timestamps that add up.

use rand::{RngExt, SeedableRng};
use smoltcp::wire::{TcpControl, TcpRepr, TcpSeqNumber, TcpTimestampRepr};

use super::Packet;
use super::frame::{Path, tcp_frame};
use super::stream::Stream;
use crate::session::{ConnectFailure, Session};
use crate::units::{NS_PER_SEC, Nanos};
use crate::world::OsTraits;

/// One request and its response.
pub struct Turn {
    pub request: Stream,
    pub think: Nanos,
    pub response: Stream,
    /// A response sent a little at a time (server-sent events) instead of at once.
    pub pace: Option<Pace>,
}

/// One segment of `segment` bytes every `gap`.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    pub segment: u64,
    pub gap: Nanos,
}

impl Turn {
    /// A turn of opaque bytes each way (binary protocols, print jobs).
    pub fn opaque(up: u64, down: u64, seed: u64) -> Turn {
        let fill = |n: u64, salt: u64| {
            let mut s = Stream::default();
            let mut x = seed ^ salt;
            s.push_opaque(n, |b, k| {
                b.extend((0..k).map(|_| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (x >> 56) as u8
                }))
            });
            s
        };
        Turn {
            request: fill(up, 1),
            think: 2_000_000,
            response: fill(down, 2),
            pace: None,
        }
    }
}

/// Time between back-to-back segments from one sender (serialisation at ~1 Gbit/s plus stack).
const SEGMENT_GAP: Nanos = 15_000;
/// Client stack delay before it reacts (ACK, next request, FIN).
const STACK_DELAY: Nanos = 60_000;

struct Side {
    path: Path,
    port: u16,
    seq: u32,
    os: OsTraits,
    ts_base: u32,
}

struct Conv<'a> {
    s: &'a Session,
    client: Side,
    server: Side,
    packets: Vec<Packet>,
    buf: &'a mut Vec<u8>,
}

/// A segment's payload: what was captured of it and its length on the wire.
#[derive(Clone, Copy)]
struct Payload<'p> {
    captured: &'p [u8],
    wire: u32,
}

const EMPTY: Payload<'static> = Payload { captured: &[], wire: 0 };

impl Conv<'_> {
    /// Emits one segment. `ack` overrides the acknowledgement number (default: everything the
    /// peer has sent so far), for ACKs of data the peer sent before later segments.
    fn emit(
        &mut self,
        from_client: bool,
        ts: Nanos,
        control: TcpControl,
        payload: Payload<'_>,
        syn_opts: bool,
        ack: Option<u32>,
    ) {
        let (me, peer) = if from_client {
            (&mut self.client, &self.server)
        } else {
            (&mut self.server, &self.client)
        };
        let ms = (ts.saturating_sub(self.s.start) / 1_000_000) as u32;
        let first_syn = control == TcpControl::Syn && from_client;
        let repr = TcpRepr {
            src_port: me.port,
            dst_port: peer.port,
            control,
            seq_number: TcpSeqNumber(me.seq as i32),
            ack_number: if first_syn {
                None
            } else {
                Some(TcpSeqNumber(ack.unwrap_or(peer.seq) as i32))
            },
            window_len: if syn_opts {
                me.os.window
            } else {
                window_after_scale(me.os)
            },
            window_scale: if syn_opts { me.os.window_scale } else { None },
            max_seg_size: if syn_opts { Some(me.os.mss) } else { None },
            sack_permitted: syn_opts && me.os.sack_permitted,
            sack_ranges: [None, None, None],
            timestamp: (me.os.timestamps && (first_syn || peer.os.timestamps)).then(|| TcpTimestampRepr {
                tsval: me.ts_base.wrapping_add(ms),
                tsecr: if first_syn {
                    0
                } else {
                    peer.ts_base.wrapping_add(ms.saturating_sub(1))
                },
            }),
            payload: payload.captured,
        };
        let placed = tcp_frame(self.buf, &me.path, &repr, payload.wire as usize);
        me.path.ip_id = me.path.ip_id.wrapping_add(1);
        me.seq = me.seq.wrapping_add(payload.wire + control.len() as u32);
        self.packets.push(Packet::at(ts, placed));
    }

    /// Sends `stream` from one side as MSS-sized segments starting at `start`, within the
    /// receiver's window; the receiver ACKs every second segment. Returns the time of the last
    /// data segment.
    fn send(&mut self, from_client: bool, start: Nanos, stream: &Stream, pace: Option<Pace>) -> Nanos {
        let ts_opt = self.client.os.timestamps && self.server.os.timestamps;
        let mss = u64::from(self.client.os.mss.min(self.server.os.mss)) - if ts_opt { 12 } else { 0 };
        let mss = pace.map_or(mss, |p| p.segment.min(mss)).max(1);
        let gap = pace.map_or(SEGMENT_GAP, |p| p.gap.max(SEGMENT_GAP));
        let n = stream.len.div_ceil(mss);
        let rtt = self.s.rtt;
        let receiver = if from_client { self.server.os } else { self.client.os };
        let window = effective_window(receiver);
        // (time from which the sender may use it, as seen at the capture point; bytes acked)
        let mut acks: std::collections::VecDeque<(Nanos, u64)> = std::collections::VecDeque::new();
        let mut ts = start;
        let mut off = 0u64;
        for i in 0..n {
            let last = i + 1 == n;
            let len = mss.min(stream.len - off);
            let end = off + len;
            // Flow control: wait for the ACK that opens the window far enough (strictly below
            // the window: filling it exactly is what analysers flag as "window full").
            if end >= window {
                while acks.len() > 1 && acks[1].1 <= end - window {
                    acks.pop_front();
                }
                if let Some(&(ok, acked)) = acks.iter().find(|(_, acked)| *acked > end - window) {
                    let _ = acked;
                    ts = ts.max(ok);
                }
            }
            let control = if last { TcpControl::Psh } else { TcpControl::None };
            let payload = Payload {
                captured: stream.captured(off, len),
                wire: len as u32,
            };
            self.emit(from_client, ts, control, payload, false, None);
            // Delayed ACK: every second segment. The capture sits beside the client, so a
            // server's ACK is seen one RTT after the data left, a client's after a stack delay
            // (and the server can act on it one RTT later). The response acknowledges the last
            // request segment itself.
            if i % 2 == 1 || last {
                if from_client {
                    if !last {
                        let acked = self.client.seq;
                        self.emit(false, ts + rtt, TcpControl::None, EMPTY, false, Some(acked));
                    }
                    acks.push_back((ts + rtt, end));
                } else {
                    let acked = self.server.seq;
                    self.emit(true, ts + STACK_DELAY, TcpControl::None, EMPTY, false, Some(acked));
                    acks.push_back((ts + STACK_DELAY + rtt, end));
                }
            }
            off = end;
            if !last {
                ts += gap;
            }
        }
        ts
    }
}

/// Window field after the handshake: the advertised buffer divided by the scale factor.
fn window_after_scale(os: OsTraits) -> u16 {
    match os.window_scale {
        Some(shift) => ((u32::from(os.window) << 6) >> shift).min(65535) as u16,
        None => os.window,
    }
}

/// Bytes a receiver lets the sender have in flight.
fn effective_window(os: OsTraits) -> u64 {
    u64::from(window_after_scale(os)) << os.window_scale.unwrap_or(0)
}

fn conv<'a>(s: &'a Session, buf: &'a mut Vec<u8>) -> Conv<'a> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(s.seed);
    let mut side = |path: Path, port, os| Side {
        path,
        port,
        seq: rng.random(),
        os,
        ts_base: rng.random(),
    };
    let (up, down) = Path::pair(s, (0, 0));
    let client = side(up, s.client.port, s.client_os);
    let server = side(down, s.server.port, s.server_os);
    let mut c = Conv {
        s,
        client,
        server,
        packets: Vec::new(),
        buf,
    };
    c.client.path.ip_id = rng.random();
    c.server.path.ip_id = rng.random();
    c
}

/// Renders a full connection carrying `turns`; returns packets and payload bytes each way.
pub fn render(s: &Session, turns: &[Turn], buf: &mut Vec<u8>) -> (Vec<Packet>, u64, u64) {
    let mut c = conv(s, buf);
    c.packets.reserve(8 + 4 * turns.len());
    let rtt = s.rtt;
    let mut t = s.start;
    c.emit(true, t, TcpControl::Syn, EMPTY, true, None);
    t += rtt;
    c.emit(false, t, TcpControl::Syn, EMPTY, true, None);
    t += STACK_DELAY;
    c.emit(true, t, TcpControl::None, EMPTY, false, None);
    let (mut up, mut down) = (0u64, 0u64);
    for turn in turns {
        t += STACK_DELAY;
        let last_req = if turn.request.len > 0 {
            c.send(true, t, &turn.request, None)
        } else {
            t
        };
        up += turn.request.len;
        // The response's first byte arrives one RTT after the request's last byte, plus think.
        if turn.response.len > 0 {
            t = c.send(false, last_req + rtt + turn.think, &turn.response, turn.pace) + STACK_DELAY;
        } else {
            t = last_req;
        }
        down += turn.response.len;
    }
    // Client closes; the server answers with its own FIN one RTT later; the client ACKs.
    t += STACK_DELAY;
    c.emit(true, t, TcpControl::Fin, EMPTY, false, None);
    t += rtt;
    c.emit(false, t, TcpControl::Fin, EMPTY, false, None);
    t += STACK_DELAY;
    c.emit(true, t, TcpControl::None, EMPTY, false, None);
    // ACKs were emitted beside the data they acknowledge; put everything in capture order.
    c.packets.sort_by_key(|p| p.ts);
    (c.packets, up, down)
}

/// A connection attempt that fails: refused (RST) or unanswered (SYN retries with back-off).
pub fn render_failed(s: &Session, failure: ConnectFailure, buf: &mut Vec<u8>) -> Vec<Packet> {
    let mut c = conv(s, buf);
    match failure {
        ConnectFailure::Refused => {
            c.emit(true, s.start, TcpControl::Syn, EMPTY, true, None);
            // RST+ACK acknowledging the SYN, from a stack with nothing listening.
            let ack = c.client.seq;
            c.server.os.timestamps = false;
            c.server.seq = 0;
            c.emit(false, s.start + s.rtt, TcpControl::Rst, EMPTY, false, Some(ack));
        }
        ConnectFailure::HalfOpen => {
            // Scanners (masscan, ZMap) send a bare SYN: no options, a fixed window.
            c.client.os.window_scale = None;
            c.client.os.sack_permitted = false;
            c.client.os.timestamps = false;
            c.client.os.window = 1024;
            c.emit(true, s.start, TcpControl::Syn, EMPTY, true, None);
            c.emit(false, s.start + s.rtt, TcpControl::Syn, EMPTY, true, None);
            c.emit(true, s.start + s.rtt + STACK_DELAY, TcpControl::Rst, EMPTY, false, None);
        }
        ConnectFailure::Timeout { retries } => {
            // Initial RTO 1 s, doubling: SYNs at 0, 1, 3, 7, … s (same sequence number).
            let isn = c.client.seq;
            let mut at = s.start;
            let mut rto = NS_PER_SEC;
            for _ in 0..=retries {
                c.client.seq = isn;
                c.emit(true, at, TcpControl::Syn, EMPTY, true, None);
                at += rto;
                rto *= 2;
            }
        }
    }
    c.packets
}
