//! HTTP/1.x over a TCP connection: in-order reassembly by sequence number per direction,
//! header parsing with `httparse` (headers may span segments), body framing by
//! `Content-Length`, chunked encoding or connection close — so bodies cut by a snap length and
//! keep-alive connections with many messages both work — and request/response pairing into
//! transactions with Zeek's http.log semantics.
//!
//! Never panics; a direction it cannot follow (gap inside headers or chunk framing, oversized
//! headers, garbage) is marked broken and yields nothing more.

use std::collections::VecDeque;

/// A parsed request line and the headers the models and http.log use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub uri: String,
    /// Minor version: HTTP/1.`version`.
    pub version: u8,
    pub host: Option<String>,
    pub user_agent: Option<String>,
    pub referrer: Option<String>,
    pub origin: Option<String>,
    /// Declared body length (Content-Length), 0 when none.
    pub body_len: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub version: u8,
    /// Declared body length (Content-Length), 0 when none or not applicable.
    pub body_len: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Request(Request),
    Response(Response),
    /// The current message's body ended; its length on the wire after de-chunking.
    BodyEnd(u64),
}

/// One request and its response, as a line of Zeek's http.log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transaction {
    pub ts: u64,
    /// 1-based position of the request in the connection.
    pub depth: u64,
    pub request: Request,
    pub request_body_len: u64,
    pub response: Option<Response>,
    pub response_body_len: u64,
    /// The last informational (1xx) response.
    pub info: Option<(u16, String)>,
}

/// Largest header block we buffer; real ones are a few hundred bytes.
const MAX_HEADER: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;
/// Most requests kept waiting for a response on one connection (pipelining bound).
const MAX_PENDING: usize = 64;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Framing {
    /// Expecting a message head.
    #[default]
    Head,
    /// `n` body bytes left.
    Length(u64),
    /// Reading a chunk-size line.
    ChunkSize,
    /// `n` chunk data bytes left, then CRLF.
    ChunkData(u64),
    /// `n` bytes of the CRLF after chunk data left.
    ChunkEnd(u8),
    /// Reading trailer lines up to an empty line.
    Trailer,
    /// Body runs to the end of the connection.
    UntilClose,
}

/// One direction of an HTTP connection.
#[derive(Clone, Debug, Default)]
pub struct HttpStream {
    buf: Vec<u8>,
    framing: Framing,
    body_seen: u64,
    next_seq: Option<u32>,
    broken: bool,
    /// Message heads parsed so far (a non-HTTP stream never gets one).
    pub messages: u64,
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

impl HttpStream {
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    fn end_body(&mut self, out: &mut Vec<Message>) {
        out.push(Message::BodyEnd(self.body_seen));
        self.body_seen = 0;
        self.framing = Framing::Head;
    }

