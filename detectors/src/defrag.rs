//! IP fragment reassembly (IPv4 and IPv6), so that fragmented UDP — large DNS answers, for
//! one — reaches the flow table as the one datagram it was.
//!
//! Built on etherparse's `IpDefragBuf`, with the bounds its pool lacks: a capture is untrusted,
//! so pending datagrams are limited in number and total bytes and expire after a timeout in
//! capture time. Overlapping fragments are resolved by etherparse (first data wins).

use std::collections::HashMap;
use std::net::IpAddr;

use etherparse::defrag::IpDefragBuf;
use etherparse::{IpFragOffset, IpNumber};

/// Identifies one fragmented datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub id: u32,
}

/// One fragment as decoded from a frame.
#[derive(Clone, Debug)]
pub struct Fragment<'a> {
    pub key: FragKey,
    pub offset: IpFragOffset,
    pub more: bool,
    /// Fragment data; must be captured whole to be usable.
    pub data: &'a [u8],
    /// The fragment's data length on the wire.
    pub wire_len: u32,
    /// Length of this fragment's IP header(s), counted once into the datagram's IP length.
    pub header_len: u32,
}

/// A reassembled datagram's transport bytes.
pub struct Datagram {
    pub key: FragKey,
    pub first_ts: u64,
    pub payload: Vec<u8>,
    /// IP length of the reassembled datagram (header of the first fragment + all data).
    pub ip_len: u32,
}

struct Pending {
    buf: IpDefragBuf,
    first_ts: u64,
    header_len: u32,
    bytes: usize,
}

/// Most datagrams being reassembled at once, and their total buffered bytes.
const MAX_PENDING: usize = 1024;
const MAX_BYTES: usize = 16 << 20;
/// Fragments of a datagram must all arrive within this (capture time), as in most stacks.
const TIMEOUT_NS: u64 = 30_000_000_000;

#[derive(Default)]
pub struct Defrag {
    pending: HashMap<FragKey, Pending>,
    bytes: usize,
    last_sweep: u64,
    /// Fragments dropped: cut by the snap length, over the bounds, inconsistent, or expired.
    pub dropped: u64,
}

impl Defrag {
    /// Adds a fragment; returns the datagram when this fragment completes it.
    pub fn add(&mut self, ts: u64, f: &Fragment<'_>) -> Option<Datagram> {
        self.expire(ts);
        if f.data.len() < f.wire_len as usize {
            // Part of the fragment was not captured: the datagram can never be whole.
            self.dropped += 1;
            return None;
        }
        if !self.pending.contains_key(&f.key) && (self.pending.len() >= MAX_PENDING || self.bytes >= MAX_BYTES) {
            self.dropped += 1;
            return None;
        }
        let entry = self.pending.entry(f.key).or_insert_with(|| Pending {
            buf: IpDefragBuf::new(IpNumber(f.key.proto), Vec::new(), Vec::new()),
            first_ts: ts,
            header_len: f.header_len,
            bytes: 0,
        });
        if f.offset.value() == 0 {
            entry.header_len = f.header_len;
        }
        if entry.buf.add(f.offset, f.more, f.data).is_err() {
            // Inconsistent lengths or beyond 64 KiB: give up on the datagram.
            self.dropped += 1;
            let gone = self.pending.remove(&f.key).map_or(0, |p| p.bytes);
            self.bytes -= gone;
            return None;
        }
        entry.bytes += f.data.len();
        self.bytes += f.data.len();
        if !entry.buf.is_complete() {
            return None;
        }
        let done = self.pending.remove(&f.key)?;
        self.bytes -= done.bytes;
        let (payload, _) = done.buf.take_bufs();
        Some(Datagram {
            key: f.key,
            first_ts: done.first_ts,
            ip_len: done.header_len + payload.len() as u32,
            payload,
        })
    }

    fn expire(&mut self, now: u64) {
        if now < self.last_sweep.saturating_add(1_000_000_000) || self.pending.is_empty() {
            return;
        }
        self.last_sweep = now;
        let before = self.pending.len();
        let mut freed = 0;
        self.pending.retain(|_, p| {
            let keep = now.saturating_sub(p.first_ts) <= TIMEOUT_NS;
            if !keep {
                freed += p.bytes;
            }
            keep
        });
        self.bytes -= freed;
        self.dropped += (before - self.pending.len()) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(offset8: u16, more: bool, data: &[u8]) -> Fragment<'_> {
        Fragment {
            key: FragKey {
                src: "10.0.0.1".parse().unwrap(),
                dst: "10.0.0.2".parse().unwrap(),
                proto: 17,
                id: 7,
            },
            offset: IpFragOffset::try_new(offset8).unwrap(),
            more,
            data,
            wire_len: data.len() as u32,
            header_len: 20,
        }
    }

    #[test]
    fn out_of_order_fragments_reassemble() {
        let mut d = Defrag::default();
        let a = [1u8; 16];
        let b = [2u8; 8];
        let c = [3u8; 5];
        assert!(d.add(1, &frag(3, false, &c)).is_none());
        assert!(d.add(2, &frag(0, true, &a)).is_none());
        let dg = d.add(3, &frag(2, true, &b)).expect("complete");
        assert_eq!(dg.payload.len(), 29);
        assert_eq!(&dg.payload[16..24], &b);
        assert_eq!((dg.first_ts, dg.ip_len), (1, 49));
        assert!(d.pending.is_empty() && d.bytes == 0);
    }

    #[test]
    fn incomplete_datagrams_expire_and_snapped_fragments_are_dropped() {
        let mut d = Defrag::default();
        assert!(d.add(0, &frag(0, true, &[0; 8])).is_none());
        assert!(d.add(TIMEOUT_NS + 2_000_000_000, &frag(5, true, &[0; 8])).is_none());
        // The first datagram expired; the second is pending.
        assert_eq!((d.pending.len(), d.dropped), (1, 1));
        let mut cut = frag(9, false, &[0; 8]);
        cut.wire_len = 100;
        assert!(d.add(TIMEOUT_NS + 3_000_000_000, &cut).is_none());
        assert_eq!(d.dropped, 2);
    }
}
