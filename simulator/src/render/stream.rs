//! One direction's bytes of one turn, of which only a prefix is materialised: protocol headers,
//! handshakes and certificates are captured whole, bulk payload past [`SNAP_AFTER`] only as a
//! length — as with a snap length, gigabyte transfers cost headers, not gigabytes, and every
//! byte count stays exact.

/// Opaque payload past this many bytes of a turn is not captured.
pub const SNAP_AFTER: u64 = 2920;

#[derive(Clone, Debug, Default)]
pub struct Stream {
    /// The materialised prefix.
    pub bytes: Vec<u8>,
    /// Total length on the wire.
    pub len: u64,
}

impl Stream {
    fn complete(&self) -> bool {
        self.bytes.len() as u64 == self.len
    }

    /// Meaningful bytes (headers, handshake messages): captured whenever everything before them
    /// was.
    pub fn push(&mut self, b: &[u8]) {
        if self.complete() {
            self.bytes.extend_from_slice(b);
        }
        self.len += b.len() as u64;
    }

    /// `n` bytes of bulk payload; `fill(buf, k)` appends the first `k` of them when they fall
    /// within the captured prefix.
    pub fn push_opaque(&mut self, n: u64, fill: impl FnOnce(&mut Vec<u8>, usize)) {
        if self.complete() {
            let room = SNAP_AFTER.saturating_sub(self.len).min(n) as usize;
            if room > 0 {
                fill(&mut self.bytes, room);
            }
        }
        self.len += n;
    }

    /// The captured payload of the segment `[off, off + len)`: all of it or nothing, since a
    /// segment cut in the middle leaves decoders with half a record to trip over.
    pub fn captured(&self, off: u64, len: u64) -> &[u8] {
        if off + len > self.bytes.len() as u64 {
            return &[];
        }
        &self.bytes[off as usize..(off + len) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_prefix_of_bulk_is_kept() {
        let mut s = Stream::default();
        s.push(b"HEAD");
        s.push_opaque(1 << 30, |b, k| b.resize(b.len() + k, b'x'));
        s.push(b"lost");
        assert_eq!(s.len, 4 + (1 << 30) + 4);
        assert_eq!(s.bytes.len() as u64, SNAP_AFTER);
        assert_eq!(s.captured(0, 4), b"HEAD");
        assert!(s.captured(SNAP_AFTER, 100).is_empty());
        assert!(
            s.captured(SNAP_AFTER - 10, 100).is_empty(),
            "a segment is captured whole or not at all"
        );
    }
}
