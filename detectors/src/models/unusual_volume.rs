//! Unusual data to a new endpoint: a device sends far more than it usually does in one flow, to a
//! destination it never talked to before and that almost nobody in the organisation uses.
//!
//! Exfiltration looks like this on the wire: staged archives pushed by a few POSTs to a fresh
//! address (DPRK intrusions: tens of MiB to a new IP on 8443, minutes after the first beacon), or
//! nightly bursts of hundreds of MiB from a cloud VM to a rare endpoint. The volume is judged
//! against the device's own past: a z-score of ln(bytes) against its outbound flows, so a file
//! server and a thermostat each have their own "large". A device's flows to destinations that
//! became new within a window are summed, because archives are split, one POST each, sometimes
//! over several addresses of one hosting range, and each piece alone may look modest.
//!
//! Benign look-alikes stay quiet by the pattern of life, not by a list of services: backups go to
//! the device's usual peer (not new), video calls and cloud drives to endpoints many devices use
//! (not rare). By default only destinations the device never resolved from DNS are judged: a
//! device's first sync to a cloud drive by name is indistinguishable by volume alone, while both
//! exfil shapes above go to bare addresses.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::Deserialize;

use crate::alert::{Alert, SCHEMA, secs};
use crate::event::Event;
use crate::flow::Flow;
use crate::life::{DeviceHistory, Endpoint, Life};
use crate::models::Model;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Outbound flows the device must have finished before its baseline means anything.
    pub min_baseline_flows: u64,
    /// How far above the device's usual ln(bytes sent) the volume must be, in standard deviations.
    pub min_z: f64,
    /// Floor for the baseline's standard deviation (ln units), so a device that always sends the
    /// same size is not alarmed by a slightly larger one.
    pub min_std_dev: f64,
    /// The volume (one flow, or the sum to such destinations within the window) must reach this.
    pub min_bytes: u64,
    /// At most this many devices (including this one) have used the endpoint.
    pub max_devices: usize,
    /// Flows to destinations that became new within this many seconds are summed per device; a
    /// device is reported once per window, unless ten times as much leaves afterwards.
    pub window_secs: u64,
    /// Also judge endpoints the device reached by a name it resolved.
    pub named_endpoints: bool,
    /// An hour of day carrying less than this share of the device's outbound bytes is "quiet"
    /// for it (nightly exfil from a server busy by day); raises the score.
    pub quiet_hour_share: f64,
    pub min_score: f64,
}

/// Most (device, endpoint) transfers followed at once: new rare endpoints are few per device.
const MAX_TRANSFERS: usize = 16_384;

/// Bytes sent by one device to one endpoint that was new to it and rare when first seen.
#[derive(Clone, Copy, Debug)]
struct Transfer {
    first: u64,
    bytes: u64,
    flows: u32,
}

pub struct UnusualVolume {
    cfg: Config,
    window_ns: u64,
    transfers: HashMap<(IpAddr, IpAddr), Transfer>,
    /// Per device: when it was last reported, and its total to new rare destinations then.
    reported: HashMap<IpAddr, (u64, u64)>,
}

impl UnusualVolume {
    pub fn new(cfg: &Config) -> Self {
        UnusualVolume {
            cfg: cfg.clone(),
            window_ns: cfg.window_secs.saturating_mul(1_000_000_000),
            transfers: HashMap::new(),
            reported: HashMap::new(),
        }
    }

    /// The transfer this flow belongs to: an open one, or a new one when the destination is new
    /// to the device and rare in the organisation.
    fn transfer(&mut self, flow: &Flow, life: &Life) -> Option<&mut Transfer> {
        let key = (flow.id.orig, flow.id.resp);
        let window = self.window_ns;
        if self
            .transfers
            .get(&key)
            .is_some_and(|t| flow.ts_first.saturating_sub(t.first) > window)
        {
            self.transfers.remove(&key);
        }
        if !self.transfers.contains_key(&key) {
            let (device, dst) = key;
            // `peers` gains an address when its first flow ends, so later flows of a transfer
            // find it there: the open transfer above is what carries them. While learning every
            // destination is new: those are the device's normal life, not transfers to follow.
            if life.learning(flow.ts_first) || life.device(device).is_some_and(|h| h.peers.contains_key(&dst)) {
                return None;
            }
            let endpoint = life.endpoint(device, dst);
            if matches!(endpoint, Endpoint::Host(_)) && !self.cfg.named_endpoints {
                return None;
            }
            if life.device_count(&endpoint) > self.cfg.max_devices {
                return None;
            }
            if self.transfers.len() >= MAX_TRANSFERS {
                let now = flow.ts_first;
                self.transfers.retain(|_, t| now.saturating_sub(t.first) <= window);
                if self.transfers.len() >= MAX_TRANSFERS {
                    return None;
                }
            }
            self.transfers.insert(
                key,
                Transfer {
                    first: flow.ts_first,
                    bytes: 0,
                    flows: 0,
                },
            );
        }
        self.transfers.get_mut(&key)
    }
}

