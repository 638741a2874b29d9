//! Unsanctioned AI: use of AI/LLM APIs and MCP servers other than the ones the organisation
//! uses widely — a policy question, not an intrusion (T1567 when company data leaves).
//!
//! Behavioural, not a vendor list: it recognises the *shapes* of these protocols and leaves
//! "sanctioned" to prevalence — the service most devices use is the organisation's; one that
//! at most `max_devices` devices use is not.
//!
//! 1. Streamed answer (TLS or plain HTTP): a small upstream request, then a response delivered
//!    as many small records over seconds (server-sent events). At flow end: the session lasted
//!    at least `min_stream_secs`, the server sent at least `min_server_segments` data segments
//!    whose mean size is at most `max_mean_segment_bytes` (bulk transfers fill segments to the
//!    MSS; streamed tokens do not). Server segments are estimated as the responder's packets
//!    minus its likely ACKs of the upload (one per two full client segments) and the
//!    handshake's SYN-ACK/FIN; a mean below 40 bytes means the estimate is mostly ACKs (a big
//!    upload), not a stream.
//! 2. MCP over Streamable HTTP (plain HTTP is visible): one connection whose requests all use a
//!    single path, with at least `mcp_min_posts` POSTs and then a GET (the server's stream) or
//!    DELETE (session end) on that same path — a one-endpoint RPC transport. REST clients use
//!    many paths. The path itself is reported, never matched.
//!
//! Each alert reports how much the device sent (orig bytes of the session, and in total to the
//! endpoint so far). What it cannot tell: *which* service it is (TLS hides the content type and
//! path; the SNI is reported, not judged); an SSE dashboard, a chat web socket or a live feed
//! that only one or two devices use has the same shape; a sanctioned assistant that only a few
//! devices use looks unsanctioned; HTTP/3 (QUIC) sessions are not decoded; MCP over TLS and the
//! older HTTP+SSE transport (separate connections for `/sse` and `/messages`) only show as
//! streamed answers, if at all.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::Deserialize;

use crate::alert::{Alert, SCHEMA, secs};
use crate::event::Event;
use crate::flow::Flow;
use crate::life::{Endpoint, Life};
use crate::models::Model;
use crate::models::cooldown::{Cooldown, NS, make_room};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// At most this many devices (including this one) use the endpoint; more make it the
    /// organisation's own (sanctioned or common) service.
    pub max_devices: usize,
    /// A streamed answer lasts at least this long (seconds)…
    pub min_stream_secs: f64,
    /// …in at least this many server data segments…
    pub min_server_segments: u64,
    /// …of at most this many bytes on average.
    pub max_mean_segment_bytes: u64,
    /// Bytes sent in one session that look like a pasted document or a file (scored higher).
    pub large_upload_bytes: u64,
    /// POSTs on the single path before a GET/DELETE makes an MCP-style session.
    pub mcp_min_posts: u32,
    pub min_score: f64,
    /// One alert per (device, endpoint, kind) per this many seconds.
    pub cooldown_secs: u64,
}

/// Full-size TCP payload assumed for the upload's segments (Ethernet MSS with timestamps).
const MSS: u64 = 1448;
/// Below this mean, the "server segments" are mostly ACKs we failed to subtract.
const MIN_MEAN_SEGMENT: u64 = 40;
const MAX_PAIRS: usize = 16_384;
const MAX_OPEN: usize = 16_384;
const MAX_COOLDOWNS: usize = 16_384;
/// A connection's requests are followed this long at most (bounded state for flows whose end
/// the model never sees).
const OPEN_FOR_NS: u64 = 3600 * NS;

/// What the model follows of an open connection.
#[derive(Clone, Debug, Default)]
struct Open {
    /// A TLS handshake was seen, with this SNI.
    tls: bool,
    sni: Option<String>,
    /// MCP shape: the single path, POSTs and their declared body bytes, GET/DELETE after them.
    path: Option<String>,
    paths_differ: bool,
    posts: u32,
    posted: u64,
    stream_or_end: bool,
    reported: bool,
    last: u64,
}

