//! DNS over UDP in RFC 1035 wire format.

use std::net::IpAddr;

use rand::{RngExt, SeedableRng};

use super::Packet;
use super::frame::{Path, udp_frame};
use crate::session::{DnsExchange, DnsType, Session};

/// Query and answer; returns the packets and the payload bytes each way.
pub fn render(s: &Session, d: &DnsExchange, buf: &mut Vec<u8>) -> (Vec<Packet>, u64, u64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(s.seed);
    let query = encode(d, false);
    let answer = encode(d, true);
    let (up, down) = Path::pair(s, (rng.random(), rng.random()));
    let packets = vec![
        Packet::at(s.start, udp_frame(buf, &up, s.client.port, s.server.port, &query)),
        Packet::at(
            s.start + s.rtt,
            udp_frame(buf, &down, s.server.port, s.client.port, &answer),
        ),
    ];
    (packets, query.len() as u64, answer.len() as u64)
}

fn encode(d: &DnsExchange, response: bool) -> Vec<u8> {
    let mut m = Vec::with_capacity(64 + d.name.len());
    m.extend_from_slice(&d.id.to_be_bytes());
    let flags: u16 = match (response, d.answers.is_empty()) {
        (false, _) => 0x0100,    // standard query, recursion desired
        (true, false) => 0x8180, // response, RD, RA, no error
        (true, true) => 0x8183,  // response, RD, RA, NXDOMAIN
    };
    let answers: Vec<&IpAddr> = if response {
        d.answers.iter().collect()
    } else {
        Vec::new()
    };
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    m.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]); // NSCOUNT, ARCOUNT
    for label in d.name.trim_end_matches('.').split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    let qtype: u16 = match d.qtype {
        DnsType::A => 1,
        DnsType::Aaaa => 28,
    };
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes()); // IN
    for a in answers {
        m.extend_from_slice(&[0xC0, 0x0C]); // pointer to the question name
        let (t, rdata): (u16, Vec<u8>) = match a {
            IpAddr::V4(v4) => (1, v4.octets().to_vec()),
            IpAddr::V6(v6) => (28, v6.octets().to_vec()),
        };
        m.extend_from_slice(&t.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m.extend_from_slice(&d.ttl.to_be_bytes());
        m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(&rdata);
    }
    m
}
