//! Human units used in scenario files: durations (`90s`, `1h30m`, `2d`), byte sizes (`30MiB`),
//! timestamps (`2026-03-02T08:00:00Z`), CIDR blocks and ranges (`30s..120s`).
//!
//! Every parser here returns a message on bad input and never panics: scenario files are
//! untrusted input.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Nanoseconds; capture time inside the pipeline is always an absolute count of these since the
/// Unix epoch, never the wall clock.
pub type Nanos = u64;

pub const NS_PER_SEC: u64 = 1_000_000_000;

/// A span of time with nanosecond precision, written `250ms`, `90s`, `1h30m`, `2d`, `1w`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub Nanos);

impl Duration {
    pub const fn from_secs(s: u64) -> Self {
        Duration(s * NS_PER_SEC)
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NS_PER_SEC as f64
    }
}

impl FromStr for Duration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let text = s.trim();
        if text.is_empty() {
            return Err("empty duration; write e.g. `90s`, `15m`, `1h30m`, `2d`".into());
        }
        let mut total: f64 = 0.0;
        let mut rest = text;
        while !rest.is_empty() {
            let num_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            if num_len == 0 {
                return Err(format!("invalid duration `{text}`: expected a number at `{rest}`"));
            }
            let value: f64 = rest[..num_len]
                .parse()
                .map_err(|_| format!("invalid duration `{text}`: bad number `{}`", &rest[..num_len]))?;
            rest = &rest[num_len..];
            let unit_len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            let scale = match unit {
                "ns" => 1e0,
                "us" | "µs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" | "min" => 60e9,
                "h" => 3600e9,
                "d" => 86_400e9,
                "w" => 604_800e9,
                "" => {
                    return Err(format!(
                        "invalid duration `{text}`: missing unit (one of ms, s, m, h, d, w)"
                    ));
                }
                other => {
                    return Err(format!(
                        "invalid duration `{text}`: unknown unit `{other}` (use ms, s, m, h, d, w)"
                    ));
                }
            };
            total += value * scale;
            rest = &rest[unit_len..];
        }
        // 2^63 ns is about 292 years: far beyond any scenario, and keeps sums from overflowing.
        if !total.is_finite() || total >= 9.2e18 {
            return Err(format!("duration `{text}` is too long"));
        }
        Ok(Duration(total.round() as u64))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        if ns == 0 {
            return write!(f, "0s");
        }
        if ns % NS_PER_SEC != 0 {
            return write!(f, "{}ms", ns as f64 / 1e6);
        }
        let mut s = ns / NS_PER_SEC;
        for (unit, len) in [("d", 86_400), ("h", 3600), ("m", 60)] {
            if s >= len {
                write!(f, "{}{unit}", s / len)?;
                s %= len;
            }
        }
        if s > 0 {
            write!(f, "{s}s")?;
        }
        Ok(())
    }
}

/// A byte count, written `512`, `250KiB`, `30MiB`, `5MB`, `1.5GiB`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let text = s.trim();
        let num_len = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        if num_len == 0 {
            return Err(format!("invalid size `{text}`: write e.g. `512`, `250KiB`, `30MiB`"));
        }
        let value: f64 = text[..num_len]
            .parse()
            .map_err(|_| format!("invalid size `{text}`: bad number"))?;
        let scale: f64 = match text[num_len..].trim() {
            "" | "B" => 1.0,
            "KB" | "kB" => 1e3,
            "MB" => 1e6,
            "GB" => 1e9,
            "TB" => 1e12,
            "KiB" => 1024.0,
            "MiB" => 1024.0 * 1024.0,
            "GiB" => 1024.0 * 1024.0 * 1024.0,
            "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            other => {
                return Err(format!(
                    "invalid size `{text}`: unknown unit `{other}` (use B, KB, MB, GB, KiB, MiB, GiB)"
                ));
            }
        };
        let bytes = value * scale;
        if !bytes.is_finite() || bytes >= 1.8e19 {
            return Err(format!("size `{text}` is too large"));
        }
        Ok(ByteSize(bytes.round() as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        for (unit, len) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if b >= len && b % len == 0 {
                return write!(f, "{}{unit}", b / len);
            }
        }
        write!(f, "{b}B")
    }
}

/// A fixed point in time, written as RFC 3339 UTC (`2026-03-02T08:00:00Z`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub Nanos);

impl FromStr for Timestamp {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid timestamp `{s}`: write RFC 3339 UTC like `2026-03-02T08:00:00Z`");
        let b = s.trim().as_bytes();
        if b.len() != 20
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
            || b[19] != b'Z'
        {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
            std::str::from_utf8(&b[r])
                .ok()
                .and_then(|t| t.parse::<i64>().ok())
                .ok_or_else(bad)
        };
        let (y, mo, d, h, mi, se) = (
            num(0..4)?,
            num(5..7)?,
            num(8..10)?,
            num(11..13)?,
            num(14..16)?,
            num(17..19)?,
        );
        if !(1970..=2200).contains(&y)
            || !(1..=12).contains(&mo)
            || !(1..=31).contains(&d)
            || h > 23
            || mi > 59
            || se > 59
        {
            return Err(bad());
        }
        let days = days_from_civil(y, mo, d);
        let secs = days * 86_400 + h * 3600 + mi * 60 + se;
        Ok(Timestamp(secs as u64 * NS_PER_SEC))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_rfc3339(self.0))
    }
}

