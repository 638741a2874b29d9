//! One direction of a TCP connection carrying TLS: in-order reassembly by sequence number, the
//! search for where TLS starts (first segment, or later for STARTTLS), record framing and
//! handshake-message reassembly. It reports what it reads to a [`Sink`] (the session), which
//! decides per record whether the body is to be parsed (it knows the encryption state).
//!
//! Bytes a capture does not have (a TCP gap, or a snap length that cut a segment) are a *hole*.
//! A hole inside a record body is skipped by the record's length and only damages that record
//! (or that handshake message); a hole where a record or handshake header should be loses the
//! framing, and the direction stops for good.

/// Largest record on the wire: 2^14 plaintext plus the 2048 bytes TLS ≤ 1.2 allows for
/// compression and MAC expansion (RFC 5246 §6.2.3). Anything longer is not TLS.
pub(super) const MAX_RECORD: u16 = 16384 + 2048;
/// Largest handshake message we buffer; certificate chains are ~2–10 KiB, a ClientHello with
/// post-quantum key shares ~2 KiB. Longer messages are skipped by length and reported unparsed.
pub(super) const MAX_HANDSHAKE: u32 = 64 * 1024;
/// How long a direction that did not start with TLS keeps looking for a TLS start at later
/// segment starts (STARTTLS upgrades happen after a few short plaintext exchanges).
const SEARCH_SEGMENTS: u16 = 32;
const SEARCH_BYTES: u32 = 16 * 1024;
/// Zeek's `SSL::max_alerts_per_record`.
const MAX_ALERTS_PER_RECORD: u8 = 10;

pub(super) const CONTENT_CHANGE_CIPHER_SPEC: u8 = 20;
pub(super) const CONTENT_ALERT: u8 = 21;
pub(super) const CONTENT_HANDSHAKE: u8 = 22;

/// What to do with a record's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Body {
    /// Plaintext of a type the session reads (handshake, alert, change_cipher_spec).
    Parse,
    /// Ciphertext or content nobody needs: skip by length.
    Skip,
}

/// Receives what one direction reads, in stream order.
pub(super) trait Sink {
    /// A record header (already checked for a TLS version and a sane length).
    fn record(&mut self, content_type: u8, length: u16) -> Body;
    /// A complete handshake message; `body` is `None` when part of it was missing from the
    /// capture or it exceeded [`MAX_HANDSHAKE`].
    fn handshake(&mut self, msg_type: u8, body: Option<&[u8]>);
    fn change_cipher_spec(&mut self);
    fn alert(&mut self, level: u8, description: u8);
    /// A record header that is not TLS where one was due.
    fn violation(&mut self);
    /// Nothing more is wanted from either direction (established, or the analysis stopped).
    fn done(&self) -> bool;
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    /// No TLS record start seen yet; checking segment starts.
    #[default]
    Searching,
    Records,
    /// No TLS start within the search budget.
    GaveUp,
    /// Framing lost (hole at a header, or a record header that is not TLS).
    Lost,
    /// The session needs nothing more.
    Done,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Content {
    #[default]
    Skip,
    Handshake,
    Alert,
    ChangeCipherSpec,
}

/// Handshake messages, which may span records and share them.
#[derive(Clone, Debug, Default)]
struct Handshakes {
    header: [u8; 4],
    header_len: u8,
    /// Body bytes of the current message still to come.
    left: u32,
    /// Body bytes so far, when they could not be handed over in place.
    buf: Vec<u8>,
    /// Too long or partly missing: skipped by length, reported without a body.
    damaged: bool,
    lost: bool,
}

impl Handshakes {
    fn msg_type(&self) -> u8 {
        self.header[0]
    }