    /// Feeds one segment's payload (`captured` may be shorter than `wire_len`). `no_body` says
    /// whether the next response head must have no body (the request was HEAD).
    pub fn feed(
        &mut self,
        seq: u32,
        captured: &[u8],
        wire_len: u32,
        requests: bool,
        no_body: &mut dyn FnMut() -> bool,
        out: &mut Vec<Message>,
    ) {
        if self.broken || wire_len == 0 {
            return;
        }
        let expected = *self.next_seq.get_or_insert(seq);
        let delta = seq.wrapping_sub(expected) as i32;
        let mut skip = 0u32;
        if delta < 0 {
            // Retransmission or overlap: drop what we already have.
            skip = delta.unsigned_abs();
            if skip >= wire_len {
                return;
            }
        } else if delta > 0 {
            // Bytes missing from the capture: fine inside a body, fatal inside framing.
            let gap = delta as u64;
            match self.framing {
                Framing::Length(left) if gap <= left => {
                    self.body_seen += gap;
                    self.framing = Framing::Length(left - gap);
                }
                Framing::ChunkData(left) if gap <= left => {
                    self.body_seen += gap;
                    self.framing = Framing::ChunkData(left - gap);
                }
                Framing::UntilClose => self.body_seen += gap,
                _ => {
                    self.broken = true;
                    return;
                }
            }
        }
        self.next_seq = Some(seq.wrapping_add(wire_len));
        let mut i = skip as usize;
        let wire = wire_len as usize;
        while i < wire {
            match self.framing {
                Framing::Length(left) | Framing::ChunkData(left) => {
                    let take = left.min((wire - i) as u64);
                    self.body_seen += take;
                    i += take as usize;
                    let left = left - take;
                    self.framing = match self.framing {
                        Framing::ChunkData(_) if left == 0 => Framing::ChunkEnd(2),
                        Framing::ChunkData(_) => Framing::ChunkData(left),
                        _ => Framing::Length(left),
                    };
                    if self.framing == Framing::Length(0) {
                        self.end_body(out);
                    }
                    continue;
                }
                Framing::ChunkEnd(left) => {
                    let take = (left as usize).min(wire - i);
                    i += take;
                    let left = left - take as u8;
                    self.framing = if left == 0 {
                        Framing::ChunkSize
                    } else {
                        Framing::ChunkEnd(left)
                    };
                    continue;
                }
                Framing::UntilClose => {
                    self.body_seen += (wire - i) as u64;
                    return;
                }
                Framing::Head | Framing::ChunkSize | Framing::Trailer => {}
            }
            let Some(avail) = captured.get(i..).filter(|a| !a.is_empty()) else {
                // Framing bytes that were not captured.
                self.broken = true;
                return;
            };
            let had = self.buf.len();
            self.buf.extend_from_slice(avail);
            let used = match self.framing {
                Framing::Head => self.head(requests, no_body, out),
                Framing::ChunkSize => self.chunk_size(out),
                _ => self.trailer(out),
            };
            match used {
                Some(used) => {
                    i += used - had;
                    self.buf.clear();
                }
                None => {
                    if self.buf.len() > MAX_HEADER || captured.len() < wire {
                        self.broken = true;
                    }
                    return;
                }
            }
        }
    }

    /// Parses a message head from `buf`; returns the bytes it used, or None if incomplete.
    fn head(&mut self, requests: bool, no_body: &mut dyn FnMut() -> bool, out: &mut Vec<Message>) -> Option<usize> {
        match parse_head(&self.buf, requests) {
            Head::Complete(msg, body, used) => {
                self.messages += 1;
                let body = match &msg {
                    Message::Response(r) if r.status >= 200 && no_body() => Body::None,
                    _ => body,
                };
                out.push(msg);
                self.body_seen = 0;
                self.framing = match body {
                    Body::None => {
                        // Informational responses are not the end of a transaction.
                        if !matches!(out.last(), Some(Message::Response(r)) if r.status < 200) {
                            out.push(Message::BodyEnd(0));
                        }
                        Framing::Head
                    }
                    Body::Length(0) => {
                        out.push(Message::BodyEnd(0));
                        Framing::Head
                    }
                    Body::Length(n) => Framing::Length(n),
                    Body::Chunked => Framing::ChunkSize,
                    Body::UntilClose => Framing::UntilClose,
                };
                Some(used)
            }
            Head::Partial => None,
            Head::Invalid => {
                self.broken = true;
                None
            }
        }
    }

    fn chunk_size(&mut self, out: &mut Vec<Message>) -> Option<usize> {
        let end = find_crlf(&self.buf)?;
        let line = std::str::from_utf8(&self.buf[..end]).unwrap_or("");
        let hex = line.split(';').next().unwrap_or("").trim();
        match u64::from_str_radix(hex, 16) {
            Ok(0) => self.framing = Framing::Trailer,
            Ok(n) => self.framing = Framing::ChunkData(n),
            Err(_) => {
                // Report the body so far so the transaction still completes, then stop.
                self.end_body(out);
                self.broken = true;
            }
        }
        Some(end + 2)
    }

