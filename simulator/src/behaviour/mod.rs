//! Benign pattern of life: each device is a generator of sessions in time order, driven by a
//! diurnal/weekly activity curve, periodic background jobs and its own seeded random stream.
//!
//! It deliberately contains the traps a naive detector falls into: periodic NTP, update checks,
//! telemetry POSTs and push keep-alives to popular destinations; OCSP POSTs; daily backups of
//! tens of MiB; a browser that updates itself (a new user agent); developers' `curl` installs;
//! self-signed HTTPS on printers and internal servers; failed connects to dead sites.

pub mod inbound;

use std::collections::HashMap;
use std::net::IpAddr;

use rand::RngExt;
use rand_distr::{Distribution, Exp, LogNormal};

use crate::render::ocsp;
use crate::render::tls::supports_tls13;
use crate::rng::{Stream, stream};
use crate::scenario::Role;
use crate::session::{
    Body, ConnectFailure, DnsExchange, DnsType, Host, HttpExchange, MediaStream, Session, SessionKind, TlsClient,
    TlsExchange, TlsSession, TlsVersion,
};
use crate::units::{NS_PER_SEC, Nanos, second_of_day, weekday};
use crate::world::{Device, OsTraits, Scheme, World};

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
        Role::LinuxServer | Role::CloudWebVm | Role::CloudWafVm => 2.0,
        Role::PrinterIot => 0.0,
    }
}

/// A background job on a timer.
#[derive(Clone, Debug)]
struct Job {
    next: Nanos,
    period_s: f64,
    /// Relative jitter of each period (±).
    jitter: f64,
    kind: JobKind,
}

#[derive(Clone, Debug)]
enum JobKind {
    Ntp(&'static str),
    /// A short HTTPS exchange (update check, telemetry, push keep-alive).
    Https {
        host: &'static str,
        port: u16,
        client: TlsClient,
        up: (u64, u64),
        down: (u64, u64),
    },
    /// A plain HTTP request from a system service.
    Http {
        host: &'static str,
        method: &'static str,
        uri: &'static str,
        ua: &'static str,
        up: (u64, u64),
        down: (u64, u64),
    },
    /// An upload of tens of MiB (backup, sync).
    Backup {
        host: &'static str,
        client: TlsClient,
        size: (u64, u64),
    },
    /// A video meeting: TLS signalling, then UDP media for some minutes.
    VideoCall {
        minutes: (u64, u64),
    },
    /// A cloud SDK refreshing the instance role's credentials from the metadata service.
    MetadataRefresh,
}

const MIB: u64 = 1 << 20;

/// The instance metadata service (IMDS), link-local on every cloud VM.
pub const METADATA_IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(169, 254, 169, 254));
pub const METADATA_CREDENTIALS: &str = "/latest/meta-data/iam/security-credentials/";

/// The IAM role attached to a cloud VM.
pub fn instance_role(dev: &Device) -> String {
    format!("{}-instance-role", dev.name.split('-').next().unwrap_or("app"))
}

/// Temporary credentials as the metadata service returns them (~1.3 KB).
pub fn credentials_json(rng: &mut Stream, now: Nanos) -> Vec<u8> {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut token = String::new();
    for _ in 0..rng.random_range(800..1100) {
        token.push(B64[rng.random_range(0..64)] as char);
    }
    let key: String = (0..16).map(|_| (b'A' + rng.random_range(0..26)) as char).collect();
    let secret: String = (0..40).map(|_| B64[rng.random_range(0..62)] as char).collect();
    let when = crate::units::format_rfc3339(now);
    format!(
        "{{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"{}Z\",\n  \"Type\" : \"AWS-HMAC\",\n  \"AccessKeyId\" : \"ASIA{key}\",\n  \"SecretAccessKey\" : \"{secret}\",\n  \"Token\" : \"{token}\",\n  \"Expiration\" : \"{}Z\"\n}}",
        &when[..19],
        &crate::units::format_rfc3339(now + 6 * 3600 * NS_PER_SEC)[..19]
    )
    .into_bytes()
}