    fn push(&mut self, mut data: &[u8], sink: &mut dyn Sink) {
        while !data.is_empty() && !self.lost && !sink.done() {
            if self.header_len < 4 {
                let take = (4 - self.header_len as usize).min(data.len());
                let at = self.header_len as usize;
                self.header[at..at + take].copy_from_slice(&data[..take]);
                self.header_len += take as u8;
                data = &data[take..];
                if self.header_len < 4 {
                    return;
                }
                self.left = u32::from_be_bytes([0, self.header[1], self.header[2], self.header[3]]);
                self.damaged = self.left > MAX_HANDSHAKE;
                if self.left == 0 {
                    self.finish(None, sink);
                    continue;
                }
                // Fast path: the whole body is here, hand it over without copying.
                if !self.damaged && data.len() >= self.left as usize {
                    let (body, rest) = data.split_at(self.left as usize);
                    self.left = 0;
                    self.finish(Some(body), sink);
                    data = rest;
                    continue;
                }
            }
            let take = (self.left as usize).min(data.len());
            if !self.damaged {
                self.buf.extend_from_slice(&data[..take]);
            }
            self.left -= take as u32;
            data = &data[take..];
            if self.left == 0 {
                self.finish(None, sink);
            }
        }
    }

    /// `n` bytes of handshake data are missing.
    fn hole(&mut self, n: u32) {
        if self.header_len < 4 || n > self.left {
            // Where the next message starts is unknown now.
            self.lost = true;
            self.buf = Vec::new();
            return;
        }
        self.damaged = true;
        self.buf = Vec::new();
        self.left -= n;
    }

    /// Reports the current message if a hole took its last bytes.
    fn complete_after_hole(&mut self, sink: &mut dyn Sink) {
        if !self.lost && self.header_len == 4 && self.left == 0 {
            self.finish(None, sink);
        }
    }

    fn finish(&mut self, body: Option<&[u8]>, sink: &mut dyn Sink) {
        let typ = self.msg_type();
        if self.damaged {
            sink.handshake(typ, None);
        } else if let Some(body) = body {
            sink.handshake(typ, Some(body));
        } else {
            // Dropped rather than kept for reuse: thousands of flows mid-handshake must not each
            // hold on to a certificate-sized buffer.
            let buf = std::mem::take(&mut self.buf);
            sink.handshake(typ, Some(&buf));
        }
        self.header_len = 0;
        self.damaged = false;
    }
}

/// One direction of a TCP connection carrying TLS.
#[derive(Clone, Debug, Default)]
pub struct TlsDirection {
    phase: Phase,
    next_seq: u32,
    searched_segments: u16,
    searched_bytes: u32,
    header: [u8; 5],
    header_len: u8,
    body_left: u16,
    content: Content,
    handshakes: Handshakes,
    alert_level: Option<u8>,
    alerts_in_record: u8,
}

/// Could a TLS stream start here? Checked on segment starts only: a STARTTLS upgrade starts TLS
/// in a fresh segment because each side waits for the other's plaintext "go ahead".
fn plausible_start(from_client: bool, b: &[u8]) -> bool {
    let [typ, major, minor, len_hi, len_lo, first, ..] = *b else {
        return false;
    };
    let len = u16::from_be_bytes([len_hi, len_lo]);
    if major != 3 || minor > 4 || len == 0 || len > MAX_RECORD {
        return false;
    }
    match (typ, from_client) {
        (CONTENT_HANDSHAKE, true) => first == 1,
        (CONTENT_HANDSHAKE, false) => first == 2,
        // A server may refuse a ClientHello with nothing but an alert.
        (CONTENT_ALERT, false) => len == 2 && (first == 1 || first == 2),
        _ => false,
    }
}

impl TlsDirection {
    /// TLS records are being followed in this direction.
    pub fn in_tls(&self) -> bool {
        self.phase == Phase::Records
    }

    /// This direction found no TLS start within its budget, or lost the record framing.
    pub fn gave_up(&self) -> bool {
        matches!(self.phase, Phase::GaveUp | Phase::Lost)
    }

    /// Nothing more will be read in this direction.
    pub fn stopped(&self) -> bool {
        !matches!(self.phase, Phase::Searching | Phase::Records)
    }

    pub(super) fn stop(&mut self) {
        if !self.stopped() {
            self.phase = Phase::Done;
        }
        self.handshakes = Handshakes::default();
    }

    fn lose(&mut self) {
        self.phase = Phase::Lost;
        self.handshakes = Handshakes::default();
    }

