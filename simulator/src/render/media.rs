//! Real-time media over UDP: RTP packets both ways at a steady rate with jittered spacing. Only
//! the RTP header and the first bytes of each payload are captured, as with a snap length.

use rand::{Rng, RngExt, SeedableRng};

use super::Packet;
use super::frame::{Path, udp_frame_snapped};
use crate::session::{MediaStream, Session};
use crate::units::{NS_PER_SEC, Nanos};

/// Payload bytes captured per packet (RTP header plus a little).
const CAPTURED: usize = 48;

pub fn render(s: &Session, m: &MediaStream, buf: &mut Vec<u8>) -> (Vec<Packet>, u64, u64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(s.seed);
    let n = (u64::from(m.pps) * m.duration / NS_PER_SEC) as usize;
    let gap = NS_PER_SEC / u64::from(m.pps.max(1));
    let mut packets = Vec::with_capacity(2 * n);
    let (mut up_bytes, mut down_bytes) = (0u64, 0u64);
    let (mut up, mut down) = Path::pair(s, (rng.random(), rng.random()));
    let mut payload = [0u8; CAPTURED];
    for i in 0..n {
        for dir in 0..2 {
            let base: Nanos = s.start + i as u64 * gap + if dir == 1 { s.rtt / 2 } else { 0 };
            let ts = base + rng.random_range(0..gap / 4);
            let len = usize::from(rng.random_range(m.size.0..=m.size.1)).max(12);
            // RTP: version 2, payload type 96 (dynamic), sequence, timestamp (90 kHz), SSRC.
            payload[0] = 0x80;
            payload[1] = 96;
            let seq = if dir == 0 { m.seq.0 } else { m.seq.1 }.wrapping_add(i as u16);
            payload[2..4].copy_from_slice(&seq.to_be_bytes());
            payload[4..8].copy_from_slice(&((i as u64 * 90_000 / u64::from(m.pps.max(1))) as u32).to_be_bytes());
            payload[8..12].copy_from_slice(&if dir == 0 { m.ssrc.0 } else { m.ssrc.1 }.to_be_bytes());
            rng.fill_bytes(&mut payload[12..]);
            let (path, sport, dport) = if dir == 0 {
                (&mut up, s.client.port, s.server.port)
            } else {
                (&mut down, s.server.port, s.client.port)
            };
            let placed = udp_frame_snapped(
                buf,
                path,
                (sport, dport),
                &payload[..len.min(CAPTURED)],
                len,
                rng.random(),
            );
            path.ip_id = path.ip_id.wrapping_add(1);
            packets.push(Packet::at(ts, placed));
            if dir == 0 {
                up_bytes += len as u64;
            } else {
                down_bytes += len as u64;
            }
        }
    }
    packets.sort_by_key(|p| p.ts);
    (packets, up_bytes, down_bytes)
}
