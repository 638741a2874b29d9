//! Response replay: what the detectors' `responses.jsonl` would have stopped had it been
//! enforced, and what it would have cut by mistake.
//!
//! - `block-endpoint` blocks flows between `device` and `dst_ip` in either direction, only those
//!   whose responder port is `dst_port` when that is given.
//! - `enforce-pattern-of-life` blocks the device's flows (either direction) with every peer it
//!   had not exchanged traffic with before the response: a peer whose first flow with the
//!   device in `conn.log` is at or after the response's `ts`.
//! - A response is active from `ts` for `duration_s`. A flow is blocked when it *starts* while a
//!   matching response is active; one already running is not counted (conservative: cutting a
//!   live connection is not always possible).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;

use anyhow::Result;
use detectors::flow::community_id;
use serde::{Deserialize, Serialize};

use crate::conn_log::Conn;
use crate::truth::{Truth, TruthFlow};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    BlockEndpoint,
    EnforcePatternOfLife,
}

/// One line of `responses.jsonl` (schema 1).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Response {
    pub schema: u32,
    pub ts: f64,
    pub action: Action,
    /// The internal device the response is about.
    pub device: IpAddr,
    pub dst_ip: Option<IpAddr>,
    pub dst_port: Option<u16>,
    pub dst_host: Option<String>,
    pub duration_s: f64,
    /// Id of the incident that caused it.
    pub incident: String,
    pub reason: String,
}

impl Response {
    fn active_at(&self, t: f64) -> bool {
        t >= self.ts && t < self.ts + self.duration_s
    }

    fn check(&self) -> Result<(), String> {
        if self.schema != 1 {
            return Err(format!("response schema {} is not supported (expected 1)", self.schema));
        }
        if !self.ts.is_finite() {
            return Err(format!("ts {} is not a time", self.ts));
        }
        if !(self.duration_s.is_finite() && self.duration_s >= 0.0) {
            return Err(format!("duration_s {} must be a finite number ≥ 0", self.duration_s));
        }
        if self.action == Action::BlockEndpoint && self.dst_ip.is_none() {
            return Err("block-endpoint needs a dst_ip".into());
        }
        Ok(())
    }
}

/// Reads `path`; a missing file is no responses.
pub fn read(path: &Path) -> Result<Vec<Response>> {
    crate::jsonl::read_if_present(path, Response::check)
}

/// The replay's figures for one run (`response` in results.json).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ResponseScore {
    /// Responses in `responses.jsonl`.
    pub responses: u64,
    /// Payload bytes (both directions) of every truth flow.
    pub attack_bytes: u64,
    /// Those of the truth flows a response would have blocked.
    pub prevented_bytes: u64,
    /// prevented_bytes / attack_bytes; `null` without attack bytes.
    pub prevented_fraction: Option<f64>,
    /// Flows of conn.log that are not truth flows and that a response would have blocked.
    pub benign_connections_blocked: u64,
}

/// Decides whether a flow would have been blocked.
pub struct Replay<'a> {
    by_device: HashMap<IpAddr, Vec<&'a Response>>,
    /// (device, peer) → first flow between them, either direction.
    first_contact: HashMap<(IpAddr, IpAddr), f64>,
}

impl<'a> Replay<'a> {
    pub fn new(conns: &[Conn], responses: &'a [Response]) -> Self {
        let mut by_device: HashMap<IpAddr, Vec<&Response>> = HashMap::new();
        for r in responses {
            by_device.entry(r.device).or_default().push(r);
        }
        let mut first_contact: HashMap<(IpAddr, IpAddr), f64> = HashMap::new();
        for c in conns {
            for pair in [(c.orig_h, c.resp_h), (c.resp_h, c.orig_h)] {
                let t = first_contact.entry(pair).or_insert(c.ts);
                *t = t.min(c.ts);
            }
        }
        Replay {
            by_device,
            first_contact,
        }
    }

    /// Whether a flow from `orig` to `resp`:`resp_port` starting at `ts` would have been blocked.
    pub fn blocks(&self, ts: f64, orig: IpAddr, resp: IpAddr, resp_port: u16) -> bool {
        [(orig, resp), (resp, orig)].into_iter().any(|(device, peer)| {
            self.by_device.get(&device).is_some_and(|rs| {
                rs.iter()
                    .any(|r| r.active_at(ts) && self.matches(r, device, peer, resp_port))
            })
        })
    }

