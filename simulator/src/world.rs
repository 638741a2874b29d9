//! The simulated organisation and the Internet around it: devices with consistent OS traits,
//! external sites and services with realistic popularity, their DNS names and addresses (some
//! dual-stack), and the certificates they present.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use rand::RngExt;

use crate::certs;
use crate::rng::stream;
use crate::scenario::{FIRST_HOST, LoadedScenario, Role};
use crate::session::TlsClient;
use crate::units::Nanos;

/// Per-OS TCP/IP stack traits; kept consistent across every packet a device sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OsTraits {
    pub ttl: u8,
    pub mss: u16,
    pub window: u16,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    pub timestamps: bool,
}

impl OsTraits {
    pub const MACOS: OsTraits = OsTraits {
        ttl: 64,
        mss: 1460,
        window: 65535,
        window_scale: Some(6),
        sack_permitted: true,
        timestamps: true,
    };
    pub const WINDOWS: OsTraits = OsTraits {
        ttl: 128,
        mss: 1460,
        window: 64240,
        window_scale: Some(8),
        sack_permitted: true,
        timestamps: false,
    };
    pub const LINUX: OsTraits = OsTraits {
        ttl: 64,
        mss: 1460,
        window: 64240,
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: true,
    };
    /// Embedded stacks: small window, no options beyond MSS.
    pub const EMBEDDED: OsTraits = OsTraits {
        ttl: 64,
        mss: 1460,
        window: 5840,
        window_scale: None,
        sack_permitted: false,
        timestamps: false,
    };

    /// IPv6 has 20 more header bytes than IPv4, so the MSS is 20 smaller.
    pub fn for_ipv6(mut self) -> Self {
        self.mss -= 20;
        self
    }
}

/// A device's web browser: what it says in plain HTTP and how it says hello in TLS.
#[derive(Clone, Debug)]
pub struct Browser {
    pub tls: TlsClient,
    /// User agent before and after the browser updates itself at `updated_at`.
    pub user_agent: (String, String),
    pub updated_at: Nanos,
}

impl Browser {
    pub fn user_agent(&self, t: Nanos) -> &str {
        if t < self.updated_at {
            &self.user_agent.0
        } else {
            &self.user_agent.1
        }
    }
}

#[derive(Clone, Debug)]
pub struct Device {
    /// `GROUP-N`, as scenarios refer to it.
    pub name: String,
    /// Who uses or runs it: a person for laptops and desktops, a team for servers.
    pub owner: String,
    pub role: Role,
    pub ip: IpAddr,
    /// Set for dual-stack devices.
    pub ip6: Option<Ipv6Addr>,
    pub mac: [u8; 6],
    pub os: OsTraits,
    pub browser: Browser,
    /// Self-signed certificate of an appliance or internal server's HTTPS service.
    pub chain: Option<Arc<Vec<Vec<u8>>>>,
    /// Index in [`World::devices`]; also names the device's random stream.
    pub index: usize,
}

/// How a site serves its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Https { tls13: bool },
    Http,
}

/// An external web site, API or service.
#[derive(Clone, Debug)]
pub struct Site {
    pub name: String,
    pub ip: Ipv4Addr,
    pub ip6: Option<Ipv6Addr>,
    /// Relative popularity (probability weight of a visit); 0 for background services.
    pub weight: f64,
    pub scheme: Scheme,
    /// Certificate chain presented over TLS (leaf first).
    pub chain: Arc<Vec<Vec<u8>>>,
    /// Round-trip time from the office.
    pub rtt: Nanos,
}

pub struct World {
    pub devices: Vec<Device>,
    pub sites: Vec<Site>,
    by_name: HashMap<String, usize>,
    /// Cumulative site weights, for sampling a visit.
    cumulative: Vec<f64>,
    pub dns_server: IpAddr,
    pub dns_mac: [u8; 6],
    pub gateway_mac: [u8; 6],
}

/// Popular services nearly every device talks to (all HTTPS; most dual-stack); the long tail is
/// generated.
const POPULAR: &[&str] = &[
    "www.google.com",
    "www.bing.com",
    "outlook.office365.com",
    "login.microsoftonline.com",
    "slack.com",
    "github.com",
    "www.wikipedia.org",
    "news.ycombinator.com",
    "www.bbc.co.uk",
    "www.nytimes.com",
    "docs.google.com",
    "www.linkedin.com",
    "zoom.us",
    "www.dropbox.com",
    "cdn.jsdelivr.net",
    "fonts.gstatic.com",
    "ajax.googleapis.com",
    "www.youtube.com",
    "www.apple.com",
    "www.amazon.com",
];

