//! Link, network and transport decoding of one frame (etherparse, lax mode so that frames cut
//! by a snap length still give their headers).
//!
//! Contract: never panics; a frame that cannot be decoded is reported as a [`Skip`] reason.

use std::net::IpAddr;

use etherparse::err::Layer;
use etherparse::err::packet::SliceError;
use etherparse::{
    EtherType, Icmpv4Slice, Icmpv6Slice, Ipv6ExtensionSlice, LaxNetSlice, LaxSlicedPacket, TcpSlice, TransportSlice,
    UdpSlice,
};
use pcap_parser::Linktype;

use crate::defrag::{Datagram, FragKey, Fragment};

mod fast;

/// TCP header facts the flow table needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpInfo {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
    pub seq: u32,
    pub ack_no: u32,
}

/// A decoded IP packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    pub ts: u64,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, …).
    pub proto: u8,
    /// Ports; for ICMP, type and code as Zeek and Community ID use them.
    pub src_port: u16,
    pub dst_port: u16,
    pub tcp: Option<TcpInfo>,
    /// Transport payload as captured (may be shorter than on the wire).
    pub payload: &'a [u8],
    /// Transport payload length on the wire.
    pub payload_len: u32,
    /// IP packet length on the wire (header included).
    pub ip_len: u32,
}

/// Why a frame yields no packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Not IP (ARP, LLDP, …).
    NotIp,
    /// An IP fragment (only from [`decode`]; [`decode_frame`] returns it for reassembly).
    Fragment,
    /// The headers themselves are cut or malformed; the reason uses Zeek's weird.log names
    /// (`truncated_IP`, `invalid_IP_header_size`, `internally_truncated_header`, …).
    Truncated(&'static str),
    UnsupportedLinktype(i32),
}

/// What one frame holds.
pub enum Decoded<'a> {
    Packet(Packet<'a>),
    /// A piece of a fragmented IP datagram, for [`crate::defrag::Defrag`].
    Fragment(Fragment<'a>),
}

/// Decodes a frame to a packet; fragments are reported as [`Skip::Fragment`].
pub fn decode(ts: u64, linktype: Linktype, data: &[u8]) -> Result<Packet<'_>, Skip> {
    match decode_frame(ts, linktype, data)? {
        Decoded::Packet(p) => Ok(p),
        Decoded::Fragment(_) => Err(Skip::Fragment),
    }
}

/// Decodes a reassembled datagram's transport header.
pub fn decode_datagram(ts: u64, d: &Datagram) -> Result<Packet<'_>, Skip> {
    let FragKey { src, dst, proto, .. } = d.key;
    let bytes = &d.payload[..];
    let transport = match proto {
        6 => TcpSlice::from_slice(bytes).ok().map(TransportSlice::Tcp),
        17 => UdpSlice::from_slice_lax(bytes).ok().map(TransportSlice::Udp),
        1 => Icmpv4Slice::from_slice(bytes).ok().map(TransportSlice::Icmpv4),
        58 => Icmpv6Slice::from_slice(bytes).ok().map(TransportSlice::Icmpv6),
        _ => None,
    };
    let p = Packet {
        ts,
        src,
        dst,
        proto,
        src_port: 0,
        dst_port: 0,
        tcp: None,
        payload: &[],
        payload_len: 0,
        ip_len: d.ip_len,
    };
    with_transport(p, transport.as_ref(), bytes.len() as u32)
}

/// Decodes one frame: the common shapes (Ethernet with up to two VLAN tags, or raw IP;
/// unfragmented IPv4 or IPv6 without extension headers; TCP or UDP) by a direct fast path,
/// everything else by etherparse's lax slicing. Both give identical results where both apply
/// (checked by a differential test over real and simulated captures).
pub fn decode_frame(ts: u64, linktype: Linktype, data: &[u8]) -> Result<Decoded<'_>, Skip> {
    if let Some(p) = fast::decode(ts, linktype, data) {
        return Ok(Decoded::Packet(p));
    }
    decode_frame_reference(ts, linktype, data)
}

/// The fast path alone: `None` for the shapes it leaves to the reference path.
pub fn decode_fast(ts: u64, linktype: Linktype, data: &[u8]) -> Option<Packet<'_>> {
    fast::decode(ts, linktype, data)
}

/// The etherparse-only decoder: handles every supported shape; kept callable so the fast path
/// can be checked against it.
pub fn decode_frame_reference(ts: u64, linktype: Linktype, data: &[u8]) -> Result<Decoded<'_>, Skip> {
    reference(ts, linktype, data, 0)
}

/// Most nested IP-in-IP tunnels followed.
const MAX_TUNNEL_DEPTH: u8 = 3;

