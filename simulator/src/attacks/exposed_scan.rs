//! A cloud VM exposed by mistake at time T and found by Internet scanners
//! (shared/scenarios.md §2). From T on, a growing number of distinct external sources arrive:
//!
//! - `syn-scan` (T1595.001): stateless half-open probes (SYN, SYN-ACK, RST), 40–70 % of sources;
//! - `banner-grab` (T1596): a full connect fetching `/` with a scanner user agent;
//! - `path-probe` (T1595.003): 20–30 wordlist paths in under a minute from one source;
//! - `brute-force` (T1110.001): bursts of 5–60 login POSTs a minute for 1–30 min from one source.
//!
//! The first probe comes within about a minute; sources follow a Poisson process whose rate
//! ramps from a few in the first hour to hundreds a day; over 60 % are seen once. The VM's own
//! uptime probes go on unchanged (they are benign traffic, from `behaviour::inbound`).

use std::net::IpAddr;
use std::sync::Arc;

use rand::RngExt;
use rand_distr::{Distribution, Exp};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{Planned, draw_duration};
use crate::rng::{Stream, stream};
use crate::session::{Body, ConnectFailure, Host, HttpExchange, Label, Session, SessionKind};
use crate::units::{Duration, Int, NS_PER_SEC, Nanos, Range, Real};
use crate::world::{Device, OsTraits, World, public_ipv4};

pub const NAME: &str = "exposed-service-scan";

const SCANNER_UAS: &[&str] = &[
    "Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)",
    "Mozilla/5.0 zgrab/0.x",
    "Expanse, a Palo Alto Networks company, searches across the global IPv4 space multiple times per day to identify customers' presences on the Internet.",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
];

const WORDLIST: &[&str] = &[
    "/favicon.ico",
    "/robots.txt",
    "/.env",
    "/.env.bak",
    "/.env.production",
    "/api/.env",
    "/.git/config",
    "/.git/HEAD",
    "/wp-login.php",
    "/xmlrpc.php",
    "/admin",
    "/admin/login",
    "/login",
    "/phpmyadmin/",
    "/pma/",
    "/actuator/env",
    "/actuator/health",
    "/aws/credentials",
    "/.aws/credentials",
    "/server-status",
    "/config.json",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/cgi-bin/luci",
    "/boaform/admin/formLogin",
    "/owa/",
    "/remote/login",
    "/.DS_Store",
    "/backup.zip",
    "/debug/pprof/",
];

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub id: Spanned<String>,
    pub victim: Spanned<String>,
    /// When the service becomes reachable from the Internet (offset from the scenario start).
    pub start: Spanned<Range<Duration>>,
    /// The exposed TCP port (HTTP). Default 80.
    #[serde(default)]
    pub port: Option<u16>,
    /// Distinct sources during the first day. Default 50..500.
    #[serde(default)]
    pub sources_per_day: Option<Spanned<Range<Int>>>,
    /// Share of sources that only send half-open SYN probes. Default 0.4..0.7.
    #[serde(default)]
    pub syn_only: Option<Range<Real>>,
    /// Brute-force campaigns. Default 1..3.
    #[serde(default)]
    pub brute_force: Option<Range<Int>>,
    /// Pause between a wordlist run's requests. Default 300ms..2.5s.
    #[serde(default)]
    pub probe_gap: Option<Range<Duration>>,
    /// Time from exposure to the first probe. Default 40s..90s.
    #[serde(default)]
    pub first_probe: Option<Range<Duration>>,
}

impl Params {
    pub fn validate(&self) -> Vec<(u64, u64, String)> {
        let mut errs = Vec::new();
        if let Some(s) = &self.sources_per_day
            && (s.value.min.0 == 0 || s.value.max.0 > 100_000)
        {
            errs.push((
                s.referenced.line(),
                s.referenced.column(),
                format!("sources_per_day {} must be within 1..100000", s.value),
            ));
        }
        errs
    }
}

struct Plan<'w> {
    rng: Stream,
    vm: &'w Device,
    gateway_mac: [u8; 6],
    port: u16,
    id: Arc<str>,
    out: Vec<Session>,
}

impl Plan<'_> {
    fn label(&self, stage: &'static str, technique: &'static str) -> Option<Label> {
        Some(Label {
            attack_id: self.id.clone(),
            attack: NAME,
            stage,
            technique,
        })
    }

    fn inbound(&mut self, at: Nanos, src: (IpAddr, u16), kind: SessionKind, label: Option<Label>) {
        let rtt = self.rng.random_range(20_000_000..250_000_000);
        let session = Session {
            start: at,
            client: Host {
                ip: src.0,
                mac: self.gateway_mac,
                port: src.1,
            },
            server: Host {
                ip: self.vm.ip,
                mac: self.vm.mac,
                port: self.port,
            },
            client_os: OsTraits::LINUX,
            server_os: self.vm.os,
            rtt,
            kind,
            label,
            seed: self.rng.random(),
        };
        self.out.push(session);
    }

    fn get(&mut self, path: &str, ua: &str, status: u16, method: &'static str, body: Body) -> HttpExchange {
        let resp = if status == 200 {
            self.rng.random_range(300..6000)
        } else {
            self.rng.random_range(150..400)
        };
        HttpExchange {
            method,
            uri: path.to_string(),
            host: self.vm.ip.to_string(),
            user_agent: ua.to_string(),
            request_content_type: if method == "POST" {
                Some("application/x-www-form-urlencoded")
            } else {
                None
            },
            headers: Vec::new(),
            request_body: body,
            status,
            response_content_type: "text/html",
            response_body: Body::Filler(resp),
            think: self.rng.random_range(1_000_000..20_000_000),
        }
    }
}

