//! Shadow AI (shared/scenarios.md §4): a person sends company data to unsanctioned AI services
//! — small prompt POSTs and pasted documents, each answered by a long streamed response — and
//! drives an MCP server over Streamable HTTP, while also using the sanctioned assistant (which
//! is not labelled: it is allowed).
//!
//! Stages: `unsanctioned-ai` and `mcp`, both T1567 (exfiltration over a web service).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use rand::RngExt;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::kit::{Kit, host_port};
use super::{Planned, draw_duration, draw_size};
use crate::certs;
use crate::rng::stream;
use crate::session::{Body, Session, SessionKind, Streamed, TlsExchange, TlsSession, TlsVersion};
use crate::units::{ByteSize, Duration, Int, Nanos, Range};
use crate::world::{World, public_ipv4};

pub const NAME: &str = "shadow-ai";

/// AI services seen in the wild (TLS SNI).
const AI_SERVICES: &[&str] = &[
    "api.openai.com",
    "chatgpt.com",
    "claude.ai",
    "api.anthropic.com",
    "gemini.google.com",
    "generativelanguage.googleapis.com",
    "api.deepseek.com",
    "perplexity.ai",
    "api.mistral.ai",
];

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub id: Spanned<String>,
    pub victim: Spanned<String>,
    pub start: Spanned<Range<Duration>>,
    /// Unsanctioned services used; default 1–3 of the well-known ones.
    #[serde(default)]
    pub services: Option<Vec<String>>,
    /// The organisation's sanctioned assistant (used too, not labelled). Default
    /// copilot.microsoft.com.
    #[serde(default)]
    pub sanctioned: Option<String>,
    /// Prompts sent to unsanctioned services. Default 10..40.
    #[serde(default)]
    pub prompts: Option<Range<Int>>,
    /// Over how long. Default 3h..8h.
    #[serde(default)]
    pub spread: Option<Range<Duration>>,
    /// Size of a typed prompt. Default 200..20KiB.
    #[serde(default)]
    pub prompt_size: Option<Spanned<Range<ByteSize>>>,
    /// Share of prompts that paste a document (100KiB..500KiB). Default 0.2.
    #[serde(default)]
    pub document_share: Option<Spanned<f64>>,
    /// How long each streamed answer lasts. Default 2s..60s.
    #[serde(default)]
    pub response_for: Option<Range<Duration>>,
    /// Bytes of answer per streamed record. Default 60..300.
    #[serde(default)]
    pub record_size: Option<Range<ByteSize>>,
    /// Also use an MCP server over Streamable HTTP. Default true.
    #[serde(default)]
    pub mcp: Option<bool>,
    #[serde(default)]
    pub mcp_ip: Option<IpAddr>,
    /// Default one of 3000, 8000, 8080.
    #[serde(default)]
    pub mcp_port: Option<u16>,
    /// Prompts only on weekdays 08:00–19:00 (UTC), as a person at work. Default true.
    #[serde(default)]
    pub working_hours: Option<bool>,
}

impl Params {
    pub fn validate(&self) -> Vec<(u64, u64, String)> {
        let mut errs = Vec::new();
        if let Some(d) = &self.document_share
            && !(0.0..=1.0).contains(&d.value)
        {
            errs.push((
                d.referenced.line(),
                d.referenced.column(),
                format!("document_share {} must be within 0..1", d.value),
            ));
        }
        errs
    }
}

