//! Bidirectional flows with Zeek's semantics: the originator is the side that sent the first
//! SYN (or the first packet), `conn_state` and `history` follow Zeek's conn.log vocabulary, and
//! TCP byte counts come from sequence numbers, so snap-length-truncated captures still count
//! every byte.

pub mod community_id;
mod tcp;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

// foldhash: several times faster than SipHash on these small keys and still seeded per
// process; the table is never iterated for output, so its order cannot leak into results.
use foldhash::HashMap;
use std::net::IpAddr;

pub use community_id::community_id;
pub use tcp::TcpEndpoint;

use crate::decode::Packet;

/// A flow's identity: the originator's and responder's address and port, and the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowId {
    pub orig: IpAddr,
    pub orig_port: u16,
    pub resp: IpAddr,
    pub resp_port: u16,
    pub proto: u8,
}

impl FlowId {
    pub fn proto_name(&self) -> &'static str {
        match self.proto {
            6 => "tcp",
            17 => "udp",
            1 | 58 => "icmp",
            _ => "unknown_transport",
        }
    }
}

/// Direction-free key of the flow table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    lo: (IpAddr, u16),
    hi: (IpAddr, u16),
    proto: u8,
}

impl Key {
    /// The same key whichever endpoint is given first.
    fn new(a: (IpAddr, u16), b: (IpAddr, u16), proto: u8) -> Key {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        Key { lo, hi, proto }
    }

    fn of_flow(id: &FlowId) -> Key {
        Key::new((id.orig, id.orig_port), (id.resp, id.resp_port), id.proto)
    }

    fn of(p: &Packet<'_>) -> Key {
        Key::new((p.src, p.src_port), (p.dst, p.dst_port), p.proto)
    }
}

/// Per-direction counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct DirStats {
    pub pkts: u64,
    pub ip_bytes: u64,
    /// Non-TCP payload bytes (TCP uses sequence numbers instead).
    pub payload_bytes: u64,
}

#[derive(Clone, Debug)]
pub struct Flow {
    pub id: FlowId,
    /// Creation counter: tells a flow from a later one that reused its table slot.
    serial: u64,
    /// Zeek-style unique id (`C` + base62), derived from a counter: reproducible per capture.
    pub uid: String,
    pub community_id: String,
    pub ts_first: u64,
    pub ts_last: u64,
    pub orig: DirStats,
    pub resp: DirStats,
    pub orig_tcp: TcpEndpoint,
    pub resp_tcp: TcpEndpoint,
    /// Zeek history letters (upper case: originator; lower case: responder).
    pub history: String,
    /// Application protocols recognised in the flow (`http`, `dns`, `ssl`), in the order found.
    pub services: Vec<&'static str>,
    pub app: crate::proto::AppState,
}

impl Flow {
    /// Zeek's `orig_bytes`.
    pub fn orig_bytes(&self) -> u64 {
        if self.id.proto == 6 {
            self.orig_tcp.bytes()
        } else {
            self.orig.payload_bytes
        }
    }

    /// Zeek's `resp_bytes`.
    pub fn resp_bytes(&self) -> u64 {
        if self.id.proto == 6 {
            self.resp_tcp.bytes()
        } else {
            self.resp.payload_bytes
        }
    }

    /// Zeek's `missed_bytes`: sequence space never seen in either direction (capture loss).
    pub fn missed_bytes(&self) -> u64 {
        self.orig_tcp.missed + self.resp_tcp.missed
    }

    /// Records that an application protocol was recognised (once).
    pub fn add_service(&mut self, name: &'static str) {
        if !self.services.contains(&name) {
            self.services.push(name);
        }
    }

    /// Zeek's `service` column: the recognised protocols, comma-separated.
    pub fn service(&self) -> Option<String> {
        (!self.services.is_empty()).then(|| self.services.join(","))
    }

    pub fn duration_ns(&self) -> u64 {
        self.ts_last.saturating_sub(self.ts_first)
    }

    /// Zeek's `conn_state`.
    pub fn conn_state(&self) -> &'static str {
        if self.id.proto == 6 {
            tcp::conn_state(&self.orig_tcp, &self.resp_tcp)
        } else if self.resp.pkts == 0 {
            "S0"
        } else if self.orig.pkts == 0 {
            "SHR"
        } else {
            "SF"
        }
    }

    fn add_history(&mut self, letter: char) {
        if !self.history.contains(letter) {
            self.history.push(letter);
        }
    }

    /// True once both sides closed or either reset: the next SYN on this tuple is a new flow.
    fn closed(&self) -> bool {
        self.id.proto == 6 && ((self.orig_tcp.fin && self.resp_tcp.fin) || self.orig_tcp.rst || self.resp_tcp.rst)
    }
}

/// What the table did with a packet.
pub struct Update {
    /// Index of the flow in the table's slab.
    pub flow: FlowRef,
    pub from_orig: bool,
    /// The packet started this flow.
    pub new: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowRef(usize);

/// Inactivity timeouts, as Zeek's defaults.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub tcp: u64,
    pub udp: u64,
    pub other: u64,
    /// How long a closed TCP flow lingers for stray packets.
    pub closed: u64,
    /// Most flows held at once: beyond it the longest-idle flows are ended early, so memory
    /// stays bounded whatever the capture (a scan can open millions of flows in minutes).
    pub max_flows: usize,
}

