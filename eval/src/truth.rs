//! Reading `truth.jsonl` (schema 1) back.

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub struct TruthFlow {
    pub attack_id: String,
    pub stage: String,
    pub technique: String,
    pub ts_start: f64,
    pub ts_end: f64,
    pub proto: String,
    pub src_ip: IpAddr,
    pub src_port: u16,
    pub dst_ip: IpAddr,
    pub dst_port: u16,
    pub bytes_orig: u64,
    pub bytes_resp: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Stage {
    pub stage: String,
    pub technique: String,
    pub ts_start: f64,
    pub ts_end: f64,
    pub flows: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TruthAttack {
    pub attack_id: String,
    pub attack: String,
    pub victim: String,
    pub victim_ip: IpAddr,
    pub ts_start: f64,
    pub ts_end: f64,
    pub stages: Vec<Stage>,
}

#[derive(Clone, Debug, Default)]
pub struct Truth {
    pub flows: Vec<TruthFlow>,
    pub attacks: Vec<TruthAttack>,
}

#[derive(Deserialize)]
struct Header {
    schema: u32,
    record: String,
}

pub fn read(path: &Path) -> Result<Truth> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut t = Truth::default();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("{}:{}", path.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}:{}", path.display(), i + 1);
        let h: Header = serde_json::from_str(&line).with_context(at)?;
        if h.schema != 1 {
            bail!("{}: truth schema {} is not supported (expected 1)", at(), h.schema);
        }
        match h.record.as_str() {
            "flow" => t.flows.push(serde_json::from_str(&line).with_context(at)?),
            "attack" => t.attacks.push(serde_json::from_str(&line).with_context(at)?),
            other => bail!("{}: unknown record type `{other}`", at()),
        }
    }
    Ok(t)
}
