//! A Capital One-style cloud breach (shared/scenarios.md §3), in the network-visible variant
//! where the compromised WAF/reverse proxy itself does the work:
//!
//! - `anonymised-access` (T1090.003): HTTPS to the WAF from Tor exits and VPN addresses;
//! - `ssrf` (T1190): a request whose parameter points the proxy at 169.254.169.254;
//! - `metadata-credentials` (T1552.005): the proxy's GETs to the metadata service — the role
//!   list, then the role's credentials — right after each SSRF request (only a host or interface
//!   sensor sees these; cloud flow logs never record metadata traffic);
//! - `storage-listing` (T1619): ListBuckets and per-bucket calls, many denied;
//! - `storage-pull` (T1530): objects pulled from storage;
//! - `exfil` (T1041): bursts of GBs at night to a rare external endpoint.
//!
//! The attacker repeats the SSRF to refresh credentials every 1–6 h.

use std::net::IpAddr;
use std::sync::Arc;

use rand::RngExt;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::kit::Kit;
use super::{Planned, draw_duration, draw_int, draw_size};
use crate::behaviour::{METADATA_CREDENTIALS, METADATA_IP, credentials_json, instance_role};
use crate::certs;
use crate::rng::stream;
use crate::session::{Body, HttpExchange, SessionKind, TlsClient, TlsExchange, TlsSession, TlsVersion};
use crate::units::{ByteSize, Duration, Int, NS_PER_SEC, Nanos, Range, Real, second_of_day};
use crate::world::{World, public_ipv4};

pub const NAME: &str = "cloud-ssrf-exfil";

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub id: Spanned<String>,
    /// The WAF / reverse-proxy VM.
    pub victim: Spanned<String>,
    pub start: Spanned<Range<Duration>>,
    /// Tor exits and VPN addresses used. Default 5..50.
    #[serde(default)]
    pub anonymisers: Option<Range<Int>>,
    /// Time between credential refreshes (a new SSRF). Default 1h..6h.
    #[serde(default)]
    pub credential_refresh: Option<Spanned<Range<Duration>>>,
    /// Storage API calls in the listing. Default 20..200.
    #[serde(default)]
    pub storage_calls: Option<Range<Int>>,
    /// Share of those calls denied (403). Default 0.05..0.8.
    #[serde(default)]
    pub denied: Option<Range<Real>>,
    /// Bytes pulled from storage. Default 50MiB..500MiB.
    #[serde(default)]
    pub pull_total: Option<Range<ByteSize>>,
    /// Bytes pushed out each night. Default 1GiB..10GiB.
    #[serde(default)]
    pub exfil_per_night: Option<Spanned<Range<ByteSize>>>,
    /// Exfil endpoint; default a random public address, port 443.
    /// When the nightly exfil may start, as time of day (UTC). Default 1h..4h (01:00–04:00).
    #[serde(default)]
    pub exfil_window: Option<Range<Duration>>,
    #[serde(default)]
    pub exfil_ip: Option<IpAddr>,
    #[serde(default)]
    pub exfil_port: Option<u16>,
}

impl Params {
    pub fn validate(&self) -> Vec<(u64, u64, String)> {
        let mut errs = Vec::new();
        if let Some(r) = &self.credential_refresh
            && r.value.min < Duration::from_secs(60)
        {
            errs.push((
                r.referenced.line(),
                r.referenced.column(),
                format!("credential_refresh {} is below 1m", r.value),
            ));
        }
        if let Some(e) = &self.exfil_per_night
            && e.value.max > ByteSize(64 << 30)
        {
            errs.push((
                e.referenced.line(),
                e.referenced.column(),
                format!("exfil_per_night {} is above 64GiB", e.value),
            ));
        }
        errs
    }
}

fn proxied(k: &mut Kit<'_>, uri: String, host: &str, ua: &str, body: Vec<u8>) -> HttpExchange {
    let mut ex = k.http(
        "GET",
        &uri,
        host.to_string(),
        ua.to_string(),
        Body::Bytes(Vec::new()),
        None,
        Body::Bytes(body),
    );
    ex.response_content_type = "text/plain";
    ex
}

