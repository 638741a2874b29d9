//! Benign pattern of life: each device is a generator of sessions in time order, driven by a
//! diurnal/weekly activity curve and its own seeded random stream.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use rand::RngExt;
use rand_distr::{Distribution, Exp, LogNormal};

use crate::rng::{Stream, stream};
use crate::scenario::Role;
use crate::session::{Body, DnsExchange, DnsType, Host, HttpExchange, Session, SessionKind};
use crate::units::{NS_PER_SEC, Nanos, second_of_day, weekday};
use crate::world::{Device, OsTraits, World};

/// How long a resolved name stays in a device's cache (the zone's TTL).
pub const DNS_TTL: u32 = 300;

/// Relative activity at time `t` for a role: 1.0 at the busiest working hour.
pub fn activity(role: Role, t: Nanos, offset_s: i64) -> f64 {
    let sod = (second_of_day(t) as i64 + offset_s).rem_euclid(86_400) as f64 / 3600.0;
    let weekend = weekday(t) >= 5;
    let office = match sod {
        h if h < 7.0 => 0.02,
        h if h < 8.0 => 0.3,
        h if h < 12.0 => 1.0,
        h if h < 13.0 => 0.5, // lunch dip
        h if h < 18.0 => 1.0,
        h if h < 20.0 => 0.3,
        h if h < 23.0 => 0.1,
        _ => 0.03,
    };
    match role {
        Role::MacosLaptop | Role::WindowsDesktop => office * if weekend { 0.08 } else { 1.0 },
        // Servers and appliances work around the clock with a mild daytime rise.
        Role::LinuxServer | Role::CloudWebVm | Role::CloudWafVm => 0.5 + 0.5 * office,
        Role::PrinterIot => 0.1 + 0.9 * office * if weekend { 0.05 } else { 1.0 },
    }
}

/// Peak web visits per hour for a role.
fn peak_rate_per_hour(role: Role) -> f64 {
    match role {
        Role::MacosLaptop | Role::WindowsDesktop => 40.0,
        Role::LinuxServer | Role::CloudWebVm | Role::CloudWafVm => 6.0,
        Role::PrinterIot => 0.5,
    }
}

/// The periodic background job of a role: (host name, method, URI, period).
fn periodic_job(role: Role) -> (&'static str, &'static str, &'static str, u64) {
    match role {
        Role::MacosLaptop => (
            "swscan.apple.com",
            "GET",
            "/content/catalogs/others/index-15.merged-1.sucatalog",
            3600,
        ),
        Role::WindowsDesktop => ("update.microsoft.com", "GET", "/v6/ClientWebService/client.asmx", 3600),
        Role::LinuxServer | Role::CloudWebVm | Role::CloudWafVm => (
            "deb.debian.org",
            "GET",
            "/debian/dists/bookworm-updates/InRelease",
            6 * 3600,
        ),
        // Printers phone home with a status POST: a benign periodic POST to a named host.
        Role::PrinterIot => ("printer-status.hpconnected.com", "POST", "/api/v1/status", 900),
    }
}

/// Names the world must resolve for periodic jobs.
pub const PERIODIC_HOSTS: &[&str] = &[
    "swscan.apple.com",
    "update.microsoft.com",
    "deb.debian.org",
    "printer-status.hpconnected.com",
];

pub struct DeviceLife<'w> {
    world: &'w World,
    dev: &'w Device,
    rng: Stream,
    end: Nanos,
    /// Next candidate visit time (before thinning).
    next_visit: Nanos,
    next_job: Nanos,
    /// Shift of this person's day, so devices do not all wake at the same second.
    day_offset_s: i64,
    dns_cache: HashMap<String, Nanos>,
    next_port: u16,
    queue: VecDeque<Session>,
    /// Start of the latest session queued: the next event may not start before it.
    horizon: Nanos,
}

impl<'w> DeviceLife<'w> {
    pub fn new(world: &'w World, dev: &'w Device, seed: u64, start: Nanos, end: Nanos) -> Self {
        let mut rng = stream(seed, "device", dev.index as u64);
        let (_, _, _, period) = periodic_job(dev.role);
        let next_job = start + rng.random_range(0..period * NS_PER_SEC);
        let day_offset_s = rng.random_range(-1800..1800);
        let next_port = rng.random_range(49152..60000);
        let mut life = DeviceLife {
            world,
            dev,
            rng,
            end,
            next_visit: start,
            next_job,
            day_offset_s,
            dns_cache: HashMap::new(),
            next_port,
            queue: VecDeque::new(),
            horizon: start,
        };
        life.next_visit = start + life.exp_gap();
        life
    }

    fn exp_gap(&mut self) -> Nanos {
        let rate_per_s = peak_rate_per_hour(self.dev.role) / 3600.0;
        let gap_s: f64 = Exp::new(rate_per_s).map(|d| d.sample(&mut self.rng)).unwrap_or(3600.0);
        (gap_s * NS_PER_SEC as f64) as Nanos + 1
    }

    fn port(&mut self) -> u16 {
        let p = self.next_port;
        self.next_port = if p >= 65535 { 49152 } else { p + 1 };
        p
    }

