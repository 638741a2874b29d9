//! Community ID v1 against the reference hashes Zeek computed for its test captures.

use detectors::capture::CaptureReader;
use detectors::decode::decode;
use detectors::flow::{FlowTable, Timeouts, community_id};

use crate::common::zeek_corpus;

/// Parses `[orig_h=A, orig_p=P/tcp, resp_h=B, resp_p=Q/tcp, proto=6, ctx=[]], 1:hash`.
fn parse_line(line: &str) -> Option<(std::net::IpAddr, u16, std::net::IpAddr, u16, u8, String)> {
    let field = |name: &str| -> Option<&str> {
        let start = line.find(&format!("{name}="))? + name.len() + 1;
        let end = line[start..].find([',', ']']).map(|e| start + e)?;
        Some(&line[start..end])
    };
    let port = |v: &str| v.split('/').next()?.parse::<u16>().ok();
    let hash = line.rsplit(", ").next()?.trim().to_string();
    Some((
        field("orig_h")?.parse().ok()?,
        port(field("orig_p")?)?,
        field("resp_h")?.parse().ok()?,
        port(field("resp_p")?)?,
        field("proto")?.parse().ok()?,
        hash,
    ))
}

#[test]
fn reference_hashes_match() {
    let Some(corpus) = zeek_corpus() else { return };
    let mut checked = 0;
    for name in ["tcp", "udp", "icmp", "icmp6", "ipv6", "sctp"] {
        let path = corpus.join(format!("communityid/{name}.pcap.community_id.out"));
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines().filter(|l| l.starts_with('[')) {
            let (a, ap, b, bp, proto, want) = parse_line(line).unwrap_or_else(|| panic!("unparsed: {line}"));
            assert_eq!(community_id(0, proto, a, ap, b, bp), want, "{name}: {line}");
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} reference hashes found");
    eprintln!("{checked} Community IDs equal Zeek's");
}

#[test]
fn flows_read_from_reference_captures_hash_alike() {
    let Some(corpus) = zeek_corpus() else { return };
    for name in ["tcp", "udp"] {
        let want = std::fs::read_to_string(corpus.join(format!("communityid/{name}.pcap.community_id.out"))).unwrap();
        let mut reader = CaptureReader::open(&corpus.join(format!("communityid/{name}.pcap"))).unwrap();
        let mut table = FlowTable::new(Timeouts::default());
        let mut ids = Vec::new();
        reader
            .for_each(|f| {
                if let Ok(p) = decode(f.ts, f.linktype, f.data) {
                    let u = table.update(&p, &mut |_| {});
                    ids.push(table.get(u.flow).community_id.clone());
                }
            })
            .unwrap();
        ids.sort();
        ids.dedup();
        assert!(!ids.is_empty());
        for id in ids {
            assert!(want.contains(&id), "{name}: {id} is not among Zeek's hashes");
        }
    }
}
