//! `eval [SCENARIOS]... [--out DIR] [--seed N | --seeds LIST] [--config FILE]`
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use rayon::prelude::*;

use eval::run::{RunOptions, run};
use eval::seeds::Seeds;

/// Simulate, detect and score every scenario, write reports, and gate on `expect:`.
///
/// Every scenario is validated before anything runs. Scenarios (and seeds) then run in parallel
/// (set RAYON_NUM_THREADS to limit). Results go to DIR/results.json and DIR/index.md, with each
/// scenario's capture, truth, alerts and Zeek logs in DIR/<scenario>/ (DIR/<scenario>/seed-<n>/
/// with several seeds).
///
/// Exit codes: 0 every expectation held; 1 a scenario failed its expectations (on any seed) or
/// could not run; 2 invalid scenario files or usage (every problem is listed, nothing is run).
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Scenario files or folders of *.yaml files.
    #[arg(required = true, value_name = "SCENARIOS")]
    paths: Vec<PathBuf>,
    /// Report folder.
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    /// Seed for every scenario, instead of each scenario's own `seed:`.
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// Run every scenario with each of these seeds: `1-5`, `1,3,7` or a mix. Expectations are
    /// checked per seed; the table shows each scenario across its seeds.
    #[arg(long, value_name = "LIST")]
    seeds: Option<Seeds>,
    /// Thresholds file for the detectors (default: detectors/thresholds.yaml, built in).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Delete each run's capture.pcapng once it is scored (keeps logs, alerts and truth): many
    /// seeds of the larger scenarios otherwise take gigabytes.
    #[arg(long)]
    discard_captures: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let started = Instant::now();
    let files = match eval::scenario_files(&args.paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let scenarios = match eval::load_all(&files) {
        Ok(s) => s,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("error: {} problem(s) in scenario files; nothing was run", errors.len());
            return ExitCode::from(2);
        }
    };
    let thresholds = match &args.config {
        Some(p) => match detectors::config::Thresholds::load(p) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => detectors::config::Thresholds::default(),
    };
    let seeds: Vec<Option<u64>> = match &args.seeds {
        Some(list) => list.0.iter().copied().map(Some).collect(),
        None => vec![args.seed],
    };
    let several = seeds.len() > 1;
    let runs: Vec<_> = scenarios
        .iter()
        .flat_map(|sc| seeds.iter().map(move |&seed| (sc, seed)))
        .collect();
    eprintln!(
        "running {} scenario(s){} on {} thread(s)…",
        scenarios.len(),
        match &args.seeds {
            Some(list) if several => format!(" × {} seeds ({list})", list.0.len()),
            _ => String::new(),
        },
        rayon::current_num_threads()
    );
    let opts = RunOptions {
        thresholds,
        seed_folders: several,
        discard_captures: args.discard_captures,
    };
    let outcomes: Vec<_> = runs
        .par_iter()
        .map(|&(sc, seed)| {
            let label = match seed {
                Some(seed) if several => format!("{} seed {seed}", sc.name),
                _ => sc.name.clone(),
            };
            let r = run(sc, seed, &args.out, &opts);
            match &r {
                Ok(r) => eprintln!(
                    "  {:<28} {:>9} packets  {:>6.1}s  {}",
                    label,
                    r.packets,
                    r.elapsed_s,
                    if r.expect.passed { "pass" } else { "FAIL" }
                ),
                Err(e) => eprintln!("  {label:<28} error: {e:#}"),
            }
            (label, r)
        })
        .collect();
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for (label, o) in outcomes {
        match o {
            Ok(r) => results.push(r),
            // Messages start with the scenario's name; the label adds the seed when several ran.
            Err(e) if several => errors.push(format!("{label}: {e:#}")),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    if let Err(e) = eval::report::write(&args.out, &results) {
        eprintln!("error: {e:#}");
        return ExitCode::from(1);
    }
    print!("{}", eval::report::summary_table(&results));
    let failed: Vec<_> = results.iter().filter(|r| !r.expect.passed).collect();
    for r in &failed {
        let label = if several {
            format!("{} seed {}", r.name, r.seed)
        } else {
            r.name.clone()
        };
        for f in &r.expect.failures {
            println!("FAIL {label}: {f}");
        }
    }
    for e in &errors {
        println!("ERROR {e}");
    }
    println!(
        "{} of {} {} passed; reports in {} ({:.1}s)",
        results.len() - failed.len(),
        results.len() + errors.len(),
        if several {
            "scenario runs (scenario × seed)"
        } else {
            "scenarios"
        },
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() && errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