/// The attack's sessions, planned up front.
pub fn plan(p: &Params, world: &World, seed: u64, index: usize, scenario_start: Nanos, scenario_end: Nanos) -> Planned {
    let mut rng = stream(seed, NAME, index as u64);
    let vm = world.device(&p.victim.value).expect("validated: victim exists");
    let exposed = scenario_start + draw_duration(&mut rng, p.start.value);
    let per_day = p
        .sources_per_day
        .as_ref()
        .map(|s| s.value)
        .unwrap_or(Range::new(Int(50), Int(500)));
    let per_day = rng.random_range(per_day.min.0..=per_day.max.0) as f64;
    let syn_only = p.syn_only.unwrap_or(Range::new(Real(0.4), Real(0.7)));
    let syn_only = if syn_only.min == syn_only.max {
        syn_only.min.0
    } else {
        rng.random_range(syn_only.min.0..syn_only.max.0)
    };
    let campaigns = p.brute_force.unwrap_or(Range::new(Int(1), Int(3)));
    let campaigns = rng.random_range(campaigns.min.0..=campaigns.max.0);
    let mut plan = Plan {
        rng,
        vm,
        gateway_mac: world.gateway_mac,
        port: p.port.unwrap_or(80),
        id: Arc::from(p.id.value.as_str()),
        out: Vec::new(),
    };

    // Sources arrive as a Poisson process; the rate ramps up over the first hours as the
    // address lands in scanners' indexes. The first comes within about a minute.
    let probe_gap = p
        .probe_gap
        .unwrap_or(Range::new(Duration(300_000_000), Duration(2_500_000_000)));
    let first = p
        .first_probe
        .unwrap_or(Range::new(Duration::from_secs(40), Duration::from_secs(90)));
    let mut t = exposed + draw_duration(&mut plan.rng, first);
    let mut sources: Vec<(Nanos, IpAddr)> = Vec::new();
    while t < scenario_end {
        sources.push((t, IpAddr::V4(public_ipv4(&mut plan.rng))));
        let hours = (t - exposed) as f64 / 3.6e12;
        let ramp = (0.1 + hours / 6.0).min(1.0);
        let rate_per_s = per_day / 86_400.0 * ramp * 1.6;
        let gap: f64 = Exp::new(rate_per_s.max(1e-6))
            .map(|d| d.sample(&mut plan.rng))
            .unwrap_or(600.0);
        t += (gap * NS_PER_SEC as f64) as Nanos + 1;
    }
    for (i, &(at, ip)) in sources.iter().enumerate() {
        let ua = SCANNER_UAS[plan.rng.random_range(0..SCANNER_UAS.len())];
        // Over 60 % are seen once; the rest come back a few times over the day.
        let visits = if plan.rng.random_bool(0.65) {
            1
        } else {
            plan.rng.random_range(2..5)
        };
        let mut when = at;
        let half_open = plan.rng.random_bool(syn_only);
        for v in 0..visits {
            let sport = plan.rng.random_range(1024..65535);
            if half_open {
                let label = plan.label("syn-scan", "T1595.001");
                plan.inbound(when, (ip, sport), SessionKind::Failed(ConnectFailure::HalfOpen), label);
            } else if v == 0 || i % 3 != 0 {
                let label = plan.label("banner-grab", "T1596");
                let ex = plan.get("/", ua, 200, "GET", Body::Bytes(Vec::new()));
                plan.inbound(when, (ip, sport), SessionKind::Http(vec![ex]), label);
            } else {
                // A wordlist run: 20–30 paths in under a minute, one connection each.
                let mut at = when;
                for _ in 0..plan.rng.random_range(20..=30) {
                    let path = WORDLIST[plan.rng.random_range(0..WORDLIST.len())];
                    let sport = plan.rng.random_range(1024..65535);
                    let label = plan.label("path-probe", "T1595.003");
                    let ex = plan.get(path, ua, 404, "GET", Body::Bytes(Vec::new()));
                    plan.inbound(at, (ip, sport), SessionKind::Http(vec![ex]), label);
                    at += draw_duration(&mut plan.rng, probe_gap);
                }
            }
            when += plan.rng.random_range(600..6 * 3600) * NS_PER_SEC;
        }
    }
    // Brute force: a source posts logins at 5–60 a minute for 1–30 minutes.
    for _ in 0..campaigns {
        let ip = IpAddr::V4(public_ipv4(&mut plan.rng));
        let mut at = exposed
            + plan
                .rng
                .random_range(600..(scenario_end.saturating_sub(exposed) / NS_PER_SEC).max(601))
                * NS_PER_SEC;
        let per_min = plan.rng.random_range(5..=60);
        let minutes = plan.rng.random_range(1..=30);
        let path = ["/wp-login.php", "/login", "/admin/login", "/xmlrpc.php"][plan.rng.random_range(0..4)];
        for _ in 0..per_min * minutes {
            let user = ["admin", "root", "test", "user", "administrator"][plan.rng.random_range(0..5)];
            let body = format!("log={user}&pwd={:08x}&wp-submit=Log+In", plan.rng.random::<u32>());
            let ex = plan.get(
                path,
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
                401,
                "POST",
                Body::Bytes(body.into_bytes()),
            );
            let sport = plan.rng.random_range(1024..65535);
            let label = plan.label("brute-force", "T1110.001");
            plan.inbound(at, (ip, sport), SessionKind::Http(vec![ex]), label);
            at += 60 * NS_PER_SEC / per_min;
        }
    }
    Planned::new(plan.out, scenario_end)
}
