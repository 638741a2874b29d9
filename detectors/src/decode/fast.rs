//! The fast path for the frames that make up nearly all traffic. Header fields are read in
//! place with bounds checks; any shape it does not fully understand (fragments, IPv4 options
//! are fine but IPv6 extension headers are not, ICMP, cut headers, odd lengths) returns `None`
//! and goes to the etherparse path, which is the reference.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use pcap_parser::Linktype;

use super::{Packet, TcpInfo};

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

pub(super) fn decode(ts: u64, linktype: Linktype, data: &[u8]) -> Option<Packet<'_>> {
    let ip = match linktype {
        Linktype::ETHERNET => {
            let mut at = 12;
            let mut ether_type = be16(data, at)?;
            // Up to two 802.1Q / 802.1ad tags.
            for _ in 0..2 {
                if matches!(ether_type, 0x8100 | 0x88a8 | 0x9100) {
                    at += 4;
                    ether_type = be16(data, at)?;
                }
            }
            match ether_type {
                0x0800 | 0x86dd => data.get(at + 2..)?,
                _ => return None,
            }
        }
        Linktype::RAW | Linktype::IPV4 | Linktype::IPV6 => data,
        _ => return None,
    };
    let version = ip.first()? >> 4;
    let (src, dst, proto, l3_hdr, ip_len, l4_len) = match version {
        4 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(be16(ip, 2)?);
            let flags_frag = be16(ip, 6)?;
            // Fragments (MF set or an offset) are reassembled on the reference path.
            if ihl < 20 || total < ihl || ip.len() < ihl || flags_frag & 0x3fff != 0 {
                return None;
            }
            let src = Ipv4Addr::from(be32(ip, 12)?);
            let dst = Ipv4Addr::from(be32(ip, 16)?);
            (IpAddr::V4(src), IpAddr::V4(dst), ip[9], ihl, total, total - ihl)
        }
        6 => {
            let plen = usize::from(be16(ip, 4)?);
            let next = *ip.get(6)?;
            let src: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            // Extension headers (and jumbograms) go to the reference path.
            if plen == 0 {
                return None;
            }
            (
                IpAddr::V6(Ipv6Addr::from(src)),
                IpAddr::V6(Ipv6Addr::from(dst)),
                next,
                40,
                plen + 40,
                plen,
            )
        }
        _ => return None,
    };
    // Transport bytes as captured, without link-layer padding beyond the IP length.
    let l4 = ip.get(l3_hdr..ip.len().min(l3_hdr + l4_len))?;
    let mut p = Packet {
        ts,
        src,
        dst,
        proto,
        src_port: be16(l4, 0)?,
        dst_port: be16(l4, 2)?,
        tcp: None,
        payload: &[],
        payload_len: 0,
        ip_len: ip_len as u32,
    };
    match proto {
        6 => {
            let doff = usize::from(*l4.get(12)? >> 4) * 4;
            if doff < 20 || l4.len() < doff || l4_len < doff {
                return None;
            }
            let flags = l4[13];
            p.tcp = Some(TcpInfo {
                syn: flags & 0x02 != 0,
                ack: flags & 0x10 != 0,
                fin: flags & 0x01 != 0,
                rst: flags & 0x04 != 0,
                seq: be32(l4, 4)?,
                ack_no: be32(l4, 8)?,
            });
            p.payload = &l4[doff..];
            p.payload_len = (l4_len - doff) as u32;
        }
        17 => {
            let ulen = usize::from(be16(l4, 4)?);
            // Length fields that disagree with the IP length: let the reference decide.
            if l4.len() < 8 || ulen < 8 || ulen > l4_len {
                return None;
            }
            p.payload = &l4[8..l4.len().min(ulen)];
            p.payload_len = (ulen - 8) as u32;
        }
        _ => return None,
    }
    Some(p)
}
