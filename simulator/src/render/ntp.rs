//! NTPv4 client request and server reply (RFC 5905), 48 bytes each way over UDP 123.

use rand::{RngExt, SeedableRng};

use super::Packet;
use super::frame::{Path, udp_frame};
use crate::session::Session;
use crate::units::{NS_PER_SEC, Nanos};

/// Seconds between the NTP era (1900) and the Unix epoch.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

fn ntp_ts(ns: Nanos) -> [u8; 8] {
    let secs = ns / NS_PER_SEC + NTP_UNIX_OFFSET;
    let frac = ((ns % NS_PER_SEC) << 32) / NS_PER_SEC;
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&(secs as u32).to_be_bytes());
    b[4..].copy_from_slice(&(frac as u32).to_be_bytes());
    b
}

pub fn render(s: &Session, buf: &mut Vec<u8>) -> (Vec<Packet>, u64, u64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(s.seed);
    let sent = s.start;
    let back = s.start + s.rtt;
    // Client: LI 0, version 4, mode 3; only the transmit timestamp is set.
    let mut req = [0u8; 48];
    req[0] = 0x23;
    req[40..48].copy_from_slice(&ntp_ts(sent));
    // Server: LI 0, version 4, mode 4, stratum 2, poll 6, precision -23.
    let mut resp = [0u8; 48];
    resp[0] = 0x24;
    resp[1] = 2;
    resp[2] = 6;
    resp[3] = 0xe9;
    resp[4..8].copy_from_slice(&(rng.random_range(10..2000u32)).to_be_bytes()); // root delay
    resp[8..12].copy_from_slice(&(rng.random_range(10..2000u32)).to_be_bytes()); // root dispersion
    resp[12..16].copy_from_slice(&[17, 253, 4, 253]); // reference id: the upstream server
    resp[16..24].copy_from_slice(&ntp_ts(sent.saturating_sub(30 * NS_PER_SEC)));
    resp[24..32].copy_from_slice(&ntp_ts(sent));
    resp[32..40].copy_from_slice(&ntp_ts(sent + s.rtt / 2));
    resp[40..48].copy_from_slice(&ntp_ts(sent + s.rtt / 2 + 20_000));
    let (up, down) = Path::pair(s, (rng.random(), rng.random()));
    let packets = vec![
        Packet::at(sent, udp_frame(buf, &up, s.client.port, s.server.port, &req)),
        Packet::at(back, udp_frame(buf, &down, s.server.port, s.client.port, &resp)),
    ];
    (packets, 48, 48)
}