/// The attack's sessions, planned up front.
pub fn plan(p: &Params, world: &World, seed: u64, index: usize, scenario_start: Nanos, scenario_end: Nanos) -> Planned {
    let mut rng = stream(seed, NAME, index as u64);
    let waf = world.device(&p.victim.value).expect("validated: victim exists");
    let start = scenario_start + draw_duration(&mut rng, p.start.value);
    let first_port = rng.random_range(40000..60000);
    let mut k = Kit::new(world, waf, rng, &p.id.value, NAME, first_port);
    let mut out = Vec::new();
    let role = instance_role(waf);
    let public_name = format!("waf{}.example-corp.com", waf.index + 1);
    let cas = certs::public_cas(&mut k.rng, scenario_start);
    let waf_chain = Arc::new(certs::issued_chain(&cas[0], &public_name, &mut k.rng, scenario_start));
    let anonymisers: Vec<IpAddr> = (0..draw_int(&mut k.rng, p.anonymisers, (5, 50)))
        .map(|_| IpAddr::V4(public_ipv4(&mut k.rng)))
        .collect();
    let ua = "Mozilla/5.0 (Windows NT 10.0; rv:128.0) Gecko/20100101 Firefox/128.0"; // Tor Browser
    let anon = |k: &mut Kit<'_>| {
        (
            anonymisers[k.rng.random_range(0..anonymisers.len())],
            k.rng.random_range(30000..61000),
        )
    };

    // Reconnaissance through anonymisers, spread over the run.
    let span = scenario_end.saturating_sub(start).max(1);
    for _ in 0..anonymisers.len() * 2 {
        let at = start + k.rng.random_range(0..span);
        let exchanges = (0..k.rng.random_range(1..5))
            .map(|_| TlsExchange {
                up: k.rng.random_range(300..1200),
                down: k.rng.random_range(1000..30_000),
                think: 20_000_000,
                streamed: None,
            })
            .collect();
        let tls = TlsSession {
            sni: Some(public_name.clone()),
            version: TlsVersion::V13,
            client: TlsClient::Firefox,
            alpn: Some("h2"),
            chain: waf_chain.clone(),
            exchanges,
        };
        let src = anon(&mut k);
        let label = k.label("anonymised-access", "T1090.003");
        out.push(k.inbound(at, src, 443, 250_000_000, SessionKind::Tls(tls), label));
    }

    // SSRF → metadata credentials, repeated to refresh them.
    let refresh = p
        .credential_refresh
        .as_ref()
        .map(|r| r.value)
        .unwrap_or(Range::new(Duration::from_secs(3600), Duration::from_secs(6 * 3600)));
    let mut t = start + k.rng.random_range(300..1800) * NS_PER_SEC;
    let first_theft = t;
    while t < scenario_end {
        let src = anon(&mut k);
        let list = format!("{role}\n").into_bytes();
        let creds = credentials_json(&mut k.rng, t);
        let probes = vec![
            proxied(
                &mut k,
                format!("/?url=http://169.254.169.254{METADATA_CREDENTIALS}"),
                &public_name,
                ua,
                list.clone(),
            ),
            proxied(
                &mut k,
                format!("/?url=http://169.254.169.254{METADATA_CREDENTIALS}{role}"),
                &public_name,
                ua,
                creds.clone(),
            ),
        ];
        let label = k.label("ssrf", "T1190");
        out.push(k.inbound(t, src, 80, 250_000_000, SessionKind::Http(probes), label));
        // The proxy fetches what it was told to, a moment after each request arrives.
        let boto = "python-requests/2.28.1";
        let mut a = k.http(
            "GET",
            METADATA_CREDENTIALS,
            "169.254.169.254".into(),
            boto.into(),
            Body::Bytes(Vec::new()),
            None,
            Body::Bytes(list),
        );
        a.response_content_type = "text/plain";
        let mut b = k.http(
            "GET",
            &format!("{METADATA_CREDENTIALS}{role}"),
            "169.254.169.254".into(),
            boto.into(),
            Body::Bytes(Vec::new()),
            None,
            Body::Bytes(creds),
        );
        b.response_content_type = "text/plain";
        let label = k.label("metadata-credentials", "T1552.005");
        out.push(k.session(
            t + 260_000_000,
            (METADATA_IP, 80),
            300_000,
            SessionKind::Http(vec![a]),
            label.clone(),
        ));
        out.push(k.session(
            t + 900_000_000,
            (METADATA_IP, 80),
            300_000,
            SessionKind::Http(vec![b]),
            label,
        ));
        t += draw_duration(&mut k.rng, refresh);
    }

    // Storage: listing (many calls, many denied), then pulls.
    let s3 = IpAddr::V4(public_ipv4(&mut k.rng));
    let at = first_theft + k.rng.random_range(120..1800) * NS_PER_SEC;
    let label = k.label("storage-listing", "T1619");
    out.push(k.dns(at, "s3.amazonaws.com", s3, label.clone()));
    let denied = p.denied.unwrap_or(Range::new(Real(0.05), Real(0.8)));
    let denied = if denied.min == denied.max {
        denied.min.0
    } else {
        k.rng.random_range(denied.min.0..denied.max.0)
    };
    let calls: Vec<TlsExchange> = (0..draw_int(&mut k.rng, p.storage_calls, (20, 200)))
        .map(|_| {
            let down = if k.rng.random_bool(denied) {
                k.rng.random_range(240..320)
            } else {
                k.rng.random_range(1_500..40_000)
            };
            TlsExchange {
                up: k.rng.random_range(400..900),
                down,
                think: k.rng.random_range(20_000_000..120_000_000),
                streamed: None,
            }
        })
        .collect();
    let s3_chain = Arc::new(certs::issued_chain(
        &cas[1],
        "s3.amazonaws.com",
        &mut k.rng,
        scenario_start,
    ));
    let tls = TlsSession {
        sni: Some("s3.amazonaws.com".into()),
        version: TlsVersion::V13,
        client: TlsClient::Curl,
        alpn: Some("http/1.1"),
        chain: s3_chain.clone(),
        exchanges: calls,
    };
    out.push(k.session(at + 3_000_000, (s3, 443), 2_000_000, SessionKind::Tls(tls), label));
    let mut left = draw_size(&mut k.rng, p.pull_total, (50 << 20, 500 << 20));
    let mut at = at + k.rng.random_range(300..900) * NS_PER_SEC;
    while left > 0 {
        let chunk = left.min(k.rng.random_range(5 << 20..60 << 20));
        left -= chunk;
        let tls = TlsSession {
            sni: Some("s3.amazonaws.com".into()),
            version: TlsVersion::V13,
            client: TlsClient::Curl,
            alpn: Some("http/1.1"),
            chain: s3_chain.clone(),
            exchanges: vec![TlsExchange {
                up: 600,
                down: chunk,
                think: 30_000_000,
                streamed: None,
            }],
        };
        let label = k.label("storage-pull", "T1530");
        out.push(k.session(at, (s3, 443), 2_000_000, SessionKind::Tls(tls), label));
        at += chunk / 50 + k.rng.random_range(1..20) * NS_PER_SEC;
    }

    // Exfil: every night between 01:00 and 04:00 after the theft, GBs to a rare endpoint.
    let exfil_ip = p.exfil_ip.unwrap_or_else(|| IpAddr::V4(public_ipv4(&mut k.rng)));
    let exfil_port = p.exfil_port.unwrap_or(443);
    let day = 86_400 * NS_PER_SEC;
    let window = p
        .exfil_window
        .unwrap_or(Range::new(Duration::from_secs(3600), Duration::from_secs(4 * 3600)));
    let mut night = first_theft - second_of_day(first_theft) * NS_PER_SEC + window.min.0;
    if night < first_theft {
        night += day;
    }
    while night < scenario_end {
        let mut left = draw_size(
            &mut k.rng,
            p.exfil_per_night.as_ref().map(|s| s.value),
            (1 << 30, 10 << 30),
        );
        let mut at = night + k.rng.random_range(0..(window.max.0 - window.min.0).max(1));
        while left > 0 && at < scenario_end {
            let chunk = left.min(k.rng.random_range(100 << 20..500 << 20));
            left -= chunk;
            let tls = TlsSession {
                sni: None,
                version: TlsVersion::V13,
                client: TlsClient::Curl,
                alpn: None,
                chain: s3_chain.clone(),
                exchanges: vec![TlsExchange {
                    up: chunk,
                    down: k.rng.random_range(200..800),
                    think: 50_000_000,
                    streamed: None,
                }],
            };
            let label = k.label("exfil", "T1041");
            out.push(k.session(at, (exfil_ip, exfil_port), 90_000_000, SessionKind::Tls(tls), label));
            at += chunk / 20 + k.rng.random_range(5..60) * NS_PER_SEC;
        }
        night += day;
    }
    Planned::new(out, scenario_end)
}
