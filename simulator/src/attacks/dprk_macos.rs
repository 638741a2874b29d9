//! DPRK-linked macOS "fake update" (ClickFix/AppleScript) intrusion: the persistence beacon.
//!
//! After the stager runs, the implant registers and then polls its C2 with HTTP POSTs of small
//! JSON bodies to `/api/daemon` on a bare IP and a high port — no DNS lookup, no SNI, `Host`
//! is `ip:port`, user agent `curl/8.7.1` (macOS's stock curl). Facts: shared/scenarios.md §1.

use std::net::IpAddr;
use std::sync::Arc;

use rand::RngExt;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::draw_duration;
use crate::rng::{Stream, stream};
use crate::session::{Body, Host, HttpExchange, Label, Session, SessionKind};
use crate::units::{ByteSize, Duration, Int, Nanos, Range, Real};
use crate::world::{Device, OsTraits, World, public_ipv4};

pub const NAME: &str = "dprk-macos-clickfix";

/// Ports seen on this campaign's C2 servers.
const C2_PORTS: &[u16] = &[6783, 8443, 8444, 5202, 7365, 1224];

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
    pub start: Spanned<Range<Duration>>,
    /// C2 address; default: a random public address.
    #[serde(default)]
    pub c2_ip: Option<IpAddr>,
    /// C2 port; default: one of the campaign's ports.
    #[serde(default)]
    pub c2_port: Option<Spanned<Range<Int>>>,
    /// Base sleep between beacons; drawn once per run from the range. Default 30s..120s.
    #[serde(default)]
    pub interval: Option<Spanned<Range<Duration>>>,
    /// Jitter fraction, drawn once per run. Default 0..0.3.
    #[serde(default)]
    pub jitter: Option<Spanned<Range<Real>>>,
    #[serde(default)]
    pub jitter_model: JitterModel,
    /// Default `curl/8.7.1`.
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
        if let Some(s) = &self.post_size
            && s.value.max > ByteSize(16 << 20)
        {
            errs.push((
                s.referenced.line(),
                s.referenced.column(),
                format!("post_size {} is above 16MiB", s.value),
            ));
        }
        if let Some(p) = &self.c2_port
            && (p.value.min.0 == 0 || p.value.max.0 > 65535)
        {
            errs.push((
                p.referenced.line(),
                p.referenced.column(),
                format!("c2_port {} is not a TCP port (1-65535)", p.value),
            ));
        }
        if let Some(i) = &self.interval
            && i.value.min < Duration::from_secs(1)
        {
            errs.push((
                i.referenced.line(),
                i.referenced.column(),
                format!("interval {} is below 1s", i.value),
            ));
        }
        if let Some(j) = &self.jitter
            && (j.value.min.0 < 0.0 || j.value.max.0 >= 1.0)
        {
            errs.push((
                j.referenced.line(),
                j.referenced.column(),
                format!("jitter {} must be within 0..1 (a fraction of the interval)", j.value),
            ));
        }
        errs
    }
}

pub struct Beacon<'w> {
    p: Params,
    victim: &'w Device,
    gateway_mac: [u8; 6],
    rng: Stream,
    label: Label,
    c2: IpAddr,
    port: u16,
    interval: Nanos,
    jitter: f64,
    next: Nanos,
    end: Nanos,
    rtt: Nanos,
    next_src_port: u16,
    seq: u64,
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
        let end = p
            .beacon_for
            .map(|d| start.saturating_add(d.0))
            .unwrap_or(scenario_end)
            .min(scenario_end);
        let label = Label {
            attack_id: Arc::from(p.id.value.as_str()),
            attack: NAME,
            stage: "c2-beacon",
            technique: "T1071.001",
        };
        let rtt = rng.random_range(60_000_000..220_000_000);
        let next_src_port = rng.random_range(49152..60000);
        Beacon {
            p,
            victim,
            gateway_mac: world.gateway_mac,
            rng,
            label,
            c2,
            port,
            interval,
            jitter,
            next: start,
            end,
            rtt,
            next_src_port,
            seq: 0,
        }
    }

    fn sleep(&mut self) -> Nanos {
        let u: f64 = self.rng.random();
        let base = self.interval as f64;
        let s = match self.p.jitter_model {
            JitterModel::Multiplicative => base * (1.0 - self.jitter * u),
            JitterModel::Additive => base + base * self.jitter * u,
        };
        s.max(1e9) as Nanos
    }
}

impl Iterator for Beacon<'_> {
    type Item = Session;
    fn next(&mut self) -> Option<Session> {
        if self.next >= self.end {
            return None;
        }
        let t = self.next;
        self.next += self.sleep();
        self.seq += 1;
        let port = self.next_src_port;
        self.next_src_port = if port >= 65535 { 49152 } else { port + 1 };
        let size = self
            .p
            .post_size
            .as_ref()
            .map(|s| s.value)
            .unwrap_or(Range::new(ByteSize(80), ByteSize(300)));
        let size = self.rng.random_range(size.min.0..=size.max.0) as usize;
        let mut body = format!(
            "{{\"uid\":\"{:016x}\",\"os\":\"macos\",\"seq\":{},\"st\":\"{}\"",
            self.rng.random::<u64>(),
            self.seq,
            ["idle", "ok", "wait"][self.rng.random_range(0..3)]
        );
        // Pad with a base64-looking blob (encrypted host info) up to the drawn size.
        if body.len() + 10 < size {
            body.push_str(",\"d\":\"");
            const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            while body.len() + 2 < size {
                body.push(B64[self.rng.random_range(0..64)] as char);
            }
            body.push('"');
        }
        body.push('}');
        // Most polls get an empty task list; now and then a task comes back.
        let response = if self.rng.random_bool(0.05) {
            format!("{{\"task\":\"{}\"}}", "A".repeat(self.rng.random_range(200..2000)))
        } else {
            "{\"task\":null}".to_string()
        };
        Some(Session {
            start: t,
            client: Host {
                ip: self.victim.ip,
                mac: self.victim.mac,
                port,
            },
            server: Host {
                ip: self.c2,
                mac: self.gateway_mac,
                port: self.port,
            },
            client_os: self.victim.os,
            server_os: OsTraits::LINUX,
            rtt: self.rtt,
            kind: SessionKind::Http(vec![HttpExchange {
                method: "POST",
                uri: self.p.uri.clone().unwrap_or_else(|| "/api/daemon".into()),
                host: match self.c2 {
                    IpAddr::V4(a) => format!("{a}:{}", self.port),
                    IpAddr::V6(a) => format!("[{a}]:{}", self.port),
                },
                user_agent: self.p.user_agent.clone().unwrap_or_else(|| "curl/8.7.1".into()),
                request_content_type: Some("application/json"),
                request_body: Body::Bytes(body.into_bytes()),
                status: 200,
                response_content_type: "application/json",
                response_body: Body::Bytes(response.into_bytes()),
                think: self.rng.random_range(1_000_000..30_000_000),
            }]),
            label: Some(self.label.clone()),
            seed: self.rng.random(),
        })
    }
}