/// Howard Hinnant's days-from-civil: proleptic Gregorian date → days since 1970-01-01.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// RFC 3339 with microseconds, e.g. `2026-03-02T08:00:00.123456Z`.
pub fn format_rfc3339(ns: Nanos) -> String {
    let secs = (ns / NS_PER_SEC) as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        (ns % NS_PER_SEC) / 1000
    )
}

/// IMF-fixdate for HTTP `Date` headers, e.g. `Mon, 02 Mar 2026 08:00:00 GMT`.
pub fn http_date(ns: Nanos) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = (ns / NS_PER_SEC) as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        DAYS[weekday(ns) as usize],
        MONTHS[(m - 1) as usize],
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// Day of week for a capture time: 0 = Monday … 6 = Sunday.
pub fn weekday(ns: Nanos) -> u32 {
    // 1970-01-01 was a Thursday (3 when Monday is 0).
    (((ns / NS_PER_SEC / 86_400) + 3) % 7) as u32
}

/// Seconds since midnight UTC.
pub fn second_of_day(ns: Nanos) -> u64 {
    ns / NS_PER_SEC % 86_400
}

/// An address block like `10.20.0.0/16` or `fd00:1::/64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix)
                };
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix)
                };
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }

    /// Number of host addresses, saturating (an IPv6 /64 is "a lot").
    pub fn size(&self) -> u128 {
        let bits = match self.addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        } - u32::from(self.prefix);
        if bits >= 127 { u128::MAX } else { 1u128 << bits }
    }

    /// The `n`th address of the block (0 is the network address).
    pub fn nth(&self, n: u128) -> Option<IpAddr> {
        if n >= self.size() {
            return None;
        }
        Some(match self.addr {
            IpAddr::V4(a) => IpAddr::V4((u32::from(a) + n as u32).into()),
            IpAddr::V6(a) => IpAddr::V6((u128::from(a) + n).into()),
        })
    }

    pub fn is_subset_of(&self, other: &Cidr) -> bool {
        self.prefix >= other.prefix && other.contains(self.addr)
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = s
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("invalid CIDR `{s}`: expected ADDRESS/PREFIX like `10.0.0.0/16`"))?;
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("invalid CIDR `{s}`: `{a}` is not an IP address"))?;
        let prefix: u8 = p
            .parse()
            .map_err(|_| format!("invalid CIDR `{s}`: `{p}` is not a prefix length"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(format!(
                "invalid CIDR `{s}`: prefix /{prefix} is longer than {max} bits"
            ));
        }
        let cidr = Cidr { addr, prefix };
        // Host bits set usually means a typo (10.0.0.1/16 for 10.0.0.0/16): refuse rather than guess.
        if !cidr.network_matches() {
            return Err(format!("invalid CIDR `{s}`: host bits are set below /{prefix}"));
        }
        Ok(cidr)
    }
}

impl Cidr {
    fn network_matches(&self) -> bool {
        match self.addr {
            IpAddr::V4(a) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix)
                };
                u32::from(a) & !mask == 0
            }
            IpAddr::V6(a) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix)
                };
                u128::from(a) & !mask == 0
            }
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A value that is either fixed (`60s`) or drawn uniformly from a range (`30s..120s`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range<T> {
    pub min: T,
    pub max: T,
}

impl<T: Copy> Range<T> {
    pub const fn fixed(v: T) -> Self {
        Range { min: v, max: v }
    }
    pub const fn new(min: T, max: T) -> Self {
        Range { min, max }
    }
}

impl<T: FromStr<Err = String> + PartialOrd + Copy> FromStr for Range<T> {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once("..") {
            Some((a, b)) => {
                let (min, max) = (a.trim().parse::<T>()?, b.trim().parse::<T>()?);
                if min > max {
                    return Err(format!("invalid range `{s}`: the lower bound is above the upper"));
                }
                Ok(Range { min, max })
            }
            None => Ok(Range::fixed(s.parse::<T>()?)),
        }
    }
}

impl<T: fmt::Display + PartialEq> fmt::Display for Range<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}..{}", self.min, self.max)
        }
    }
}

/// A plain number usable in ranges (`0.1..0.3`), kept apart from `f64` so that it can carry the
/// `FromStr<Err = String>` the range parser wants.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Real(pub f64);

