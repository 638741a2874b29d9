//! Alerts: `alerts.jsonl`, one JSON object per line (schema 1, documented in the README).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub const SCHEMA: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Alert {
    pub schema: u32,
    /// Capture time, seconds since the epoch (microsecond precision).
    pub ts: f64,
    pub model: String,
    /// 0..1; higher is more suspicious.
    pub score: f64,
    /// The internal device the alert is about.
    pub device: IpAddr,
    pub dst_ip: IpAddr,
    pub dst_port: u16,
    /// Hostname of the destination, when known (HTTP Host, or the device's DNS answer).
    pub dst_host: Option<String>,
    /// Community ID of the flow behind the alert.
    pub flow: String,
    /// Community IDs of every flow the alert rests on (the beacon's attempts, say), `flow`
    /// first; at least `flow`.
    #[serde(default)]
    pub flows: Vec<String>,
    /// Zeek-style uid of that flow (joins with conn.log).
    pub uid: String,
    pub summary: String,
}

/// Capture time in seconds (microsecond precision), as Zeek logs it.
pub fn secs(ns: u64) -> f64 {
    (ns / 1000) as f64 / 1e6
}
