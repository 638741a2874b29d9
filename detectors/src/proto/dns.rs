//! DNS messages (RFC 1035; also mDNS, LLMNR and NetBIOS name service, which share the format):
//! header flags, question, and answers rendered as Zeek's dns.log renders them.
//!
//! Never panics: every read is bounds-checked, and compression pointers may only point
//! backwards (so a hostile loop of pointers ends).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub id: u16,
    pub response: bool,
    pub opcode: u8,
    pub rcode: u8,
    pub aa: bool,
    pub tc: bool,
    pub rd: bool,
    pub ra: bool,
    pub z: u8,
    /// First question's name (lower case, no trailing dot) and type.
    pub query: Option<(String, u16)>,
    /// First question's class.
    pub qclass: u16,
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
    /// CNAME, PTR, NS, MX exchange, SRV target, SOA primary name.
    Name(u16, String),
    /// TXT character-strings.
    Txt(Vec<String>),
    Other(u16),
}

impl AnswerData {
    /// The answer as Zeek's dns.log `answers` column shows it.
    pub fn zeek_text(&self) -> String {
        match self {
            AnswerData::Addr(ip) => ip.to_string(),
            AnswerData::Name(_, n) => n.clone(),
            AnswerData::Txt(parts) => parts
                .iter()
                .map(|p| format!("TXT {} {p}", p.len()))
                .collect::<Vec<_>>()
                .join(" "),
            AnswerData::Other(t) => format!("<unknown type={t}>"),
        }
    }
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
    let mut qclass = 0;
    for i in 0..qd {
        let (name, p) = read_name(b, pos)?;
        let qtype = u16_at(b, p)?;
        if i == 0 {
            qclass = u16_at(b, p + 2)?;
            query = Some((name, qtype));
        }
        pos = p + 4;
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
            // CNAME, NS, PTR: a name; MX: preference then a name; SRV: three numbers then a
            // name; SOA: the primary name first.
            (5 | 2 | 12 | 6, _) => name_at(b, start, rtype),
            (15, _) => name_at(b, start + 2, rtype),
            (33, _) => name_at(b, start + 6, rtype),
            (16, _) => AnswerData::Txt(txt_strings(rdata)),
            (t, _) => AnswerData::Other(t),
        };
        answers.push(Answer { name, ttl, data });
        pos = start + rdlen as usize;
    }
    Some(Message {
        id,
        response: flags & 0x8000 != 0,
        opcode: ((flags >> 11) & 0xF) as u8,
        rcode: (flags & 0xF) as u8,
        aa: flags & 0x0400 != 0,
        tc: flags & 0x0200 != 0,
        rd: flags & 0x0100 != 0,
        ra: flags & 0x0080 != 0,
        z: ((flags >> 4) & 0x7) as u8,
        query,
        qclass,
        answers,
    })
}

fn name_at(b: &[u8], pos: usize, rtype: u16) -> AnswerData {
    match read_name(b, pos) {
        Some((n, _)) => AnswerData::Name(rtype, n),
        None => AnswerData::Other(rtype),
    }
}

fn txt_strings(mut rdata: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    while let Some((&len, rest)) = rdata.split_first() {
        let take = (len as usize).min(rest.len());
        out.push(String::from_utf8_lossy(&rest[..take]).into_owned());
        rdata = &rest[take..];
    }
    out
}

/// NetBIOS first-level encoding (RFC 1001 §14.1): 32 letters `A`..`P` carry 16 bytes, the
/// last being the service suffix. Returns the name without suffix and padding, as Zeek logs it.
pub fn netbios_name(label: &str) -> Option<String> {
    let b = label.as_bytes();
    if b.len() != 32 || !b.iter().all(|c| (b'A'..=b'P').contains(&c.to_ascii_uppercase())) {
        return None;
    }
    let bytes: Vec<u8> = b
        .chunks(2)
        .map(|p| ((p[0].to_ascii_uppercase() - b'A') << 4) | (p[1].to_ascii_uppercase() - b'A'))
        .collect();
    let name = &bytes[..15];
    let end = name.iter().rposition(|&c| c != b' ' && c != 0).map_or(0, |i| i + 1);
    Some(String::from_utf8_lossy(&name[..end]).into_owned())
}

