//! A burst of failed connection attempts from an internal device to a rare external endpoint.
//!
//! A freshly run implant that finds its C2 not (yet) listening retries every second or three:
//! refused (`REJ`) or unanswered (`S0`) connects, one flow each (the DPRK Windows twin's first
//! contact). Benign failures are single flows to dead sites (one `S0` with its SYN
//! retransmissions is one attempt here), or hit popular endpoints many devices use, which are
//! excluded by prevalence.
//!
//! Counted: TCP flows whose handshake never completed and that carried no data — Zeek's
//! `S0`, `REJ`, `RSTOS0`, and `SH`/`SHR` without payload — by the start time of each attempt.
//! Failures end at different times (a refused connect after a few seconds, an unanswered one at
//! the 5-minute idle timeout), so the window is placed on start times, and an `S0` burst is
//! reported when its flows time out. UDP is left out: no answer is normal for many UDP
//! protocols.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use serde::Deserialize;

use crate::alert::{Alert, SCHEMA, secs};
use crate::event::Event;
use crate::flow::Flow;
use crate::life::{Endpoint, Life};
use crate::models::Model;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// At most this many devices (including this one) use the endpoint.
    pub max_devices: usize,
    /// Fewest failed attempts…
    pub min_failures: usize,
    /// …starting within this many seconds.
    pub window_secs: u64,
    pub min_score: f64,
    /// One alert per (device, endpoint) per this many seconds.
    pub cooldown_secs: u64,
}

/// Failed attempts remembered per (device, endpoint).
const PER_PAIR: usize = 64;
const MAX_PAIRS: usize = 32_768;
/// Attempts are kept this long past the window: unanswered connects are only reported when they
/// time out (Zeek's 5-minute TCP idle timeout), after the refused ones of the same burst.
const LATE_NS: u64 = 600 * 1_000_000_000;
const SWEEP_NS: u64 = 600 * 1_000_000_000;

/// True for a TCP connection attempt that never got through and carried nothing.
pub fn failed_attempt(flow: &Flow) -> bool {
    if flow.id.proto != 6 {
        return false;
    }
    let no_data = flow.orig_bytes() == 0 && flow.resp_bytes() == 0;
    match flow.conn_state() {
        "S0" | "REJ" | "RSTOS0" => true,
        "SH" | "SHR" => no_data,
        _ => false,
    }
}

