//! Per-endpoint TCP state and Zeek's `conn_state` derived from the two endpoints.

use crate::decode::TcpInfo;

#[derive(Clone, Copy, Debug, Default)]
pub struct TcpEndpoint {
    /// A SYN (without ACK) was seen from this side.
    pub syn: bool,
    /// A SYN-ACK was seen from this side.
    pub syn_ack: bool,
    pub fin: bool,
    pub rst: bool,
    /// First sequence number seen (the ISN when the SYN was seen).
    pub isn: Option<u32>,
    /// Highest sequence number + length seen, relative to `isn` (64-bit: no wrap issues).
    pub max_end: u64,
    /// Data was seen (payload > 0).
    pub data: bool,
    /// An ACK-only packet was seen after the handshake.
    pub ack: bool,
    /// End of the contiguous data seen so far (relative to `isn`), for `missed_bytes`.
    next: u64,
    /// Sequence space skipped over by later data: bytes the capture never had.
    pub missed: u64,
}

impl TcpEndpoint {
    /// Updates state with one segment from this side; returns the Zeek history letters (lower
    /// case) that it shows.
    pub fn observe(&mut self, t: &TcpInfo, payload_len: u32, _peer: &TcpEndpoint) -> Letters {
        let mut letters = Letters::default();
        if t.syn {
            if t.ack {
                self.syn_ack = true;
                letters.push('h');
            } else {
                self.syn = true;
                letters.push('s');
            }
        }
        let base = *self.isn.get_or_insert(t.seq);
        let rel = u64::from(t.seq.wrapping_sub(base));
        // Sequence space taken by this segment: SYN and FIN count one each.
        let end = rel + u64::from(payload_len) + u64::from(t.syn) + u64::from(t.fin);
        // Ignore segments that appear to come from far before the ISN (wrapped): old junk.
        if rel < (1 << 31) {
            self.max_end = self.max_end.max(end);
            // Data (and a FIN) starts after the SYN's sequence number.
            let start = rel + u64::from(t.syn);
            if self.next == 0 {
                self.next = start;
            }
            if payload_len > 0 || t.fin {
                if start > self.next {
                    self.missed += start - self.next;
                    // Zeek's history letter for a content gap.
                    letters.push('g');
                }
                self.next = self.next.max(start + u64::from(payload_len));
            }
        }
        if payload_len > 0 {
            self.data = true;
            letters.push('d');
        } else if t.ack && !t.syn && !t.fin && !t.rst {
            self.ack = true;
            letters.push('a');
        }
        if t.fin {
            self.fin = true;
            letters.push('f');
        }
        if t.rst {
            // A reset after this side's own FIN does not change how it closed (Zeek keeps SF).
            if !self.fin {
                self.rst = true;
            }
            letters.push('r');
        }
        letters
    }

    /// Payload bytes this side sent, from sequence numbers (SYN and FIN excluded).
    pub fn bytes(&self) -> u64 {
        if self.isn.is_none() {
            return 0;
        }
        let overhead = u64::from(self.syn || self.syn_ack) + u64::from(self.fin);
        self.max_end.saturating_sub(overhead)
    }
}

/// The few history letters one segment can show, without allocating (this runs per packet).
#[derive(Clone, Copy, Debug, Default)]
pub struct Letters {
    buf: [u8; 6],
    n: usize,
}

impl Letters {
    fn push(&mut self, c: char) {
        if self.n < self.buf.len() {
            self.buf[self.n] = c as u8;
            self.n += 1;
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = char> + '_ {
        self.buf[..self.n].iter().map(|&b| b as char)
    }
}

/// Zeek's conn_state from both endpoints.
pub fn conn_state(o: &TcpEndpoint, r: &TcpEndpoint) -> &'static str {
    let established = o.syn && r.syn_ack;
    if o.syn && !r.syn_ack {
        // Handshake never completed.
        if r.rst {
            return "REJ";
        }
        if o.rst {
            return "RSTOS0";
        }
        if o.fin {
            return "SH";
        }
        if r.isn.is_none() {
            return "S0";
        }
    }
    if !o.syn && r.syn_ack {
        if r.rst {
            return "RSTRH";
        }
        if r.fin {
            return "SHR";
        }
    }
    if o.rst {
        return if established || o.isn.is_some() && r.isn.is_some() {
            "RSTO"
        } else {
            "RSTOS0"
        };
    }
    if r.rst {
        return "RSTR";
    }
    if established || (o.syn && r.isn.is_some()) {
        return match (o.fin, r.fin) {
            (true, true) => "SF",
            (true, false) => "S2",
            (false, true) => "S3",
            (false, false) => "S1",
        };
    }
    if o.fin && r.fin {
        return "SF";
    }
    "OTH"
}