fn jobs_for(role: Role) -> Vec<Job> {
    let job = |period_s: f64, jitter: f64, kind| Job {
        next: 0,
        period_s,
        jitter,
        kind,
    };
    match role {
        Role::MacosLaptop => vec![
            job(1024.0, 0.01, JobKind::Ntp("time.apple.com")),
            job(
                6.0 * 3600.0,
                0.05,
                JobKind::Https {
                    host: "swscan.apple.com",
                    port: 443,
                    client: TlsClient::Safari,
                    up: (400, 900),
                    down: (2000, 60_000),
                },
            ),
            job(
                1800.0,
                0.02,
                JobKind::Https {
                    host: "courier.push.apple.com",
                    port: 5223,
                    client: TlsClient::Safari,
                    up: (60, 200),
                    down: (60, 300),
                },
            ),
            job(
                86_400.0,
                0.1,
                JobKind::Backup {
                    host: "p-upload.icloud-content.com",
                    client: TlsClient::Safari,
                    size: (5 * MIB, 40 * MIB),
                },
            ),
            job(86_400.0, 0.3, JobKind::VideoCall { minutes: (10, 40) }),
        ],
        Role::WindowsDesktop => vec![
            job(2048.0, 0.01, JobKind::Ntp("time.windows.com")),
            job(
                4.0 * 3600.0,
                0.05,
                JobKind::Https {
                    host: "update.microsoft.com",
                    port: 443,
                    client: TlsClient::Schannel,
                    up: (1500, 4000),
                    down: (3000, 20_000),
                },
            ),
            job(
                900.0,
                0.03,
                JobKind::Https {
                    host: "v10.events.data.microsoft.com",
                    port: 443,
                    client: TlsClient::Schannel,
                    up: (2000, 9000),
                    down: (200, 600),
                },
            ),
            job(
                12.0 * 3600.0,
                0.1,
                JobKind::Http {
                    host: "download.windowsupdate.com",
                    method: "GET",
                    uri: "/c/msdownload/update/software/defu/2026/03/am_delta_patch_1.425.112.0.exe",
                    ua: "Microsoft-Delivery-Optimization/10.0",
                    up: (0, 0),
                    down: (MIB / 2, 6 * MIB),
                },
            ),
            job(
                86_400.0,
                0.1,
                JobKind::Backup {
                    host: "api.onedrive.com",
                    client: TlsClient::Schannel,
                    size: (2 * MIB, 30 * MIB),
                },
            ),
            job(86_400.0, 0.3, JobKind::VideoCall { minutes: (10, 40) }),
        ],
        Role::LinuxServer | Role::CloudWebVm | Role::CloudWafVm => vec![
            job(1024.0, 0.01, JobKind::Ntp("0.debian.pool.ntp.org")),
            job(
                6.0 * 3600.0,
                0.02,
                JobKind::Http {
                    host: "deb.debian.org",
                    method: "GET",
                    uri: "/debian/dists/bookworm-updates/InRelease",
                    ua: "Debian APT-HTTP/1.3 (2.6.1)",
                    up: (0, 0),
                    down: (30_000, 60_000),
                },
            ),
            job(
                86_400.0,
                0.02,
                JobKind::Backup {
                    host: "backup.wasabisys.com",
                    client: TlsClient::Curl,
                    size: (10 * MIB, 60 * MIB),
                },
            ),
        ],
        Role::PrinterIot => vec![
            job(1024.0, 0.01, JobKind::Ntp("0.debian.pool.ntp.org")),
            // Printers phone home with a status POST: a benign periodic POST to a named host.
            job(
                900.0,
                0.02,
                JobKind::Http {
                    host: "printer-status.hpconnected.com",
                    method: "POST",
                    uri: "/api/v1/status",
                    ua: "HP-ChaiSOE/1.0",
                    up: (60, 120),
                    down: (200, 4000),
                },
            ),
        ],
    }
}