    /// Generates the next event's sessions into the queue; false when the span is over.
    fn step(&mut self) -> bool {
        loop {
            let t = self.next_visit.min(self.next_job).max(self.horizon);
            if t >= self.end {
                return false;
            }
            if self.next_job <= self.next_visit {
                let (host, method, uri, period) = periodic_job(self.dev.role);
                // Background jobs run on a timer with a little jitter (±2 %).
                let jitter = self.rng.random_range(-0.02..0.02);
                self.next_job += ((period as f64 * (1.0 + jitter)) * NS_PER_SEC as f64) as Nanos;
                let body = if method == "POST" {
                    Body::Bytes(status_json(&mut self.rng))
                } else {
                    Body::Bytes(Vec::new())
                };
                let resp = self.rng.random_range(200..4000);
                self.visit(t, host, vec![(method, uri.to_string(), body, resp)]);
                return true;
            }
            self.next_visit += self.exp_gap();
            // Thinning: accept the candidate with the activity level at that time.
            if self.rng.random::<f64>() >= activity(self.dev.role, t, self.day_offset_s) {
                continue;
            }
            let site = self.world.pick_site(&mut self.rng);
            let name = self.world.sites[site].name.clone();
            let n = self.rng.random_range(1..=3);
            let mut reqs = Vec::with_capacity(n);
            for i in 0..n {
                // Heavy-tailed object sizes: median 8 KB, a few up to 1 MB.
                let size = LogNormal::new(f64::ln(8_000.0), 1.3)
                    .map(|d| d.sample(&mut self.rng))
                    .unwrap_or(8_000.0)
                    .min(1e6) as u64;
                if i > 0 && self.rng.random_bool(0.08) {
                    let form = self.rng.random_range(200..3000);
                    reqs.push(("POST", "/submit".to_string(), Body::Filler(form), size.min(5000)));
                } else {
                    let uri = if i == 0 {
                        "/".to_string()
                    } else {
                        format!("/assets/{}.js", self.rng.random_range(1000..9999))
                    };
                    reqs.push(("GET", uri, Body::Bytes(Vec::new()), size));
                }
            }
            self.visit(t, &name, reqs);
            return true;
        }
    }

    /// Resolve `host` if not cached, then one HTTP connection carrying `reqs`.
    fn visit(&mut self, t: Nanos, host: &str, reqs: Vec<(&'static str, String, Body, u64)>) {
        let Some(site) = self.world.site_by_name(host) else {
            return;
        };
        let server_ip = IpAddr::V4(self.world.sites[site].ip);
        let mut at = t;
        let cached = self.dns_cache.get(host).is_some_and(|&exp| exp > t);
        if !cached {
            let rtt = self.rng.random_range(300_000..3_000_000);
            let port = self.port();
            self.queue.push_back(Session {
                start: at,
                client: Host {
                    ip: self.dev.ip,
                    mac: self.dev.mac,
                    port,
                },
                server: Host {
                    ip: self.world.dns_server,
                    mac: self.world.dns_mac,
                    port: 53,
                },
                client_os: self.dev.os,
                server_os: OsTraits::LINUX,
                rtt,
                kind: SessionKind::Dns(DnsExchange {
                    id: self.rng.random(),
                    name: host.to_string(),
                    qtype: DnsType::A,
                    answers: vec![server_ip],
                    ttl: DNS_TTL,
                }),
                label: None,
                seed: self.rng.random(),
            });
            self.dns_cache
                .insert(host.to_string(), t + u64::from(DNS_TTL) * NS_PER_SEC);
            at += rtt + 200_000;
        }
        let exchanges = reqs
            .into_iter()
            .map(|(method, uri, body, resp)| HttpExchange {
                method,
                uri,
                host: host.to_string(),
                user_agent: self.dev.user_agent.to_string(),
                request_content_type: if method == "POST" {
                    Some("application/x-www-form-urlencoded")
                } else {
                    None
                },
                request_body: body,
                status: 200,
                response_content_type: "text/html; charset=utf-8",
                response_body: Body::Filler(resp),
                think: self.rng.random_range(2_000_000..80_000_000),
            })
            .collect();
        let port = self.port();
        self.queue.push_back(Session {
            start: at,
            client: Host {
                ip: self.dev.ip,
                mac: self.dev.mac,
                port,
            },
            server: Host {
                ip: server_ip,
                mac: self.world.gateway_mac,
                port: 80,
            },
            client_os: self.dev.os,
            server_os: OsTraits::LINUX,
            rtt: self.world.site_rtt(site),
            kind: SessionKind::Http(exchanges),
            label: None,
            seed: self.rng.random(),
        });
        self.horizon = at;
    }
}

fn status_json(rng: &mut Stream) -> Vec<u8> {
    format!(
        "{{\"pages\":{},\"toner\":{},\"state\":\"idle\"}}",
        rng.random_range(1000..90000),
        rng.random_range(5..100)
    )
    .into_bytes()
}

impl Iterator for DeviceLife<'_> {
    type Item = Session;
    fn next(&mut self) -> Option<Session> {
        while self.queue.is_empty() {
            if !self.step() {
                return None;
            }
        }
        self.queue.pop_front()
    }
}