/// One query/response exchange as Zeek's dns.log records it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transaction {
    /// Time of the query (of the response when no query was seen).
    pub ts: u64,
    pub id: u16,
    /// Set, as in Zeek, only when the response carried answers.
    pub rtt: Option<u64>,
    pub query: Option<String>,
    pub qclass: Option<u16>,
    pub qtype: Option<u16>,
    pub rcode: Option<u8>,
    pub aa: bool,
    pub tc: bool,
    pub rd: bool,
    pub ra: bool,
    pub z: u8,
    pub answers: Vec<String>,
    /// Answer TTLs in nanoseconds.
    pub ttls: Vec<u64>,
    pub rejected: bool,
    pub opcode: u8,
    /// NetBIOS name service (UDP 137): names are decoded and opcodes named `netbios-*`.
    pub netbios: bool,
}

/// Most queries kept waiting for a response in one flow.
const MAX_PENDING: usize = 64;

/// Pairs queries with responses by transaction id, oldest first, as Zeek does.
#[derive(Clone, Debug, Default)]
pub struct DnsState {
    pending: Vec<Transaction>,
}

impl DnsState {
    /// Accounts one message; completed transactions are pushed to `out`.
    pub fn on_message(&mut self, ts: u64, msg: &Message, netbios: bool, out: &mut Vec<Transaction>) {
        let name = |n: &str| {
            if netbios {
                let first = n.split('.').next().unwrap_or(n);
                netbios_name(first).unwrap_or_else(|| n.to_string())
            } else {
                n.to_string()
            }
        };
        if !msg.response {
            if self.pending.len() >= MAX_PENDING {
                out.push(self.pending.remove(0));
            }
            self.pending.push(Transaction {
                ts,
                id: msg.id,
                query: msg.query.as_ref().map(|(n, _)| name(n)),
                qclass: msg.query.as_ref().map(|_| msg.qclass),
                qtype: msg.query.as_ref().map(|&(_, t)| t),
                tc: msg.tc,
                rd: msg.rd,
                z: msg.z,
                opcode: msg.opcode,
                netbios,
                ..Transaction::default()
            });
            return;
        }
        let matched = self.pending.iter().position(|t| t.id == msg.id);
        let mut tx = match matched {
            Some(i) => self.pending.remove(i),
            None => Transaction {
                ts,
                id: msg.id,
                query: msg
                    .query
                    .as_ref()
                    .map(|(n, _)| n.as_str())
                    .or(msg.answers.first().map(|a| a.name.as_str()))
                    .map(name),
                qclass: msg.query.as_ref().map(|_| msg.qclass),
                qtype: msg.query.as_ref().map(|&(_, t)| t),
                rd: msg.rd,
                tc: msg.tc,
                z: msg.z,
                opcode: msg.opcode,
                netbios,
                ..Transaction::default()
            },
        };
        tx.rcode = Some(msg.rcode);
        tx.rejected = msg.rcode == 5;
        if !msg.answers.is_empty() {
            tx.aa = msg.aa;
            tx.ra = msg.ra;
            // Zeek measures the round trip only against a query it saw.
            tx.rtt = matched.map(|_| ts.saturating_sub(tx.ts));
            tx.answers = msg.answers.iter().map(|a| a.data.zeek_text()).collect();
            tx.ttls = msg.answers.iter().map(|a| u64::from(a.ttl) * 1_000_000_000).collect();
        }
        out.push(tx);
    }

    /// Queries that never got a response (end of the flow).
    pub fn drain(&mut self, out: &mut Vec<Transaction>) {
        out.append(&mut self.pending);
    }
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

    #[test]
    fn netbios_names_decode_without_suffix_or_padding() {
        // "WORKGROUP" padded with spaces, suffix 0x1D.
        assert_eq!(
            netbios_name("FHEPFCELEHFCEPFFFACACACACACACABN").as_deref(),
            Some("WORKGROUP")
        );
        assert_eq!(netbios_name("example"), None);
    }

    #[test]
    fn queries_pair_with_responses_oldest_first() {
        let mut state = DnsState::default();
        let mut out = Vec::new();
        let mut query = parse(RESPONSE).unwrap();
        query.response = false;
        query.answers.clear();
        state.on_message(10, &query, false, &mut out);
        state.on_message(20, &query, false, &mut out);
        state.on_message(25, &parse(RESPONSE).unwrap(), false, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].ts, out[0].rtt, out[0].rcode), (10, Some(15), Some(0)));
        assert_eq!(out[0].answers, vec!["93.184.216.34".to_string()]);
        state.drain(&mut out);
        assert_eq!(out.len(), 2);
        assert_eq!((out[1].ts, out[1].rcode), (20, None));
    }
}