/// Probability that the device's own flows send at least `bytes`: the predictive distribution
/// of a new ln(1 + bytes) under its baseline (Student's t with n − 1 degrees of freedom, scale
/// sd·√(1 + 1/n)), so a short baseline is judged with the extra doubt it deserves.
fn tail_probability(h: &DeviceHistory, bytes: u64, min_std: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    let n = h.bytes_out.n as f64;
    let sd = h.bytes_out.std_dev().max(min_std).max(f64::MIN_POSITIVE);
    let scale = sd * (1.0 + 1.0 / n.max(1.0)).sqrt();
    match StudentsT::new(h.bytes_out.mean, scale, (n - 1.0).max(1.0)) {
        Ok(t) => t.sf((1.0 + bytes as f64).ln()).clamp(0.0, 1.0),
        Err(_) => 1.0,
    }
}

/// z-score of `bytes` against the device's ln(1 + bytes) baseline.
fn z_score(h: &DeviceHistory, bytes: u64, min_std: f64) -> f64 {
    let sd = h.bytes_out.std_dev().max(min_std).max(f64::MIN_POSITIVE);
    ((1.0 + bytes as f64).ln() - h.bytes_out.mean) / sd
}

/// Human-readable byte count.
fn size(b: u64) -> String {
    const MIB: f64 = 1_048_576.0;
    if b as f64 >= MIB {
        format!("{:.1} MiB", b as f64 / MIB)
    } else {
        format!("{:.1} KiB", b as f64 / 1024.0)
    }
}

fn link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
    }
}

