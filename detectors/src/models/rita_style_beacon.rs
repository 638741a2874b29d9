//! Baseline for comparison only: a RITA-style beacon scorer (shared/scenarios.md §6), as the
//! public description allows. It keys on source–destination address pairs and knows nothing of
//! prevalence or learning, so its known failure modes show: popular periodic services score
//! like C2, failed TCP attempts on a retry timer make perfect "beacons" (every one sends 0
//! bytes), jitter lowers the interval parts.
//!
//! Each outbound pair (internal source, external destination) collects, at every flow end, the
//! flow's start time and bytes sent. A pair with at least `min_connections` is scored when its
//! count reaches 4, 8, 16, … (powers of two) and then every 256 connections, on its most recent
//! [`PER_PAIR`] connections, as the mean of four equally weighted parts:
//! - intervals: mean of `1 − |Bowley skew|` and `1 − MAD/median` of inter-arrival times;
//! - bytes sent: the same on `orig_bytes`;
//! - histogram: the pair's own span cut into 24 bins (RITA bins its dataset's day; a stream has
//!   no day boundary), scored as the larger of `1 − coefficient of variation` of the bin
//!   counts and a bimodal fit (share of bins in the two commonest count levels, levels 5 % of
//!   the largest bin wide, one outlier bin forgiven, at least 11 bins non-empty) that lets a
//!   working-hours beacon through;
//! - duration: the larger of coverage (pair's first-to-last over the capture so far) and
//!   consistency (distinct hours of the day seen, out of 12).
//!
//! Pairs with more than `strobe_conns_per_day` connections per day are "strobes" and dropped.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use serde::Deserialize;

use crate::alert::{Alert, SCHEMA, secs};
use crate::event::Event;
use crate::life::Life;
use crate::models::Model;
use crate::models::intervals::{bowley_skew, mad, median_sorted, sorted};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Fewest connections for a pair to be scored (RITA: 4).
    pub min_connections: usize,
    /// Pairs with more connections per day are strobes, not beacons, and are not scored.
    pub strobe_conns_per_day: u64,
    pub min_score: f64,
    /// One alert per pair per this many seconds.
    pub cooldown_secs: u64,
}

/// Connections remembered per pair (the most recent).
pub const PER_PAIR: usize = 1024;
/// Connections remembered over all pairs: beyond it, new pairs are not tracked.
const BUDGET: usize = 1 << 21;
const MAX_PAIRS: usize = 65_536;
/// A pair idle for this long is forgotten.
const IDLE_NS: u64 = 2 * 86_400 * 1_000_000_000;
const SWEEP_NS: u64 = 3_600 * 1_000_000_000;
const DAY_NS: u64 = 86_400 * 1_000_000_000;
const HOUR_NS: u64 = 3_600 * 1_000_000_000;
const BINS: usize = 24;
/// RITA's histogram defaults: mode bucket width as a fraction of the largest bin, bins
/// forgiven as outliers, fewest non-empty bins for a bimodal fit.
const MODE_SENSITIVITY: f64 = 0.05;
const BIMODAL_OUTLIERS: usize = 1;
const BIMODAL_MIN_BINS: usize = 11;
/// Hours of the day seen for full consistency.
const CONSISTENCY_IDEAL_HOURS: f64 = 12.0;

/// The four parts of a pair's score, and what they were computed from.
#[derive(Clone, Debug, PartialEq)]
pub struct RitaScore {
    pub intervals: f64,
    pub bytes: f64,
    pub histogram: f64,
    pub duration: f64,
    pub score: f64,
    pub median_interval_s: f64,
    pub interval_skew: f64,
    pub interval_madm: f64,
    pub median_bytes: f64,
}

/// `1 − MAD/median`, clamped to 0..1; a constant sample (even all zeros) has no dispersion.
fn madm_score(s: &[f64]) -> (f64, f64) {
    let m = median_sorted(s);
    let d = mad(s, m);
    let ratio = if d == 0.0 {
        0.0
    } else if m <= 0.0 {
        1.0
    } else {
        d / m
    };
    ((1.0 - ratio).clamp(0.0, 1.0), ratio)
}