/// What a device sent to an endpoint in AI-shaped sessions.
#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    sessions: u64,
    bytes: u64,
    last: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Streamed,
    Mcp,
}

pub struct ShadowAi {
    cfg: Config,
    open: HashMap<String, Open>,
    usage: HashMap<(IpAddr, Endpoint), Usage>,
    cooldown: Cooldown<(IpAddr, Endpoint, Kind)>,
}

/// The streamed-answer shape of a finished flow: (estimated server data segments, their mean
/// size), when it has it.
fn streamed(flow: &Flow, c: &Config) -> Option<(u64, u64)> {
    let dur_s = flow.duration_ns() as f64 / 1e9;
    if flow.id.proto != 6 || dur_s < c.min_stream_secs {
        return None;
    }
    let (up, down) = (flow.orig_bytes(), flow.resp_bytes());
    let acks = up.div_ceil(2 * MSS);
    let segments = flow.resp.pkts.saturating_sub(acks + 3);
    if segments < c.min_server_segments.max(1) {
        return None;
    }
    let mean = down / segments;
    (MIN_MEAN_SEGMENT..=c.max_mean_segment_bytes)
        .contains(&mean)
        .then_some((segments, mean))
}

impl ShadowAi {
    pub fn new(t: &Config) -> Self {
        ShadowAi {
            cfg: t.clone(),
            open: HashMap::new(),
            usage: HashMap::new(),
            cooldown: Cooldown::new(t.cooldown_secs, MAX_COOLDOWNS),
        }
    }

    fn open(&mut self, uid: &str, ts: u64) -> &mut Open {
        if !self.open.contains_key(uid) {
            let stale = ts.saturating_sub(OPEN_FOR_NS);
            if self.open.len() >= MAX_OPEN {
                self.open.retain(|_, o| o.last >= stale);
            }
            make_room(&mut self.open, MAX_OPEN, |o| o.last);
        }
        let o = self.open.entry(uid.to_string()).or_default();
        o.last = ts;
        o
    }

    /// (other devices, judged) for the flow's endpoint: `None` when it is not a rare external
    /// endpoint after learning.
    fn rare(&self, ts: u64, flow: &Flow, life: &Life) -> Option<(Endpoint, usize)> {
        let (device, dst) = (flow.id.orig, flow.id.resp);
        if life.learning(ts) || !life.is_outbound(device, dst) {
            return None;
        }
        let endpoint = life.endpoint(device, dst);
        let others = life
            .prevalence(&endpoint)
            .map_or(0, |p| p.devices.iter().filter(|d| **d != device).count());
        (others < self.cfg.max_devices).then_some((endpoint, others))
    }

    /// Adds a session's upload to the device's usage of the endpoint; returns the totals.
    fn account(&mut self, device: IpAddr, endpoint: &Endpoint, bytes: u64, ts: u64) -> Usage {
        let key = (device, endpoint.clone());
        if !self.usage.contains_key(&key) {
            make_room(&mut self.usage, MAX_PAIRS, |u| u.last);
        }
        let u = self.usage.entry(key).or_default();
        u.sessions += 1;
        u.bytes = u.bytes.saturating_add(bytes);
        u.last = ts;
        *u
    }