    fn trailer(&mut self, out: &mut Vec<Message>) -> Option<usize> {
        // Trailer lines end with an empty line; usually there are none.
        if self.buf.starts_with(b"\r\n") {
            self.end_body(out);
            return Some(2);
        }
        let end = self.buf.windows(4).position(|w| w == b"\r\n\r\n")?;
        self.end_body(out);
        Some(end + 4)
    }

    /// The connection ended: a body running to the close is complete now.
    pub fn close(&mut self, out: &mut Vec<Message>) {
        if self.framing == Framing::UntilClose {
            self.end_body(out);
        }
    }
}

/// One TCP segment's payload: sequence number, captured bytes and length on the wire.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    pub seq: u32,
    pub captured: &'a [u8],
    pub wire_len: u32,
}

/// Both directions of an HTTP connection and the transactions in flight.
#[derive(Clone, Debug, Default)]
pub struct HttpConn {
    pub orig: HttpStream,
    pub resp: HttpStream,
    /// Requests still waiting for (the end of) their response.
    pending: VecDeque<Transaction>,
    /// Requests seen so far.
    depth: u64,
    /// The first payload was not HTTP: stop trying.
    pub not_http: bool,
    scratch: Vec<Message>,
}

impl HttpConn {
    /// Feeds a segment; new request heads go to `requests` (for the models), finished
    /// transactions to `done` (for http.log).
    pub fn feed(
        &mut self,
        ts: u64,
        from_orig: bool,
        segment: Segment<'_>,
        requests: &mut Vec<Request>,
        done: &mut Vec<Transaction>,
    ) {
        let Segment {
            seq,
            captured,
            wire_len,
        } = segment;
        if self.not_http {
            return;
        }
        let mut msgs = std::mem::take(&mut self.scratch);
        let pending = &self.pending;
        let stream = if from_orig { &mut self.orig } else { &mut self.resp };
        // The response to a HEAD has no body whatever its headers say.
        let mut no_body = || {
            pending
                .iter()
                .find(|t| t.response.is_none())
                .is_some_and(|t| t.request.method.eq_ignore_ascii_case("HEAD"))
        };
        stream.feed(seq, captured, wire_len, from_orig, &mut no_body, &mut msgs);
        if stream.is_broken() && stream.messages == 0 {
            self.not_http = true;
        }
        self.apply(ts, from_orig, &mut msgs, requests, done);
        self.scratch = msgs;
    }

    fn apply(
        &mut self,
        ts: u64,
        from_orig: bool,
        msgs: &mut Vec<Message>,
        requests: &mut Vec<Request>,
        done: &mut Vec<Transaction>,
    ) {
        for m in msgs.drain(..) {
            match (m, from_orig) {
                (Message::Request(r), _) => {
                    self.depth += 1;
                    requests.push(r.clone());
                    if self.pending.len() >= MAX_PENDING
                        && let Some(t) = self.pending.pop_front()
                    {
                        done.push(t);
                    }
                    self.pending.push_back(Transaction {
                        ts,
                        depth: self.depth,
                        request: r,
                        ..Transaction::default()
                    });
                }
                (Message::Response(r), _) => {
                    let slot = self.pending.iter_mut().find(|t| t.response.is_none());
                    let t = match slot {
                        Some(t) => t,
                        None => {
                            // A response without a request we saw.
                            self.pending.push_back(Transaction {
                                ts,
                                ..Transaction::default()
                            });
                            self.pending.back_mut().expect("just pushed")
                        }
                    };
                    if r.status < 200 {
                        t.info = Some((r.status, r.reason));
                    } else {
                        t.response = Some(r);
                    }
                }
                (Message::BodyEnd(n), true) => {
                    if let Some(t) = self.pending.iter_mut().rev().find(|t| !t.request.method.is_empty()) {
                        t.request_body_len = n;
                    }
                }
                (Message::BodyEnd(n), false) => {
                    if let Some(i) = self.pending.iter().position(|t| t.response.is_some()) {
                        let mut t = self.pending.remove(i).expect("position is valid");
                        t.response_body_len = n;
                        done.push(t);
                    }
                }
            }
        }
    }