fn histogram_score(ts: &[u64]) -> f64 {
    let (Some(&first), Some(&last)) = (ts.first(), ts.last()) else {
        return 0.0;
    };
    let width = (last - first) / BINS as u64 + 1;
    let mut bins = [0u64; BINS];
    for &t in ts {
        bins[(((t - first) / width) as usize).min(BINS - 1)] += 1;
    }
    let n = BINS as f64;
    let mean = ts.len() as f64 / n;
    let var = bins.iter().map(|&c| (c as f64 - mean).powi(2)).sum::<f64>() / n;
    let cv_score = if mean > 0.0 {
        (1.0 - var.sqrt() / mean).max(0.0)
    } else {
        0.0
    };
    let max = bins.iter().copied().max().unwrap_or(0);
    let bucket = ((MODE_SENSITIVITY * max as f64).ceil() as u64).max(1);
    let mut levels: HashMap<u64, usize> = HashMap::new();
    for &c in &bins {
        *levels.entry(c / bucket).or_default() += 1;
    }
    let mut freq: Vec<usize> = levels.into_values().collect();
    freq.sort_unstable_by(|a, b| b.cmp(a));
    let non_empty = bins.iter().filter(|&&c| c > 0).count();
    let bimodal = if non_empty >= BIMODAL_MIN_BINS {
        let top: usize = freq.iter().take(2).sum();
        (top as f64 / (BINS - BIMODAL_OUTLIERS) as f64).min(1.0)
    } else {
        0.0
    };
    cv_score.max(bimodal)
}

/// Scores a pair's connections (start time, bytes sent; any order). `observed_ns` is how long
/// the capture has run; `hours_seen` the distinct hours of the day with a connection.
pub fn score(conns: &[(u64, u64)], observed_ns: u64, hours_seen: u32) -> Option<RitaScore> {
    if conns.len() < 2 {
        return None;
    }
    let mut c = conns.to_vec();
    c.sort_unstable();
    let ts: Vec<u64> = c.iter().map(|x| x.0).collect();
    let gaps: Vec<f64> = ts.windows(2).map(|w| (w[1] - w[0]) as f64 / 1e9).collect();
    let gaps = sorted(&gaps);
    let interval_skew = bowley_skew(&gaps);
    let (ts_madm, interval_madm) = madm_score(&gaps);
    let intervals = ((1.0 - interval_skew.abs()) + ts_madm) / 2.0;
    let bytes = sorted(&c.iter().map(|x| x.1 as f64).collect::<Vec<_>>());
    let (ds_madm, _) = madm_score(&bytes);
    let bytes_part = ((1.0 - bowley_skew(&bytes).abs()) + ds_madm) / 2.0;
    let histogram = histogram_score(&ts);
    let span = ts[ts.len() - 1] - ts[0];
    let coverage = if observed_ns == 0 {
        1.0
    } else {
        (span as f64 / observed_ns as f64).min(1.0)
    };
    let consistency = (f64::from(hours_seen) / CONSISTENCY_IDEAL_HOURS).min(1.0);
    let duration = coverage.max(consistency);
    let score = ((intervals + bytes_part + histogram + duration) / 4.0).clamp(0.0, 1.0);
    Some(RitaScore {
        intervals,
        bytes: bytes_part,
        histogram,
        duration,
        score,
        median_interval_s: median_sorted(&gaps),
        interval_skew,
        interval_madm,
        median_bytes: median_sorted(&bytes),
    })
}

#[derive(Default)]
struct Pair {
    /// (start, bytes sent) of the most recent connections, in flow-end order.
    conns: VecDeque<(u64, u64)>,
    total: u64,
    first: u64,
    last: u64,
    /// Bit h set when a connection started in hour h (UTC) of some day.
    hours: u32,
    last_alert: Option<u64>,
}

pub struct RitaStyleBeacon {
    c: Config,
    cooldown_ns: u64,
    pairs: HashMap<(IpAddr, IpAddr), Pair>,
    stored: usize,
    next_sweep: u64,
}