impl Model for UnusualVolume {
    fn name(&self) -> &'static str {
        "unusual-data-to-new-endpoint"
    }

    fn on_event(&mut self, ev: &Event<'_>, life: &Life, out: &mut Vec<Alert>) {
        let Event::FlowEnd { ts, flow } = ev else { return };
        let (device, dst) = (flow.id.orig, flow.id.resp);
        // Link-local services (instance metadata) are the host's own plumbing, not a destination.
        if !life.is_outbound(device, dst) || link_local(dst) {
            return;
        }
        let bytes = flow.orig_bytes();
        let Some(t) = self.transfer(flow, life) else { return };
        t.bytes = t.bytes.saturating_add(bytes);
        t.flows = t.flows.saturating_add(1);
        let this = *t;
        if life.learning(*ts) {
            return;
        }
        // Everything the device sent to destinations new to it and rare within the window: the
        // archives may go to one address or be spread over several of one hosting range.
        let window = self.window_ns;
        let (volume, dsts, flows, since) = self
            .transfers
            .iter()
            .filter(|((d, _), x)| *d == device && ts.saturating_sub(x.first) <= window)
            .fold((0u64, 0usize, 0u32, this.first), |(b, n, f, s), (_, x)| {
                (
                    b.saturating_add(x.bytes),
                    n + 1,
                    f.saturating_add(x.flows),
                    s.min(x.first),
                )
            });
        if volume < self.cfg.min_bytes {
            return;
        }
        let Some(h) = life.device(device) else { return };
        if h.bytes_out.n < self.cfg.min_baseline_flows {
            return;
        }
        let z = z_score(h, volume, self.cfg.min_std_dev);
        if z < self.cfg.min_z {
            return;
        }
        // One report per device and window, unless ten times as much has left since.
        if self
            .reported
            .get(&device)
            .is_some_and(|&(at, v)| ts.saturating_sub(at) <= window && volume < v.saturating_mul(10))
        {
            return;
        }
        let endpoint = life.endpoint(device, dst);
        let host = match &endpoint {
            Endpoint::Host(h) => Some(h.to_string()),
            Endpoint::Ip(_) => None,
        };
        let users = life.device_count(&endpoint).max(1);
        let hour = (flow.ts_first / 3_600_000_000_000 % 24) as usize;
        let total: u64 = h.bytes_out_by_hour.iter().sum();
        let share = if total == 0 {
            1.0
        } else {
            h.bytes_out_by_hour[hour] as f64 / total as f64
        };
        // Hours of day mean something only once the device has been watched for a whole day.
        let day_seen = ts.saturating_sub(h.first_seen) >= 86_400_000_000_000;
        let quiet = day_seen && total > 0 && share < self.cfg.quiet_hour_share;
        let p = tail_probability(h, volume, self.cfg.min_std_dev);
        // Evidence grows with how improbable the volume is for this device: 10⁻³ adds nothing,
        // 10⁻⁹ and beyond the full 0.2.
        let improbable = ((-p.max(1e-300).log10() - 3.0) / 6.0).clamp(0.0, 1.0);
        let score = (if host.is_none() { 0.6 } else { 0.45 }
            + 0.2 * improbable
            + if quiet { 0.1 } else { 0.0 }
            + if flows >= 2 { 0.05 } else { 0.0 })
        .min(0.95);
        if score < self.cfg.min_score {
            return;
        }
        if self.reported.len() >= MAX_TRANSFERS {
            self.reported.retain(|_, (at, _)| ts.saturating_sub(*at) <= window);
        }
        self.reported.insert(device, (*ts, volume));
        let mins = ts.saturating_sub(since) as f64 / 60e9;
        let when = if quiet {
            format!(
                "; at {hour:02}:00 UTC, an hour that carried {:.1}% of its outbound bytes",
                share * 100.0
            )
        } else {
            String::new()
        };
        out.push(Alert {
            schema: SCHEMA,
            flows: Vec::new(),
            ts: secs(*ts),
            model: self.name().into(),
            score,
            device,
            dst_ip: dst,
            dst_port: flow.id.resp_port,
            summary: format!(
                "{device} sent {} in {flows} flow(s) over {mins:.1} min to {dsts} destination(s) new to it and rare \
                 ({} of it to {dst}:{}/{}, {}, used by {users} device(s)); z = {z:.1} on ln(bytes) against its {} \
                 outbound flows (typical {}), probability {p:.1e} under its own flow sizes{when}",
                size(volume),
                size(this.bytes),
                flow.id.resp_port,
                flow.id.proto_name(),
                host.as_deref().unwrap_or("an address it never resolved"),
                h.bytes_out.n,
                size(h.bytes_out.mean.exp() as u64),
            ),
            dst_host: host,
            flow: flow.community_id.clone(),
            uid: flow.uid.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::testkit::{Outcome, S, T0, flow, ip, life, play, tcp_flow};

    const MIB: u32 = 1 << 20;

    fn model() -> UnusualVolume {
        UnusualVolume::new(&crate::config::Thresholds::default().unusual_data_to_new_endpoint)
    }

    #[test]
    fn tail_probability_follows_the_device_baseline() {
        let mut h = DeviceHistory::default();
        for i in 0..40u64 {
            // Flows of 20–100 KiB.
            h.bytes_out.add((1.0 + (20_000 + i * 2_000) as f64).ln());
        }
        let typical = tail_probability(&h, 50_000, 0.5);
        let huge = tail_probability(&h, 30 << 20, 0.5);
        assert!(typical > 0.2, "{typical}");
        assert!(huge < 1e-3, "{huge}");
        // A short baseline doubts more: the same volume is less improbable.
        let mut short = DeviceHistory::default();
        for i in 0..4u64 {
            short.bytes_out.add((1.0 + (20_000 + i * 20_000) as f64).ln());
        }
        assert!(tail_probability(&short, 30 << 20, 0.5) > huge);
    }

    fn upload(ts: u64, dev: &str, port: u16, dst: &str, dport: u16, up: u32) -> Flow {
        tcp_flow(ts, dev, port, dst, dport, Outcome::Complete { up, down: 2000 }, 30)
    }

    /// A day of ordinary flows from `dev`: 40 flows of 2–100 KiB to three usual peers.
    fn baseline(dev: &str, peers: &[&str]) -> Vec<Flow> {
        (0..40u32)
            .map(|i| {
                let up = 2048 + (i * 7919) % (98 * 1024);
                let peer = peers[i as usize % peers.len()];
                upload(T0 + u64::from(i) * 300 * S, dev, 40000 + i as u16, peer, 443, up)
            })
            .collect()
    }

    /// Plays the flows with a four-hour learning period (the baselines above fall inside it).
    fn run(m: &mut UnusualVolume, flows: &[Flow]) -> Vec<Alert> {
        let mut l = life(4 * 3600);
        let evs: Vec<Event<'_>> = flows
            .iter()
            .flat_map(|f| {
                [
                    Event::FlowStart {
                        ts: f.ts_first,
                        flow: f,
                    },
                    Event::FlowEnd { ts: f.ts_last, flow: f },
                ]
            })
            .collect();
        play(m, &mut l, &evs)
    }

    const USUAL: [&str; 3] = ["198.51.100.10", "198.51.100.11", "203.0.113.40"];
    const LATER: u64 = T0 + 6 * 3600 * S;

    #[test]
    fn staged_archives_to_a_new_rare_ip_fire_once() {
        let mut flows = baseline("10.0.1.5", &USUAL);
        for (i, mib) in [9u32, 6, 8, 7].iter().enumerate() {
            let at = LATER + i as u64 * 20 * S;
            flows.push(upload(at, "10.0.1.5", 50000 + i as u16, "192.0.2.77", 8443, mib * MIB));
        }
        let alerts = run(&mut model(), &flows);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let a = &alerts[0];
        assert_eq!(
            (a.device, a.dst_ip, a.dst_port),
            (ip("10.0.1.5"), ip("192.0.2.77"), 8443)
        );
        assert!(a.score >= 0.6, "{}", a.score);
        assert!(
            a.summary.contains("never resolved") && a.summary.contains("MiB"),
            "{}",
            a.summary
        );
        // The first archive (9 MiB) is already far above this device's ≤ 100 KiB flows.
        assert!(a.summary.contains("9.0 MiB in 1 flow(s)"), "{}", a.summary);
    }

    #[test]
    fn small_pieces_add_up_within_the_window() {
        let mut flows = baseline("10.0.1.5", &USUAL);
        for i in 0..12u32 {
            let at = LATER + u64::from(i) * 30 * S;
            flows.push(upload(at, "10.0.1.5", 50000 + i as u16, "192.0.2.77", 8443, 700 * 1024));
        }
        // Each 700 KiB piece is below `min_bytes`; the sum is not.
        let alerts = run(&mut model(), &flows);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert!(!alerts[0].summary.contains("in 1 flow(s)"), "{}", alerts[0].summary);
    }

    #[test]
    fn archives_spread_over_several_new_addresses() {
        let mut flows = baseline("10.0.2.40", &USUAL);
        for (i, dst) in ["198.18.4.10", "198.18.9.20", "198.18.200.30", "198.18.77.40"]
            .iter()
            .enumerate()
        {
            let at = LATER + i as u64 * 40 * S;
            flows.push(upload(at, "10.0.2.40", 50100 + i as u16, dst, 8443, 600 * 1024));
        }
        let alerts = run(&mut model(), &flows);
        // No single address got 1 MiB; two of them together did.
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert!(
            alerts[0]
                .summary
                .contains("1.2 MiB in 2 flow(s) over 1.2 min to 2 destination(s)"),
            "{}",
            alerts[0].summary
        );
        assert_eq!(alerts[0].dst_ip, ip("198.18.9.20"));
    }

    #[test]
    fn nightly_backup_to_the_usual_peer_is_quiet() {
        let mut flows = baseline("10.0.5.9", &USUAL);
        let night = T0 + 16 * 3600 * S;
        flows.push(upload(night, "10.0.5.9", 51000, USUAL[2], 443, 2048 * MIB));
        assert!(run(&mut model(), &flows).is_empty());
        // The same volume to an address the device never used does fire.
        let mut flows = baseline("10.0.5.9", &USUAL);
        flows.push(upload(night, "10.0.5.9", 51000, "192.0.2.200", 443, 2048 * MIB));
        let alerts = run(&mut model(), &flows);
        assert_eq!(alerts.len(), 1);
        // After a single morning the hour of day says nothing yet.
        assert!(
            !alerts[0].summary.contains("an hour that carried"),
            "{}",
            alerts[0].summary
        );
    }

    #[test]
    fn night_transfer_from_a_day_time_device_scores_higher() {
        // Two office days of small flows, 09:00–17:00 UTC, then 300 MiB at 01:00.
        let mut flows: Vec<Flow> = (0..40u32)
            .map(|i| {
                let at = T0 + u64::from(i / 20) * 86_400 * S + u64::from(i % 20) * 1500 * S;
                upload(
                    at,
                    "10.0.5.9",
                    40000 + i as u16,
                    USUAL[i as usize % 3],
                    443,
                    4096 + i * 1000,
                )
            })
            .collect();
        flows.push(upload(
            T0 + 40 * 3600 * S,
            "10.0.5.9",
            51000,
            "192.0.2.200",
            443,
            300 * MIB,
        ));
        let alerts = run(&mut model(), &flows);
        assert_eq!(alerts.len(), 1);
        assert!(
            alerts[0].summary.contains("at 01:00 UTC, an hour that carried 0.0%"),
            "{}",
            alerts[0].summary
        );
        assert!(alerts[0].score >= 0.85, "{}", alerts[0].score);
    }

    #[test]
    fn video_call_to_a_popular_endpoint_is_quiet() {
        let media = "203.0.113.90";
        let mut flows: Vec<Flow> = (0..19u16)
            .map(|i| {
                flow(
                    T0 + u64::from(i) * S,
                    &format!("10.0.2.{}", i + 10),
                    50000,
                    media,
                    8801,
                    17,
                )
            })
            .collect();
        flows.extend(baseline("10.0.1.5", &USUAL));
        flows.push(upload(LATER, "10.0.1.5", 52000, media, 8801, 500 * MIB));
        assert!(run(&mut model(), &flows).is_empty());
    }

    #[test]
    fn no_baseline_no_alert() {
        let flows = vec![upload(T0, "10.0.1.5", 50000, "192.0.2.77", 8443, 30 * MIB)];
        assert!(run(&mut model(), &flows).is_empty());
    }
}
