//! DPRK-linked macOS "fake update" (ClickFix/AppleScript) intrusion, as a full kill chain
//! (facts and ranges: shared/scenarios.md §1):
//!
//! 1. `lure` — the victim's browser opens a lookalike meeting domain over TLS (DNS + SNI);
//! 2. `stage-fetch` — the pasted command fetches an AppleScript stage over HTTP with an odd
//!    user agent (`curl | osascript`);
//! 3. `registration` — a JSON POST to `/api/daemon` on a bare IP and high port (no DNS, no SNI),
//!    10–40 s after the paste;
//! 4. `credential-theft` — the stolen password goes to the Telegram Bot API (legitimate SNI);
//! 5. `payload` — `curl -k` pulls from a bare IP over TLS with a self-signed certificate;
//! 6. `exfil` — staged ZIP archives, one HTTP POST each, to a new endpoint on 8443;
//! 7. `c2-beacon` — the persistence loop polls the C2 until the end (optionally only during
//!    working hours), every interval with jitter.
//!
//! Everything — addresses, ports, names, user agents, sizes, delays — is drawn per seed within
//! realistic ranges, or fixed by the scenario.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;

use rand::RngExt;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::kit::{Kit, host_port};
use super::{draw_duration, draw_int, draw_size};
use crate::certs;
use crate::render::tls::supports_tls13;
use crate::rng::{Stream, stream};
use crate::session::{Body, HttpExchange, Session, SessionKind, TlsClient, TlsExchange, TlsSession, TlsVersion};
use crate::units::{ByteSize, Duration, Int, NS_PER_SEC, Nanos, Range, Real};
use crate::world::{World, public_ipv4};

pub const NAME: &str = "dprk-macos-clickfix";

/// Ports seen on this campaign's C2 servers.
const C2_PORTS: &[u16] = &[6783, 8443, 8444, 5202, 7365, 1224];
/// User agents of the pasted stage fetchers.
const STAGE_UAS: &[&str] = &[
    "ZoomSDK",
    "teamsdk",
    "mac-cur1",
    "mac-cur2",
    "mac-cur3",
    "mac-cur4",
    "mac-cur5",
    "curl/8.7.1",
];

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum JitterModel {
    /// `sleep × (1 − jitter·u)`: jitter only shortens the sleep (Cobalt Strike style).
    #[default]
    Multiplicative,
    /// `sleep + jitter·sleep·u`: a random extra added (Sliver style).
    Additive,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub id: Spanned<String>,
    pub victim: Spanned<String>,
    /// When the victim opens the lure, as an offset from the scenario start.
    pub start: Spanned<Range<Duration>>,
    /// Lookalike meeting domain; default `u<letter><NN>webzoom.us`.
    #[serde(default)]
    pub lure_host: Option<String>,
    /// C2 address (registration and beacon); default: a random public address. Payload and
    /// exfil servers default to other hosts of the same /16.
    #[serde(default)]
    pub c2_ip: Option<IpAddr>,
    /// C2 port; default: one of the campaign's ports.
    #[serde(default)]
    pub c2_port: Option<Spanned<Range<Int>>>,
    #[serde(default)]
    pub payload_ip: Option<IpAddr>,
    /// Default 8444.
    #[serde(default)]
    pub payload_port: Option<Spanned<Range<Int>>>,
    #[serde(default)]
    pub exfil_ip: Option<IpAddr>,
    /// Default 8443.
    #[serde(default)]
    pub exfil_port: Option<Spanned<Range<Int>>>,
    /// User agent of the stage fetch; default one of ZoomSDK, teamsdk, mac-cur1..5, curl/8.7.1.
    #[serde(default)]
    pub stage_user_agent: Option<String>,
    /// Time from opening the lure to pasting the command. Default 1m..5m.
    #[serde(default)]
    pub paste_delay: Option<Range<Duration>>,
    /// Time from the paste to the registration POST. Default 10s..40s.
    #[serde(default)]
    pub registration_delay: Option<Range<Duration>>,
    /// Time from the registration to the credential theft. Default 5s..60s.
    #[serde(default)]
    pub credential_delay: Option<Range<Duration>>,
    /// Time from the credential theft to the first payload pull. Default 20s..2m.
    #[serde(default)]
    pub payload_delay: Option<Range<Duration>>,
    /// Time from the first beacon to the first exfil POST. Default 30s..2m.
    #[serde(default)]
    pub exfil_delay: Option<Range<Duration>>,
    /// Number of payload pulls. Default 2..4.
    #[serde(default)]
    pub payload_pulls: Option<Range<Int>>,
    /// Size of each payload. Default 100KiB..5MiB.
    #[serde(default)]
    pub payload_size: Option<Spanned<Range<ByteSize>>>,
    /// Total bytes exfiltrated. Default 5MiB..60MiB.
    #[serde(default)]
    pub exfil_total: Option<Spanned<Range<ByteSize>>>,
    /// Number of exfil POSTs (one per archive). Default 6..9.
    #[serde(default)]
    pub exfil_posts: Option<Spanned<Range<Int>>>,
    /// Base sleep between beacons; drawn once per run from the range. Default 30s..120s.
    #[serde(default)]
    pub interval: Option<Spanned<Range<Duration>>>,
    /// Jitter fraction, drawn once per run. Default 0..0.3.
    #[serde(default)]
    pub jitter: Option<Spanned<Range<Real>>>,
    #[serde(default)]
    pub jitter_model: JitterModel,
    /// Beacon only on weekdays 08:00–19:00 (UTC). Default false.
    #[serde(default)]
    pub working_hours: bool,
    /// Beacon user agent; default `curl/8.7.1`.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// Default `/api/daemon`.
    #[serde(default)]
    pub uri: Option<String>,
    /// How long the beacon runs; default: until the end of the scenario.
    #[serde(default)]
    pub beacon_for: Option<Duration>,
    /// Size of each beacon's JSON body, drawn per beacon. Default 80..300.
    #[serde(default)]
    pub post_size: Option<Spanned<Range<ByteSize>>>,
}