impl RitaStyleBeacon {
    pub fn new(c: &Config) -> Self {
        RitaStyleBeacon {
            cooldown_ns: c.cooldown_secs.saturating_mul(1_000_000_000),
            c: c.clone(),
            pairs: HashMap::new(),
            stored: 0,
            next_sweep: 0,
        }
    }

    fn sweep(&mut self, ts: u64) {
        if ts < self.next_sweep {
            return;
        }
        self.next_sweep = ts.saturating_add(SWEEP_NS);
        let horizon = ts.saturating_sub(IDLE_NS);
        let mut freed = 0;
        self.pairs.retain(|_, p| {
            let keep = p.last >= horizon;
            if !keep {
                freed += p.conns.len();
            }
            keep
        });
        self.stored = self.stored.saturating_sub(freed);
    }
}

impl Model for RitaStyleBeacon {
    fn name(&self) -> &'static str {
        "rita-style-beacon"
    }

    fn on_event(&mut self, ev: &Event<'_>, life: &Life, out: &mut Vec<Alert>) {
        let Event::FlowEnd { ts, flow } = ev else { return };
        let ts = *ts;
        self.sweep(ts);
        let (src, dst) = (flow.id.orig, flow.id.resp);
        if !life.is_outbound(src, dst) {
            return;
        }
        let key = (src, dst);
        if !self.pairs.contains_key(&key) && (self.pairs.len() >= MAX_PAIRS || self.stored >= BUDGET) {
            return;
        }
        let start = flow.ts_first;
        let p = self.pairs.entry(key).or_default();
        if p.total == 0 {
            p.first = start;
        }
        p.first = p.first.min(start);
        p.last = p.last.max(start);
        p.total += 1;
        p.hours |= 1 << ((start / HOUR_NS) % 24);
        if p.conns.len() >= PER_PAIR {
            p.conns.pop_front();
        } else {
            self.stored += 1;
        }
        p.conns.push_back((start, flow.orig_bytes()));
        let n = p.total;
        if n < self.c.min_connections as u64 || !(n.is_power_of_two() || n.is_multiple_of(256)) {
            return;
        }
        let span = p.last - p.first;
        let per_day = if span < DAY_NS {
            n as f64
        } else {
            n as f64 * DAY_NS as f64 / span as f64
        };
        if per_day > self.c.strobe_conns_per_day as f64
            || p.last_alert.is_some_and(|a| ts.saturating_sub(a) < self.cooldown_ns)
        {
            return;
        }
        let observed = life.start.map_or(0, |s| ts.saturating_sub(s));
        let conns: Vec<(u64, u64)> = p.conns.iter().copied().collect();
        let Some(r) = score(&conns, observed, p.hours.count_ones()) else {
            return;
        };
        if r.score < self.c.min_score {
            return;
        }
        p.last_alert = Some(ts);
        out.push(Alert {
            schema: SCHEMA,
            flows: Vec::new(),
            ts: secs(ts),
            model: self.name().into(),
            score: r.score,
            device: src,
            dst_ip: dst,
            dst_port: flow.id.resp_port,
            dst_host: life.hostname(src, dst).map(|h| h.to_string()),
            flow: flow.community_id.clone(),
            uid: flow.uid.clone(),
            summary: format!(
                "RITA-style beacon score {:.2} for {src} -> {dst} over {n} connections: intervals {:.2} \
                 (median {:.1} s, Bowley skew {:.2}, MAD/median {:.2}), bytes sent {:.2} (median {:.0} B), \
                 histogram {:.2}, duration {:.2} (baseline, pair-keyed, no prevalence)",
                r.score,
                r.intervals,
                r.median_interval_s,
                r.interval_skew,
                r.interval_madm,
                r.bytes,
                r.median_bytes,
                r.histogram,
                r.duration
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Thresholds;
    use crate::flow::Flow;
    use crate::models::testkit::{Outcome, S, T0, ip, life, play, tcp_flow};

    const DEV: &str = "10.0.0.9";
    const DST: &str = "198.51.100.80";

    fn run(flows: &[Flow]) -> Vec<Alert> {
        let mut m = RitaStyleBeacon::new(&Thresholds::default().rita_style_beacon);
        let mut l = life(0);
        let events: Vec<Event<'_>> = flows
            .iter()
            .map(|f| Event::FlowEnd { ts: f.ts_last, flow: f })
            .collect();
        play(&mut m, &mut l, &events)
    }

    #[test]
    fn perfectly_regular_pair_scores_high() {
        let conns: Vec<(u64, u64)> = (0..64).map(|i| (T0 + i * 60 * S, 420)).collect();
        let r = score(&conns, 64 * 60 * S, 2).expect("scored");
        assert!(r.score > 0.95, "{r:?}");
        let flows: Vec<Flow> = (0..64u64)
            .map(|i| {
                let up = Outcome::Complete { up: 420, down: 90 };
                tcp_flow(T0 + i * 60 * S, DEV, 40_000 + i as u16, DST, 443, up, 1)
            })
            .collect();
        let alerts = run(&flows);
        assert!(!alerts.is_empty());
        assert_eq!((alerts[0].device, alerts[0].dst_ip), (ip(DEV), ip(DST)));
        assert!(alerts[0].score >= 0.8, "{:?}", alerts[0]);
    }

    #[test]
    fn random_pair_scores_low() {
        // Exponential gaps (mean 10 min), log-uniform request sizes, over a day.
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut u = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut t = T0;
        let conns: Vec<(u64, u64)> = (0..128)
            .map(|_| {
                t += ((-600.0 * (1.0 - u()).ln()) * 1e9) as u64;
                (t, (200.0 * 100f64.powf(u())) as u64)
            })
            .collect();
        let r = score(&conns, t - T0, 24).expect("scored");
        assert!(r.intervals < 0.6 && r.bytes < 0.6 && r.histogram < 0.7, "{r:?}");
        let regular: Vec<(u64, u64)> = (0..128).map(|i| (T0 + i * 600 * S, 420)).collect();
        let hi = score(&regular, t - T0, 24).expect("scored");
        assert!(
            r.score < 0.7 && r.score + 0.2 < hi.score,
            "random {r:?} vs regular {hi:?}"
        );
    }

    #[test]
    fn failed_retries_on_a_timer_look_like_a_beacon() {
        // Its known failure mode: a client retrying a dead server every 10 s (refused and
        // unanswered connects, no bytes) scores as high as a C2 beacon.
        let flows: Vec<Flow> = (0..64u64)
            .map(|i| {
                let o = if i % 3 == 0 {
                    Outcome::Unanswered { syns: 1 }
                } else {
                    Outcome::Refused
                };
                tcp_flow(T0 + i * 10 * S, DEV, 41_000 + i as u16, DST, 8080, o, 0)
            })
            .collect();
        assert!(flows.iter().all(|f| f.orig_bytes() == 0));
        let alerts = run(&flows);
        assert!(!alerts.is_empty(), "no alert");
        assert!(alerts.iter().any(|a| a.score >= 0.9), "{alerts:?}");
    }

    #[test]
    fn strobes_are_dropped() {
        // Two connections a second: past 1000 in less than a day, the pair is a strobe.
        let mut cfg = Thresholds::default().rita_style_beacon;
        (cfg.strobe_conns_per_day, cfg.cooldown_secs) = (1000, 0);
        let mut m = RitaStyleBeacon::new(&cfg);
        let mut l = life(0);
        let flows: Vec<Flow> = (0..1300u64)
            .map(|i| {
                let ok = Outcome::Complete { up: 64, down: 64 };
                tcp_flow(T0 + i * S / 2, DEV, 1024 + i as u16, DST, 443, ok, 0)
            })
            .collect();
        let events: Vec<Event<'_>> = flows
            .iter()
            .map(|f| Event::FlowEnd { ts: f.ts_last, flow: f })
            .collect();
        let alerts = play(&mut m, &mut l, &events);
        assert!(alerts.iter().any(|a| a.summary.contains(" over 512 ")), "{alerts:?}");
        assert!(
            !alerts
                .iter()
                .any(|a| a.summary.contains(" over 1024 ") || a.summary.contains(" over 1280 "))
        );
    }
}