impl FromStr for Real {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let v: f64 = s.trim().parse().map_err(|_| format!("invalid number `{s}`"))?;
        if !v.is_finite() {
            return Err(format!("invalid number `{s}`"));
        }
        Ok(Real(v))
    }
}

impl fmt::Display for Real {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An integer usable in ranges (`6000..7000`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Int(pub u64);

impl FromStr for Int {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.trim()
            .parse()
            .map(Int)
            .map_err(|_| format!("invalid whole number `{s}`"))
    }
}

impl fmt::Display for Int {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Deserialises any `FromStr` type from a YAML scalar; numbers are accepted as their text so that
/// `count: 5`, `size: 512` and `jitter: 0.2` read naturally.
struct ScalarVisitor<T>(std::marker::PhantomData<T>, &'static str);

impl<T: FromStr<Err = String>> Visitor<'_> for ScalarVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }
}

macro_rules! scalar_serde {
    ($ty:ty, $expect:literal) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(ScalarVisitor(std::marker::PhantomData, $expect))
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

scalar_serde!(Duration, "a duration such as `90s`, `15m`, `2d`");
scalar_serde!(ByteSize, "a size such as `512`, `250KiB`, `30MiB`");
scalar_serde!(Timestamp, "an RFC 3339 UTC time such as `2026-03-02T08:00:00Z`");
scalar_serde!(Cidr, "an address block such as `10.0.0.0/16`");
scalar_serde!(Range<Duration>, "a duration or range such as `60s` or `30s..120s`");
scalar_serde!(Range<ByteSize>, "a size or range such as `1MiB` or `50KB..20MB`");
scalar_serde!(Range<Real>, "a number or range such as `0.2` or `0..0.3`");
scalar_serde!(Range<Int>, "a whole number or range such as `8443` or `6000..7000`");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!("90s".parse::<Duration>().unwrap(), Duration::from_secs(90));
        assert_eq!("1h30m".parse::<Duration>().unwrap(), Duration::from_secs(5400));
        assert_eq!("2d".parse::<Duration>().unwrap(), Duration::from_secs(172_800));
        assert_eq!("250ms".parse::<Duration>().unwrap(), Duration(250_000_000));
        assert_eq!("1.5h".parse::<Duration>().unwrap(), Duration::from_secs(5400));
        assert!("lots".parse::<Duration>().unwrap_err().contains("lots"));
        assert!("90".parse::<Duration>().unwrap_err().contains("missing unit"));
        assert!("5q".parse::<Duration>().unwrap_err().contains("unknown unit `q`"));
        assert!("99999999999d".parse::<Duration>().is_err());
        assert_eq!(Duration::from_secs(5400).to_string(), "1h30m");
    }

    #[test]
    fn sizes() {
        assert_eq!("30MiB".parse::<ByteSize>().unwrap(), ByteSize(30 << 20));
        assert_eq!("5MB".parse::<ByteSize>().unwrap(), ByteSize(5_000_000));
        assert_eq!("512".parse::<ByteSize>().unwrap(), ByteSize(512));
        assert!("5 parsecs".parse::<ByteSize>().is_err());
        assert_eq!(ByteSize(30 << 20).to_string(), "30MiB");
    }

    #[test]
    fn timestamps_round_trip() {
        let t: Timestamp = "2026-03-02T08:00:00Z".parse().unwrap();
        assert_eq!(t.0 / NS_PER_SEC, 1_772_438_400);
        assert_eq!(format_rfc3339(t.0), "2026-03-02T08:00:00.000000Z");
        assert_eq!(weekday(t.0), 0, "2026-03-02 is a Monday");
        assert_eq!(http_date(t.0), "Mon, 02 Mar 2026 08:00:00 GMT");
        assert!("2026-13-02T08:00:00Z".parse::<Timestamp>().is_err());
        assert!("yesterday".parse::<Timestamp>().is_err());
    }

    #[test]
    fn cidrs() {
        let c: Cidr = "10.20.0.0/16".parse().unwrap();
        assert!(c.contains("10.20.3.4".parse().unwrap()));
        assert!(!c.contains("10.21.0.1".parse().unwrap()));
        assert_eq!(c.nth(10), Some("10.20.0.10".parse().unwrap()));
        assert!("10.20.0.1/16".parse::<Cidr>().unwrap_err().contains("host bits"));
        assert!("10.20.0.0/33".parse::<Cidr>().is_err());
        assert!("10.20.0.0".parse::<Cidr>().is_err());
        let v6: Cidr = "fd00:1::/64".parse().unwrap();
        assert!(v6.contains("fd00:1::5".parse().unwrap()));
    }

    #[test]
    fn ranges() {
        let r: Range<Duration> = "30s..120s".parse().unwrap();
        assert_eq!((r.min, r.max), (Duration::from_secs(30), Duration::from_secs(120)));
        assert!("120s..30s".parse::<Range<Duration>>().is_err());
        let j: Range<Real> = "0.2".parse().unwrap();
        assert_eq!(j.min, j.max);
    }
}