/// Background services: (name, scheme). Never picked for a random visit.
pub const SERVICES: &[(&str, Scheme)] = &[
    ("time.apple.com", Scheme::Http),
    ("time.windows.com", Scheme::Http),
    ("0.debian.pool.ntp.org", Scheme::Http),
    ("swscan.apple.com", Scheme::Https { tls13: true }),
    ("courier.push.apple.com", Scheme::Https { tls13: true }),
    ("p-upload.icloud-content.com", Scheme::Https { tls13: true }),
    ("update.microsoft.com", Scheme::Https { tls13: false }),
    ("download.windowsupdate.com", Scheme::Http),
    ("v10.events.data.microsoft.com", Scheme::Https { tls13: false }),
    ("api.onedrive.com", Scheme::Https { tls13: true }),
    ("deb.debian.org", Scheme::Http),
    ("backup.wasabisys.com", Scheme::Https { tls13: true }),
    ("raw.githubusercontent.com", Scheme::Https { tls13: true }),
    ("ocsp.digicert.com", Scheme::Http),
    ("printer-status.hpconnected.com", Scheme::Http),
    // Meeting media relay (UDP 8801); signalling goes to zoom.us.
    ("zoomff01mmr.cloud.zoom.us", Scheme::Http),
];

const FIRST_NAMES: &[&str] = &[
    "alice", "bob", "carmen", "dev", "elif", "farid", "grace", "hiro", "ines", "jonas", "kemi", "liam", "mei", "nora",
    "oscar", "priya", "quinn", "rosa", "sven", "tariq", "uma", "victor", "wen", "yusuf", "zoe",
];
const SURNAMES: &[&str] = &[
    "martin", "okafor", "silva", "kowalski", "nguyen", "haddad", "schmidt", "tanaka", "ibrahim", "larsen", "rossi",
];

const SYLLABLES: &[&str] = &[
    "al", "bo", "cor", "da", "el", "fin", "gra", "ho", "in", "jo", "ka", "lum", "mar", "no", "or", "pel", "qui", "ros",
    "sa", "tor", "ul", "ven", "wil", "xan", "yor", "zen", "tech", "shop", "blog", "news", "cloud", "data", "home",
    "craft", "garden", "travel",
];
const TLDS: &[&str] = &["com", "net", "org", "io", "co.uk", "de", "fr", "info", "dev", "app"];

/// Number of long-tail sites; with Zipf weights most are visited rarely, by one or two devices.
const LONG_TAIL: usize = 400;

