//! DNS messages (RFC 1035): header, question and A/AAAA/CNAME answers, with name compression.
//!
//! Never panics: every read is bounds-checked, and compression pointers may only point
//! backwards (so a hostile loop of pointers ends).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub id: u16,
    pub response: bool,
    pub rcode: u8,
    /// First question's name (lower case, no trailing dot) and type.
    pub query: Option<(String, u16)>,
    pub answers: Vec<Answer>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub name: String,
    pub ttl: u32,
    pub data: AnswerData,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnswerData {
    Addr(IpAddr),
    Cname(String),
    Other(u16),
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(i)?,
        *b.get(i + 1)?,
        *b.get(i + 2)?,
        *b.get(i + 3)?,
    ]))
}

/// Reads a (possibly compressed) name at `pos`; returns it and the position after it.
fn read_name(b: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    let mut after = None;
    let mut hops = 0;
    loop {
        let len = *b.get(pos)? as usize;
        match len & 0xC0 {
            0x00 => {
                if len == 0 {
                    return Some((name, after.unwrap_or(pos + 1)));
                }
                let label = b.get(pos + 1..pos + 1 + len)?;
                if !name.is_empty() {
                    name.push('.');
                }
                for &c in label {
                    name.push(c.to_ascii_lowercase() as char);
                }
                if name.len() > 255 {
                    return None;
                }
                pos += 1 + len;
            }
            0xC0 => {
                let target = (u16_at(b, pos)? & 0x3FFF) as usize;
                // Only backwards pointers: guarantees termination.
                if target >= pos || hops > 64 {
                    return None;
                }
                hops += 1;
                after.get_or_insert(pos + 2);
                pos = target;
            }
            _ => return None,
        }
    }
}

pub fn parse(b: &[u8]) -> Option<Message> {
    let id = u16_at(b, 0)?;
    let flags = u16_at(b, 2)?;
    let qd = u16_at(b, 4)?;
    let an = u16_at(b, 6)?;
    let mut pos = 12;
    let mut query = None;
    for i in 0..qd {
        let (name, p) = read_name(b, pos)?;
        let qtype = u16_at(b, p)?;
        pos = p + 4;
        if i == 0 {
            query = Some((name, qtype));
        }
    }
    let mut answers = Vec::new();
    for _ in 0..an {
        let Some((name, p)) = read_name(b, pos) else { break };
        let (Some(rtype), Some(ttl), Some(rdlen)) = (u16_at(b, p), u32_at(b, p + 4), u16_at(b, p + 8)) else {
            break;
        };
        let start = p + 10;
        let Some(rdata) = b.get(start..start + rdlen as usize) else {
            break;
        };
        let data = match (rtype, rdata.len()) {
            (1, 4) => AnswerData::Addr(IpAddr::V4(Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3]))),
            (28, 16) => {
                let mut o = [0u8; 16];
                o.copy_from_slice(rdata);
                AnswerData::Addr(IpAddr::V6(Ipv6Addr::from(o)))
            }
            (5, _) => match read_name(b, start) {
                Some((n, _)) => AnswerData::Cname(n),
                None => AnswerData::Other(5),
            },
            (t, _) => AnswerData::Other(t),
        };
        answers.push(Answer { name, ttl, data });
        pos = start + rdlen as usize;
    }
    Some(Message {
        id,
        response: flags & 0x8000 != 0,
        rcode: (flags & 0xF) as u8,
        query,
        answers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response for `example.com A` with a compressed answer name, built by hand.
    const RESPONSE: &[u8] = &[
        0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, // header
        7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0, 0, 1, 0, 1, // question
        0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0x0E, 0x10, 0, 4, 93, 184, 216, 34, // answer
    ];

    #[test]
    fn parses_compressed_answer() {
        let m = parse(RESPONSE).unwrap();
        assert_eq!(m.id, 0x1234);
        assert!(m.response);
        assert_eq!(m.query, Some(("example.com".into(), 1)));
        assert_eq!(
            m.answers,
            vec![Answer {
                name: "example.com".into(),
                ttl: 3600,
                data: AnswerData::Addr("93.184.216.34".parse().unwrap())
            }]
        );
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        // Pointer loop, forward pointer, truncated everything.
        let mut looped = RESPONSE.to_vec();
        looped[29] = 0xC0;
        looped[30] = 29;
        let _ = parse(&looped);
        for n in 0..RESPONSE.len() {
            let _ = parse(&RESPONSE[..n]);
        }
        assert_eq!(parse(&[0xC0, 0x0C]), None);
    }
}