impl Params {
    pub fn validate(&self) -> Vec<(u64, u64, String)> {
        let mut errs = Vec::new();
        let mut at = |loc: &serde_saphyr::Location, msg: String| errs.push((loc.line(), loc.column(), msg));
        if let Some(s) = &self.post_size
            && s.value.max > ByteSize(16 << 20)
        {
            at(&s.referenced, format!("post_size {} is above 16MiB", s.value));
        }
        for (what, r) in [("payload_port", &self.payload_port), ("exfil_port", &self.exfil_port)] {
            if let Some(r) = r
                && (r.value.min.0 == 0 || r.value.max.0 > 65535)
            {
                at(&r.referenced, format!("{what} {} is not a TCP port (1-65535)", r.value));
            }
        }
        if let Some(p) = &self.c2_port
            && (p.value.min.0 == 0 || p.value.max.0 > 65535)
        {
            at(
                &p.referenced,
                format!("c2_port {} is not a TCP port (1-65535)", p.value),
            );
        }
        if let Some(i) = &self.interval
            && i.value.min < Duration::from_secs(1)
        {
            at(&i.referenced, format!("interval {} is below 1s", i.value));
        }
        if let Some(j) = &self.jitter
            && (j.value.min.0 < 0.0 || j.value.max.0 >= 1.0)
        {
            at(
                &j.referenced,
                format!("jitter {} must be within 0..1 (a fraction of the interval)", j.value),
            );
        }
        if let Some(n) = &self.exfil_posts
            && (n.value.min.0 == 0 || n.value.max.0 > 1000)
        {
            at(&n.referenced, format!("exfil_posts {} must be within 1..1000", n.value));
        }
        if let Some(t) = &self.exfil_total
            && t.value.max > ByteSize(8 << 30)
        {
            at(&t.referenced, format!("exfil_total {} is above 8GiB", t.value));
        }
        if let Some(t) = &self.payload_size
            && t.value.max > ByteSize(1 << 30)
        {
            at(&t.referenced, format!("payload_size {} is above 1GiB", t.value));
        }
        errs
    }
}