/// Most start times (sorted) that fit in one window of `w` ns.
fn densest(starts: &VecDeque<u64>, w: u64) -> usize {
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..starts.len() {
        while starts[hi].saturating_sub(starts[lo]) > w {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

#[derive(Default)]
struct Pair {
    /// Start times of failed attempts, ascending.
    starts: VecDeque<u64>,
    last_alert: Option<u64>,
}

pub struct FailedBurst {
    c: Config,
    window_ns: u64,
    cooldown_ns: u64,
    pairs: HashMap<(IpAddr, Endpoint), Pair>,
    next_sweep: u64,
}

impl FailedBurst {
    pub fn new(c: &Config) -> Self {
        FailedBurst {
            window_ns: c.window_secs.saturating_mul(1_000_000_000),
            cooldown_ns: c.cooldown_secs.saturating_mul(1_000_000_000),
            c: c.clone(),
            pairs: HashMap::new(),
            next_sweep: 0,
        }
    }

    fn horizon(&self, ts: u64) -> u64 {
        ts.saturating_sub(self.window_ns.saturating_add(LATE_NS))
    }

    fn sweep(&mut self, ts: u64) {
        if ts < self.next_sweep {
            return;
        }
        self.next_sweep = ts.saturating_add(SWEEP_NS);
        let (horizon, cooldown) = (self.horizon(ts), self.cooldown_ns);
        self.pairs.retain(|_, p| {
            p.starts.back().is_some_and(|&s| s >= horizon)
                || p.last_alert.is_some_and(|a| ts.saturating_sub(a) < cooldown)
        });
    }
}

impl Model for FailedBurst {
    fn name(&self) -> &'static str {
        "failed-connection-burst"
    }

    fn on_event(&mut self, ev: &Event<'_>, life: &Life, out: &mut Vec<Alert>) {
        let Event::FlowEnd { ts, flow } = ev else { return };
        let ts = *ts;
        self.sweep(ts);
        let (device, dst) = (flow.id.orig, flow.id.resp);
        if life.learning(flow.ts_first) || !life.is_outbound(device, dst) || !failed_attempt(flow) {
            return;
        }
        let endpoint = life.endpoint(device, dst);
        let users = life.device_count(&endpoint).max(1);
        let key = (device, endpoint);
        if users > self.c.max_devices {
            self.pairs.remove(&key);
            return;
        }
        if !self.pairs.contains_key(&key) && self.pairs.len() >= MAX_PAIRS {
            return;
        }
        let horizon = self.horizon(ts);
        let p = self.pairs.entry(key.clone()).or_default();
        while p.starts.front().is_some_and(|&s| s < horizon) {
            p.starts.pop_front();
        }
        if p.starts.len() >= PER_PAIR {
            p.starts.pop_front();
        }
        let at = p.starts.partition_point(|&s| s <= flow.ts_first);
        p.starts.insert(at, flow.ts_first);
        let n = densest(&p.starts, self.window_ns);
        if n < self.c.min_failures || p.last_alert.is_some_and(|a| ts.saturating_sub(a) < self.cooldown_ns) {
            return;
        }
        let no_name = matches!(key.1, Endpoint::Ip(_));
        let more = 1.0 - self.c.min_failures.max(1) as f64 / n as f64;
        let score = (0.5 + if no_name { 0.1 } else { 0.0 } + 0.3 * more).min(1.0);
        if score < self.c.min_score {
            return;
        }
        p.last_alert = Some(ts);
        let host = match &key.1 {
            Endpoint::Host(h) => Some(h.to_string()),
            Endpoint::Ip(_) => None,
        };
        out.push(Alert {
            schema: SCHEMA,
            flows: Vec::new(),
            ts: secs(ts),
            model: self.name().into(),
            score,
            device,
            dst_ip: dst,
            dst_port: flow.id.resp_port,
            summary: format!(
                "{n} failed connection attempts within {} s from {device} to {} ({}:{}, last {}); \
                 endpoint used by {users} device(s)",
                self.c.window_secs,
                host.as_deref().unwrap_or("an address with no hostname"),
                dst,
                flow.id.resp_port,
                flow.conn_state(),
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
    use crate::models::testkit::{Outcome, S, T0, ip, life, play, tcp_flow};

    const DEV: &str = "10.0.0.7";
    const DST: &str = "203.0.113.66";

    /// `n` failed attempts 4 s apart (alternately refused and unanswered), as FlowStart at
    /// the start and FlowEnd when Zeek would end each (5 s after a refusal, 300 s after the
    /// last SYN of an unanswered one), in capture order.
    fn failures(n: usize) -> Vec<Flow> {
        (0..n)
            .map(|i| {
                let o = if i % 2 == 0 {
                    Outcome::Refused
                } else {
                    Outcome::Unanswered { syns: 2 }
                };
                tcp_flow(T0 + i as u64 * 4 * S, DEV, 50_000 + i as u16, DST, 6783, o, 0)
            })
            .collect()
    }

    fn events(flows: &[Flow]) -> Vec<Event<'_>> {
        let mut evs: Vec<(u64, Event<'_>)> = Vec::new();
        for f in flows {
            evs.push((
                f.ts_first,
                Event::FlowStart {
                    ts: f.ts_first,
                    flow: f,
                },
            ));
            let linger = if f.conn_state() == "REJ" { 5 * S } else { 300 * S };
            evs.push((
                f.ts_last + linger,
                Event::FlowEnd {
                    ts: f.ts_last + linger,
                    flow: f,
                },
            ));
        }
        evs.sort_by_key(|(t, _)| *t);
        evs.into_iter().map(|(_, e)| e).collect()
    }

    fn run(flows: &[Flow], others: &[Flow]) -> Vec<Alert> {
        let mut m = FailedBurst::new(&Thresholds::default().failed_connection_burst);
        let mut l = life(0);
        // Other devices' earlier flows to the same endpoint make it popular.
        let pre: Vec<Event<'_>> = others
            .iter()
            .map(|f| Event::FlowStart {
                ts: f.ts_first,
                flow: f,
            })
            .collect();
        assert!(play(&mut m, &mut l, &pre).is_empty());
        play(&mut m, &mut l, &events(flows))
    }

    #[test]
    fn fires_on_five_failures_in_twenty_seconds() {
        let flows = failures(5);
        assert!(flows.iter().all(failed_attempt));
        let alerts = run(&flows, &[]);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let a = &alerts[0];
        assert_eq!(
            (a.model.as_str(), a.device, a.dst_ip, a.dst_port),
            ("failed-connection-burst", ip(DEV), ip(DST), 6783)
        );
        assert!(a.score >= 0.5 && a.score <= 1.0);
        assert!(a.summary.starts_with("5 failed connection attempts"), "{}", a.summary);
        let f = flows
            .iter()
            .find(|f| f.community_id == a.flow)
            .expect("alert names a flow of the burst");
        assert_eq!(a.uid, f.uid);
    }

    #[test]
    fn quiet_when_ten_devices_use_the_endpoint() {
        let others: Vec<Flow> = (1..=10)
            .map(|d| {
                tcp_flow(
                    T0 - 3600 * S,
                    &format!("10.0.3.{d}"),
                    40_000,
                    DST,
                    6783,
                    Outcome::Complete { up: 100, down: 100 },
                    1,
                )
            })
            .collect();
        assert!(run(&failures(5), &others).is_empty());
    }

    #[test]
    fn quiet_for_two_failures() {
        assert!(run(&failures(2), &[]).is_empty());
    }

    #[test]
    fn completed_connections_are_not_failures() {
        let ok = tcp_flow(T0, DEV, 50_000, DST, 443, Outcome::Complete { up: 10, down: 10 }, 1);
        assert!(!failed_attempt(&ok));
    }
}