    /// One segment: `seq` of its first payload byte, `captured` bytes of its `wire_len`.
    pub(super) fn feed(&mut self, from_client: bool, seq: u32, captured: &[u8], wire_len: u32, sink: &mut dyn Sink) {
        match self.phase {
            Phase::Searching => {
                if wire_len == 0 {
                    return;
                }
                if !plausible_start(from_client, captured) {
                    self.searched_segments += 1;
                    self.searched_bytes = self.searched_bytes.saturating_add(wire_len);
                    if self.searched_segments >= SEARCH_SEGMENTS || self.searched_bytes >= SEARCH_BYTES {
                        self.phase = Phase::GaveUp;
                    }
                    return;
                }
                self.phase = Phase::Records;
                self.next_seq = seq;
            }
            Phase::Records => {}
            Phase::GaveUp | Phase::Lost | Phase::Done => return,
        }
        let wire = wire_len as usize;
        let captured = &captured[..captured.len().min(wire)];
        let delta = seq.wrapping_sub(self.next_seq) as i32;
        let mut skip = 0usize;
        if delta < 0 {
            // Retransmission or overlap: only what lies beyond `next_seq` is new.
            skip = delta.unsigned_abs() as usize;
            if skip >= wire {
                return;
            }
        } else if delta > 0 {
            self.hole(delta.unsigned_abs(), sink);
        }
        self.next_seq = seq.wrapping_add(wire_len);
        if skip < captured.len() {
            self.push(&captured[skip..], sink);
        }
        // Bytes the snap length cut off.
        let missing = wire - captured.len().max(skip);
        if missing > 0 {
            self.hole(missing as u32, sink);
        }
        if sink.done() {
            self.stop();
        }
    }

    fn push(&mut self, mut data: &[u8], sink: &mut dyn Sink) {
        while !data.is_empty() && self.phase == Phase::Records && !sink.done() {
            if self.header_len < 5 {
                let take = (5 - self.header_len as usize).min(data.len());
                let at = self.header_len as usize;
                self.header[at..at + take].copy_from_slice(&data[..take]);
                self.header_len += take as u8;
                data = &data[take..];
                if self.header_len == 5 {
                    self.start_record(sink);
                }
                continue;
            }
            let take = (self.body_left as usize).min(data.len());
            self.body(&data[..take], sink);
            self.body_left -= take as u16;
            data = &data[take..];
            if self.body_left == 0 {
                self.end_record(sink);
            }
        }
    }

    fn hole(&mut self, mut n: u32, sink: &mut dyn Sink) {
        while n > 0 && self.phase == Phase::Records && !sink.done() {
            if self.header_len < 5 {
                self.lose();
                return;
            }
            let take = n.min(u32::from(self.body_left));
            match self.content {
                Content::Handshake => self.handshakes.hole(take),
                Content::Alert => self.alert_level = None,
                Content::ChangeCipherSpec | Content::Skip => {}
            }
            self.body_left -= take as u16;
            n -= take;
            if self.content == Content::Handshake {
                self.handshakes.complete_after_hole(sink);
            }
            if self.body_left == 0 {
                self.end_record(sink);
            }
        }
    }

    fn start_record(&mut self, sink: &mut dyn Sink) {
        let [typ, major, minor, len_hi, len_lo] = self.header;
        let len = u16::from_be_bytes([len_hi, len_lo]);
        if major != 3 || minor > 4 || len > MAX_RECORD {
            sink.violation();
            self.lose();
            return;
        }
        self.content = match (sink.record(typ, len), typ) {
            (Body::Parse, CONTENT_HANDSHAKE) => Content::Handshake,
            (Body::Parse, CONTENT_ALERT) => Content::Alert,
            (Body::Parse, CONTENT_CHANGE_CIPHER_SPEC) => Content::ChangeCipherSpec,
            _ => Content::Skip,
        };
        self.body_left = len;
        self.alert_level = None;
        self.alerts_in_record = 0;
        if len == 0 {
            self.end_record(sink);
        }
    }

    fn body(&mut self, data: &[u8], sink: &mut dyn Sink) {
        match self.content {
            // A lost handshake framing only ends handshake parsing; records (change_cipher_spec,
            // alerts) are still framed and still count.
            Content::Handshake => self.handshakes.push(data, sink),
            Content::Alert => {
                for b in data {
                    match self.alert_level.take() {
                        None => self.alert_level = Some(*b),
                        Some(level) => {
                            if self.alerts_in_record < MAX_ALERTS_PER_RECORD {
                                sink.alert(level, *b);
                            }
                            self.alerts_in_record = self.alerts_in_record.saturating_add(1);
                        }
                    }
                }
            }
            Content::ChangeCipherSpec | Content::Skip => {}
        }
    }