    fn matches(&self, r: &Response, device: IpAddr, peer: IpAddr, resp_port: u16) -> bool {
        match r.action {
            Action::BlockEndpoint => r.dst_ip == Some(peer) && r.dst_port.is_none_or(|p| p == resp_port),
            // A peer absent from conn.log has never been seen, so it is new.
            Action::EnforcePatternOfLife => self
                .first_contact
                .get(&(device, peer))
                .is_none_or(|&first| first >= r.ts),
        }
    }
}

fn truth_community_id(f: &TruthFlow) -> String {
    community_id(
        0,
        crate::score::proto_number(&f.proto),
        f.src_ip,
        f.src_port,
        f.dst_ip,
        f.dst_port,
    )
}

/// Replays `responses` over the truth flows and the benign flows of `conns`.
pub fn replay(truth: &Truth, conns: &[Conn], responses: &[Response]) -> ResponseScore {
    let r = Replay::new(conns, responses);
    let mut attack_bytes = 0;
    let mut prevented_bytes = 0;
    let mut truth_ids = HashSet::new();
    for f in &truth.flows {
        let bytes = f.bytes_orig + f.bytes_resp;
        attack_bytes += bytes;
        if r.blocks(f.ts_start, f.src_ip, f.dst_ip, f.dst_port) {
            prevented_bytes += bytes;
        }
        truth_ids.insert(truth_community_id(f));
    }
    let benign_connections_blocked = conns
        .iter()
        .filter(|c| c.community_id.as_ref().is_none_or(|id| !truth_ids.contains(id)))
        .filter(|c| r.blocks(c.ts, c.orig_h, c.resp_h, c.resp_p))
        .count() as u64;
    ResponseScore {
        responses: responses.len() as u64,
        attack_bytes,
        prevented_bytes,
        prevented_fraction: (attack_bytes > 0).then(|| prevented_bytes as f64 / attack_bytes as f64),
        benign_connections_blocked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: &str = "10.0.0.5";
    const C2: &str = "203.0.113.9";
    const OLD_PEER: &str = "198.51.100.7";
    const NEW_PEER: &str = "192.0.2.44";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn response(ts: f64, action: Action, dst: Option<(&str, Option<u16>)>, duration_s: f64) -> Response {
        Response {
            schema: 1,
            ts,
            action,
            device: ip(DEV),
            dst_ip: dst.map(|(d, _)| ip(d)),
            dst_port: dst.and_then(|(_, p)| p),
            dst_host: None,
            duration_s,
            incident: "I1".into(),
            reason: String::new(),
        }
    }

    fn truth_flow(ts: f64, src: &str, src_port: u16, dst: &str, dst_port: u16, bytes: u64) -> TruthFlow {
        TruthFlow {
            attack_id: "a1".into(),
            stage: "s".into(),
            technique: "T0".into(),
            ts_start: ts,
            ts_end: ts + 1.0,
            proto: "tcp".into(),
            src_ip: ip(src),
            src_port,
            dst_ip: ip(dst),
            dst_port,
            bytes_orig: bytes,
            bytes_resp: 0,
        }
    }

    /// conn.log's record of a flow (with its community id when it is a truth flow).
    fn conn(ts: f64, orig: &str, orig_p: u16, resp: &str, resp_p: u16) -> Conn {
        Conn {
            ts,
            orig_h: ip(orig),
            resp_h: ip(resp),
            resp_p,
            community_id: Some(community_id(0, 6, ip(orig), orig_p, ip(resp), resp_p)),
        }
    }

    #[test]
    fn block_endpoint_on_a_port_in_its_window() {
        let truth = Truth {
            flows: vec![
                truth_flow(900.0, DEV, 40000, C2, 8443, 1),      // before the response
                truth_flow(1000.0, DEV, 40001, C2, 8443, 10),    // at its start: blocked
                truth_flow(1500.0, DEV, 40002, C2, 8443, 100),   // inside: blocked
                truth_flow(1600.0, DEV, 40003, C2, 9000, 1000),  // other port: passes
                truth_flow(2000.0, DEV, 40004, C2, 8443, 10000), // window over: passes
            ],
            attacks: vec![],
        };
        let conns: Vec<Conn> = truth
            .flows
            .iter()
            .map(|f| conn(f.ts_start, DEV, f.src_port, C2, f.dst_port))
            .chain([conn(1200.0, DEV, 40100, C2, 8443)]) // benign, same endpoint and port
            .collect();
        let rs = [response(1000.0, Action::BlockEndpoint, Some((C2, Some(8443))), 1000.0)];
        let s = replay(&truth, &conns, &rs);
        assert_eq!(
            s,
            ResponseScore {
                responses: 1,
                attack_bytes: 11111,
                prevented_bytes: 110,
                prevented_fraction: Some(110.0 / 11111.0),
                benign_connections_blocked: 1,
            }
        );
    }

    #[test]
    fn portless_block_covers_every_port_and_inbound_flows() {
        let truth = Truth {
            flows: vec![
                truth_flow(1100.0, DEV, 40000, C2, 8443, 5),
                truth_flow(1200.0, C2, 5555, DEV, 22, 7), // inbound to the device
                truth_flow(1300.0, "10.0.0.6", 40000, C2, 8443, 11), // another device
            ],
            attacks: vec![],
        };
        let rs = [response(1000.0, Action::BlockEndpoint, Some((C2, None)), 600.0)];
        let s = replay(&truth, &[], &rs);
        assert_eq!((s.attack_bytes, s.prevented_bytes), (23, 12));
    }

    #[test]
    fn pattern_of_life_blocks_only_new_peers() {
        let truth = Truth {
            flows: vec![
                truth_flow(1100.0, DEV, 40000, NEW_PEER, 443, 50), // new peer: blocked
                truth_flow(1200.0, NEW_PEER, 6000, DEV, 8080, 20), // inbound from it: blocked
                truth_flow(1300.0, DEV, 40001, OLD_PEER, 443, 7),  // peer known before: passes
                truth_flow(5000.0, DEV, 40002, NEW_PEER, 443, 1000), // after the window: passes
            ],
            attacks: vec![],
        };
        let mut conns: Vec<Conn> = vec![
            conn(10.0, OLD_PEER, 1234, DEV, 8080), // first contact long before, other direction
            conn(1400.0, DEV, 40200, OLD_PEER, 443), // benign to an old peer: not blocked
            conn(1450.0, DEV, 40300, "192.0.2.99", 443), // benign to a new peer: blocked
            conn(1460.0, "10.0.0.6", 40300, "192.0.2.99", 443), // another device: not blocked
        ];
        conns.extend(truth.flows.iter().map(|f| {
            conn(
                f.ts_start,
                &f.src_ip.to_string(),
                f.src_port,
                &f.dst_ip.to_string(),
                f.dst_port,
            )
        }));
        let rs = [response(1000.0, Action::EnforcePatternOfLife, None, 3600.0)];
        let s = replay(&truth, &conns, &rs);
        assert_eq!((s.attack_bytes, s.prevented_bytes), (1077, 70));
        assert_eq!(s.benign_connections_blocked, 1);
    }

    #[test]
    fn no_attack_bytes_means_no_fraction() {
        let s = replay(&Truth::default(), &[], &[]);
        assert_eq!(s.prevented_fraction, None);
        assert_eq!(s.attack_bytes, 0);
    }

    #[test]
    fn malformed_responses_are_errors() {
        let line = r#"{"schema":1,"ts":5.0,"action":"block-endpoint","device":"10.0.0.5","dst_ip":null,"dst_port":null,"dst_host":null,"duration_s":60,"incident":"I1","reason":"r"}"#;
        let e = crate::jsonl::parse(Path::new("responses.jsonl"), line, Response::check).unwrap_err();
        assert_eq!(format!("{e:#}"), "responses.jsonl:1: block-endpoint needs a dst_ip");
        let line = line.replace("block-endpoint", "quarantine");
        let e = crate::jsonl::parse(Path::new("responses.jsonl"), &line, Response::check).unwrap_err();
        assert!(
            format!("{e:#}").starts_with("responses.jsonl:1: unknown variant `quarantine`"),
            "{e:#}"
        );
        let line = line.replace("quarantine", "enforce-pattern-of-life");
        let ok = crate::jsonl::parse(Path::new("responses.jsonl"), &line, Response::check).unwrap();
        assert_eq!(ok[0].action, Action::EnforcePatternOfLife);
    }
}