/// The attack's sessions, planned up front.
pub fn plan(p: &Params, world: &World, seed: u64, index: usize, scenario_start: Nanos, scenario_end: Nanos) -> Planned {
    let mut rng = stream(seed, NAME, index as u64);
    let victim = world.device(&p.victim.value).expect("validated: victim exists");
    let start = scenario_start + draw_duration(&mut rng, p.start.value);
    let services: Vec<String> = p.services.clone().unwrap_or_else(|| {
        let n = rng.random_range(1..=3);
        let mut all: Vec<&str> = AI_SERVICES.to_vec();
        (0..n)
            .map(|_| all.swap_remove(rng.random_range(0..all.len())).to_string())
            .collect()
    });
    let sanctioned = p.sanctioned.clone().unwrap_or_else(|| "copilot.microsoft.com".into());
    let first_port = rng.random_range(49152..60000);
    let mut k = Kit::new(world, victim, rng, &p.id.value, NAME, first_port);
    let cas = certs::public_cas(&mut k.rng, scenario_start);
    let mut hosts: HashMap<String, (IpAddr, Arc<Vec<Vec<u8>>>, bool)> = HashMap::new();
    for h in services.iter().chain(std::iter::once(&sanctioned)) {
        let ip = IpAddr::V4(public_ipv4(&mut k.rng));
        let chain = Arc::new(certs::issued_chain(
            &cas[k.rng.random_range(0..cas.len())],
            h,
            &mut k.rng,
            scenario_start,
        ));
        hosts.insert(h.clone(), (ip, chain, false));
    }
    let n = {
        let r = p.prompts.unwrap_or(Range::new(Int(10), Int(40)));
        k.rng.random_range(r.min.0..=r.max.0)
    };
    let spread = draw_duration(
        &mut k.rng,
        p.spread
            .unwrap_or(Range::new(Duration::from_secs(3 * 3600), Duration::from_secs(8 * 3600))),
    );
    let prompt = p
        .prompt_size
        .as_ref()
        .map(|s| s.value)
        .unwrap_or(Range::new(ByteSize(200), ByteSize(20 << 10)));
    let doc_share = p.document_share.as_ref().map_or(0.2, |d| d.value);
    let answer_for = p
        .response_for
        .unwrap_or(Range::new(Duration::from_secs(2), Duration::from_secs(60)));
    let mut out = Vec::new();
    // Prompts at random moments of the spread; every fourth goes to the sanctioned one.
    let mut times: Vec<Nanos> = (0..n + n / 3)
        .map(|_| start + k.rng.random_range(0..spread.max(1)))
        .collect();
    times.sort_unstable();
    // A person at work: prompts outside working hours do not happen (unless told otherwise).
    if p.working_hours.unwrap_or(true) {
        times.retain(|&t| super::working_hours(t));
    }
    for (i, t) in times.into_iter().enumerate() {
        let (host, label) = if i % 4 == 3 {
            (sanctioned.clone(), None)
        } else {
            (
                services[k.rng.random_range(0..services.len())].clone(),
                k.label("unsanctioned-ai", "T1567"),
            )
        };
        let (ip, chain, resolved) = hosts.get(&host).cloned().expect("every host has an address");
        let mut at = t;
        if !resolved {
            out.push(k.dns(t, &host, ip, label.clone()));
            hosts.entry(host.clone()).and_modify(|h| h.2 = true);
            at += 3_000_000;
        }
        let up = if k.rng.random_bool(doc_share) {
            k.rng.random_range(100 << 10..=500 << 10)
        } else {
            k.rng.random_range(prompt.min.0..=prompt.max.0)
        };
        let over = draw_duration(&mut k.rng, answer_for);
        let record = draw_size(&mut k.rng, p.record_size, (60, 300)).clamp(1, 16_384) as u32;
        let down = u64::from(record) * (over / 150_000_000).max(8);
        let exchanges = vec![
            // The app's session check, then the prompt and its streamed answer.
            TlsExchange {
                up: k.rng.random_range(300..900),
                down: k.rng.random_range(500..3000),
                think: 40_000_000,
                streamed: None,
            },
            TlsExchange {
                up,
                down,
                think: k.rng.random_range(200_000_000..1_500_000_000),
                streamed: Some(Streamed { record, over }),
            },
        ];
        let tls = TlsSession {
            sni: Some(host),
            version: TlsVersion::V13,
            client: victim.browser.tls,
            alpn: Some("h2"),
            chain,
            exchanges,
        };
        let rtt = k.rng.random_range(20_000_000..120_000_000);
        out.push(k.session(at, (ip, 443), rtt, SessionKind::Tls(tls), label));
    }
    if p.mcp.unwrap_or(true) {
        out.extend(mcp(&mut k, p, start, spread));
    }
    Planned::new(out, scenario_end)
}

/// An MCP client session over Streamable HTTP on one endpoint: initialize, a few tool calls
/// (POST with `Accept: application/json, text/event-stream` and `Mcp-Session-Id`), a GET for the
/// server's stream, and a DELETE to end.
fn mcp(k: &mut Kit<'_>, p: &Params, start: Nanos, spread: Nanos) -> Vec<Session> {
    let ip = p.mcp_ip.unwrap_or_else(|| IpAddr::V4(public_ipv4(&mut k.rng)));
    let port = p.mcp_port.unwrap_or([3000, 8000, 8080][k.rng.random_range(0..3)]);
    let host = host_port(ip, port);
    let session_id = format!("{:032x}", k.rng.random::<u128>());
    let ua = "node".to_string();
    let at = start + k.rng.random_range(0..spread.max(1));
    let accept = ("Accept", "application/json, text/event-stream".to_string());
    let mut exchanges = Vec::new();
    let init = br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"desktop-agent","version":"1.4.2"}}}"#;
    let mut ex = k.http(
        "POST",
        "/mcp",
        host.clone(),
        ua.clone(),
        Body::Bytes(init.to_vec()),
        Some("application/json"),
        Body::Bytes(
            br#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}}}}"#
                .to_vec(),
        ),
    );
    ex.headers = vec![accept.clone()];
    exchanges.push(ex);
    for call in 0..k.rng.random_range(2..8u32) {
        // Tool calls carry company data in their arguments.
        let data = "Q".repeat(k.rng.random_range(300..2_400));
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"summarize","arguments":{{"text":"{data}"}}}}}}"#,
            call + 2
        );
        let answer = Body::Filler(k.rng.random_range(500..8000));
        let mut ex = k.http(
            "POST",
            "/mcp",
            host.clone(),
            ua.clone(),
            Body::Bytes(body.into_bytes()),
            Some("application/json"),
            answer,
        );
        ex.response_content_type = "text/event-stream";
        ex.headers = vec![accept.clone(), ("Mcp-Session-Id", session_id.clone())];
        exchanges.push(ex);
    }
    let events = Body::Filler(k.rng.random_range(200..2000));
    let mut get = k.http(
        "GET",
        "/mcp",
        host.clone(),
        ua.clone(),
        Body::Bytes(Vec::new()),
        None,
        events,
    );
    get.response_content_type = "text/event-stream";
    get.headers = vec![
        ("Accept", "text/event-stream".to_string()),
        ("Mcp-Session-Id", session_id.clone()),
    ];
    exchanges.push(get);
    let mut del = k.http(
        "DELETE",
        "/mcp",
        host,
        ua,
        Body::Bytes(Vec::new()),
        None,
        Body::Bytes(Vec::new()),
    );
    del.headers = vec![("Mcp-Session-Id", session_id)];
    exchanges.push(del);
    let label = k.label("mcp", "T1567");
    vec![k.session(at, (ip, port), 60_000_000, SessionKind::Http(exchanges), label)]
}
