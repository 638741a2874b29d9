//! A TCP conversation as seen from a tap beside the client: handshake, MSS-sized segments,
//! delayed ACKs, and FIN teardown, with sequence numbers and timestamps that add up.

use rand::{RngExt, SeedableRng};
use smoltcp::wire::{TcpControl, TcpRepr, TcpSeqNumber, TcpTimestampRepr};

use super::Packet;
use super::frame::{Path, tcp_frame};
use crate::session::Session;
use crate::units::Nanos;
use crate::world::OsTraits;

/// One request and its response.
pub struct Turn {
    pub request: Vec<u8>,
    pub think: Nanos,
    pub response: Vec<u8>,
}

/// Time between back-to-back segments from one sender (serialisation at ~1 Gbit/s plus stack).
const SEGMENT_GAP: Nanos = 15_000;
/// Client stack delay before it reacts (ACK, next request, FIN).
const STACK_DELAY: Nanos = 60_000;
/// Payload past this many bytes of one message is left out of the capture (headers stay), as
/// with a snap length: bulk transfers cost headers, not gigabytes, and byte counts stay exact.
const SNAP_AFTER: u64 = 2920;

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
}

impl Conv<'_> {
    /// Emits one segment. `ack` overrides the acknowledgement number (default: everything the
    /// peer has sent so far), for ACKs of data the peer sent before later segments.
    /// With `snap`, only the headers are captured (the packet keeps its full original length).
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        from_client: bool,
        ts: Nanos,
        control: TcpControl,
        payload: &[u8],
        syn_opts: bool,
        ack: Option<u32>,
        snap: bool,
    ) {
        let (me, peer) = if from_client {
            (&mut self.client, &self.server)
        } else {
            (&mut self.server, &self.client)
        };
        let ms = (ts.saturating_sub(self.s.start) / 1_000_000) as u32;
        let ack = if control == TcpControl::Syn && from_client {
            None
        } else {
            Some(TcpSeqNumber(ack.unwrap_or(peer.seq) as i32))
        };
        let repr = TcpRepr {
            src_port: me.port,
            dst_port: peer.port,
            control,
            seq_number: TcpSeqNumber(me.seq as i32),
            ack_number: ack,
            window_len: if syn_opts {
                me.os.window
            } else {
                window_after_scale(me.os)
            },
            window_scale: if syn_opts { me.os.window_scale } else { None },
            max_seg_size: if syn_opts { Some(me.os.mss) } else { None },
            sack_permitted: syn_opts && me.os.sack_permitted,
            sack_ranges: [None, None, None],
            timestamp: (me.os.timestamps && peer.os.timestamps).then(|| TcpTimestampRepr {
                tsval: me.ts_base.wrapping_add(ms),
                tsecr: if control == TcpControl::Syn && from_client {
                    0
                } else {
                    peer.ts_base.wrapping_add(ms.saturating_sub(1))
                },
            }),
            payload,
        };
        let mut data = tcp_frame(&me.path, &repr);
        let orig_len = data.len() as u32;
        if snap {
            data.truncate(data.len() - payload.len());
        }
        me.path.ip_id = me.path.ip_id.wrapping_add(1);
        me.seq = me.seq.wrapping_add(repr.segment_len() as u32);
        self.packets.push(Packet { ts, orig_len, data });
    }

    /// Sends `bytes` from one side as MSS-sized segments starting at `ts`, within the
    /// receiver's window; the receiver ACKs every second segment. Returns the time of the last
    /// data segment.
    fn send(&mut self, from_client: bool, start: Nanos, bytes: &[u8]) -> Nanos {
        let mss = usize::from(self.client.os.mss.min(self.server.os.mss))
            - if self.client.os.timestamps && self.server.os.timestamps {
                12
            } else {
                0
            };
        let mss = mss.max(1);
        let n = bytes.len().div_ceil(mss);
        let rtt = self.s.rtt;
        let receiver = if from_client { self.server.os } else { self.client.os };
        let window = effective_window(receiver);
        // (time from which the sender may use it, as seen at the capture point; bytes acked)
        let mut acks: Vec<(Nanos, u64)> = Vec::new();
        let mut ts = start;
        let mut off = 0u64;
        for (i, chunk) in bytes.chunks(mss).enumerate() {
            let last = i + 1 == n;
            let end = off + chunk.len() as u64;
            // Flow control: wait for the ACK that opens the window far enough.
            // (Strictly below the window: filling it exactly is what analysers flag as
            // "window full".)
            if end >= window
                && let Some(&(ok, _)) = acks.iter().find(|(_, acked)| *acked > end - window)
            {
                ts = ts.max(ok);
            }
            let control = if last { TcpControl::Psh } else { TcpControl::None };
            let snap = off >= SNAP_AFTER;
            self.emit(from_client, ts, control, chunk, false, None, snap);
            // Delayed ACK: every second segment. The capture sits beside the client, so a
            // server's ACK is seen one RTT after the data left, a client's after a stack delay
            // (and the server can act on it one RTT later). The response acknowledges the last
            // request segment itself.
            if i % 2 == 1 || last {
                if from_client {
                    if !last {
                        let acked = self.client.seq;
                        self.emit(false, ts + rtt, TcpControl::None, &[], false, Some(acked), false);
                    }
                    acks.push((ts + rtt, end));
                } else {
                    let acked = self.server.seq;
                    self.emit(true, ts + STACK_DELAY, TcpControl::None, &[], false, Some(acked), false);
                    acks.push((ts + STACK_DELAY + rtt, end));
                }
            }
            off = end;
            if !last {
                ts += SEGMENT_GAP;
            }
        }
        ts
    }
}