    fn on_request(
        &mut self,
        ts: u64,
        flow: &Flow,
        request: &crate::proto::http::Request,
        life: &Life,
    ) -> Option<Alert> {
        let (endpoint, others) = self.rare(ts, flow, life)?;
        let path = request.uri.split('?').next().unwrap_or("").to_string();
        let min_posts = self.cfg.mcp_min_posts.max(1);
        let o = self.open(&flow.uid, ts);
        match &o.path {
            None => o.path = Some(path),
            Some(p) if *p != path => o.paths_differ = true,
            Some(_) => {}
        }
        if request.method.eq_ignore_ascii_case("POST") {
            o.posts += 1;
            o.posted = o.posted.saturating_add(request.body_len);
        } else if o.posts > 0
            && (request.method.eq_ignore_ascii_case("GET") || request.method.eq_ignore_ascii_case("DELETE"))
        {
            o.stream_or_end = true;
        }
        if o.reported || o.paths_differ || o.posts < min_posts || !o.stream_or_end {
            return None;
        }
        o.reported = true;
        let (posts, posted, path) = (o.posts, o.posted, o.path.clone().unwrap_or_default());
        let device = flow.id.orig;
        let total = self.account(device, &endpoint, posted, ts);
        let key = (device, endpoint.clone(), Kind::Mcp);
        let no_name = matches!(endpoint, Endpoint::Ip(_));
        let score: f64 = 0.6 + if no_name { 0.1 } else { 0.0 } + if others == 0 { 0.05 } else { 0.0 };
        if score < self.cfg.min_score || self.cooldown.cooling(&key, ts) {
            return None;
        }
        self.cooldown.fired(key, ts);
        let name = host_of(&endpoint, request.host.as_deref());
        Some(Alert {
            schema: SCHEMA,
            flows: Vec::new(),
            ts: secs(ts),
            model: "unsanctioned-ai".into(),
            score: score.min(1.0),
            device,
            dst_ip: flow.id.resp,
            dst_port: flow.id.resp_port,
            dst_host: match &endpoint {
                Endpoint::Host(h) => Some(h.to_string()),
                Endpoint::Ip(_) => None,
            },
            flow: flow.community_id.clone(),
            uid: flow.uid.clone(),
            summary: format!(
                "MCP-style session from {device} to {name} ({}:{}): {posts} POSTs then a {} on the single path {path} \
                 (one-endpoint RPC transport); sent {posted} bytes of request bodies ({} bytes in {} such session(s) \
                 so far); endpoint used by {others} other device(s)",
                flow.id.resp, flow.id.resp_port, request.method, total.bytes, total.sessions,
            ),
        })
    }

    fn on_end(&mut self, ts: u64, flow: &Flow, life: &Life) -> Option<Alert> {
        let open = self.open.remove(&flow.uid);
        let web = open.as_ref().is_some_and(|o| o.tls || o.path.is_some())
            || flow.services.iter().any(|s| *s == "ssl" || *s == "http");
        if !web {
            return None;
        }
        let (segments, mean) = streamed(flow, &self.cfg)?;
        let (endpoint, others) = self.rare(flow.ts_first, flow, life)?;
        let device = flow.id.orig;
        let (up, down) = (flow.orig_bytes(), flow.resp_bytes());
        let total = self.account(device, &endpoint, up, ts);
        let large = up >= self.cfg.large_upload_bytes;
        let score: f64 = 0.55 + if others == 0 { 0.1 } else { 0.0 } + if large { 0.15 } else { 0.0 };
        let key = (device, endpoint.clone(), Kind::Streamed);
        if score < self.cfg.min_score || self.cooldown.cooling(&key, ts) {
            return None;
        }
        self.cooldown.fired(key, ts);
        let sni = open.and_then(|o| o.sni);
        let name = host_of(&endpoint, sni.as_deref());
        Some(Alert {
            schema: SCHEMA,
            flows: Vec::new(),
            ts: secs(ts),
            model: "unsanctioned-ai".into(),
            score: score.min(1.0),
            device,
            dst_ip: flow.id.resp,
            dst_port: flow.id.resp_port,
            dst_host: match &endpoint {
                Endpoint::Host(h) => Some(h.to_string()),
                Endpoint::Ip(_) => sni.clone(),
            },
            flow: flow.community_id.clone(),
            uid: flow.uid.clone(),
            summary: format!(
                "AI-style streamed answer from {name} ({}:{}) to {device}: {:.1} s, ~{segments} small server segments \
                 (mean {mean} B); sent {up} bytes{}, received {down}; {} bytes sent in {} such session(s) to it so far; \
                 endpoint used by {others} other device(s), so not the organisation's common service",
                flow.id.resp,
                flow.id.resp_port,
                flow.duration_ns() as f64 / 1e9,
                if large {
                    " (a document or file, not a typed prompt)"
                } else {
                    ""
                },
                total.bytes,
                total.sessions,
            ),
        })
    }
}

