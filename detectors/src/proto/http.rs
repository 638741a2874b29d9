//! HTTP/1.x over one TCP direction: in-order reassembly by sequence number, header parsing
//! with `httparse` (headers may span segments), and body skipping by `Content-Length` — so
//! bodies cut by a snap length and keep-alive connections with many messages both work.
//!
//! Never panics; a stream it cannot follow (gap inside headers, chunked body, oversized
//! headers) is marked broken and yields nothing more.

/// A parsed request line and the headers the models use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub uri: String,
    pub version: u8,
    pub host: Option<String>,
    pub user_agent: Option<String>,
    pub body_len: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body_len: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Request(Request),
    Response(Response),
}

/// Largest header block we buffer; real ones are a few hundred bytes.
const MAX_HEADER: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;

#[derive(Clone, Debug, Default)]
pub struct HttpStream {
    buf: Vec<u8>,
    body_left: u64,
    next_seq: Option<u32>,
    broken: bool,
    /// Messages parsed so far (a non-HTTP stream never gets one).
    pub messages: u64,
}

impl HttpStream {
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Feeds one segment's payload (`captured` may be shorter than `wire_len`).
    pub fn feed(&mut self, seq: u32, captured: &[u8], wire_len: u32, requests: bool, out: &mut Vec<Message>) {
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
            // Bytes missing from the capture: fine inside a body, fatal inside headers.
            let gap = delta as u64;
            if self.buf.is_empty() && gap <= self.body_left {
                self.body_left -= gap;
            } else {
                self.broken = true;
                return;
            }
        }
        self.next_seq = Some(seq.wrapping_add(wire_len));
        let mut i = skip as usize;
        let wire = wire_len as usize;
        while i < wire {
            if self.body_left > 0 {
                let take = self.body_left.min((wire - i) as u64);
                self.body_left -= take;
                i += take as usize;
                continue;
            }
            let Some(avail) = captured.get(i..).filter(|a| !a.is_empty()) else {
                // Header bytes that were not captured.
                self.broken = true;
                return;
            };
            let had = self.buf.len();
            self.buf.extend_from_slice(avail);
            match parse_head(&self.buf, requests) {
                Head::Complete(msg, used) => {
                    let from_avail = used - had;
                    i += from_avail;
                    self.body_left = match &msg {
                        Message::Request(r) => r.body_len,
                        Message::Response(r) => r.body_len,
                    };
                    self.buf.clear();
                    self.messages += 1;
                    out.push(msg);
                }
                Head::Partial => {
                    if self.buf.len() > MAX_HEADER || captured.len() < wire {
                        self.broken = true;
                    }
                    return;
                }
                Head::Invalid | Head::Unsupported => {
                    self.broken = true;
                    return;
                }
            }
        }
    }
}

enum Head {
    Complete(Message, usize),
    Partial,
    Invalid,
    /// Chunked or otherwise unframed bodies: we cannot find the next message.
    Unsupported,
}

fn header<'a>(headers: &'a [httparse::Header<'a>], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .and_then(|h| std::str::from_utf8(h.value).ok())
}

fn content_length(headers: &[httparse::Header<'_>]) -> Result<u64, ()> {
    if header(headers, "transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        return Err(());
    }
    match header(headers, "content-length") {
        Some(v) => v.trim().parse().map_err(|_| ()),
        None => Ok(0),
    }
}

fn parse_head(buf: &[u8], requests: bool) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    if requests {
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(buf) {
            Ok(httparse::Status::Complete(n)) => {
                let Ok(body_len) = content_length(req.headers) else {
                    return Head::Unsupported;
                };
                Head::Complete(
                    Message::Request(Request {
                        method: req.method.unwrap_or("").to_string(),
                        uri: req.path.unwrap_or("").to_string(),
                        version: req.version.unwrap_or(1),
                        host: header(req.headers, "host").map(str::to_string),
                        user_agent: header(req.headers, "user-agent").map(str::to_string),
                        body_len,
                    }),
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
                let body_len = if status < 200 || status == 204 || status == 304 {
                    0
                } else {
                    match content_length(resp.headers) {
                        Ok(n) => n,
                        Err(()) => return Head::Unsupported,
                    }
                };
                Head::Complete(Message::Response(Response { status, body_len }), n)
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
        s.feed(1000, &req[..20], 20, true, &mut out);
        assert!(out.is_empty());
        s.feed(1020, &req[20..], (req.len() - 20) as u32, true, &mut out);
        assert_eq!(out.len(), 2);
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
        s.feed(1, head, head.len() as u32 + 1000, false, &mut out);
        // 2000 body bytes not captured at all.
        s.feed(1 + head.len() as u32 + 1000, &[], 2000, false, &mut out);
        s.feed(
            1 + head.len() as u32 + 3000,
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            45,
            false,
            &mut out,
        );
        assert_eq!(
            out,
            vec![
                Message::Response(Response {
                    status: 200,
                    body_len: 3000
                }),
                Message::Response(Response {
                    status: 404,
                    body_len: 0
                })
            ]
        );
        assert!(!s.is_broken());
    }

    #[test]
    fn garbage_breaks_the_stream_without_panicking() {
        let mut s = HttpStream::default();
        let mut out = Vec::new();
        s.feed(7, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11, true, &mut out);
        assert!(s.is_broken());
        assert!(out.is_empty());
    }
}
