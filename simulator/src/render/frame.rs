//! Ethernet/IP/TCP/UDP framing through smoltcp's `wire` emitters, with real checksums.

use std::net::IpAddr;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr,
    Ipv6Packet, Ipv6Repr, TcpPacket, TcpRepr, UdpPacket, UdpRepr,
};

/// Link and network layer of one packet.
#[derive(Clone, Copy, Debug)]
pub struct Path {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src_ip: IpAddr,
    pub dst_ip: IpAddr,
    pub ttl: u8,
    /// IPv4 identification (ignored for IPv6).
    pub ip_id: u16,
}

impl Path {
    /// Both directions of a session, client → server first, with the given starting IP ids.
    pub fn pair(s: &crate::session::Session, ip_ids: (u16, u16)) -> (Path, Path) {
        let up = Path {
            src_mac: s.client.mac,
            dst_mac: s.server.mac,
            src_ip: s.client.ip,
            dst_ip: s.server.ip,
            ttl: s.client_os.ttl,
            ip_id: ip_ids.0,
        };
        let down = Path {
            src_mac: s.server.mac,
            dst_mac: s.client.mac,
            src_ip: s.server.ip,
            dst_ip: s.client.ip,
            ttl: s.server_os.ttl,
            ip_id: ip_ids.1,
        };
        (up, down)
    }
}

const ETH_LEN: usize = 14;

fn ip_header_len(ip: IpAddr) -> usize {
    if ip.is_ipv4() { 20 } else { 40 }
}

/// Appends a frame with Ethernet and IP headers for a transport payload of `l4_len` bytes on
/// the wire, with room for `captured_l4` of them, to `out`; returns the frame (a slice of `out`)
/// and the offset in it at which the transport header starts.
fn emit_l2_l3<'o>(
    out: &'o mut Vec<u8>,
    p: &Path,
    proto: IpProtocol,
    l4_len: usize,
    captured_l4: usize,
) -> (&'o mut [u8], usize) {
    let l3 = ip_header_len(p.src_ip);
    let start = out.len();
    out.resize(start + ETH_LEN + l3 + captured_l4, 0);
    let buf = &mut out[start..];
    let ethertype = if p.src_ip.is_ipv4() {
        EthernetProtocol::Ipv4
    } else {
        EthernetProtocol::Ipv6
    };
    let eth = EthernetRepr {
        src_addr: EthernetAddress(p.src_mac),
        dst_addr: EthernetAddress(p.dst_mac),
        ethertype,
    };
    eth.emit(&mut EthernetFrame::new_unchecked(&mut *buf));
    match (p.src_ip, p.dst_ip) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let repr = Ipv4Repr {
                src_addr: src,
                dst_addr: dst,
                next_header: proto,
                payload_len: l4_len,
                hop_limit: p.ttl,
            };
            let mut pkt = Ipv4Packet::new_unchecked(&mut buf[ETH_LEN..]);
            repr.emit(&mut pkt, &ChecksumCapabilities::default());
            pkt.set_ident(p.ip_id);
            pkt.fill_checksum();
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            let repr = Ipv6Repr {
                src_addr: src,
                dst_addr: dst,
                next_header: proto,
                payload_len: l4_len,
                hop_limit: p.ttl,
            };
            repr.emit(&mut Ipv6Packet::new_unchecked(&mut buf[ETH_LEN..]));
        }
        // Sessions are built with both ends in one family; a mix is a programming error.
        _ => unreachable!("IPv4/IPv6 mixed in one packet"),
    }
    (buf, ETH_LEN + l3)
}

/// Where a frame sits in a session's buffer, and its length on the wire.
#[derive(Clone, Copy, Debug)]
pub struct Placed {
    pub start: u32,
    pub len: u32,
    pub orig_len: u32,
}

/// A TCP segment in an Ethernet frame whose payload is `wire_len` bytes on the wire, of which
/// `tcp.payload` were captured. Returns the frame as captured and its length on the wire.
/// (When the payload is cut, its checksum cannot be checked by anyone, as in a real capture.)
pub fn tcp_frame(out: &mut Vec<u8>, p: &Path, tcp: &TcpRepr, wire_len: usize) -> Placed {
    let start = out.len();
    let header = tcp.header_len();
    let (buf, off) = emit_l2_l3(out, p, IpProtocol::Tcp, header + wire_len, header + tcp.payload.len());
    let (src, dst) = (IpAddress::from(p.src_ip), IpAddress::from(p.dst_ip));
    tcp.emit(
        &mut TcpPacket::new_unchecked(&mut buf[off..]),
        &src,
        &dst,
        &ChecksumCapabilities::default(),
    );
    let orig_len = (off + header + wire_len) as u32;
    Placed {
        start: start as u32,
        len: (out.len() - start) as u32,
        orig_len,
    }
}

/// A complete UDP datagram in an Ethernet frame.
pub fn udp_frame(out: &mut Vec<u8>, p: &Path, src_port: u16, dst_port: u16, payload: &[u8]) -> Placed {
    let start = out.len();
    let (buf, off) = emit_l2_l3(out, p, IpProtocol::Udp, 8 + payload.len(), 8 + payload.len());
    let (src, dst) = (IpAddress::from(p.src_ip), IpAddress::from(p.dst_ip));
    UdpRepr { src_port, dst_port }.emit(
        &mut UdpPacket::new_unchecked(&mut buf[off..]),
        &src,
        &dst,
        payload.len(),
        |b| b.copy_from_slice(payload),
        &ChecksumCapabilities::default(),
    );
    let len = (out.len() - start) as u32;
    Placed {
        start: start as u32,
        len,
        orig_len: len,
    }
}

/// A UDP datagram with `wire_len` payload bytes on the wire of which `captured` were captured.
/// `checksum` stands for the one computed over the full payload, which the capture cannot
/// show (nobody can check it, as with any cut packet).
pub fn udp_frame_snapped(
    out: &mut Vec<u8>,
    p: &Path,
    ports: (u16, u16),
    captured: &[u8],
    wire_len: usize,
    checksum: u16,
) -> Placed {
    let (src_port, dst_port) = ports;
    if captured.len() >= wire_len {
        return udp_frame(out, p, src_port, dst_port, captured);
    }
    let start = out.len();
    let (buf, off) = emit_l2_l3(out, p, IpProtocol::Udp, 8 + wire_len, 8 + captured.len());
    let mut udp = UdpPacket::new_unchecked(&mut buf[off..]);
    udp.set_src_port(src_port);
    udp.set_dst_port(dst_port);
    udp.set_len((8 + wire_len) as u16);
    udp.set_checksum(checksum.max(1));
    // (Not `payload_mut`: it trusts the length field, which counts bytes the capture lacks.)
    buf[off + 8..off + 8 + captured.len()].copy_from_slice(captured);
    let len = (out.len() - start) as u32;
    Placed {
        start: start as u32,
        len,
        orig_len: len + (wire_len - captured.len()) as u32,
    }
}
