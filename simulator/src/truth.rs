//! Ground truth: `truth.jsonl`, one record per labelled flow and one per attack (schema 1,
//! documented in the README).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::render::{FlowSummary, Proto};
use crate::session::Label;
use crate::units::Nanos;

pub const SCHEMA: u32 = 1;

/// Capture time as Zeek writes it: seconds since the epoch with microseconds.
pub fn epoch_secs(ns: Nanos) -> f64 {
    (ns / 1000) as f64 / 1e6
}

#[derive(Serialize)]
struct FlowRecord<'a> {
    schema: u32,
    record: &'static str,
    attack_id: &'a str,
    attack: &'a str,
    stage: &'a str,
    technique: &'a str,
    ts_start: f64,
    ts_end: f64,
    proto: Proto,
    src_ip: IpAddr,
    src_port: u16,
    dst_ip: IpAddr,
    dst_port: u16,
    bytes_orig: u64,
    bytes_resp: u64,
}

#[derive(Serialize)]
struct StageWindow {
    stage: &'static str,
    technique: &'static str,
    ts_start: f64,
    ts_end: f64,
    flows: u64,
    bytes_orig: u64,
    bytes_resp: u64,
}

#[derive(Serialize)]
struct AttackRecord<'a> {
    schema: u32,
    record: &'static str,
    attack_id: &'a str,
    attack: &'a str,
    victim: &'a str,
    victim_ip: IpAddr,
    ts_start: f64,
    ts_end: f64,
    stages: Vec<StageWindow>,
}

#[derive(Default)]
struct StageAcc {
    technique: &'static str,
    start: Nanos,
    end: Nanos,
    flows: u64,
    up: u64,
    down: u64,
}

pub struct AttackInfo {
    pub id: String,
    pub attack: &'static str,
    pub victim: String,
    pub victim_ip: IpAddr,
}

pub struct TruthWriter {
    out: BufWriter<File>,
    /// attack id → stage → accumulated window, in first-seen order of stages.
    stages: BTreeMap<String, Vec<(&'static str, StageAcc)>>,
    pub flows: u64,
}

impl TruthWriter {
    pub fn create(path: &Path) -> Result<Self> {
        let f = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(TruthWriter {
            out: BufWriter::new(f),
            stages: BTreeMap::new(),
            flows: 0,
        })
    }

    pub fn flow(&mut self, label: &Label, f: &FlowSummary) -> Result<()> {
        let rec = FlowRecord {
            schema: SCHEMA,
            record: "flow",
            attack_id: &label.attack_id,
            attack: label.attack,
            stage: label.stage,
            technique: label.technique,
            ts_start: epoch_secs(f.ts_start),
            ts_end: epoch_secs(f.ts_end),
            proto: f.proto,
            src_ip: f.src_ip,
            src_port: f.src_port,
            dst_ip: f.dst_ip,
            dst_port: f.dst_port,
            bytes_orig: f.bytes_orig,
            bytes_resp: f.bytes_resp,
        };
        serde_json::to_writer(&mut self.out, &rec)?;
        self.out.write_all(b"\n")?;
        self.flows += 1;
        let stages = self.stages.entry(label.attack_id.to_string()).or_default();
        let acc = match stages.iter().position(|(s, _)| *s == label.stage) {
            Some(i) => &mut stages[i].1,
            None => {
                stages.push((
                    label.stage,
                    StageAcc {
                        technique: label.technique,
                        start: f.ts_start,
                        end: f.ts_end,
                        ..Default::default()
                    },
                ));
                &mut stages.last_mut().expect("just pushed").1
            }
        };
        acc.start = acc.start.min(f.ts_start);
        acc.end = acc.end.max(f.ts_end);
        acc.flows += 1;
        acc.up += f.bytes_orig;
        acc.down += f.bytes_resp;
        Ok(())
    }

    /// Writes one record per attack (with its stage windows) and closes the file.
    pub fn finish(mut self, attacks: &[AttackInfo]) -> Result<()> {
        for a in attacks {
            let stages = self.stages.remove(&a.id).unwrap_or_default();
            let windows: Vec<StageWindow> = stages
                .into_iter()
                .map(|(stage, s)| StageWindow {
                    stage,
                    technique: s.technique,
                    ts_start: epoch_secs(s.start),
                    ts_end: epoch_secs(s.end),
                    flows: s.flows,
                    bytes_orig: s.up,
                    bytes_resp: s.down,
                })
                .collect();
            let start = windows.iter().map(|w| w.ts_start).fold(f64::INFINITY, f64::min);
            let end = windows.iter().map(|w| w.ts_end).fold(0.0, f64::max);
            let rec = AttackRecord {
                schema: SCHEMA,
                record: "attack",
                attack_id: &a.id,
                attack: a.attack,
                victim: &a.victim,
                victim_ip: a.victim_ip,
                ts_start: if start.is_finite() { start } else { 0.0 },
                ts_end: end,
                stages: windows,
            };
            serde_json::to_writer(&mut self.out, &rec)?;
            self.out.write_all(b"\n")?;
        }
        self.out.flush()?;
        Ok(())
    }
}
