//! Beaconing to a rare endpoint: a device opens connections to the same external endpoint (the
//! hostname it resolved, else the address) at a regular cadence, and almost no other device in
//! the organisation uses that endpoint.
//!
//! Implants sleep, wake, call home: Cobalt Strike's default is 60 s, Sliver's 60 s plus up to
//! 30 s, pollers every few seconds; jitter of up to half the sleep, either shortening it
//! (`interval × U(1−j, 1)`) or lengthening it (`interval + U(0, j·interval)`). Either way the
//! inter-arrival times stay within about ±35 % of their median, while human browsing and other
//! bursty traffic puts only about a third of its intervals there (a Poisson process: ~30 %).
//!
//! How the cadence is judged, on the most recent `min_attempts`, 16, 32 and [`HISTORY`] (64)
//! connection attempts of a (device, endpoint) pair, keeping the best-scoring window — the
//! cadence may have just begun or changed (a burst of refused connects before the poller
//! starts; an operator shortening the sleep):
//! - every flow start counts, whatever became of it: a refused or unanswered connect is an
//!   attempt on the same timer; starts closer than `merge_secs` are one attempt (parallel
//!   connections of one check-in);
//! - intervals longer than `gap_factor` × the median are pauses (nights, weekends of a
//!   working-hours beacon, a laptop asleep), not part of the cadence, as long as they are few;
//! - among the rest, `k` of `n` lie within `tolerance` × median of the median. Evidence is how
//!   unlikely that many would be by chance, `L = −log10 P(Binomial(n, p0) ≥ k)`, mapped to
//!   `L / (L + evidence_half)`; the score is that evidence times `1 − MAD/median`. It grows
//!   with every further on-time attempt, and a perfectly regular beacon passes `min_score`
//!   after eight attempts (about eleven with 50 % jitter).
//!
//! Popular periodic services — NTP pools, OS update checks, push keep-alives, telemetry — are
//! excluded by prevalence, not by name: an endpoint more than `max_devices` devices use is
//! part of the organisation's life. Endpoints first used during the learning period are too
//! (a lone printer's status POST every 15 minutes), unless `skip_learned_endpoints` is off.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use serde::Deserialize;

use crate::alert::{Alert, SCHEMA, secs};
use crate::event::Event;
use crate::life::{Endpoint, Life};
use crate::models::Model;
use crate::models::intervals::{binomial_tail, mad, median_sorted, sorted};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// At most this many devices (including this one) use the endpoint.
    pub max_devices: usize,
    /// Ignore endpoints first seen during the learning period.
    pub skip_learned_endpoints: bool,
    /// Fewest attempts (flow starts after merging) before the cadence is judged.
    pub min_attempts: usize,
    /// Flow starts closer than this to the previous one are the same attempt.
    pub merge_secs: f64,
    /// Median interval must lie within these bounds.
    pub min_period_secs: f64,
    pub max_period_secs: f64,
    /// Intervals longer than this multiple of the median are pauses, not cadence.
    pub gap_factor: f64,
    /// At most this fraction of the intervals may be pauses.
    pub max_pause_fraction: f64,
    /// An interval is on cadence when within this fraction of the median from the median.
    pub tolerance: f64,
    /// Fewest on-cadence intervals, as a fraction of the non-pause ones.
    pub min_on_cadence: f64,
    /// Largest MAD/median of the non-pause intervals.
    pub max_dispersion: f64,
    /// Chance that an interval of irregular traffic falls on cadence (the null hypothesis).
    pub chance_on_cadence: f64,
    /// −log10 p-value at which the evidence factor is one half.
    pub evidence_half: f64,
    pub min_score: f64,
    /// One alert per (device, endpoint) per this many seconds…
    pub cooldown_secs: u64,
    /// …unless the score rose by at least this much since the last alert.
    pub rescore_step: f64,
}

/// Attempts remembered per (device, endpoint): the cadence is judged on the most recent ones.
pub const HISTORY: usize = 64;
/// Most (device, endpoint) pairs tracked at once; new pairs wait for the sweep beyond it.
const MAX_PAIRS: usize = 32_768;
/// A pair with no attempt for this long is forgotten (longer than a weekend's pause).
const IDLE_NS: u64 = 3 * 86_400 * 1_000_000_000;
const SWEEP_NS: u64 = 3_600 * 1_000_000_000;
const NS: f64 = 1e9;