/// Another host of the same /16 (C2 operators rent neighbouring addresses).
fn neighbour(rng: &mut Stream, ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            IpAddr::V4([o[0], o[1], rng.random_range(1..255), rng.random_range(1..255)].into())
        }
        v6 => v6,
    }
}

pub struct Beacon<'w> {
    p: Params,
    kit: Kit<'w>,
    c2: IpAddr,
    port: u16,
    interval: Nanos,
    jitter: f64,
    next: Nanos,
    end: Nanos,
    rtt: Nanos,
    seq: u64,
    /// The kill chain before the beacon loop, in start order.
    chain: VecDeque<Session>,
}

impl<'w> Beacon<'w> {
    pub fn new(
        p: Params,
        world: &'w World,
        seed: u64,
        index: usize,
        scenario_start: Nanos,
        scenario_end: Nanos,
    ) -> Self {
        let mut rng = stream(seed, NAME, index as u64);
        let victim = world.device(&p.victim.value).expect("validated: victim exists");
        let start = scenario_start + draw_duration(&mut rng, p.start.value);
        let c2 = p.c2_ip.unwrap_or_else(|| IpAddr::V4(public_ipv4(&mut rng)));
        let port = match &p.c2_port {
            Some(r) => rng.random_range(r.value.min.0..=r.value.max.0) as u16,
            None => C2_PORTS[rng.random_range(0..C2_PORTS.len())],
        };
        let interval = draw_duration(
            &mut rng,
            p.interval
                .as_ref()
                .map(|s| s.value)
                .unwrap_or(Range::new(Duration::from_secs(30), Duration::from_secs(120))),
        );
        let jr = p
            .jitter
            .as_ref()
            .map(|s| s.value)
            .unwrap_or(Range::new(Real(0.0), Real(0.3)));
        let jitter = if jr.min == jr.max {
            jr.min.0
        } else {
            rng.random_range(jr.min.0..jr.max.0)
        };
        let rtt = rng.random_range(60_000_000..220_000_000);
        let next_src_port = rng.random_range(49152..60000);
        let kit = Kit::new(world, victim, rng, &p.id.value, NAME, next_src_port);
        let mut me = Beacon {
            p,
            kit,
            c2,
            port,
            interval,
            jitter,
            next: 0,
            end: scenario_end,
            rtt,
            seq: 0,
            chain: VecDeque::new(),
        };
        let first_beacon = me.kill_chain(start, scenario_start);
        me.next = first_beacon;
        me.end =
            me.p.beacon_for
                .map(|d| first_beacon.saturating_add(d.0))
                .unwrap_or(scenario_end)
                .min(scenario_end);
        me.chain.retain(|s| s.start < scenario_end);
        me
    }