    fn end_record(&mut self, sink: &mut dyn Sink) {
        if self.content == Content::ChangeCipherSpec {
            sink.change_cipher_spec();
        }
        self.header_len = 0;
        self.content = Content::Skip;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what a direction reports.
    #[derive(Default)]
    struct Log {
        events: Vec<String>,
        stop_after: Option<usize>,
    }

    impl Sink for Log {
        fn record(&mut self, content_type: u8, length: u16) -> Body {
            self.events.push(format!("rec {content_type} {length}"));
            if content_type == 23 { Body::Skip } else { Body::Parse }
        }
        fn handshake(&mut self, msg_type: u8, body: Option<&[u8]>) {
            self.events.push(match body {
                Some(b) => format!("hs {msg_type} {b:?}"),
                None => format!("hs {msg_type} damaged"),
            });
        }
        fn change_cipher_spec(&mut self) {
            self.events.push("ccs".into());
        }
        fn alert(&mut self, level: u8, description: u8) {
            self.events.push(format!("alert {level} {description}"));
        }
        fn violation(&mut self) {
            self.events.push("violation".into());
        }
        fn done(&self) -> bool {
            self.stop_after.is_some_and(|n| self.events.len() >= n)
        }
    }

    fn record(typ: u8, body: &[u8]) -> Vec<u8> {
        let mut r = vec![typ, 3, 3];
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    fn handshake(typ: u8, body: &[u8]) -> Vec<u8> {
        let mut h = vec![typ, 0, 0, body.len() as u8];
        h.extend_from_slice(body);
        h
    }

    fn feed_all(dir: &mut TlsDirection, client: bool, segments: &[(u32, &[u8], u32)], log: &mut Log) {
        for (seq, data, wire) in segments {
            dir.feed(client, *seq, data, *wire, log);
        }
    }

    #[test]
    fn record_split_mid_header_and_two_messages_in_one_record() {
        let mut hs = handshake(1, &[7, 7, 7]);
        hs.extend(handshake(14, &[]));
        let rec = record(22, &hs);
        let mut dir = TlsDirection::default();
        let mut log = Log::default();
        // The first segment carries 6 bytes (enough to be recognised), the second 1, the rest.
        feed_all(
            &mut dir,
            true,
            &[
                (100, &rec[..6], 6),
                (106, &rec[6..7], 1),
                (107, &rec[7..], rec.len() as u32 - 7),
            ],
            &mut log,
        );
        assert_eq!(log.events, ["rec 22 11", "hs 1 [7, 7, 7]", "hs 14 []"]);
        assert!(dir.in_tls());
    }

    #[test]
    fn handshake_message_spanning_records() {
        let hs = handshake(11, &[1, 2, 3, 4, 5]);
        let mut stream = record(22, &hs[..3]);
        stream.extend(record(22, &hs[3..]));
        stream.extend(record(21, &[2, 40]));
        stream.extend(record(20, &[1]));
        let mut dir = TlsDirection::default();
        let mut log = Log::default();
        // The first record starts with handshake type 11, not a hello: a server must start with
        // ServerHello, so prepend one.
        let mut all = record(22, &handshake(2, &[9]));
        all.extend(stream);
        dir.feed(false, 1, &all, all.len() as u32, &mut log);
        assert_eq!(
            log.events,
            [
                "rec 22 5",
                "hs 2 [9]",
                "rec 22 3",
                "rec 22 6",
                "hs 11 [1, 2, 3, 4, 5]",
                "rec 21 2",
                "alert 2 40",
                "rec 20 1",
                "ccs"
            ]
        );
    }

    #[test]
    fn retransmissions_and_overlaps_are_trimmed() {
        let rec = record(22, &handshake(1, &[1, 2, 3, 4]));
        let mut dir = TlsDirection::default();
        let mut log = Log::default();
        feed_all(
            &mut dir,
            true,
            &[
                (0, &rec[..6], 6),
                (0, &rec[..6], 6),
                (3, &rec[3..9], 6),
                (9, &rec[9..], rec.len() as u32 - 9),
            ],
            &mut log,
        );
        assert_eq!(log.events, ["rec 22 8", "hs 1 [1, 2, 3, 4]"]);
    }

    #[test]
    fn snap_length_hole_inside_a_body_damages_only_that_message() {
        let mut stream = record(22, &handshake(2, &[5; 20]));
        stream.extend(record(22, &handshake(14, &[])));
        let mut dir = TlsDirection::default();
        let mut log = Log::default();
        // First segment captured only 12 of its 25 bytes; the next segment is whole.
        feed_all(
            &mut dir,
            false,
            &[(0, &stream[..12], 29), (29, &stream[29..], stream.len() as u32 - 29)],
            &mut log,
        );
        assert_eq!(log.events, ["rec 22 24", "hs 2 damaged", "rec 22 4", "hs 14 []"]);
        assert!(dir.in_tls());
    }

    #[test]
    fn hole_at_a_header_loses_the_direction() {
        let mut stream = record(22, &handshake(1, &[5; 4]));
        stream.extend(record(22, &handshake(16, &[1])));
        let mut dir = TlsDirection::default();
        let mut log = Log::default();
        // A gap swallows the second record header.
        feed_all(
            &mut dir,
            true,
            &[(0, &stream[..13], 13), (15, &stream[15..], stream.len() as u32 - 15)],
            &mut log,
        );
        assert_eq!(log.events, ["rec 22 8", "hs 1 [5, 5, 5, 5]"]);
        assert!(dir.gave_up() && dir.stopped());
    }

    #[test]
    fn non_tls_gives_up_after_the_search_budget() {
        let mut dir = TlsDirection::default();
        let mut log = Log::default();
        for i in 0..SEARCH_SEGMENTS as u32 {
            assert!(!dir.gave_up());
            dir.feed(true, i * 100, b"GET / HTTP/1.1\r\n", 100, &mut log);
        }
        assert!(dir.gave_up());
        assert!(log.events.is_empty());
    }

    #[test]
    fn starttls_start_is_found_in_a_later_segment() {
        let hello = record(22, &handshake(1, &[1, 2]));
        let mut dir = TlsDirection::default();
        let mut log = Log::default();
        feed_all(
            &mut dir,
            true,
            &[(0, b"STARTTLS\r\n", 10), (10, &hello, hello.len() as u32)],
            &mut log,
        );
        assert_eq!(log.events, ["rec 22 6", "hs 1 [1, 2]"]);
    }

    #[test]
    fn bad_record_header_is_a_violation() {
        let mut stream = record(22, &handshake(1, &[1]));
        stream.extend([22, 9, 9, 0, 1, 0]);
        let mut dir = TlsDirection::default();
        let mut log = Log::default();
        dir.feed(true, 0, &stream, stream.len() as u32, &mut log);
        assert_eq!(log.events, ["rec 22 5", "hs 1 [1]", "violation"]);
        assert!(dir.gave_up());
    }

    #[test]
    fn oversized_handshake_is_skipped_by_length() {
        let len = MAX_HANDSHAKE + 1;
        let mut hs = vec![11, (len >> 16) as u8, (len >> 8) as u8, len as u8];
        hs.resize(4 + len as usize, 0xaa);
        hs.extend(handshake(14, &[]));
        let mut stream = Vec::new();
        for chunk in hs.chunks(MAX_RECORD as usize) {
            stream.extend(record(22, chunk));
        }
        let mut all = record(22, &handshake(2, &[1]));
        all.extend(stream);
        let mut dir = TlsDirection::default();
        let mut log = Log::default();
        for (i, seg) in all.chunks(1460).enumerate() {
            dir.feed(false, (i * 1460) as u32, seg, seg.len() as u32, &mut log);
        }
        let handshakes: Vec<_> = log.events.iter().filter(|e| e.starts_with("hs")).collect();
        assert_eq!(handshakes, ["hs 2 [1]", "hs 11 damaged", "hs 14 []"]);
    }

    #[test]
    fn stops_when_the_session_is_done() {
        let mut stream = record(22, &handshake(1, &[1]));
        stream.extend(record(22, &handshake(16, &[1])));
        let mut dir = TlsDirection::default();
        let mut log = Log {
            stop_after: Some(2),
            ..Log::default()
        };
        dir.feed(true, 0, &stream, stream.len() as u32, &mut log);
        assert_eq!(log.events.len(), 2);
        assert!(dir.stopped() && !dir.gave_up());
    }
}
