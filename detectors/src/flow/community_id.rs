//! Community ID v1 (https://github.com/corelight/community-id-spec): a stable flow hash shared
//! by Zeek, Suricata and others, so alerts can be joined with other tools' logs.

use std::net::IpAddr;

use base64::Engine;
use sha1::{Digest, Sha1};

/// `1:` + base64(SHA-1(seed, lower endpoint, higher endpoint, proto, 0, ports)).
pub fn community_id(seed: u16, proto: u8, a: IpAddr, a_port: u16, b: IpAddr, b_port: u16) -> String {
    // ICMP types map to ports so both directions of a request/reply hash alike.
    let (a_port, b_port, one_way) = match proto {
        1 => icmp4_ports(a_port as u8, b_port),
        58 => icmp6_ports(a_port as u8, b_port),
        _ => (a_port, b_port, false),
    };
    let a_first = one_way || (ip_bytes(a), a_port) <= (ip_bytes(b), b_port);
    let ((x, xp), (y, yp)) = if a_first {
        ((a, a_port), (b, b_port))
    } else {
        ((b, b_port), (a, a_port))
    };
    let mut h = Sha1::new();
    h.update(seed.to_be_bytes());
    h.update(ip_bytes(x));
    h.update(ip_bytes(y));
    h.update([proto, 0]);
    if matches!(proto, 1 | 6 | 17 | 58 | 132) {
        h.update(xp.to_be_bytes());
        h.update(yp.to_be_bytes());
    }
    format!("1:{}", base64::engine::general_purpose::STANDARD.encode(h.finalize()))
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// (type → port, code or counterpart type → port, whether the message is one-way).
fn icmp4_ports(t: u8, code: u16) -> (u16, u16, bool) {
    let counterpart = match t {
        8 => Some(0),
        0 => Some(8),
        13 => Some(14),
        14 => Some(13),
        15 => Some(16),
        16 => Some(15),
        10 => Some(9),
        9 => Some(10),
        17 => Some(18),
        18 => Some(17),
        _ => None,
    };
    match counterpart {
        Some(c) => (u16::from(t), c, false),
        None => (u16::from(t), code, true),
    }
}

fn icmp6_ports(t: u8, code: u16) -> (u16, u16, bool) {
    let counterpart = match t {
        128 => Some(129),
        129 => Some(128),
        133 => Some(134),
        134 => Some(133),
        135 => Some(136),
        136 => Some(135),
        130 => Some(131),
        131 => Some(130),
        144 => Some(145),
        145 => Some(144),
        _ => None,
    };
    match counterpart {
        Some(c) => (u16::from(t), c, false),
        None => (u16::from(t), code, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples() {
        // From the Community ID specification's baseline: TCP 128.232.110.120:34855 → 66.35.250.204:80.
        let a: IpAddr = "128.232.110.120".parse().unwrap();
        let b: IpAddr = "66.35.250.204".parse().unwrap();
        assert_eq!(community_id(0, 6, a, 34855, b, 80), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
        assert_eq!(community_id(0, 6, b, 80, a, 34855), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
    }
}
