//! The Windows twin of the DPRK intrusion (shared/scenarios.md §1, Mar 30 – Apr 20 case):
//!
//! 1. `c2-connect-failures` — a burst of refused connects to the C2 (T1571);
//! 2. `c2-poll` — the PowerShell implant polls `/api/daemon` on the bare-IP C2 every few
//!    seconds with PowerShell's user agent (T1071.001);
//! 3. `tool-download` — a download from a code-hosting site over TLS (T1105);
//! 4. `exfil` — HTTP POSTs to other addresses without a hostname (T1041).

use std::net::IpAddr;
use std::sync::Arc;

use rand::RngExt;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::kit::{Kit, host_port};
use super::{Planned, draw_duration, draw_int};
use crate::certs;
use crate::rng::stream;
use crate::session::{Body, ConnectFailure, SessionKind, TlsClient, TlsExchange, TlsSession, TlsVersion};
use crate::units::{ByteSize, Duration, Int, NS_PER_SEC, Nanos, Range};
use crate::world::{World, public_ipv4};

pub const NAME: &str = "dprk-windows-powershell";

const POWERSHELL_UA: &str = "Mozilla/5.0 (Windows NT; Windows NT 10.0; fr-FR) WindowsPowerShell/5.1.26100.7920";

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub id: Spanned<String>,
    pub victim: Spanned<String>,
    pub start: Spanned<Range<Duration>>,
    /// C2 address; default: a random public address.
    #[serde(default)]
    pub c2_ip: Option<IpAddr>,
    /// Default one of 6783, 8443, 8444, 5202, 7365, 1224.
    #[serde(default)]
    pub c2_port: Option<Range<Int>>,
    /// Refused connects before the implant gets through. Default 5..20.
    #[serde(default)]
    pub failed_attempts: Option<Range<Int>>,
    /// Poll period. Default 3s..10s (the implant seen polled every 5 s).
    #[serde(default)]
    pub poll_interval: Option<Spanned<Range<Duration>>>,
    /// How long the poller runs. Default 30m..90m.
    #[serde(default)]
    pub poll_for: Option<Range<Duration>>,
    #[serde(default)]
    pub user_agent: Option<String>,
    /// Time from the first poll to the tool download. Default 2m..10m.
    #[serde(default)]
    pub download_delay: Option<Range<Duration>>,
    /// Time from the download to the first POST to another address. Default 1m..10m.
    #[serde(default)]
    pub exfil_delay: Option<Range<Duration>>,
    /// Default `github.com`.
    #[serde(default)]
    pub download_host: Option<String>,
    /// Default 1MiB..20MiB.
    #[serde(default)]
    pub download_size: Option<Range<ByteSize>>,
    /// POSTs to other bare IPs. Default 2..5.
    #[serde(default)]
    pub exfil_posts: Option<Range<Int>>,
    /// Size of each. Default 10KB..2MB.
    #[serde(default)]
    pub exfil_size: Option<Range<ByteSize>>,
}

