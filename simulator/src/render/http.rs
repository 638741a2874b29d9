//! HTTP/1.1 messages as byte streams.

use super::stream::Stream;
use super::tcp::Turn;
use crate::session::{Body, HttpExchange, Session};
use crate::units::http_date;

/// One client turn and one server turn per exchange (keep-alive between them).
pub fn streams(s: &Session, exchanges: &[HttpExchange]) -> Vec<Turn> {
    let mut turns = Vec::with_capacity(exchanges.len());
    let mut t = s.start;
    for (i, ex) in exchanges.iter().enumerate() {
        let last = i + 1 == exchanges.len();
        let mut req = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {}\r\n",
            ex.method, ex.uri, ex.host, ex.user_agent
        );
        if !ex.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("accept")) {
            req.push_str("Accept: */*\r\n");
        }
        for (name, value) in &ex.headers {
            req.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(ct) = ex.request_content_type {
            req.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        if !ex.request_body.is_empty() || ex.method == "POST" || ex.method == "PUT" {
            req.push_str(&format!("Content-Length: {}\r\n", ex.request_body.len()));
        }
        if !last {
            req.push_str("Connection: keep-alive\r\n");
        }
        req.push_str("\r\n");
        let mut request = Stream::default();
        request.push(req.as_bytes());
        append_body(&mut request, &ex.request_body);

        t += ex.think;
        let mut resp = format!(
            "HTTP/1.1 {} {}\r\nServer: nginx\r\nDate: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            ex.status,
            reason(ex.status),
            http_date(t),
            ex.response_content_type,
            ex.response_body.len()
        );
        resp.push_str(if last {
            "Connection: close\r\n\r\n"
        } else {
            "Connection: keep-alive\r\n\r\n"
        });
        let mut response = Stream::default();
        response.push(resp.as_bytes());
        append_body(&mut response, &ex.response_body);
        turns.push(Turn {
            request,
            think: ex.think,
            response,
            pace: None,
        });
    }
    turns
}

fn append_body(out: &mut Stream, body: &Body) {
    match body {
        Body::Bytes(b) => out.push(b),
        Body::Filler(n) => out.push_opaque(*n, |buf, k| {
            // Printable filler: an HTML-ish text stream, cheap to make and harmless to decoders.
            const TEXT: &[u8] =
                b"<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.</p>\n";
            buf.extend(TEXT.iter().cycle().take(k));
        }),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Unknown",
    }
}