fn host_of(endpoint: &Endpoint, fallback: Option<&str>) -> String {
    match endpoint {
        Endpoint::Host(h) => h.to_string(),
        Endpoint::Ip(ip) => fallback.map_or_else(|| ip.to_string(), String::from),
    }
}

impl Model for ShadowAi {
    fn name(&self) -> &'static str {
        "unsanctioned-ai"
    }

    fn on_event(&mut self, ev: &Event<'_>, life: &Life, out: &mut Vec<Alert>) {
        let alert = match ev {
            Event::Tls { ts, flow, info } => {
                if life.is_outbound(flow.id.orig, flow.id.resp) {
                    let o = self.open(&flow.uid, *ts);
                    o.tls = true;
                    o.sni = info.server_name.clone();
                }
                None
            }
            Event::HttpRequest { ts, flow, request } => self.on_request(*ts, flow, request, life),
            Event::FlowEnd { ts, flow } => self.on_end(*ts, flow, life),
            _ => None,
        };
        out.extend(alert);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::testkit::{Outcome, S, T0, flow, ip, life, play, tcp_flow};
    use crate::proto::http::Request;
    use crate::proto::tls::TlsInfo;

    fn cfg() -> Config {
        Config {
            max_devices: 2,
            min_stream_secs: 2.0,
            min_server_segments: 10,
            max_mean_segment_bytes: 800,
            large_upload_bytes: 100_000,
            mcp_min_posts: 2,
            min_score: 0.5,
            cooldown_secs: 86_400,
        }
    }

    /// A TLS session lasting `dur_s` that sent `up` bytes and received `down` in `records`
    /// server data segments (plus the server's ACKs of the upload).
    fn session(ts: u64, (dev, port): (&str, u16), dst: &str, (up, down): (u32, u32), records: u64, dur_s: u64) -> Flow {
        let mut f = tcp_flow(ts, dev, port, dst, 443, Outcome::Complete { up, down }, dur_s);
        f.resp.pkts = records + u64::from(up).div_ceil(2 * MSS) + 3;
        f
    }

    fn tls(sni: &str) -> TlsInfo {
        TlsInfo {
            version: Some(0x0304),
            server_name: Some(sni.into()),
            established: true,
            ..TlsInfo::default()
        }
    }

    /// DNS, start, TLS and end of each `(device, name, flow)` in turn, after a 600 s learning.
    fn play_sessions(flows: &[(&str, &str, &Flow)]) -> Vec<Alert> {
        let mut l = life(600);
        l.observe_packet(T0);
        let infos: Vec<TlsInfo> = flows.iter().map(|(_, n, _)| tls(n)).collect();
        let addrs: Vec<[IpAddr; 1]> = flows.iter().map(|(_, _, f)| [f.id.resp]).collect();
        let mut events = Vec::new();
        for (((dev, name, f), a), info) in flows.iter().zip(&addrs).zip(&infos) {
            events.push(Event::DnsAnswer {
                ts: f.ts_first,
                device: ip(dev),
                name,
                addrs: a,
            });
            events.push(Event::FlowStart {
                ts: f.ts_first,
                flow: f,
            });
            events.push(Event::Tls {
                ts: f.ts_first + 1000,
                flow: f,
                info,
            });
            events.push(Event::FlowEnd { ts: f.ts_last, flow: f });
        }
        play(&mut ShadowAi::new(&cfg()), &mut l, &events)
    }

    const LATER: u64 = T0 + 3600 * S;

    #[test]
    fn pasted_document_with_a_streamed_answer_to_a_rare_service_fires() {
        // 300 KB up, 25 s of 180-byte records.
        let f = session(LATER, ("10.0.0.5", 50000), "198.51.100.40", (300_000, 30_000), 166, 25);
        let alerts = play_sessions(&[("10.0.0.5", "llm-api.example", &f)]);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let a = &alerts[0];
        assert_eq!(a.flow, f.community_id);
        assert!((a.score - 0.8).abs() < 1e-9, "{a:?}");
        assert!(
            a.summary.contains("sent 300000 bytes") && a.summary.contains("llm-api.example"),
            "{}",
            a.summary
        );
    }

    #[test]
    fn sanctioned_service_most_devices_use_stays_quiet() {
        // Five devices use the assistant while the pattern of life is learned; later the sixth
        // uses it (quiet) and an unsanctioned service (alerted).
        let devs: Vec<String> = (1..=6).map(|i| format!("10.0.0.{i}")).collect();
        let mut flows: Vec<Flow> = devs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let at = if i < 5 { T0 + i as u64 * 60 * S } else { LATER };
                session(at, (d, 50000), "198.51.100.41", (4000, 20_000), 100, 20)
            })
            .collect();
        flows.push(session(
            LATER + 60 * S,
            ("10.0.0.6", 50001),
            "198.51.100.45",
            (4000, 20_000),
            100,
            20,
        ));
        let mut plan: Vec<(&str, &str, &Flow)> = devs
            .iter()
            .zip(&flows)
            .map(|(d, f)| (d.as_str(), "assistant.example", f))
            .collect();
        plan.push(("10.0.0.6", "other-llm.example", &flows[6]));
        let alerts = play_sessions(&plan);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].dst_host.as_deref(), Some("other-llm.example"));
    }

    #[test]
    fn bulk_transfers_and_short_pages_stay_quiet() {
        let dev = "10.0.0.5";
        // A page: short.
        let page = session(LATER, (dev, 50000), "198.51.100.42", (800, 9_000), 12, 1);
        // A download: full segments.
        let dl = session(
            LATER + 100 * S,
            (dev, 50001),
            "198.51.100.43",
            (500, 5_000_000),
            3_500,
            8,
        );
        // A backup: 20 MB up, the server's packets are ACKs.
        let bk = session(LATER + 200 * S, (dev, 50002), "198.51.100.44", (20_000_000, 900), 1, 30);
        let plan = [
            (dev, "a.example", &page),
            (dev, "b.example", &dl),
            (dev, "c.example", &bk),
        ];
        assert!(play_sessions(&plan).is_empty());
    }

    fn http(method: &str, uri: &str, body: u64) -> Request {
        Request {
            method: method.into(),
            uri: uri.into(),
            version: 1,
            host: Some("203.0.113.60:3000".into()),
            user_agent: Some("node".into()),
            body_len: body,
            ..Request::default()
        }
    }

    #[test]
    fn one_endpoint_rpc_session_fires_and_rest_does_not() {
        let mut l = life(60);
        l.observe_packet(T0);
        let f = flow(T0 + 3600 * S, "10.0.0.5", 50000, "203.0.113.60", 3000, 6);
        let reqs = [
            http("POST", "/mcp", 180),
            http("POST", "/mcp", 1500),
            http("POST", "/mcp", 900),
            http("GET", "/mcp", 0),
            http("DELETE", "/mcp", 0),
        ];
        let mut events = vec![Event::FlowStart {
            ts: f.ts_first,
            flow: &f,
        }];
        for (i, r) in reqs.iter().enumerate() {
            events.push(Event::HttpRequest {
                ts: f.ts_first + i as u64 * S,
                flow: &f,
                request: r,
            });
        }
        let alerts = play(&mut ShadowAi::new(&cfg()), &mut l, &events);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert!(alerts[0].summary.contains("3 POSTs then a GET") && alerts[0].summary.contains("sent 2580 bytes"));

        let mut l = life(60);
        l.observe_packet(T0);
        let g = flow(T0 + 3600 * S, "10.0.0.5", 50001, "203.0.113.61", 8080, 6);
        let rest = [
            http("POST", "/api/items", 100),
            http("POST", "/api/items", 100),
            http("GET", "/api/items/7", 0),
            http("DELETE", "/api/items/7", 0),
        ];
        let mut events = vec![Event::FlowStart {
            ts: g.ts_first,
            flow: &g,
        }];
        for r in &rest {
            events.push(Event::HttpRequest {
                ts: g.ts_first,
                flow: &g,
                request: r,
            });
        }
        assert!(play(&mut ShadowAi::new(&cfg()), &mut l, &events).is_empty());
    }
}