impl Default for Timeouts {
    fn default() -> Self {
        const S: u64 = 1_000_000_000;
        Timeouts {
            tcp: 300 * S,
            udp: 60 * S,
            other: 60 * S,
            closed: 5 * S,
            max_flows: 200_000,
        }
    }
}

pub struct FlowTable {
    map: HashMap<Key, usize>,
    slab: Vec<Option<Flow>>,
    free: Vec<usize>,
    next_uid: u64,
    timeouts: Timeouts,
    /// Candidate expiry times, earliest first: (deadline, serial, slot). Entries go stale when
    /// the flow sees more packets; they are re-queued when popped, so each flow is looked at
    /// about once per timeout instead of at every sweep.
    deadlines: BinaryHeap<Reverse<(u64, u64, usize)>>,
}

impl FlowTable {
    pub fn new(timeouts: Timeouts) -> Self {
        FlowTable {
            map: HashMap::default(),
            slab: Vec::new(),
            free: Vec::new(),
            next_uid: 1,
            timeouts,
            deadlines: BinaryHeap::new(),
        }
    }

    pub fn get(&self, r: FlowRef) -> &Flow {
        self.slab[r.0].as_ref().expect("live flow reference")
    }

    pub fn get_mut(&mut self, r: FlowRef) -> &mut Flow {
        self.slab[r.0].as_mut().expect("live flow reference")
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Accounts `p` to its flow; flows it ends (a reused tuple) are passed to `ended`.
    pub fn update(&mut self, p: &Packet<'_>, ended: &mut impl FnMut(Flow)) -> Update {
        let key = Key::of(p);
        let syn_only = p.tcp.is_some_and(|t| t.syn && !t.ack);
        if let Some(&idx) = self.map.get(&key) {
            let f = self.slab[idx].as_ref().expect("mapped flows are live");
            // A fresh SYN on a closed connection's tuple starts a new connection (port reuse,
            // or a retried SYN after a RST — Zeek logs each rejected attempt).
            if syn_only && f.closed() {
                let done = self.remove(idx, key);
                ended(done);
            } else {
                let from_orig = f.id.orig == p.src && f.id.orig_port == p.src_port;
                self.account(idx, p, from_orig);
                return Update {
                    flow: FlowRef(idx),
                    from_orig,
                    new: false,
                };
            }
        }
        // A SYN-ACK as the first packet means we missed the SYN: the sender is the responder.
        let flipped = p.tcp.is_some_and(|t| t.syn && t.ack);
        let (orig, orig_port, resp, resp_port) = if flipped {
            (p.dst, p.dst_port, p.src, p.src_port)
        } else {
            (p.src, p.src_port, p.dst, p.dst_port)
        };
        let id = FlowId {
            orig,
            orig_port,
            resp,
            resp_port,
            proto: p.proto,
        };
        let flow = Flow {
            id,
            serial: self.next_uid,
            uid: uid(self.next_uid),
            community_id: community_id(0, p.proto, orig, orig_port, resp, resp_port),
            ts_first: p.ts,
            ts_last: p.ts,
            orig: DirStats::default(),
            resp: DirStats::default(),
            orig_tcp: TcpEndpoint::default(),
            resp_tcp: TcpEndpoint::default(),
            // Zeek marks a flow whose direction it inferred from a SYN-ACK with `^`.
            history: if flipped { "^".into() } else { String::new() },
            services: Vec::new(),
            app: Default::default(),
        };
        self.next_uid += 1;
        let idx = self.free.pop().unwrap_or_else(|| {
            self.slab.push(None);
            self.slab.len() - 1
        });
        let deadline = p.ts.saturating_add(self.idle_limit(&flow));
        self.deadlines.push(Reverse((deadline, flow.serial, idx)));
        self.slab[idx] = Some(flow);
        self.map.insert(key, idx);
        self.account(idx, p, !flipped);
        Update {
            flow: FlowRef(idx),
            from_orig: !flipped,
            new: true,
        }
    }

    fn account(&mut self, idx: usize, p: &Packet<'_>, from_orig: bool) {
        let closed_before = self.slab[idx].as_ref().is_some_and(Flow::closed);
        let closed_limit = self.timeouts.closed;
        let f = self.slab[idx].as_mut().expect("live flow");
        // As Zeek: once both sides have closed, stray packets (the last ACK) still count but no
        // longer extend the duration.
        let both_closed = f.id.proto == 6 && (f.orig_tcp.fin || f.orig_tcp.rst) && (f.resp_tcp.fin || f.resp_tcp.rst);
        if !both_closed {
            f.ts_last = f.ts_last.max(p.ts);
        }
        let d = if from_orig { &mut f.orig } else { &mut f.resp };
        d.pkts += 1;
        d.ip_bytes += u64::from(p.ip_len);
        if let Some(t) = p.tcp {
            let letters = {
                let (me, peer) = if from_orig {
                    (&mut f.orig_tcp, &f.resp_tcp)
                } else {
                    (&mut f.resp_tcp, &f.orig_tcp)
                };
                me.observe(&t, p.payload_len, peer)
            };
            for l in letters.iter() {
                f.add_history(if from_orig { l.to_ascii_uppercase() } else { l });
            }
        } else {
            d.payload_bytes += u64::from(p.payload_len);
            if p.payload_len > 0 {
                f.add_history(if from_orig { 'D' } else { 'd' });
            }
        }
        if !closed_before && f.closed() {
            // A closed connection lingers only briefly: queue its earlier deadline.
            let entry = (f.ts_last.saturating_add(closed_limit), f.serial, idx);
            self.deadlines.push(Reverse(entry));
        }
    }

    fn remove(&mut self, idx: usize, key: Key) -> Flow {
        self.map.remove(&key);
        self.free.push(idx);
        self.slab[idx].take().expect("live flow")
    }

    fn idle_limit(&self, f: &Flow) -> u64 {
        let t = &self.timeouts;
        if f.closed() {
            t.closed
        } else {
            match f.id.proto {
                6 => t.tcp,
                17 => t.udp,
                _ => t.other,
            }
        }
    }

    /// Ends flows idle past their timeout at capture time `now`, and the longest-idle ones
    /// while the table holds more than `max_flows`.
    pub fn expire(&mut self, now: u64, ended: &mut impl FnMut(Flow)) {
        while let Some(&Reverse((deadline, serial, idx))) = self.deadlines.peek() {
            let over_cap = self.map.len() > self.timeouts.max_flows;
            if deadline > now && !over_cap {
                break;
            }
            self.deadlines.pop();
            let Some(f) = self.slab[idx].as_ref().filter(|f| f.serial == serial) else {
                continue; // the flow already ended; its slot may hold another
            };
            let due = f.ts_last.saturating_add(self.idle_limit(f));
            if due > now && !over_cap {
                // Active since this entry was queued: check again at its new deadline.
                self.deadlines.push(Reverse((due, serial, idx)));
                continue;
            }
            if due > deadline && over_cap && due > now {
                // Over the cap, but a stale entry: requeue at the real deadline so the flow
                // idle longest (earliest real deadline) goes first.
                self.deadlines.push(Reverse((due, serial, idx)));
                continue;
            }
            let key = Key::of_flow(&f.id);
            let f = self.remove(idx, key);
            ended(f);
        }
    }

    /// Ends every remaining flow (end of capture), oldest first.
    pub fn drain(&mut self, ended: &mut impl FnMut(Flow)) {
        let mut all: Vec<Flow> = self.slab.drain(..).flatten().collect();
        self.map.clear();
        self.free.clear();
        self.deadlines.clear();
        all.sort_by_key(|f| (f.ts_first, f.uid.len(), f.uid.clone()));
        for f in all {
            ended(f);
        }
    }
}

/// `C` followed by a base62 counter, shaped like Zeek's uids.
fn uid(n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | (1 << 63);
    let mut s = String::from("C");
    while x > 0 {
        s.push(DIGITS[(x % 62) as usize] as char);
        x /= 62;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn udp(ts: u64, sport: u16) -> Packet<'static> {
        Packet {
            ts,
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            proto: 17,
            src_port: sport,
            dst_port: 53,
            tcp: None,
            payload: &[],
            payload_len: 10,
            ip_len: 38,
        }
    }

    #[test]
    fn idle_flows_expire_and_active_ones_stay() {
        let mut t = FlowTable::new(Timeouts::default());
        let mut ended = Vec::new();
        t.update(&udp(0, 1000), &mut |f| ended.push(f));
        t.update(&udp(0, 1001), &mut |f| ended.push(f));
        t.update(&udp(50 * S, 1001), &mut |f| ended.push(f));
        t.expire(61 * S, &mut |f| ended.push(f));
        assert_eq!(ended.iter().map(|f| f.id.orig_port).collect::<Vec<_>>(), vec![1000]);
        t.expire(109 * S, &mut |f| ended.push(f));
        assert_eq!(ended.len(), 1, "still active until 50 s + 60 s");
        t.expire(111 * S, &mut |f| ended.push(f));
        assert_eq!(ended.len(), 2);
        assert!(t.is_empty());
    }

    #[test]
    fn the_table_never_holds_more_than_max_flows() {
        let timeouts = Timeouts {
            max_flows: 10,
            ..Timeouts::default()
        };
        let mut t = FlowTable::new(timeouts);
        let mut ended = Vec::new();
        for i in 0..100u16 {
            t.expire(u64::from(i), &mut |f| ended.push(f));
            t.update(&udp(u64::from(i), 2000 + i), &mut |f| ended.push(f));
        }
        t.expire(100, &mut |f| ended.push(f));
        assert_eq!(t.len(), 10);
        assert_eq!(ended.len(), 90);
        // The longest idle went first.
        assert_eq!(ended[0].id.orig_port, 2000);
        assert!(t.map.len() == 10 && t.deadlines.len() >= 10);
    }
}