/// Bytes a receiver lets the sender have in flight.
fn effective_window(os: OsTraits) -> u64 {
    u64::from(window_after_scale(os)) << os.window_scale.unwrap_or(0)
}

/// Window field after the handshake: the advertised buffer divided by the scale factor.
fn window_after_scale(os: OsTraits) -> u16 {
    match os.window_scale {
        Some(shift) => ((u32::from(os.window) << 6) >> shift).min(65535) as u16,
        None => os.window,
    }
}

/// Renders a full connection carrying `turns`; returns packets and payload bytes each way.
pub fn render(s: &Session, turns: &[Turn]) -> (Vec<Packet>, u64, u64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(s.seed);
    let client = Side {
        path: Path {
            src_mac: s.client.mac,
            dst_mac: s.server.mac,
            src_ip: s.client.ip,
            dst_ip: s.server.ip,
            ttl: s.client_os.ttl,
            ip_id: rng.random(),
        },
        port: s.client.port,
        seq: rng.random(),
        os: s.client_os,
        ts_base: rng.random(),
    };
    let server = Side {
        path: Path {
            src_mac: s.server.mac,
            dst_mac: s.client.mac,
            src_ip: s.server.ip,
            dst_ip: s.client.ip,
            ttl: s.server_os.ttl,
            ip_id: rng.random(),
        },
        port: s.server.port,
        seq: rng.random(),
        os: s.server_os,
        ts_base: rng.random(),
    };
    let mut c = Conv {
        s,
        client,
        server,
        packets: Vec::with_capacity(8 + 4 * turns.len()),
    };
    let rtt = s.rtt;
    let mut t = s.start;
    c.emit(true, t, TcpControl::Syn, &[], true, None, false);
    t += rtt;
    c.emit(false, t, TcpControl::Syn, &[], true, None, false);
    t += STACK_DELAY;
    c.emit(true, t, TcpControl::None, &[], false, None, false);
    let (mut up, mut down) = (0u64, 0u64);
    for turn in turns {
        t += STACK_DELAY;
        let sent = t;
        let last_req = c.send(true, sent, &turn.request);
        up += turn.request.len() as u64;
        // The response's first byte arrives one RTT after the request's last byte, plus think.
        t = c.send(false, last_req + rtt + turn.think, &turn.response) + STACK_DELAY;
        down += turn.response.len() as u64;
    }
    // Client closes; the server answers with its own FIN one RTT later; the client ACKs.
    t += STACK_DELAY;
    c.emit(true, t, TcpControl::Fin, &[], false, None, false);
    t += rtt;
    c.emit(false, t, TcpControl::Fin, &[], false, None, false);
    t += STACK_DELAY;
    c.emit(true, t, TcpControl::None, &[], false, None, false);
    // ACKs were emitted beside the data they acknowledge; put everything in capture order.
    c.packets.sort_by_key(|p| p.ts);
    (c.packets, up, down)
}
