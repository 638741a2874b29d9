//! Address blocks: which addresses are the organisation's own.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (net, ip, bits) = match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => (u128::from(u32::from(n)), u128::from(u32::from(a)), 32u32),
            (IpAddr::V6(n), IpAddr::V6(a)) => (u128::from(n), u128::from(a), 128),
            _ => return false,
        };
        let shift = bits - u32::from(self.prefix);
        shift >= 128 || (net >> shift) == (ip >> shift)
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not ADDRESS/PREFIX"))?;
        let net: IpAddr = a.parse().map_err(|_| format!("`{a}` is not an IP address"))?;
        let prefix: u8 = p.parse().map_err(|_| format!("`{p}` is not a prefix length"))?;
        if prefix > if net.is_ipv4() { 32 } else { 128 } {
            return Err(format!("prefix /{prefix} is too long for {net}"));
        }
        Ok(Cidr { net, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// RFC 1918, RFC 4193 unique-local and link-local space: the default idea of "internal".
pub fn default_internal() -> Vec<Cidr> {
    ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fe80::/10"]
        .iter()
        .map(|c| c.parse().expect("valid literal"))
        .collect()
}

/// Addresses that are neither internal nor routable destinations worth modelling
/// (multicast, broadcast, loopback, unspecified, link-local).
pub fn is_special(ip: IpAddr) -> bool {
    match ip {
        // Link-local (169.254/16, fe80::/10) never leaves the host's link: the cloud metadata
        // service lives there, and it is nobody's external endpoint.
        IpAddr::V4(a) => {
            a.is_multicast() || a.is_broadcast() || a.is_loopback() || a.is_unspecified() || a.is_link_local()
        }
        IpAddr::V6(a) => {
            a.is_multicast() || a.is_loopback() || a.is_unspecified() || (a.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Parses `90s`, `15m`, `3h`, `2d` or a plain number of seconds.
pub fn parse_duration_secs(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..split].parse().map_err(|_| format!("invalid duration `{s}`"))?;
    let mult = match &s[split..] {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        u => return Err(format!("invalid duration `{s}`: unknown unit `{u}` (use s, m, h, d)")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("duration `{s}` is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_membership() {
        let c: Cidr = "10.20.0.0/16".parse().unwrap();
        assert!(c.contains("10.20.255.1".parse().unwrap()));
        assert!(!c.contains("10.21.0.1".parse().unwrap()));
        assert!(
            "0.0.0.0/0"
                .parse::<Cidr>()
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!("fc00::/7".parse::<Cidr>().unwrap().contains("fd12::1".parse().unwrap()));
        assert!("10.0.0.0/40".parse::<Cidr>().is_err());
        assert_eq!(parse_duration_secs("3h"), Ok(10_800));
        assert!(parse_duration_secs("3 fortnights").is_err());
    }
}