pub struct DeviceLife<'w> {
    world: &'w World,
    dev: &'w Device,
    rng: Stream,
    end: Nanos,
    /// Next candidate visit time (before thinning).
    next_visit: Nanos,
    jobs: Vec<Job>,
    /// Shift of this person's day, so devices do not all wake at the same second.
    day_offset_s: i64,
    dns_cache: HashMap<(String, bool), Nanos>,
    next_port: u16,
    /// Generated sessions not yet yielded, in start order.
    queue: std::collections::VecDeque<Session>,
    /// Start of the latest session queued: the next event may not start before it.
    horizon: Nanos,
    /// Upcoming chunks of a call's media, released in time order by `step`.
    media: std::collections::VecDeque<Session>,
    /// Internal HTTPS services (printers, servers) this device may use.
    intranet: Vec<&'w Device>,
    printers: Vec<&'w Device>,
}

impl<'w> DeviceLife<'w> {
    pub fn new(world: &'w World, dev: &'w Device, seed: u64, start: Nanos, end: Nanos) -> Self {
        let mut rng = stream(seed, "device", dev.index as u64);
        let mut jobs = jobs_for(dev.role);
        // About a third of people sync a cloud drive daily; servers always back up.
        let syncs = rng.random_bool(0.35);
        jobs.retain(|j| {
            !matches!(j.kind, JobKind::Backup { .. })
                || syncs
                || !matches!(dev.role, Role::MacosLaptop | Role::WindowsDesktop)
        });
        if matches!(dev.role, Role::CloudWebVm | Role::CloudWafVm) {
            jobs.push(Job {
                next: 0,
                period_s: 3600.0,
                jitter: 0.05,
                kind: JobKind::MetadataRefresh,
            });
        }
        // Some people spend part of the day in video meetings (each minute is ~6000 packets).
        let meets = rng.random_bool(0.12);
        jobs.retain(|j| !matches!(j.kind, JobKind::VideoCall { .. }) || meets);
        for j in &mut jobs {
            // A random phase within the first period: devices were switched on at different times.
            j.next = start + (rng.random::<f64>() * j.period_s * NS_PER_SEC as f64) as Nanos;
        }
        let day_offset_s = rng.random_range(-1800..1800);
        let next_port = rng.random_range(49152..60000);
        let intranet = world
            .devices
            .iter()
            .filter(|d| d.chain.is_some() && d.index != dev.index)
            .collect();
        let printers = world.devices_of(Role::PrinterIot).collect();
        let mut life = DeviceLife {
            world,
            dev,
            rng,
            end,
            next_visit: start,
            jobs,
            day_offset_s,
            dns_cache: HashMap::new(),
            next_port,
            queue: Default::default(),
            media: Default::default(),
            horizon: start,
            intranet,
            printers,
        };
        life.next_visit = start + life.exp_gap();
        life
    }

    fn exp_gap(&mut self) -> Nanos {
        let rate_per_s = peak_rate_per_hour(self.dev.role) / 3600.0;
        if rate_per_s <= 0.0 {
            return u64::MAX / 4;
        }
        let gap_s: f64 = Exp::new(rate_per_s).map(|d| d.sample(&mut self.rng)).unwrap_or(3600.0);
        (gap_s * NS_PER_SEC as f64) as Nanos + 1
    }

    fn port(&mut self) -> u16 {
        let p = self.next_port;
        self.next_port = if p == u16::MAX { 49152 } else { p + 1 };
        p
    }

    fn range(&mut self, (lo, hi): (u64, u64)) -> u64 {
        if hi <= lo { lo } else { self.rng.random_range(lo..=hi) }
    }