impl World {
    pub fn build(sc: &LoadedScenario, seed: u64) -> World {
        let s = &sc.scenario;
        let now = s.start.0;
        let mut rng = stream(seed, "world", 0);
        let cas = certs::public_cas(&mut rng, now);
        let empty = Arc::new(Vec::new());

        let mut sites: Vec<Site> = Vec::new();
        let make = |rng: &mut crate::rng::Stream, name: String, weight: f64, scheme: Scheme, v6: bool| {
            let chain = match scheme {
                Scheme::Https { .. } => Arc::new(certs::issued_chain(
                    &cas[rng.random_range(0..cas.len())],
                    &name,
                    rng,
                    now,
                )),
                Scheme::Http => empty.clone(),
            };
            let rtt = rng.random_range(8_000_000..120_000_000);
            let ip6 = v6.then(|| public_ipv6(rng));
            Site {
                name,
                ip: public_ipv4(rng),
                ip6,
                weight,
                scheme,
                chain,
                rtt,
            }
        };
        for (i, n) in POPULAR.iter().enumerate() {
            // Popular sites: weight decays gently, so the first few are used by almost everyone.
            let v6 = i % 3 != 2;
            sites.push(make(
                &mut rng,
                (*n).to_string(),
                30.0 / (1.0 + i as f64 * 0.35),
                Scheme::Https { tls13: i % 7 != 6 },
                v6,
            ));
        }
        for (n, scheme) in SERVICES {
            sites.push(make(&mut rng, (*n).to_string(), 0.0, *scheme, false));
        }
        let mut seen: std::collections::HashSet<String> = sites.iter().map(|s| s.name.clone()).collect();
        let mut rank = 1.0;
        while sites.len() < POPULAR.len() + SERVICES.len() + LONG_TAIL {
            let parts = rng.random_range(2..=3);
            let mut name = String::new();
            for _ in 0..parts {
                name.push_str(SYLLABLES[rng.random_range(0..SYLLABLES.len())]);
            }
            let name = format!("www.{name}.{}", TLDS[rng.random_range(0..TLDS.len())]);
            if !seen.insert(name.clone()) {
                continue;
            }
            // The long tail: mostly HTTPS (some still TLS 1.2), some plain HTTP; Zipf s = 1.1.
            let r: f64 = rng.random();
            let scheme = if r < 0.12 {
                Scheme::Http
            } else {
                Scheme::Https { tls13: r > 0.3 }
            };
            sites.push(make(&mut rng, name, 4.0 / f64::powf(rank, 1.1), scheme, false));
            rank += 1.0;
        }
        let by_name = sites.iter().enumerate().map(|(i, s)| (s.name.clone(), i)).collect();
        let mut acc = 0.0;
        let cumulative = sites
            .iter()
            .map(|s| {
                acc += s.weight;
                acc
            })
            .collect();

        let mut devices = Vec::new();
        for g in &s.devices {
            for n in 0..g.count.value {
                let index = devices.len();
                let ip = g
                    .subnet
                    .value
                    .nth(u128::from(FIRST_HOST + n))
                    .expect("validated: subnet fits the count");
                let ip6 = g
                    .subnet6
                    .as_ref()
                    .and_then(|c| match c.value.nth(u128::from(FIRST_HOST + n)) {
                        Some(IpAddr::V6(a)) => Some(a),
                        _ => None,
                    });
                let name = format!("{}-{}", g.name.value, n + 1);
                let (os, browser) = role_traits(g.role, n, &mut rng, now, s.duration.value.0);
                let chain = match g.role {
                    Role::PrinterIot => Some(Arc::new(certs::self_signed(
                        &format!("NPI{:06X}", rng.random::<u32>() >> 8),
                        "HP",
                        &mut rng,
                        now,
                    ))),
                    Role::LinuxServer => Some(Arc::new(certs::self_signed(
                        &format!("{name}.corp.internal"),
                        "Internal IT",
                        &mut rng,
                        now,
                    ))),
                    _ => None,
                };
                let owner = match g.role {
                    Role::MacosLaptop | Role::WindowsDesktop => {
                        format!(
                            "{}.{}",
                            FIRST_NAMES[index % FIRST_NAMES.len()],
                            SURNAMES[(index * 7 + 3) % SURNAMES.len()]
                        )
                    }
                    Role::LinuxServer | Role::PrinterIot => "it-ops".to_string(),
                    Role::CloudWebVm | Role::CloudWafVm => "web-team".to_string(),
                };
                devices.push(Device {
                    name,
                    owner,
                    role: g.role,
                    ip,
                    ip6,
                    mac: mac_for(0x10, index as u32),
                    os,
                    browser,
                    chain,
                    index,
                });
            }
        }
        let internal0 = s.network.internal[0].value;
        let dns_server = s
            .network
            .dns_server
            .as_ref()
            .map(|d| d.value)
            .unwrap_or_else(|| internal0.nth(2).unwrap_or(internal0.addr));
        World {
            devices,
            sites,
            by_name,
            cumulative,
            dns_server,
            dns_mac: mac_for(0x20, 2),
            gateway_mac: mac_for(0x20, 1),
        }
    }

    /// Draws a site to visit, by popularity.
    pub fn pick_site(&self, rng: &mut impl rand::Rng) -> usize {
        let total = *self.cumulative.last().unwrap_or(&1.0);
        let x = rng.random_range(0.0..total);
        self.cumulative.partition_point(|&c| c <= x).min(self.sites.len() - 1)
    }