    /// The connection ended: everything still pending is logged as it is.
    pub fn close(&mut self, done: &mut Vec<Transaction>) {
        let mut msgs = Vec::new();
        self.orig.close(&mut msgs);
        let mut ignored = Vec::new();
        self.apply(0, true, &mut msgs, &mut ignored, done);
        self.resp.close(&mut msgs);
        self.apply(0, false, &mut msgs, &mut ignored, done);
        done.extend(self.pending.drain(..));
    }
}

enum Body {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

enum Head {
    Complete(Message, Body, usize),
    Partial,
    Invalid,
}

fn header<'a>(headers: &'a [httparse::Header<'a>], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .and_then(|h| std::str::from_utf8(h.value).ok())
}

/// Body framing from the headers (RFC 9112 §6.3); `None` when the message has no body.
fn framing(headers: &[httparse::Header<'_>], request: bool) -> Body {
    if header(headers, "transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        return Body::Chunked;
    }
    match header(headers, "content-length").map(|v| v.trim().parse::<u64>()) {
        Some(Ok(n)) => Body::Length(n),
        // A request without a length has no body; a response runs to the close.
        None if request => Body::None,
        _ => Body::UntilClose,
    }
}

fn parse_head(buf: &[u8], requests: bool) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let owned = |s: Option<&str>| s.map(str::to_string);
    if requests {
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(buf) {
            Ok(httparse::Status::Complete(n)) => {
                let body = framing(req.headers, true);
                let declared = if let Body::Length(n) = body { n } else { 0 };
                Head::Complete(
                    Message::Request(Request {
                        method: req.method.unwrap_or("").to_string(),
                        uri: req.path.unwrap_or("").to_string(),
                        version: req.version.unwrap_or(1),
                        host: owned(header(req.headers, "host")),
                        user_agent: owned(header(req.headers, "user-agent")),
                        referrer: owned(header(req.headers, "referer")),
                        origin: owned(header(req.headers, "origin")),
                        body_len: declared,
                    }),
                    body,
                    n,
                )
            }
            Ok(httparse::Status::Partial) => Head::Partial,
            Err(_) => Head::Invalid,
        }
    } else {
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(buf) {
            Ok(httparse::Status::Complete(n)) => {
                let status = resp.code.unwrap_or(0);
                // 1xx, 204 and 304 have no body whatever the headers say.
                let body = if status < 200 || status == 204 || status == 304 {
                    Body::None
                } else {
                    framing(resp.headers, false)
                };
                let declared = if let Body::Length(n) = body { n } else { 0 };
                Head::Complete(
                    Message::Response(Response {
                        status,
                        reason: resp.reason.unwrap_or("").to_string(),
                        version: resp.version.unwrap_or(1),
                        body_len: declared,
                    }),
                    body,
                    n,
                )
            }
            Ok(httparse::Status::Partial) => Head::Partial,
            Err(_) => Head::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_split_over_segments_and_bodies_skipped() {
        let req = b"POST /api/daemon HTTP/1.1\r\nHost: 1.2.3.4:6783\r\nUser-Agent: curl/8.7.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut s = HttpStream::default();
        let mut out = Vec::new();
        s.feed(1000, &req[..20], 20, true, &mut || false, &mut out);
        assert!(out.is_empty());
        s.feed(1020, &req[20..], (req.len() - 20) as u32, true, &mut || false, &mut out);
        assert_eq!(out.len(), 4, "{out:?}");
        assert_eq!((&out[1], &out[3]), (&Message::BodyEnd(5), &Message::BodyEnd(0)));
        out.retain(|m| matches!(m, Message::Request(_)));
        let Message::Request(r) = &out[0] else { panic!() };
        assert_eq!(
            (
                r.method.as_str(),
                r.uri.as_str(),
                r.host.as_deref(),
                r.user_agent.as_deref(),
                r.body_len
            ),
            ("POST", "/api/daemon", Some("1.2.3.4:6783"), Some("curl/8.7.1"), 5)
        );
        let Message::Request(r) = &out[1] else { panic!() };
        assert_eq!(r.method, "GET");
    }

    #[test]
    fn snapped_body_is_skipped_by_length() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n";
        let mut s = HttpStream::default();
        let mut out = Vec::new();
        s.feed(1, head, head.len() as u32 + 1000, false, &mut || false, &mut out);
        // 2000 body bytes not captured at all.
        s.feed(1 + head.len() as u32 + 1000, &[], 2000, false, &mut || false, &mut out);
        s.feed(
            1 + head.len() as u32 + 3000,
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            45,
            false,
            &mut || false,
            &mut out,
        );
        let statuses: Vec<_> = out
            .iter()
            .map(|m| match m {
                Message::Response(r) => (r.status, r.reason.as_str(), r.body_len),
                Message::BodyEnd(n) => (0, "end", *n),
                Message::Request(_) => unreachable!(),
            })
            .collect();
        assert_eq!(
            statuses,
            vec![
                (200, "OK", 3000),
                (0, "end", 3000),
                (404, "Not Found", 0),
                (0, "end", 0)
            ]
        );
        assert!(!s.is_broken());
    }

    fn run(conn: &mut HttpConn, segments: &[(bool, &[u8])]) -> (Vec<Request>, Vec<Transaction>) {
        let (mut reqs, mut done) = (Vec::new(), Vec::new());
        let (mut seq_o, mut seq_r) = (100u32, 9000u32);
        for (i, (from_orig, data)) in segments.iter().enumerate() {
            let seq = if *from_orig { &mut seq_o } else { &mut seq_r };
            let segment = Segment {
                seq: *seq,
                captured: data,
                wire_len: data.len() as u32,
            };
            conn.feed(i as u64, *from_orig, segment, &mut reqs, &mut done);
            *seq = seq.wrapping_add(data.len() as u32);
        }
        (reqs, done)
    }

    #[test]
    fn chunked_and_informational_responses_make_one_transaction_each() {
        let mut conn = HttpConn::default();
        let (reqs, mut done) = run(
            &mut conn,
            &[
                (
                    true,
                    b"POST /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
                ),
                (false, b"HTTP/1.1 100 Continue\r\n\r\n"),
                (true, b"abcd"),
                (false, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"),
                (false, b"lo\r\n3;x=y\r\nabc\r\n0\r\n\r\n"),
                (true, b"HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n"),
                (false, b"HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n"),
                (true, b"GET /c HTTP/1.0\r\n\r\n"),
                (false, b"HTTP/1.0 200 OK\r\n\r\nuntil the end"),
            ],
        );
        assert_eq!(reqs.len(), 3);
        conn.close(&mut done);
        let rows: Vec<_> = done
            .iter()
            .map(|t| {
                (
                    t.depth,
                    t.request.uri.as_str(),
                    t.request_body_len,
                    t.response.as_ref().map(|r| r.status),
                    t.response_body_len,
                    t.info.as_ref().map(|i| i.0),
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                (1, "/u", 4, Some(200), 8, Some(100)),
                (2, "/h", 0, Some(200), 0, None),
                (3, "/c", 0, Some(200), 13, None),
            ]
        );
    }

    #[test]
    fn request_without_response_is_logged_at_close() {
        let mut conn = HttpConn::default();
        let (_, mut done) = run(
            &mut conn,
            &[(true, b"POST / HTTP/1.1\r\nOrigin: null\r\nContent-Length: 3\r\n\r\nabc")],
        );
        assert!(done.is_empty());
        conn.close(&mut done);
        assert_eq!(done.len(), 1);
        assert_eq!(
            (done[0].request_body_len, done[0].request.origin.as_deref()),
            (3, Some("null"))
        );
        assert!(done[0].response.is_none());
    }

    #[test]
    fn garbage_breaks_the_stream_without_panicking() {
        let mut s = HttpStream::default();
        let mut out = Vec::new();
        s.feed(
            7,
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            11,
            true,
            &mut || false,
            &mut out,
        );
        assert!(s.is_broken());
        assert!(out.is_empty());
    }
}
