//! `simulator SCENARIO.yaml --out DIR [--seed N]`
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use simulator::scenario::LoadedScenario;

/// Simulate a scenario into a capture file and its ground truth.
///
/// Writes DIR/capture.pcapng (or capture.pcap when the scenario says `format: pcap`) and
/// DIR/truth.jsonl. The same scenario and seed always give byte-identical output.
///
/// Exit codes: 0 written, 2 invalid scenario or usage, 1 any other failure.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Scenario file (YAML; schema in the README).
    scenario: PathBuf,
    /// Output folder (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Seed; overrides the scenario's `seed:`.
    #[arg(long)]
    seed: Option<u64>,
    /// Also write DIR/sessions.jsonl: each session's intended protocol facts (SNI, HTTP
    /// host/URI/user agent, DNS names and answers, payload bytes), for checking decoders.
    #[arg(long)]
    sessions: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let sc = match LoadedScenario::load(&args.scenario) {
        Ok(sc) => sc,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(2);
        }
    };
    let seed = args.seed.unwrap_or(sc.scenario.seed);
    match simulator::simulate_with(
        &sc,
        seed,
        &args.out,
        simulator::Options {
            sessions: args.sessions,
        },
    ) {
        Ok(sim) => {
            eprintln!(
                "{}: seed {seed}: {} sessions, {} packets ({} bytes) → {}; {} truth flows → {}",
                sc.name,
                sim.sessions,
                sim.packets,
                sim.bytes,
                sim.capture.display(),
                sim.truth_flows,
                sim.truth.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