fn reference(ts: u64, linktype: Linktype, data: &[u8], depth: u8) -> Result<Decoded<'_>, Skip> {
    let sliced = match linktype {
        Linktype::ETHERNET => match mpls_payload(data) {
            // etherparse has no MPLS: pop the label stack ourselves and slice the IP inside.
            Some(Ok(inner)) => LaxSlicedPacket::from_ip(inner).map_err(ip_error)?,
            Some(Err(skip)) => return Err(skip),
            None => LaxSlicedPacket::from_ethernet(data).map_err(|_| Skip::Truncated("truncated_ethernet_frame"))?,
        },
        Linktype::RAW | Linktype::IPV4 | Linktype::IPV6 => LaxSlicedPacket::from_ip(data).map_err(ip_error)?,
        Linktype::LINUX_SLL => {
            // 16-byte cooked header; protocol (an EtherType) in the last two bytes.
            let proto = data.get(14..16).ok_or(Skip::Truncated("truncated_link_header"))?;
            LaxSlicedPacket::from_ether_type(EtherType(u16::from_be_bytes([proto[0], proto[1]])), &data[16..])
        }
        Linktype::LINUX_SLL2 => {
            // 20-byte cooked header v2; protocol first.
            let proto = data.get(0..2).ok_or(Skip::Truncated("truncated_link_header"))?;
            let rest = data.get(20..).ok_or(Skip::Truncated("truncated_link_header"))?;
            LaxSlicedPacket::from_ether_type(EtherType(u16::from_be_bytes([proto[0], proto[1]])), rest)
        }
        Linktype::NULL | Linktype::LOOP => {
            // BSD loopback: a 4-byte address family, host order for NULL, network for LOOP.
            let fam = data.get(0..4).ok_or(Skip::Truncated("truncated_link_header"))?;
            let (le, be) = (
                u32::from_le_bytes([fam[0], fam[1], fam[2], fam[3]]),
                u32::from_be_bytes([fam[0], fam[1], fam[2], fam[3]]),
            );
            let family = if linktype == Linktype::LOOP {
                be
            } else if le < 256 {
                le
            } else {
                be
            };
            match family {
                2 | 24 | 28 | 30 => LaxSlicedPacket::from_ip(&data[4..]).map_err(ip_error)?,
                _ => return Err(Skip::NotIp),
            }
        }
        other => return Err(Skip::UnsupportedLinktype(other.0)),
    };
    let (src, dst, proto, declared) = match &sliced.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            let total = u32::from(h.total_len());
            let ihl = u32::from(h.ihl()) * 4;
            let (src, dst) = (IpAddr::V4(h.source_addr()), IpAddr::V4(h.destination_addr()));
            if h.is_fragmenting_payload() {
                return Ok(Decoded::Fragment(Fragment {
                    key: FragKey {
                        src,
                        dst,
                        proto: v4.payload().ip_number.0,
                        id: u32::from(h.identification()),
                    },
                    offset: h.fragments_offset(),
                    more: h.more_fragments(),
                    data: v4.payload().payload,
                    wire_len: total.saturating_sub(ihl),
                    header_len: ihl,
                }));
            }
            (src, dst, v4.payload().ip_number.0, (total, total.saturating_sub(ihl)))
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            let ext = v6.extensions().slice().len() as u32;
            let plen = u32::from(h.payload_length());
            let (src, dst) = (IpAddr::V6(h.source_addr()), IpAddr::V6(h.destination_addr()));
            if v6.payload().fragmented {
                let frag = v6.extensions().clone().into_iter().find_map(|e| match e {
                    Ipv6ExtensionSlice::Fragment(f) => Some(f),
                    _ => None,
                });
                let Some(f) = frag else {
                    return Err(Skip::Truncated("truncated_IP"));
                };
                return Ok(Decoded::Fragment(Fragment {
                    key: FragKey {
                        src,
                        dst,
                        proto: v6.payload().ip_number.0,
                        id: f.identification(),
                    },
                    offset: f.fragment_offset(),
                    more: f.more_fragments(),
                    data: v6.payload().payload,
                    wire_len: plen.saturating_sub(ext),
                    // The fragment header itself is not part of the reassembled datagram.
                    header_len: 40 + ext.saturating_sub(8),
                }));
            }
            (
                src,
                dst,
                v6.payload().ip_number.0,
                (plen + 40, plen.saturating_sub(ext)),
            )
        }
        Some(LaxNetSlice::Arp(_)) => return Err(Skip::NotIp),
        // Slicing stopped at the IP header of a frame that said it carries IP.
        None => {
            return Err(match &sliced.stop_err {
                Some((SliceError::Len(_), _)) => Skip::Truncated("truncated_IP"),
                Some((SliceError::Ipv4(_) | SliceError::Ipv6(_) | SliceError::Ip(_), _)) => {
                    Skip::Truncated("invalid_IP_header_size")
                }
                Some(_) => Skip::Truncated("truncated_inner_IP"),
                None => Skip::NotIp,
            });
        }
    };
    // IPv4 (4) or IPv6 (41) inside IP: a tunnel; analyse the inner packet, as Zeek does.
    if matches!(proto, 4 | 41) {
        if depth >= MAX_TUNNEL_DEPTH {
            return Err(Skip::Truncated("exceeded_tunnel_max_depth"));
        }
        let inner = match &sliced.net {
            Some(LaxNetSlice::Ipv4(v4)) => v4.payload().payload,
            Some(LaxNetSlice::Ipv6(v6)) => v6.payload().payload,
            _ => &[],
        };
        return match reference(ts, Linktype::RAW, inner, depth + 1) {
            Err(Skip::Truncated("exceeded_tunnel_max_depth")) => Err(Skip::Truncated("exceeded_tunnel_max_depth")),
            Err(Skip::Truncated(_) | Skip::NotIp) => Err(Skip::Truncated("truncated_inner_IP")),
            other => other,
        };
    }
    // An IP extension header cut short in a frame that was not cut: the packet lies about its
    // own lengths.
    if let Some((_, layer)) = &sliced.stop_err
        && matches!(
            layer,
            Layer::Ipv6ExtHeader
                | Layer::Ipv6HopByHopHeader
                | Layer::Ipv6DestOptionsHeader
                | Layer::Ipv6RouteHeader
                | Layer::Ipv6FragHeader
                | Layer::IpAuthHeader
        )
    {
        return Err(Skip::Truncated("internally_truncated_header"));
    }
    let (ip_len, l4_len) = declared;
    let p = Packet {
        ts,
        src,
        dst,
        proto,
        src_port: 0,
        dst_port: 0,
        tcp: None,
        payload: &[],
        payload_len: 0,
        ip_len,
    };
    with_transport(p, sliced.transport.as_ref(), l4_len).map(Decoded::Packet)
}