/// The cadence found in a series of attempt start times.
#[derive(Clone, Debug, PartialEq)]
pub struct Cadence {
    /// Median interval between attempts (pauses excluded), seconds.
    pub median_s: f64,
    /// MAD / median of those intervals.
    pub dispersion: f64,
    /// Intervals within tolerance of the median, of `active` non-pause intervals.
    pub on_cadence: usize,
    pub active: usize,
    /// Intervals set aside as pauses.
    pub pauses: usize,
    /// −log10 of the chance of `on_cadence` hits among `active` intervals.
    pub evidence_log10: f64,
    pub score: f64,
}

/// Judges the cadence of attempt start times (ns, ascending). `None` when there are too few
/// attempts or the timing is not a cadence at all; otherwise the cadence and its score, which
/// may still be below `min_score`.
pub fn cadence(starts: &[u64], c: &Config) -> Option<Cadence> {
    if starts.len() < c.min_attempts.max(3) {
        return None;
    }
    let all: Vec<f64> = starts
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]) as f64 / NS)
        .collect();
    let m0 = median_sorted(&sorted(&all));
    if m0 <= 0.0 {
        return None;
    }
    let active: Vec<f64> = all.iter().copied().filter(|d| *d <= c.gap_factor * m0).collect();
    let pauses = all.len() - active.len();
    if active.len() + 1 < c.min_attempts || pauses as f64 > c.max_pause_fraction * all.len() as f64 {
        return None;
    }
    let m = median_sorted(&sorted(&active));
    if !(c.min_period_secs..=c.max_period_secs).contains(&m) {
        return None;
    }
    let dispersion = mad(&active, m) / m;
    let on_cadence = active.iter().filter(|d| (*d - m).abs() <= c.tolerance * m).count();
    if dispersion > c.max_dispersion || (on_cadence as f64) < c.min_on_cadence * active.len() as f64 {
        return None;
    }
    let p = binomial_tail(active.len(), on_cadence, c.chance_on_cadence).max(1e-300);
    let evidence_log10 = -p.log10();
    let evidence = evidence_log10 / (evidence_log10 + c.evidence_half.max(1e-9));
    let score = (evidence * (1.0 - dispersion)).clamp(0.0, 1.0);
    Some(Cadence {
        median_s: m,
        dispersion,
        on_cadence,
        active: active.len(),
        pauses,
        evidence_log10,
        score,
    })
}

/// The best-scoring [`cadence`] among the most recent `min_attempts`, 16, 32 and 64 attempts.
pub fn best_cadence(starts: &[u64], c: &Config) -> Option<Cadence> {
    let mut best: Option<Cadence> = None;
    let mut last_len = 0;
    for w in [c.min_attempts, 16, 32, HISTORY, starts.len()] {
        let w = w.min(starts.len());
        if w <= last_len {
            continue;
        }
        last_len = w;
        if let Some(cad) = cadence(&starts[starts.len() - w..], c)
            && best.as_ref().is_none_or(|b| cad.score > b.score)
        {
            best = Some(cad);
        }
    }
    best
}

#[derive(Default)]
struct Track {
    /// Attempt start times, oldest first, at most [`HISTORY`].
    starts: VecDeque<u64>,
    /// Community id of each attempt in `starts`.
    flows: VecDeque<String>,
    /// Attempts ever seen (merged), for the summary.
    attempts: u64,
    /// Time and score of the last alert.
    last_alert: Option<(u64, f64)>,
}

pub struct Beacon {
    c: Config,
    merge_ns: u64,
    cooldown_ns: u64,
    pairs: HashMap<(IpAddr, Endpoint), Track>,
    next_sweep: u64,
}

impl Beacon {
    pub fn new(c: &Config) -> Self {
        Beacon {
            merge_ns: (c.merge_secs.max(0.0) * NS) as u64,
            cooldown_ns: c.cooldown_secs.saturating_mul(1_000_000_000),
            c: c.clone(),
            pairs: HashMap::new(),
            next_sweep: 0,
        }
    }

    fn sweep(&mut self, ts: u64) {
        if ts < self.next_sweep {
            return;
        }
        self.next_sweep = ts.saturating_add(SWEEP_NS);
        let horizon = ts.saturating_sub(IDLE_NS);
        self.pairs.retain(|_, t| t.starts.back().is_some_and(|&s| s >= horizon));
    }
}

