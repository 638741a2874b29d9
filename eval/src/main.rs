//! `eval [SCENARIOS]... [--out DIR] [--seed N] [--config FILE]`
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use rayon::prelude::*;

use eval::run::{RunOptions, run};

/// Simulate, detect and score every scenario, write reports, and gate on `expect:`.
///
/// Every scenario is validated before anything runs. Scenarios then run in parallel (set
/// RAYON_NUM_THREADS to limit). Results go to DIR/results.json and DIR/index.md, with each
/// scenario's capture, truth, alerts and conn.log in DIR/<scenario>/.
///
/// Exit codes: 0 every expectation held; 1 a scenario failed its expectations or could not
/// run; 2 invalid scenario files or usage (every problem is listed, nothing is run).
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
    #[arg(long)]
    seed: Option<u64>,
    /// Thresholds file for the detectors (default: detectors/thresholds.yaml, built in).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
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
    eprintln!(
        "running {} scenario(s) on {} thread(s)…",
        scenarios.len(),
        rayon::current_num_threads()
    );
    let opts = RunOptions {
        seed: args.seed,
        thresholds,
    };
    let outcomes: Vec<_> = scenarios
        .par_iter()
        .map(|sc| {
            let r = run(sc, &args.out, &opts);
            match &r {
                Ok(r) => eprintln!(
                    "  {:<28} {:>9} packets  {:>6.1}s  {}",
                    r.name,
                    r.packets,
                    r.elapsed_s,
                    if r.expect.passed { "pass" } else { "FAIL" }
                ),
                Err(e) => eprintln!("  {:<28} error: {e:#}", sc.name),
            }
            r
        })
        .collect();
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for o in outcomes {
        match o {
            Ok(r) => results.push(r),
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
        for f in &r.expect.failures {
            println!("FAIL {}: {f}", r.name);
        }
    }
    for e in &errors {
        println!("ERROR {e}");
    }
    println!(
        "{} of {} scenarios passed; reports in {} ({:.1}s)",
        results.len() - failed.len(),
        results.len() + errors.len(),
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() && errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