/// For an Ethernet frame (optionally VLAN-tagged) carrying MPLS: the bytes after the label
/// stack. `None` when the frame is not MPLS.
fn mpls_payload(data: &[u8]) -> Option<Result<&[u8], Skip>> {
    let ether_type = |at: usize| data.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let mut at = 12;
    while matches!(ether_type(at)?, 0x8100 | 0x88a8 | 0x9100) {
        at += 4;
    }
    if !matches!(ether_type(at)?, 0x8847 | 0x8848) {
        return None;
    }
    at += 2;
    // Labels of 4 bytes until the bottom-of-stack bit (bounded: a stack of 16 is already absurd).
    for _ in 0..16 {
        let Some(label) = data.get(at..at + 4) else {
            return Some(Err(Skip::Truncated("truncated_link_header")));
        };
        at += 4;
        if label[2] & 0x01 != 0 {
            return Some(Ok(&data[at..]));
        }
    }
    Some(Err(Skip::Truncated("invalid_link_header")))
}

fn ip_error(e: etherparse::err::ip::LaxHeaderSliceError) -> Skip {
    match e {
        etherparse::err::ip::LaxHeaderSliceError::Len(_) => Skip::Truncated("truncated_IP"),
        etherparse::err::ip::LaxHeaderSliceError::Content(_) => Skip::Truncated("invalid_IP_header_size"),
    }
}