impl Model for Beacon {
    fn name(&self) -> &'static str {
        "beacon-rare-endpoint"
    }

    fn on_event(&mut self, ev: &Event<'_>, life: &Life, out: &mut Vec<Alert>) {
        let Event::FlowStart { ts, flow } = ev else { return };
        let ts = *ts;
        self.sweep(ts);
        let (device, dst) = (flow.id.orig, flow.id.resp);
        if life.learning(ts) || !life.is_outbound(device, dst) {
            return;
        }
        let endpoint = life.endpoint(device, dst);
        let (others, learned) = match life.prevalence(&endpoint) {
            None => (0, false),
            Some(p) => (
                p.devices.iter().filter(|d| **d != device).count(),
                life.learning(p.first_seen),
            ),
        };
        let key = (device, endpoint);
        if others + 1 > self.c.max_devices || (learned && self.c.skip_learned_endpoints) {
            // Popular (or normal) now: whatever was gathered about it no longer matters.
            self.pairs.remove(&key);
            return;
        }
        if !self.pairs.contains_key(&key) && self.pairs.len() >= MAX_PAIRS {
            return;
        }
        let track = self.pairs.entry(key.clone()).or_default();
        if track
            .starts
            .back()
            .is_some_and(|&s| ts < s.saturating_add(self.merge_ns))
        {
            return;
        }
        if track.starts.len() >= HISTORY {
            track.starts.pop_front();
            track.flows.pop_front();
        }
        track.starts.push_back(ts);
        track.flows.push_back(flow.community_id.clone());
        track.attempts += 1;
        // Judged in place: no copy per connection.
        let Some(cad) = best_cadence(track.starts.make_contiguous(), &self.c) else {
            return;
        };
        if cad.score < self.c.min_score {
            return;
        }
        let due = match track.last_alert {
            None => true,
            Some((at, score)) => ts.saturating_sub(at) >= self.cooldown_ns || cad.score >= score + self.c.rescore_step,
        };
        if !due {
            return;
        }
        track.last_alert = Some((ts, cad.score));
        let attempts = track.attempts;
        // The attempts the cadence was judged on, newest (this flow) first.
        let judged = cad.active + cad.pauses + 1;
        let flows: Vec<String> = track.flows.iter().rev().take(judged).cloned().collect();
        let host = match &key.1 {
            Endpoint::Host(h) => Some(h.to_string()),
            Endpoint::Ip(_) => None,
        };
        out.push(Alert {
            schema: SCHEMA,
            flows,
            ts: secs(ts),
            model: self.name().into(),
            score: cad.score,
            device,
            dst_ip: dst,
            dst_port: flow.id.resp_port,
            summary: format!(
                "{device} connects to {} ({}:{}/{}) on a regular cadence: {} attempts, median interval {:.1} s, \
                 {}/{} intervals within ±{:.0} % of it, MAD/median {:.2}, {} longer pause(s) ignored \
                 (chance p = 1e-{:.1}); endpoint used by {} device(s)",
                host.as_deref().unwrap_or("an address with no hostname"),
                dst,
                flow.id.resp_port,
                flow.id.proto_name(),
                attempts,
                cad.median_s,
                cad.on_cadence,
                cad.active,
                self.c.tolerance * 100.0,
                cad.dispersion,
                cad.pauses,
                cad.evidence_log10,
                others + 1
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
    use crate::config::Thresholds;
    use crate::flow::Flow;
    use crate::models::testkit::{Outcome, S, T0, flow, ip, life, play, tcp_flow};

    fn config() -> Config {
        Thresholds::default().beacon_rare_endpoint
    }

    /// A tiny deterministic generator for jitter in tests (xorshift64*), uniform in 0..1.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    const DEV: &str = "10.0.0.5";
    const C2: &str = "198.51.100.23";

    /// Flows from `DEV` to `C2` starting at `times`; every `fail_every`-th one refused or unanswered.
    fn flows_at(times: &[u64], fail_every: Option<usize>) -> Vec<Flow> {
        times
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                let port = 40_000 + (i % 20_000) as u16;
                match fail_every {
                    Some(k) if i % k == k - 1 => {
                        let o = if i % 2 == 0 {
                            Outcome::Refused
                        } else {
                            Outcome::Unanswered { syns: 3 }
                        };
                        tcp_flow(t, DEV, port, C2, 8443, o, 0)
                    }
                    _ => tcp_flow(t, DEV, port, C2, 8443, Outcome::Complete { up: 300, down: 120 }, 1),
                }
            })
            .collect()
    }

    fn run(flows: &[Flow]) -> Vec<Alert> {
        let mut m = Beacon::new(&config());
        let mut l = life(0);
        let events: Vec<Event<'_>> = flows
            .iter()
            .map(|f| Event::FlowStart {
                ts: f.ts_first,
                flow: f,
            })
            .collect();
        play(&mut m, &mut l, &events)
    }

    /// Start times of `n` attempts every `period_s`, jittered by `step(rng, period)`.
    fn series(n: usize, period_s: f64, mut step: impl FnMut(&mut Rng, f64) -> f64) -> Vec<u64> {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut t = T0;
        (0..n)
            .map(|_| {
                let at = t;
                t += (step(&mut rng, period_s) * NS) as u64;
                at
            })
            .collect()
    }

    #[test]
    fn multiplicative_jitter_60s_30_percent() {
        let times = series(30, 60.0, |r, p| p * (1.0 - 0.3 * r.next()));
        let alerts = run(&flows_at(&times, None));
        assert!(!alerts.is_empty());
        let a = &alerts[0];
        assert_eq!(a.model, "beacon-rare-endpoint");
        assert_eq!((a.device, a.dst_ip, a.dst_port), (ip(DEV), ip(C2), 8443));
        assert!(a.score >= 0.5 && a.score <= 1.0, "{}", a.score);
        assert!(a.summary.contains("median interval"), "{}", a.summary);
        // Fast: within the first ten attempts.
        assert!(a.ts <= secs(times[9]), "first alert at {} {}", a.ts, a.summary);
        // More evidence, higher score.
        assert!(alerts.last().is_some_and(|l| l.score > a.score), "{alerts:?}");
    }

    #[test]
    fn additive_jitter_300s_50_percent() {
        let times = series(20, 300.0, |r, p| p + 0.5 * p * r.next());
        let alerts = run(&flows_at(&times, None));
        assert!(!alerts.is_empty());
        assert!(alerts[0].ts <= secs(times[10]), "{:?}", alerts[0]);
    }

    #[test]
    fn failed_attempts_mixed_in() {
        let times = series(30, 60.0, |r, p| p * (1.0 - 0.2 * r.next()));
        let flows = flows_at(&times, Some(5));
        assert!(flows.iter().filter(|f| f.conn_state() != "SF").count() >= 5);
        let alerts = run(&flows);
        assert!(!alerts.is_empty());
        // The alert names the very flow it fired on.
        let f = flows
            .iter()
            .find(|f| f.community_id == alerts[0].flow)
            .expect("alert flow");
        assert_eq!(alerts[0].uid, f.uid);
    }

    #[test]
    fn poller_after_a_burst_of_refused_connects() {
        // Fifteen refused connects 1–3 s apart, then a poller every 5 s + up to 5 %: judged on
        // the recent attempts, the new cadence shows within a few polls.
        let mut rng = Rng(5);
        let mut times = Vec::new();
        let mut t = T0;
        for _ in 0..15 {
            times.push(t);
            t += (1 + (rng.next() * 3.0) as u64) * S;
        }
        let polls_from = times.len();
        for _ in 0..40 {
            times.push(t);
            t += ((5.0 + 0.25 * rng.next()) * NS) as u64;
        }
        let flows: Vec<Flow> = flows_at(&times, None)
            .into_iter()
            .enumerate()
            .map(|(i, f)| {
                if i < polls_from {
                    tcp_flow(times[i], DEV, 30_000 + i as u16, C2, 8443, Outcome::Refused, 0)
                } else {
                    f
                }
            })
            .collect();
        let alerts = run(&flows);
        assert!(!alerts.is_empty());
        assert!(alerts[0].ts <= secs(times[polls_from + 9]), "{:?}", alerts[0]);
    }

    #[test]
    fn working_hours_over_three_days() {
        // Every 30 min ± 40 % (multiplicative), only 09:00–18:00, three days in a row.
        let mut rng = Rng(7);
        let mut times = Vec::new();
        for day in 0..3u64 {
            let mut t = T0 + day * 86_400 * S; // T0 is 09:00
            while t < T0 + day * 86_400 * S + 9 * 3600 * S {
                times.push(t);
                t += ((1800.0 * (1.0 - 0.4 * rng.next())) * NS) as u64;
            }
        }
        let cfg = config();
        let cad = cadence(&times[times.len() - HISTORY.min(times.len())..], &cfg).expect("a cadence");
        assert!(cad.pauses >= 2, "{cad:?}");
        assert!(cad.score >= cfg.min_score, "{cad:?}");
        let alerts = run(&flows_at(&times, None));
        assert!(!alerts.is_empty());
        // Later days still alert (after the cooldown), through the nights' pauses.
        assert!(alerts.iter().any(|a| a.ts >= secs(T0 + 2 * 86_400 * S)), "{alerts:?}");
    }

    #[test]
    fn quiet_for_ntp_polls_to_a_shared_endpoint() {
        // Ten devices resolve and poll the same pool name; ours polls every 64..1024 s.
        let mut m = Beacon::new(&config());
        let mut l = life(0);
        let pool = [ip("203.0.113.123")];
        let mut flows = Vec::new();
        let mut t = T0;
        for (i, step) in [
            64u64, 64, 128, 128, 256, 256, 512, 512, 1024, 1024, 1024, 1024, 1024, 1024,
        ]
        .iter()
        .enumerate()
        {
            for d in 0..10 {
                flows.push(flow(
                    t + d * S,
                    &format!("10.0.1.{}", d + 1),
                    50_000 + i as u16,
                    "203.0.113.123",
                    123,
                    17,
                ));
            }
            t += step * S;
        }
        let mut events: Vec<Event<'_>> = (1..=10)
            .map(|d| Event::DnsAnswer {
                ts: T0 - S,
                device: ip(&format!("10.0.1.{d}")),
                name: "pool.ntp.example",
                addrs: &pool,
            })
            .collect();
        events.extend(flows.iter().map(|f| Event::FlowStart {
            ts: f.ts_first,
            flow: f,
        }));
        assert!(play(&mut m, &mut l, &events).is_empty());
    }

    #[test]
    fn quiet_for_update_checks_and_telemetry_of_many_devices() {
        // An OS update check every 4 h ± 10 % and a telemetry POST every 15 min, from eight
        // devices to the same two vendor endpoints: perfectly periodic, and not rare.
        let mut m = Beacon::new(&config());
        let mut l = life(0);
        let mut rng = Rng(3);
        let mut flows = Vec::new();
        for d in 1..=8u64 {
            let dev = format!("10.0.2.{d}");
            let (mut t_update, mut t_telemetry) = (T0 + d * 7 * S, T0 + d * 11 * S);
            for i in 0..40u16 {
                if i < 8 {
                    flows.push(flow(t_update, &dev, 40_000 + i, "198.51.100.80", 443, 6));
                    t_update += ((4 * 3600) as f64 * (0.9 + 0.2 * rng.next())) as u64 * S;
                }
                flows.push(flow(t_telemetry, &dev, 41_000 + i, "198.51.100.90", 443, 6));
                t_telemetry += 900 * S;
            }
        }
        flows.sort_by_key(|f| f.ts_first);
        let events: Vec<Event<'_>> = flows
            .iter()
            .map(|f| Event::FlowStart {
                ts: f.ts_first,
                flow: f,
            })
            .collect();
        assert!(play(&mut m, &mut l, &events).is_empty());
    }

    #[test]
    fn quiet_for_a_browser_on_a_rare_site() {
        // Page loads at irregular times (exponential gaps, mean 3 min), each opening 1–4
        // connections within a few seconds.
        let mut rng = Rng(42);
        let mut times = Vec::new();
        let mut t = T0;
        for _ in 0..60 {
            let conns = 1 + (rng.next() * 4.0) as u64;
            let mut c = t;
            for _ in 0..conns {
                times.push(c);
                c += ((0.05 + 3.0 * rng.next()) * NS) as u64;
            }
            t = c + ((-180.0 * (1.0 - rng.next()).ln()) * NS) as u64;
        }
        assert!(run(&flows_at(&times, None)).is_empty());
    }

    #[test]
    fn quiet_for_three_connections() {
        let times = [T0, T0 + 60 * S, T0 + 120 * S];
        assert!(run(&flows_at(&times, None)).is_empty());
    }

    #[test]
    fn quiet_for_endpoints_learned_before() {
        // A lone printer's status POST every 15 min, begun during learning.
        let times = series(30, 900.0, |r, p| p * (1.0 + 0.02 * (2.0 * r.next() - 1.0)));
        let flows = flows_at(&times, None);
        let mut m = Beacon::new(&config());
        let mut l = life(3 * 3600);
        let events: Vec<Event<'_>> = flows
            .iter()
            .map(|f| Event::FlowStart {
                ts: f.ts_first,
                flow: f,
            })
            .collect();
        assert!(play(&mut m, &mut l, &events).is_empty());
    }

    #[test]
    fn poisson_traffic_rarely_looks_regular() {
        // 2000 series of 12 exponential intervals: how many pass as a cadence scoring ≥ min_score?
        let cfg = config();
        let mut rng = Rng(99);
        let mut hits = 0;
        for _ in 0..2000 {
            let mut t = T0;
            let starts: Vec<u64> = (0..12)
                .map(|_| {
                    let at = t;
                    t += ((-60.0 * (1.0 - rng.next()).ln()) * NS) as u64 + 1;
                    at
                })
                .collect();
            if best_cadence(&starts, &cfg).is_some_and(|c| c.score >= cfg.min_score) {
                hits += 1;
            }
        }
        assert!(hits <= 4, "{hits} of 2000 Poisson series judged beacons");
    }
}