    /// Generates the next event's sessions into the queue; false when the span is over.
    fn step(&mut self) -> bool {
        loop {
            let (ji, job_next) = self
                .jobs
                .iter()
                .enumerate()
                .map(|(i, j)| (i, j.next))
                .min_by_key(|&(_, t)| t)
                .unwrap_or((0, u64::MAX));
            let media_next = self.media.front().map_or(u64::MAX, |m| m.start);
            let t = self.next_visit.min(job_next).min(media_next).max(self.horizon);
            if t >= self.end {
                return false;
            }
            if media_next <= job_next && media_next <= self.next_visit {
                let chunk = self.media.pop_front().expect("peeked");
                self.enqueue(chunk);
                return true;
            }
            if job_next <= self.next_visit {
                let idle = activity(self.dev.role, t, self.day_offset_s) < 0.5;
                let laptop = matches!(self.dev.role, Role::MacosLaptop | Role::WindowsDesktop);
                let job = &mut self.jobs[ji];
                // Laptops back up and meet while they are in use: a deferred run waits an hour.
                if laptop && idle && matches!(job.kind, JobKind::Backup { .. } | JobKind::VideoCall { .. }) {
                    job.next = t + 3600 * NS_PER_SEC;
                    continue;
                }
                let jitter = 1.0 + job.jitter * (2.0 * self.rng.random::<f64>() - 1.0);
                job.next += ((job.period_s * jitter) * NS_PER_SEC as f64) as Nanos;
                let kind = job.kind.clone();
                self.run_job(t, kind);
                return true;
            }
            self.next_visit += self.exp_gap();
            // Thinning: accept the candidate with the activity level at that time.
            if self.rng.random::<f64>() >= activity(self.dev.role, t, self.day_offset_s) {
                continue;
            }
            self.visit(t);
            return true;
        }
    }

    fn run_job(&mut self, t: Nanos, kind: JobKind) {
        match kind {
            JobKind::Ntp(host) => {
                if let Some((at, ip, site)) = self.resolve(t, host, false) {
                    let rtt = self.world.sites[site].rtt;
                    self.push(at, ip, 123, rtt, SessionKind::Ntp, self.dev.os);
                }
            }
            JobKind::Https {
                host,
                port,
                client,
                up,
                down,
            } => {
                let ex = TlsExchange {
                    up: self.range(up),
                    down: self.range(down),
                    think: self.rng.random_range(5_000_000..60_000_000),
                    streamed: None,
                };
                self.https(t, host, port, client, vec![ex]);
            }
            JobKind::Http {
                host,
                method,
                uri,
                ua,
                up,
                down,
            } => {
                let body = if method == "POST" {
                    Body::Filler(self.range(up))
                } else {
                    Body::Bytes(Vec::new())
                };
                let resp = self.range(down);
                let ex = self.http_exchange(method, uri.to_string(), host, ua.to_string(), body, resp);
                self.http(t, host, vec![ex]);
            }
            JobKind::VideoCall { minutes } => self.video_call(t, minutes),
            JobKind::MetadataRefresh => {
                let role = instance_role(self.dev);
                let list = format!("{role}\n").into_bytes();
                let creds = credentials_json(&mut self.rng, t);
                let ua = "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.2"
                    .to_string();
                let mut a = self.http_exchange(
                    "GET",
                    METADATA_CREDENTIALS.into(),
                    "169.254.169.254",
                    ua.clone(),
                    Body::Bytes(Vec::new()),
                    0,
                );
                a.response_body = Body::Bytes(list);
                a.response_content_type = "text/plain";
                let mut b = self.http_exchange(
                    "GET",
                    format!("{METADATA_CREDENTIALS}{role}"),
                    "169.254.169.254",
                    ua,
                    Body::Bytes(Vec::new()),
                    0,
                );
                b.response_body = Body::Bytes(creds);
                b.response_content_type = "text/plain";
                let server = Host {
                    ip: METADATA_IP,
                    mac: self.world.gateway_mac,
                    port: 80,
                };
                self.push_to(
                    t,
                    server,
                    OsTraits::LINUX,
                    400_000,
                    SessionKind::Http(vec![a, b]),
                    self.dev.os,
                );
            }
            JobKind::Backup { host, client, size } => {
                let size = self.range(size);
                let ex = TlsExchange {
                    up: size,
                    down: self.rng.random_range(300..2000),
                    think: 80_000_000,
                    streamed: None,
                };
                self.https(t, host, 443, client, vec![ex]);
            }
        }
    }