/// Fills ports, TCP facts and payload from the transport header; `l4_len` is the transport
/// length on the wire (header included).
fn with_transport<'a>(
    mut p: Packet<'a>,
    transport: Option<&TransportSlice<'a>>,
    l4_len: u32,
) -> Result<Packet<'a>, Skip> {
    let proto = p.proto;
    match transport {
        Some(TransportSlice::Tcp(t)) => {
            p.src_port = t.source_port();
            p.dst_port = t.destination_port();
            p.tcp = Some(TcpInfo {
                syn: t.syn(),
                ack: t.ack(),
                fin: t.fin(),
                rst: t.rst(),
                seq: t.sequence_number(),
                ack_no: t.acknowledgment_number(),
            });
            p.payload = t.payload();
            p.payload_len = l4_len.saturating_sub(u32::from(t.data_offset()) * 4);
        }
        Some(TransportSlice::Udp(u)) => {
            p.src_port = u.source_port();
            p.dst_port = u.destination_port();
            p.payload = u.payload();
            p.payload_len = u32::from(u.length()).saturating_sub(8);
        }
        Some(TransportSlice::Icmpv4(i)) => {
            p.src_port = u16::from(i.type_u8());
            p.dst_port = u16::from(i.code_u8());
            p.payload_len = l4_len.saturating_sub(8);
        }
        Some(TransportSlice::Icmpv6(i)) => {
            p.src_port = u16::from(i.type_u8());
            p.dst_port = u16::from(i.code_u8());
            p.payload_len = l4_len.saturating_sub(8);
        }
        // Transport header cut off or another protocol: a flow by addresses only.
        _ => {
            if matches!(proto, 6 | 17 | 1 | 58) {
                return Err(Skip::Truncated("internally_truncated_header"));
            }
            p.payload_len = l4_len;
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use etherparse::{PacketBuilder, VlanId};

    use super::*;

    const PAYLOAD: &[u8] = b"dns-ish payload";

    fn udp4(builder: etherparse::PacketBuilderStep<etherparse::UdpHeader>) -> Vec<u8> {
        let mut out = Vec::new();
        builder.write(&mut out, PAYLOAD).unwrap();
        out
    }

    fn check(linktype: Linktype, frame: &[u8], src: &str) {
        let p = decode(1, linktype, frame).unwrap_or_else(|e| panic!("{linktype:?}: {e:?}"));
        assert_eq!(
            (p.src, p.proto, p.src_port, p.dst_port),
            (src.parse().unwrap(), 17, 5353, 53)
        );
        assert_eq!(
            (p.payload, p.payload_len),
            (PAYLOAD, PAYLOAD.len() as u32),
            "{linktype:?}"
        );
    }

    #[test]
    fn every_supported_link_type_and_vlan_tagging_decodes() {
        let mac = [2, 0, 0, 0, 0, 1];
        let eth = udp4(
            PacketBuilder::ethernet2(mac, mac)
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .udp(5353, 53),
        );
        check(Linktype::ETHERNET, &eth, "10.0.0.1");
        let ip = &eth[14..];
        check(Linktype::RAW, ip, "10.0.0.1");
        let vlan = udp4(
            PacketBuilder::ethernet2(mac, mac)
                .single_vlan(VlanId::try_new(7).unwrap())
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .udp(5353, 53),
        );
        check(Linktype::ETHERNET, &vlan, "10.0.0.1");
        let qinq = udp4(
            PacketBuilder::ethernet2(mac, mac)
                .double_vlan(VlanId::try_new(7).unwrap(), VlanId::try_new(9).unwrap())
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .udp(5353, 53),
        );
        check(Linktype::ETHERNET, &qinq, "10.0.0.1");
        // Linux cooked v1: type, ARPHRD, address length, 8 address bytes, protocol.
        let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(ip);
        check(Linktype::LINUX_SLL, &sll, "10.0.0.1");
        // Linux cooked v2: protocol, reserved, ifindex, ARPHRD, packet type, address length, address.
        let mut sll2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
        sll2.extend_from_slice(ip);
        check(Linktype::LINUX_SLL2, &sll2, "10.0.0.1");
        // BSD loopback: address family in host order (2 = AF_INET).
        let mut null = vec![2, 0, 0, 0];
        null.extend_from_slice(ip);
        check(Linktype::NULL, &null, "10.0.0.1");
        // IPv6 with a hop-by-hop options header before UDP.
        let v6 = udp4(
            PacketBuilder::ipv6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], [0xfe; 16], 64).udp(5353, 53),
        );
        let mut ext = v6[..40].to_vec();
        ext[6] = 0; // next header: hop-by-hop
        let plen = u16::from_be_bytes([ext[4], ext[5]]) + 8;
        ext[4..6].copy_from_slice(&plen.to_be_bytes());
        ext.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
        ext.extend_from_slice(&v6[40..]);
        check(Linktype::RAW, &ext, "2001:db8::1");
    }

    #[test]
    fn fragments_are_reported_for_reassembly() {
        let mac = [2, 0, 0, 0, 0, 1];
        let mut eth = udp4(
            PacketBuilder::ethernet2(mac, mac)
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .udp(5353, 53),
        );
        eth[14 + 6] |= 0x20; // more fragments
        assert!(
            matches!(decode_frame(1, Linktype::ETHERNET, &eth), Ok(Decoded::Fragment(f)) if f.more && f.offset.value() == 0)
        );
        assert_eq!(decode(1, Linktype::ETHERNET, &eth).unwrap_err(), Skip::Fragment);
    }

    #[test]
    fn every_prefix_of_a_frame_is_handled_without_panic() {
        let mac = [2, 0, 0, 0, 0, 1];
        let eth = udp4(
            PacketBuilder::ethernet2(mac, mac)
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .udp(5353, 53),
        );
        for lt in [
            Linktype::ETHERNET,
            Linktype::RAW,
            Linktype::LINUX_SLL,
            Linktype::LINUX_SLL2,
            Linktype::NULL,
        ] {
            for n in 0..eth.len() {
                let _ = decode_frame(0, lt, &eth[..n]);
            }
        }
    }
}
