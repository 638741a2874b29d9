//! Synthesises an organisation's devices living their pattern of life, injects real-world
//! intrusions, and writes ordinary pcap/pcapng captures with exact ground truth.
//!
//! Data flow: scenario → world → per-device and per-attack session generators → render →
//! time-ordered merge → capture file, with truth records for labelled sessions.
#![forbid(unsafe_code)]

pub mod attacks;
pub mod behaviour;
pub mod capture;
pub mod certs;
pub mod intent;
pub mod render;
pub mod rng;
pub mod scenario;
pub mod session;
pub mod truth;
pub mod units;
pub mod world;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::behaviour::DeviceLife;
use crate::capture::{CaptureWriter, merge};
use crate::scenario::LoadedScenario;
use crate::session::Session;
use crate::truth::{AttackInfo, TruthWriter};
use crate::world::World;

/// What one simulation wrote.
#[derive(Clone, Debug)]
pub struct Simulated {
    pub capture: PathBuf,
    pub truth: PathBuf,
    pub sessions: u64,
    pub packets: u64,
    pub bytes: u64,
    pub truth_flows: u64,
}

/// Optional outputs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Also write `sessions.jsonl`: every session's intended protocol facts.
    pub sessions: bool,
}

/// Simulates `sc` with `seed` into `out_dir/capture.pcap[ng]` and `out_dir/truth.jsonl`.
pub fn simulate(sc: &LoadedScenario, seed: u64, out_dir: &Path) -> Result<Simulated> {
    simulate_with(sc, seed, out_dir, Options::default())
}

/// [`simulate`] with optional outputs.
pub fn simulate_with(sc: &LoadedScenario, seed: u64, out_dir: &Path, opts: Options) -> Result<Simulated> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let s = &sc.scenario;
    let world = World::build(sc, seed);
    let start = s.start.0;
    let end = start + s.duration.value.0;

    let mut sources: Vec<Box<dyn Iterator<Item = Session> + '_>> = Vec::new();
    for dev in &world.devices {
        sources.push(Box::new(DeviceLife::new(&world, dev, seed, start, end)));
        if behaviour::inbound::is_public(dev.role) {
            sources.push(Box::new(behaviour::inbound::Inbound::new(
                &world, dev, seed, start, end,
            )));
        }
    }
    let mut attacks = Vec::new();
    for (i, a) in s.attacks.iter().enumerate() {
        sources.push(a.sessions(&world, seed, i, start, end));
        let c = a.common();
        let victim = world.device(&c.victim.value).context("victim device missing")?;
        attacks.push(AttackInfo {
            id: c.id.value.clone(),
            attack: a.kind(),
            victim: victim.name.clone(),
            victim_ip: victim.ip,
        });
    }

    let inventory = out_dir.join("devices.jsonl");
    std::fs::write(&inventory, world.inventory()).with_context(|| format!("cannot write {}", inventory.display()))?;
    let capture = out_dir.join(s.format.file_name());
    let truth = out_dir.join("truth.jsonl");
    let mut writer = CaptureWriter::create(&capture, s.format)?;
    let mut truth_w = TruthWriter::create(&truth)?;
    let mut intent = if opts.sessions {
        Some(intent::IntentWriter::create(&out_dir.join("sessions.jsonl"))?)
    } else {
        None
    };
    let stats = merge(sources, &mut writer, |session, rendered| {
        if let Some(label) = &session.label {
            truth_w.flow(label, &rendered.flow)?;
        }
        if let Some(w) = &mut intent {
            w.write(session, rendered)?;
        }
        Ok(())
    })
    .with_context(|| format!("writing {}", capture.display()))?;
    writer.finish()?;
    if let Some(w) = intent {
        w.finish()?;
    }
    let truth_flows = truth_w.flows;
    truth_w.finish(&attacks)?;
    Ok(Simulated {
        capture,
        truth,
        sessions: stats.sessions,
        packets: stats.packets,
        bytes: stats.bytes,
        truth_flows,
    })
}