    /// Queues stages 1–6; returns when the beacon loop starts.
    fn kill_chain(&mut self, start: Nanos, now: Nanos) -> Nanos {
        let rng = &mut self.kit.rng;
        let lure_host = self.p.lure_host.clone().unwrap_or_else(|| {
            format!(
                "u{}{:02}webzoom.us",
                (b'a' + rng.random_range(0..26)) as char,
                rng.random_range(0..100)
            )
        });
        let lure_ip = IpAddr::V4(public_ipv4(rng));
        let payload_ip = self.p.payload_ip.unwrap_or_else(|| neighbour(rng, self.c2));
        let exfil_ip = self.p.exfil_ip.unwrap_or_else(|| neighbour(rng, self.c2));
        let telegram = IpAddr::V4([149, 154, rng.random_range(160..176), rng.random_range(1..255)].into());
        let stage_ua = self
            .p
            .stage_user_agent
            .clone()
            .unwrap_or_else(|| STAGE_UAS[rng.random_range(0..STAGE_UAS.len())].to_string());
        let cas = certs::public_cas(rng, now);
        let lure_chain = Arc::new(certs::issued_chain(&cas[0], &lure_host, rng, now));
        let payload_chain = Arc::new(certs::self_signed("localhost", "Internet Widgits Pty Ltd", rng, now));

        // 1. Lure: the browser resolves and opens the lookalike meeting page.
        let lure = self.kit.label("lure", "T1566.002");
        let s = self.kit.dns(start, &lure_host, lure_ip, lure.clone());
        self.chain.push_back(s);
        let browser = self.kit.victim.browser.tls;
        let pages = (0..self.kit.rng.random_range(2..5))
            .map(|_| TlsExchange {
                up: self.kit.rng.random_range(400..1500),
                down: self.kit.rng.random_range(5_000..120_000),
                think: 30_000_000,
                streamed: None,
            })
            .collect();
        let tls = TlsSession {
            sni: Some(lure_host.clone()),
            version: if supports_tls13(browser) {
                TlsVersion::V13
            } else {
                TlsVersion::V12
            },
            client: browser,
            alpn: Some("h2"),
            chain: lure_chain,
            exchanges: pages,
        };
        let rtt = self.kit.rng.random_range(40_000_000..150_000_000);
        let s = self
            .kit
            .session(start + 3_000_000, (lure_ip, 443), rtt, SessionKind::Tls(tls), lure);
        self.chain.push_back(s);

        // 2. Stage fetch: the pasted `curl | osascript` (plain HTTP, odd user agent).
        let paste = start
            + draw_duration(
                &mut self.kit.rng,
                self.p
                    .paste_delay
                    .unwrap_or(Range::new(Duration::from_secs(60), Duration::from_secs(300))),
            );
        let script = Body::Filler(self.kit.rng.random_range(5_000..50_000));
        let ex = HttpExchange {
            response_content_type: "text/plain",
            ..self.kit.http(
                "GET",
                "/update/sdk/fix.scpt",
                lure_host.clone(),
                stage_ua,
                Body::Bytes(Vec::new()),
                None,
                script,
            )
        };
        let label = self.kit.label("stage-fetch", "T1059.002");
        let s = self
            .kit
            .session(paste, (lure_ip, 80), rtt, SessionKind::Http(vec![ex]), label);
        self.chain.push_back(s);

        // 3. Registration: 10–40 s after the paste, a JSON POST to the bare-IP C2.
        let reg_at = paste
            + draw_duration(
                &mut self.kit.rng,
                self.p
                    .registration_delay
                    .unwrap_or(Range::new(Duration::from_secs(10), Duration::from_secs(40))),
            );
        let info = format!(
            "{{\"uid\":\"{:016x}\",\"os\":\"macOS 15.{}\",\"user\":\"{}\",\"host\":\"{}\",\"arch\":\"arm64\"}}",
            self.kit.rng.random::<u64>(),
            self.kit.rng.random_range(0..6),
            self.kit.victim.owner,
            self.kit.victim.name
        );
        let ua = self.p.user_agent.clone().unwrap_or_else(|| "curl/8.7.1".into());
        let uri = self.p.uri.clone().unwrap_or_else(|| "/api/daemon".into());
        let ex = self.kit.http(
            "POST",
            &uri,
            host_port(self.c2, self.port),
            ua.clone(),
            Body::Bytes(info.into_bytes()),
            Some("application/json"),
            Body::Bytes(b"{\"status\":\"registered\"}".to_vec()),
        );
        let label = self.kit.label("registration", "T1071.001");
        let s = self.kit.session(
            reg_at,
            (self.c2, self.port),
            self.rtt,
            SessionKind::Http(vec![ex]),
            label,
        );
        self.chain.push_back(s);

        // 4. Credential theft: the macOS password to the Telegram Bot API.
        let cred_delay = self
            .p
            .credential_delay
            .unwrap_or(Range::new(Duration::from_secs(5), Duration::from_secs(60)));
        let cred_at = reg_at + draw_duration(&mut self.kit.rng, cred_delay);
        let label = self.kit.label("credential-theft", "T1056.002");
        let s = self.kit.dns(cred_at, "api.telegram.org", telegram, label.clone());
        self.chain.push_back(s);
        let tg_chain = Arc::new(certs::issued_chain(&cas[1], "api.telegram.org", &mut self.kit.rng, now));
        let tls = TlsSession {
            sni: Some("api.telegram.org".into()),
            version: TlsVersion::V13,
            client: TlsClient::Curl,
            alpn: Some("h2"),
            chain: tg_chain,
            exchanges: vec![TlsExchange {
                up: self.kit.rng.random_range(300..1500),
                down: self.kit.rng.random_range(300..900),
                think: 80_000_000,
                streamed: None,
            }],
        };
        let s = self.kit.session(
            cred_at + 2_000_000,
            (telegram, 443),
            50_000_000,
            SessionKind::Tls(tls),
            label,
        );
        self.chain.push_back(s);

        // 5. Payload pulls: `curl -k` from a bare IP, self-signed TLS 1.2, no SNI.
        let payload_delay = self
            .p
            .payload_delay
            .unwrap_or(Range::new(Duration::from_secs(20), Duration::from_secs(120)));
        let mut at = cred_at + draw_duration(&mut self.kit.rng, payload_delay);
        let payload_port = draw_int(
            &mut self.kit.rng,
            self.p.payload_port.as_ref().map(|r| r.value),
            (8444, 8444),
        ) as u16;
        for _ in 0..draw_int(&mut self.kit.rng, self.p.payload_pulls, (2, 4)) {
            let size = draw_size(
                &mut self.kit.rng,
                self.p.payload_size.as_ref().map(|s| s.value),
                (100 << 10, 5 << 20),
            );
            let tls = TlsSession {
                sni: None,
                version: TlsVersion::V12,
                client: TlsClient::Curl,
                alpn: None,
                chain: payload_chain.clone(),
                exchanges: vec![TlsExchange {
                    up: self.kit.rng.random_range(150..400),
                    down: size,
                    think: 20_000_000,
                    streamed: None,
                }],
            };
            let label = self.kit.label("payload", "T1105");
            let s = self
                .kit
                .session(at, (payload_ip, payload_port), self.rtt, SessionKind::Tls(tls), label);
            self.chain.push_back(s);
            at += self.kit.rng.random_range(3..=30) * NS_PER_SEC;
        }

        // 6. Exfil: archives, one POST each, to a new endpoint, ~30 s–2 min after the first beacon.
        let first_beacon = reg_at + self.interval;
        let exfil_delay = self
            .p
            .exfil_delay
            .unwrap_or(Range::new(Duration::from_secs(30), Duration::from_secs(120)));
        let mut at = (first_beacon + draw_duration(&mut self.kit.rng, exfil_delay)).max(at);
        let posts = draw_int(&mut self.kit.rng, self.p.exfil_posts.as_ref().map(|s| s.value), (6, 9)).max(1);
        let total = draw_size(
            &mut self.kit.rng,
            self.p.exfil_total.as_ref().map(|s| s.value),
            (5 << 20, 60 << 20),
        );
        // Uneven archive sizes that add up to the total.
        let weights: Vec<f64> = (0..posts).map(|_| self.kit.rng.random_range(0.2..1.0)).collect();
        let sum: f64 = weights.iter().sum();
        let mut left = total;
        let exfil_port = draw_int(
            &mut self.kit.rng,
            self.p.exfil_port.as_ref().map(|r| r.value),
            (8443, 8443),
        ) as u16;
        for (i, w) in weights.iter().enumerate() {
            let size = if i + 1 == weights.len() {
                left
            } else {
                ((total as f64) * w / sum) as u64
            }
            .min(left);
            left -= size;
            let uri = format!("/upload?f={:08x}.zip", self.kit.rng.random::<u32>());
            let ex = self.kit.http(
                "POST",
                &uri,
                host_port(exfil_ip, exfil_port),
                ua.clone(),
                Body::Filler(size),
                Some("application/zip"),
                Body::Bytes(b"{\"ok\":true}".to_vec()),
            );
            let label = self.kit.label("exfil", "T1041");
            let s = self
                .kit
                .session(at, (exfil_ip, exfil_port), self.rtt, SessionKind::Http(vec![ex]), label);
            self.chain.push_back(s);
            // The next archive follows once this one is out (~10 MB/s uplink) plus a pause.
            at += size * 100 + self.kit.rng.random_range(1..=5) * NS_PER_SEC;
        }
        let mut sorted: Vec<Session> = self.chain.drain(..).collect();
        sorted.sort_by_key(|s| s.start);
        self.chain = sorted.into();
        first_beacon
    }