    fn video_call(&mut self, t: Nanos, minutes: (u64, u64)) {
        // Signalling over TLS to the meeting service, then media to its relay on UDP 8801.
        let ex = TlsExchange {
            up: self.range((2_000, 8_000)),
            down: self.range((4_000, 30_000)),
            think: 40_000_000,
            streamed: None,
        };
        self.https(t, "zoom.us", 443, TlsClient::Chrome, vec![ex]);
        let Some((at, ip, site)) = self.resolve(self.horizon + 500_000_000, "zoomff01mmr.cloud.zoom.us", false) else {
            return;
        };
        let rtt = self.world.sites[site].rtt;
        let port = self.port();
        let ssrc = (self.rng.random(), self.rng.random());
        let seq0: (u16, u16) = (self.rng.random(), self.rng.random());
        const PPS: u32 = 50;
        for minute in 0..self.range(minutes) {
            let advanced = (minute as u32 * PPS * 60) as u16;
            let media = MediaStream {
                duration: 60 * NS_PER_SEC,
                pps: PPS,
                size: (150, 1150),
                ssrc,
                seq: (seq0.0.wrapping_add(advanced), seq0.1.wrapping_add(advanced)),
            };
            let start = at + minute * 60 * NS_PER_SEC;
            if start >= self.end {
                break;
            }
            self.media.push_back(Session {
                start,
                client: Host {
                    ip: self.dev.ip,
                    mac: self.dev.mac,
                    port,
                },
                server: Host {
                    ip,
                    mac: self.world.gateway_mac,
                    port: 8801,
                },
                client_os: self.dev.os,
                server_os: OsTraits::LINUX,
                rtt,
                kind: SessionKind::Media(media),
                label: None,
                seed: self.rng.random(),
            });
        }
    }

    /// One browsing action of the person at the device.
    fn visit(&mut self, t: Nanos) {
        let roll: f64 = self.rng.random();
        let is_client = matches!(self.dev.role, Role::MacosLaptop | Role::WindowsDesktop);
        if is_client && roll < 0.05 && !self.intranet.is_empty() {
            // Internal HTTPS by address: the printer's admin page or an intranet server, with
            // their self-signed certificates and no SNI.
            let target = self.intranet[self.rng.random_range(0..self.intranet.len())];
            let port = if target.role == Role::PrinterIot { 443 } else { 8443 };
            let exchanges = (0..self.rng.random_range(1..4)).map(|_| self.page_exchange()).collect();
            let tls = TlsSession {
                sni: None,
                version: TlsVersion::V12,
                client: self.dev.browser.tls,
                alpn: Some("http/1.1"),
                chain: target.chain.clone().unwrap_or_default(),
                exchanges,
            };
            let server = Host {
                ip: target.ip,
                mac: target.mac,
                port,
            };
            self.push_to(t, server, target.os, 600_000, SessionKind::Tls(tls), self.dev.os);
            return;
        }
        if is_client && roll < 0.055 && !self.printers.is_empty() {
            // A print job: raw TCP to port 9100.
            let p = self.printers[self.rng.random_range(0..self.printers.len())];
            let size = self.range((20_000, MIB));
            let server = Host {
                ip: p.ip,
                mac: p.mac,
                port: 9100,
            };
            self.push_to(t, server, p.os, 800_000, SessionKind::Raw(vec![(size, 0)]), self.dev.os);
            return;
        }
        if self.dev.role == Role::MacosLaptop && roll < 0.08 && self.dev.index % 4 == 0 {
            // A developer pipes an installer through the shell: curl over TLS to a code host.
            let ex = TlsExchange {
                up: 300,
                down: self.range((4_000, 40_000)),
                think: 20_000_000,
                streamed: None,
            };
            self.https(t, "raw.githubusercontent.com", 443, TlsClient::Curl, vec![ex]);
            return;
        }
        let site = self.world.pick_site(&mut self.rng);
        let s = &self.world.sites[site];
        let name: &'w str = &self.world.sites[site].name;
        // Dead long-tail sites: SYNs into the void, retried with back-off. (Refused connects
        // are left to attack scenarios: every analyser flags a RST as a warning, and the benign
        // office must decode without one.)
        if s.weight < 1.0 && self.rng.random_bool(0.01) {
            if let Some((at, ip, _)) = self.resolve(t, name, false) {
                let failure = ConnectFailure::Timeout {
                    retries: self.rng.random_range(2..=4),
                };
                let port = if matches!(s.scheme, Scheme::Http) { 80 } else { 443 };
                self.push(at, ip, port, s.rtt, SessionKind::Failed(failure), self.dev.os);
            }
            return;
        }
        let n = self.rng.random_range(1..=4);
        match s.scheme {
            Scheme::Https { .. } => {
                let exchanges = (0..n).map(|_| self.page_exchange()).collect();
                self.https(t, name, 443, self.dev.browser.tls, exchanges);
                // Now and then the OS checks a certificate's revocation status over plain HTTP.
                if self.rng.random_bool(0.03) {
                    let ua = if self.dev.role == Role::WindowsDesktop {
                        "Microsoft-CryptoAPI/10.0"
                    } else {
                        "com.apple.trustd/3.0"
                    };
                    let req = ocsp::request(&mut self.rng);
                    let resp = ocsp::response(&mut self.rng, t);
                    let ex = HttpExchange {
                        request_content_type: Some("application/ocsp-request"),
                        response_content_type: "application/ocsp-response",
                        response_body: Body::Bytes(resp),
                        ..self.http_exchange("POST", "/".into(), "ocsp.digicert.com", ua.into(), Body::Bytes(req), 0)
                    };
                    self.http(self.horizon + 1_000_000, "ocsp.digicert.com", vec![ex]);
                }
            }
            Scheme::Http => {
                let ua = self.dev.browser.user_agent(t).to_string();
                let mut reqs = Vec::with_capacity(n);
                for i in 0..n {
                    let size = self.object_size();
                    if i > 0 && self.rng.random_bool(0.08) {
                        let form = self.rng.random_range(200..3000);
                        reqs.push(HttpExchange {
                            request_content_type: Some("application/x-www-form-urlencoded"),
                            ..self.http_exchange(
                                "POST",
                                "/submit".into(),
                                name,
                                ua.clone(),
                                Body::Filler(form),
                                size.min(5000),
                            )
                        });
                    } else {
                        let uri = if i == 0 {
                            "/".to_string()
                        } else {
                            format!("/assets/{}.js", self.rng.random_range(1000..9999))
                        };
                        reqs.push(self.http_exchange("GET", uri, name, ua.clone(), Body::Bytes(Vec::new()), size));
                    }
                }
                self.http(t, name, reqs);
            }
        }
    }