    pub fn site_by_name(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    pub fn device(&self, name: &str) -> Option<&Device> {
        self.devices.iter().find(|d| d.name == name)
    }

    /// The device inventory as JSON lines (what an asset database would say).
    pub fn inventory(&self) -> String {
        let mut out = String::new();
        for d in &self.devices {
            let rec = serde_json::json!({
                "device": d.name,
                "owner": d.owner,
                "role": d.role.as_str(),
                "ip": d.ip,
                "ip6": d.ip6,
                "mac": d.mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"),
                "ttl": d.os.ttl,
                "user_agent": d.browser.user_agent.0,
                "user_agent_after_update": d.browser.user_agent.1,
                "self_signed_https": d.chain.is_some(),
            });
            out.push_str(&rec.to_string());
            out.push('\n');
        }
        out
    }

    /// Devices of a role.
    pub fn devices_of(&self, role: Role) -> impl Iterator<Item = &Device> {
        self.devices.iter().filter(move |d| d.role == role)
    }
}

const CHROME: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{V}.0.0.0 Safari/537.36";
const SAFARI: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.{V} Safari/605.1.15";
const EDGE: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{V}.0.0.0 Safari/537.36 Edg/{V}.0.0.0";
const FIREFOX: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{V}.0) Gecko/20100101 Firefox/{V}.0";

/// OS traits and browser of the `n`th device of a role. Browsers update themselves at a random
/// moment (a new user agent: a benign trap for "new user agent" detectors).
fn role_traits(role: Role, n: u32, rng: &mut impl rand::Rng, start: Nanos, span: Nanos) -> (OsTraits, Browser) {
    let (os, template, version, tls) = match role {
        Role::MacosLaptop if n % 3 == 2 => (OsTraits::MACOS, CHROME, 131, TlsClient::Chrome),
        Role::MacosLaptop => (OsTraits::MACOS, SAFARI, 1, TlsClient::Safari),
        Role::WindowsDesktop if n % 4 == 3 => (OsTraits::WINDOWS, FIREFOX, 133, TlsClient::Firefox),
        Role::WindowsDesktop => (OsTraits::WINDOWS, EDGE, 131, TlsClient::Chrome),
        Role::LinuxServer | Role::CloudWebVm | Role::CloudWafVm => {
            let ua = "curl/7.88.1".to_string();
            return (
                OsTraits::LINUX,
                Browser {
                    tls: TlsClient::Curl,
                    user_agent: (ua.clone(), ua),
                    updated_at: u64::MAX,
                },
            );
        }
        Role::PrinterIot => {
            let ua = "HP-ChaiSOE/1.0".to_string();
            return (
                OsTraits::EMBEDDED,
                Browser {
                    tls: TlsClient::Embedded,
                    user_agent: (ua.clone(), ua),
                    updated_at: u64::MAX,
                },
            );
        }
    };
    let old = template.replace("{V}", &version.to_string());
    let new = template.replace("{V}", &(version + 1).to_string());
    let updated_at = start + rng.random_range(0..span.max(1));
    (
        os,
        Browser {
            tls,
            user_agent: (old, new),
            updated_at,
        },
    )
}

/// Locally administered unicast MAC, deterministic per (kind, index).
pub fn mac_for(kind: u8, index: u32) -> [u8; 6] {
    let i = index.to_be_bytes();
    [0x02, kind, i[0], i[1], i[2], i[3]]
}

/// A random globally routable IPv4 address (no private, loopback, link-local, multicast,
/// documentation, CGNAT or reserved space), so detectors see it as external.
pub fn public_ipv4(rng: &mut impl rand::Rng) -> Ipv4Addr {
    loop {
        let a = Ipv4Addr::from(rng.random::<u32>());
        let o = a.octets();
        let reserved = o[0] == 0
            || o[0] == 10
            || o[0] == 127
            || o[0] >= 224
            || (o[0] == 100 && (64..128).contains(&o[1]))
            || (o[0] == 169 && o[1] == 254)
            || (o[0] == 172 && (16..32).contains(&o[1]))
            || (o[0] == 192 && o[1] == 168)
            || (o[0] == 192 && o[1] == 0)
            || (o[0] == 198 && (18..20).contains(&o[1]))
            || (o[0] == 198 && o[1] == 51 && o[2] == 100)
            || (o[0] == 203 && o[1] == 0 && o[2] == 113)
            || o[3] == 0
            || o[3] == 255;
        if !reserved {
            return a;
        }
    }
}

/// A random global-unicast IPv6 address (2000::/3, not documentation space).
pub fn public_ipv6(rng: &mut impl rand::Rng) -> Ipv6Addr {
    loop {
        let mut a: u128 = rng.random();
        a = (a & !(0xe000u128 << 112)) | (0x2000u128 << 112);
        let ip = Ipv6Addr::from(a);
        let s = ip.segments();
        if !(s[0] == 0x2001 && (s[1] == 0x0db8 || s[1] < 0x0200)) && s[0] != 0x2002 {
            return ip;
        }
    }
}