impl Params {
    pub fn validate(&self) -> Vec<(u64, u64, String)> {
        let mut errs = Vec::new();
        if let Some(i) = &self.poll_interval
            && i.value.min < Duration::from_secs(1)
        {
            errs.push((
                i.referenced.line(),
                i.referenced.column(),
                format!("poll_interval {} is below 1s", i.value),
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
    let c2 = p.c2_ip.unwrap_or_else(|| IpAddr::V4(public_ipv4(&mut rng)));
    let port = match p.c2_port {
        Some(r) => draw_int(&mut rng, Some(r), (0, 0)) as u16,
        None => [6783, 8443, 8444, 5202, 7365, 1224][rng.random_range(0..6)],
    };
    let first_port = rng.random_range(49152..60000);
    let mut k = Kit::new(world, victim, rng, &p.id.value, NAME, first_port);
    let rtt = k.rng.random_range(60_000_000..220_000_000);
    let mut out = Vec::new();

    // 1. Refused connects, a second or three apart.
    let mut t = start;
    for _ in 0..draw_int(&mut k.rng, p.failed_attempts, (5, 20)) {
        let label = k.label("c2-connect-failures", "T1571");
        out.push(k.session(t, (c2, port), rtt, SessionKind::Failed(ConnectFailure::Refused), label));
        t += k.rng.random_range(1..=3) * NS_PER_SEC;
    }

    // 2. The poller.
    let ua = p.user_agent.clone().unwrap_or_else(|| POWERSHELL_UA.into());
    let every = draw_duration(
        &mut k.rng,
        p.poll_interval
            .as_ref()
            .map(|s| s.value)
            .unwrap_or(Range::new(Duration::from_secs(3), Duration::from_secs(10))),
    );
    let until = t + draw_duration(
        &mut k.rng,
        p.poll_for
            .unwrap_or(Range::new(Duration::from_secs(1800), Duration::from_secs(5400))),
    );
    let poll_start = t;
    while t < until {
        let body = format!("{{\"id\":\"{:08x}\",\"act\":\"poll\"}}", k.rng.random::<u32>());
        let ex = k.http(
            "POST",
            "/api/daemon",
            host_port(c2, port),
            ua.clone(),
            Body::Bytes(body.into_bytes()),
            Some("application/json"),
            Body::Bytes(b"{\"cmd\":\"\"}".to_vec()),
        );
        let label = k.label("c2-poll", "T1071.001");
        out.push(k.session(t, (c2, port), rtt, SessionKind::Http(vec![ex]), label));
        // PowerShell's Start-Sleep: steady, with only scheduling noise.
        t += every + k.rng.random_range(0..every / 20 + 1);
    }

    // 3. A tool downloaded from a code-hosting site, a few minutes into the polling.
    let host = p.download_host.clone().unwrap_or_else(|| "github.com".into());
    let ip = IpAddr::V4(public_ipv4(&mut k.rng));
    let download_delay = p
        .download_delay
        .unwrap_or(Range::new(Duration::from_secs(120), Duration::from_secs(600)));
    let at = poll_start + draw_duration(&mut k.rng, download_delay);
    let label = k.label("tool-download", "T1105");
    out.push(k.dns(at, &host, ip, label.clone()));
    let cas = certs::public_cas(&mut k.rng, scenario_start);
    let chain = Arc::new(certs::issued_chain(&cas[1], &host, &mut k.rng, scenario_start));
    let size = p
        .download_size
        .unwrap_or(Range::new(ByteSize(1 << 20), ByteSize(20 << 20)));
    let size = k.rng.random_range(size.min.0..=size.max.0);
    let tls = TlsSession {
        sni: Some(host),
        version: TlsVersion::V12,
        client: TlsClient::Schannel,
        alpn: Some("http/1.1"),
        chain,
        exchanges: vec![TlsExchange {
            up: 350,
            down: size,
            think: 30_000_000,
            streamed: None,
        }],
    };
    out.push(k.session(at + 2_000_000, (ip, 443), 30_000_000, SessionKind::Tls(tls), label));

    // 4. POSTs to other addresses without a hostname.
    let exfil_delay = p
        .exfil_delay
        .unwrap_or(Range::new(Duration::from_secs(60), Duration::from_secs(600)));
    let mut at = at + draw_duration(&mut k.rng, exfil_delay);
    for _ in 0..draw_int(&mut k.rng, p.exfil_posts, (2, 5)) {
        let dst = match c2 {
            IpAddr::V4(a) => IpAddr::V4(
                [
                    a.octets()[0],
                    a.octets()[1],
                    k.rng.random_range(1..255),
                    k.rng.random_range(1..255),
                ]
                .into(),
            ),
            v6 => v6,
        };
        let dport = [8443u16, 8080, 5202, 7365][k.rng.random_range(0..4)];
        let size = p
            .exfil_size
            .unwrap_or(Range::new(ByteSize(10_000), ByteSize(2_000_000)));
        let size = k.rng.random_range(size.min.0..=size.max.0);
        let ex = k.http(
            "POST",
            "/api/upload",
            host_port(dst, dport),
            ua.clone(),
            Body::Filler(size),
            Some("application/octet-stream"),
            Body::Bytes(b"{\"ok\":1}".to_vec()),
        );
        let label = k.label("exfil", "T1041");
        out.push(k.session(at, (dst, dport), rtt, SessionKind::Http(vec![ex]), label));
        at += k.rng.random_range(10..120) * NS_PER_SEC;
    }
    Planned::new(out, scenario_end)
}