    fn sleep(&mut self) -> Nanos {
        let u: f64 = self.kit.rng.random();
        let base = self.interval as f64;
        let s = match self.p.jitter_model {
            JitterModel::Multiplicative => base * (1.0 - self.jitter * u),
            JitterModel::Additive => base + base * self.jitter * u,
        };
        s.max(1e9) as Nanos
    }

    fn beacon(&mut self, t: Nanos) -> Session {
        self.seq += 1;
        let size = self
            .p
            .post_size
            .as_ref()
            .map(|s| s.value)
            .unwrap_or(Range::new(ByteSize(80), ByteSize(300)));
        let size = self.kit.rng.random_range(size.min.0..=size.max.0) as usize;
        let mut body = format!(
            "{{\"uid\":\"{:016x}\",\"os\":\"macos\",\"seq\":{},\"st\":\"{}\"",
            self.kit.rng.random::<u64>(),
            self.seq,
            ["idle", "ok", "wait"][self.kit.rng.random_range(0..3)]
        );
        // Pad with a base64-looking blob (encrypted host info) up to the drawn size.
        if body.len() + 10 < size {
            body.push_str(",\"d\":\"");
            const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            while body.len() + 2 < size {
                body.push(B64[self.kit.rng.random_range(0..64)] as char);
            }
            body.push('"');
        }
        body.push('}');
        // Most polls get an empty task list; now and then a task comes back.
        let response = if self.kit.rng.random_bool(0.05) {
            format!("{{\"task\":\"{}\"}}", "A".repeat(self.kit.rng.random_range(200..2000)))
        } else {
            "{\"task\":null}".to_string()
        };
        let ua = self.p.user_agent.clone().unwrap_or_else(|| "curl/8.7.1".into());
        let uri = self.p.uri.clone().unwrap_or_else(|| "/api/daemon".into());
        let ex = self.kit.http(
            "POST",
            &uri,
            host_port(self.c2, self.port),
            ua,
            Body::Bytes(body.into_bytes()),
            Some("application/json"),
            Body::Bytes(response.into_bytes()),
        );
        let label = self.kit.label("c2-beacon", "T1071.001");
        self.kit
            .session(t, (self.c2, self.port), self.rtt, SessionKind::Http(vec![ex]), label)
    }

    /// Whether the schedule allows a beacon at `t`.
    fn allowed(&self, t: Nanos) -> bool {
        !self.p.working_hours || super::working_hours(t)
    }
}

impl Iterator for Beacon<'_> {
    type Item = Session;
    fn next(&mut self) -> Option<Session> {
        loop {
            let chain_next = self.chain.front().map_or(u64::MAX, |s| s.start);
            let beacon_due = if self.next < self.end { self.next } else { u64::MAX };
            if chain_next == u64::MAX && beacon_due == u64::MAX {
                return None;
            }
            if chain_next <= beacon_due {
                return self.chain.pop_front();
            }
            let t = self.next;
            self.next += self.sleep();
            if self.allowed(t) {
                return Some(self.beacon(t));
            }
        }
    }
}
