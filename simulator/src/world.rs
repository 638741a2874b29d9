//! The simulated organisation and the Internet around it: devices with consistent OS traits,
//! external sites with realistic popularity, and the DNS zone that maps their names.

use std::net::{IpAddr, Ipv4Addr};

use rand::RngExt;

use crate::rng::stream;
use crate::scenario::{FIRST_HOST, LoadedScenario, Role};

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
}

#[derive(Clone, Debug)]
pub struct Device {
    /// `GROUP-N`, as scenarios refer to it.
    pub name: String,
    pub role: Role,
    pub ip: IpAddr,
    pub mac: [u8; 6],
    pub os: OsTraits,
    /// The user agent of the device's everyday HTTP client.
    pub user_agent: &'static str,
    /// Index in [`World::devices`]; also names the device's random stream.
    pub index: usize,
}

/// An external web site or API.
#[derive(Clone, Debug)]
pub struct Site {
    pub name: String,
    pub ip: Ipv4Addr,
    /// Relative popularity (probability weight of a visit).
    pub weight: f64,
}

pub struct World {
    pub devices: Vec<Device>,
    pub sites: Vec<Site>,
    by_name: std::collections::HashMap<String, usize>,
    /// Cumulative site weights, for sampling a visit.
    cumulative: Vec<f64>,
    pub dns_server: IpAddr,
    pub dns_mac: [u8; 6],
    pub gateway_mac: [u8; 6],
}

/// Popular services nearly every device talks to; the long tail is generated.
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
        let mut rng = stream(seed, "world", 0);
        let mut devices = Vec::new();
        for g in &s.devices {
            for n in 0..g.count.value {
                let index = devices.len();
                let ip = g
                    .subnet
                    .value
                    .nth(u128::from(FIRST_HOST + n))
                    .expect("validated: subnet fits the count");
                let (os, user_agent) = role_traits(g.role, n);
                devices.push(Device {
                    name: format!("{}-{}", g.name.value, n + 1),
                    role: g.role,
                    ip,
                    mac: mac_for(0x10, index as u32),
                    os,
                    user_agent,
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

        let mut sites: Vec<Site> = POPULAR
            .iter()
            .enumerate()
            // Popular sites: weight decays gently, so the first few are used by almost everyone.
            .map(|(i, n)| Site {
                name: (*n).to_string(),
                ip: public_ipv4(&mut rng),
                weight: 30.0 / (1.0 + i as f64 * 0.35),
            })
            .collect();
        let mut seen: std::collections::HashSet<String> = sites.iter().map(|s| s.name.clone()).collect();
        let mut rank = 1.0;
        while sites.len() < POPULAR.len() + LONG_TAIL {
            let parts = rng.random_range(2..=3);
            let mut name = String::new();
            for _ in 0..parts {
                name.push_str(SYLLABLES[rng.random_range(0..SYLLABLES.len())]);
            }
            let name = format!("www.{name}.{}", TLDS[rng.random_range(0..TLDS.len())]);
            if !seen.insert(name.clone()) {
                continue;
            }
            // Zipf (s = 1.1) over the long tail.
            sites.push(Site {
                name,
                ip: public_ipv4(&mut rng),
                weight: 4.0 / f64::powf(rank, 1.1),
            });
            rank += 1.0;
        }
        // Hosts of periodic background jobs: resolvable, but never picked for a random visit.
        for name in crate::behaviour::PERIODIC_HOSTS {
            sites.push(Site {
                name: (*name).to_string(),
                ip: public_ipv4(&mut rng),
                weight: 0.0,
            });
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

    /// Round-trip time to a site: stable per site (8-120 ms), as its distance does not change.
    pub fn site_rtt(&self, site: usize) -> u64 {
        let h = (site as u64 ^ 0x5bd1_e995).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        8_000_000 + h % 112_000_000
    }

    pub fn device(&self, name: &str) -> Option<&Device> {
        self.devices.iter().find(|d| d.name == name)
    }
}

fn role_traits(role: Role, n: u32) -> (OsTraits, &'static str) {
    match role {
        Role::MacosLaptop => (
            OsTraits::MACOS,
            if n % 3 == 2 {
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
            } else {
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"
            },
        ),
        Role::WindowsDesktop => (
            OsTraits::WINDOWS,
            if n % 4 == 3 {
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
            } else {
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
            },
        ),
        Role::LinuxServer | Role::CloudWebVm | Role::CloudWafVm => (OsTraits::LINUX, "curl/7.88.1"),
        Role::PrinterIot => (OsTraits::EMBEDDED, "HP-ChaiSOE/1.0"),
    }
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