    /// Heavy-tailed object sizes: median 8 KB, a few up to 1 MB.
    fn object_size(&mut self) -> u64 {
        LogNormal::new(f64::ln(8_000.0), 1.3)
            .map(|d| d.sample(&mut self.rng))
            .unwrap_or(8_000.0)
            .min(1e6) as u64
    }

    fn page_exchange(&mut self) -> TlsExchange {
        TlsExchange {
            up: self.range((300, 1800)),
            down: self.object_size(),
            think: self.rng.random_range(2_000_000..80_000_000),
            streamed: None,
        }
    }

    fn http_exchange(
        &mut self,
        method: &'static str,
        uri: String,
        host: &str,
        ua: String,
        body: Body,
        resp: u64,
    ) -> HttpExchange {
        HttpExchange {
            method,
            uri,
            host: host.to_string(),
            user_agent: ua,
            request_content_type: None,
            headers: Vec::new(),
            request_body: body,
            status: 200,
            response_content_type: "text/html; charset=utf-8",
            response_body: Body::Filler(resp),
            think: self.rng.random_range(2_000_000..80_000_000),
        }
    }

    /// Resolves `host` (from cache or with a DNS exchange); returns when the connection can
    /// start, the address and the site. Dual-stack devices ask for AAAA too and prefer IPv6.
    fn resolve(&mut self, t: Nanos, host: &str, want_v6: bool) -> Option<(Nanos, IpAddr, usize)> {
        let site = self.world.site_by_name(host)?;
        let s = &self.world.sites[site];
        let v6 = want_v6 && self.dev.ip6.is_some() && s.ip6.is_some();
        let ip = match (v6, s.ip6) {
            (true, Some(a)) => IpAddr::V6(a),
            _ => IpAddr::V4(s.ip),
        };
        let key = (host.to_string(), v6);
        if self.dns_cache.get(&key).is_some_and(|&exp| exp > t) {
            return Some((t, ip, site));
        }
        let mut at = t;
        let qtypes: &[DnsType] = if v6 {
            &[DnsType::A, DnsType::Aaaa]
        } else {
            &[DnsType::A]
        };
        for &qtype in qtypes {
            let rtt = self.rng.random_range(300_000..3_000_000);
            let answers = match qtype {
                DnsType::A => vec![IpAddr::V4(s.ip)],
                DnsType::Aaaa => s.ip6.map(IpAddr::V6).into_iter().collect(),
            };
            let port = self.port();
            let session = Session {
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
                    qtype,
                    answers,
                    ttl: DNS_TTL,
                }),
                label: None,
                seed: self.rng.random(),
            };
            self.enqueue(session);
            at += 50_000;
        }
        self.dns_cache.insert(key, t + u64::from(DNS_TTL) * NS_PER_SEC);
        Some((at + 3_000_000, ip, site))
    }

    fn https(&mut self, t: Nanos, host: &'w str, port: u16, client: TlsClient, exchanges: Vec<TlsExchange>) {
        let Some((at, ip, site)) = self.resolve(t, host, true) else {
            return;
        };
        let s = &self.world.sites[site];
        let tls13 = matches!(s.scheme, Scheme::Https { tls13: true }) && supports_tls13(client);
        let tls = TlsSession {
            sni: Some(host.to_string()),
            version: if tls13 { TlsVersion::V13 } else { TlsVersion::V12 },
            client,
            alpn: if matches!(client, TlsClient::Embedded) {
                None
            } else {
                Some("h2")
            },
            chain: s.chain.clone(),
            exchanges,
        };
        let rtt = s.rtt;
        self.push(at, ip, port, rtt, SessionKind::Tls(tls), self.dev.os);
    }

    fn http(&mut self, t: Nanos, host: &str, exchanges: Vec<HttpExchange>) {
        let Some((at, ip, site)) = self.resolve(t, host, true) else {
            return;
        };
        let rtt = self.world.sites[site].rtt;
        self.push(at, ip, 80, rtt, SessionKind::Http(exchanges), self.dev.os);
    }

    /// A connection from this device to an external address.
    fn push(&mut self, at: Nanos, ip: IpAddr, port: u16, rtt: Nanos, kind: SessionKind, os: OsTraits) {
        let server = Host {
            ip,
            mac: self.world.gateway_mac,
            port,
        };
        self.push_to(at, server, OsTraits::LINUX, rtt, kind, os);
    }

    fn push_to(&mut self, at: Nanos, server: Host, server_os: OsTraits, rtt: Nanos, kind: SessionKind, os: OsTraits) {
        let (client_ip, os, server_os) = match (server.ip, self.dev.ip6) {
            (IpAddr::V6(_), Some(v6)) => (IpAddr::V6(v6), os.for_ipv6(), server_os.for_ipv6()),
            _ => (self.dev.ip, os, server_os),
        };
        let port = self.port();
        let session = Session {
            start: at,
            client: Host {
                ip: client_ip,
                mac: self.dev.mac,
                port,
            },
            server,
            client_os: os,
            server_os,
            rtt,
            kind,
            label: None,
            seed: self.rng.random(),
        };
        self.enqueue(session);
    }

    fn enqueue(&mut self, s: Session) {
        self.horizon = self.horizon.max(s.start);
        // Keep the queue in start order (sessions of one event are nearly ordered already).
        let pos = self.queue.partition_point(|q| q.start <= s.start);
        self.queue.insert(pos, s);
    }
}

impl Iterator for DeviceLife<'_> {
    type Item = Session;
    fn next(&mut self) -> Option<Session> {
        // Every later event starts at or after the horizon, which is at or after every queued
        // session's start: the queue's front is always safe to yield.
        while self.queue.is_empty() {
            if !self.step() {
                return None;
            }
        }
        self.queue.pop_front()
    }
}
