//! `detectors CAPTURE --out DIR [--internal CIDR]... [--config FILE] [--learning DUR] [--zeek-logs [--json]]`
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use detectors::config::Thresholds;
use detectors::net::{Cidr, default_internal, parse_duration_secs};
use detectors::{LogFormat, Options, RunError};

/// Run the behavioural detection models over a pcap or pcapng capture.
///
/// Writes DIR/alerts.jsonl (one JSON alert per line; schema in the README), DIR/incidents.jsonl
/// (correlated incidents), DIR/responses.jsonl (the automatic response each incident triggers) and, with
/// --zeek-logs, DIR/conn.log, http.log, dns.log and ssl.log in Zeek's TSV layout (or as JSON
/// lines with --json).
///
/// Exit codes: 0 done; 1 the capture is truncated or corrupt (outputs cover every good record
/// before the damage, and the message says where it is); 2 bad usage, unreadable config, or a
/// file that is not a capture.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Capture file (pcap or pcapng).
    capture: PathBuf,
    /// Output folder (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Internal address block (repeatable). Default: RFC 1918, fc00::/7 and fe80::/10.
    #[arg(long = "internal", value_name = "CIDR", value_parser = parse_cidr)]
    internal: Vec<Cidr>,
    /// Thresholds file. Default: the built-in copy of detectors/thresholds.yaml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Learning period from the first packet (e.g. `6h`): rarity models stay quiet meanwhile.
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = parse_duration_secs)]
    learning: u64,
    /// Also write Zeek-format conn.log, http.log, dns.log and ssl.log into the output folder.
    #[arg(long)]
    zeek_logs: bool,
    /// Write the Zeek logs as JSON lines (Zeek's `LogAscii::use_json`) instead of TSV.
    #[arg(long, requires = "zeek_logs")]
    json: bool,
}

fn parse_cidr(s: &str) -> Result<Cidr, String> {
    s.parse()
}

fn main() -> ExitCode {
    let args = Args::parse();
    let thresholds = match &args.config {
        Some(path) => match Thresholds::load(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => Thresholds::default(),
    };
    let internal = if args.internal.is_empty() {
        default_internal()
    } else {
        args.internal
    };
    let opts = Options {
        internal,
        learning_secs: args.learning,
        thresholds,
        zeek_logs: args
            .zeek_logs
            .then_some(if args.json { LogFormat::Json } else { LogFormat::Tsv }),
    };
    match detectors::run(&args.capture, &args.out, &opts) {
        Ok(summary) => {
            let alerts: u64 = summary.alerts.values().sum();
            eprintln!(
                "{}: {} packets ({} not decoded, {} IP fragments), {} flows, {alerts} alerts → {}",
                args.capture.display(),
                summary.packets,
                summary.skipped,
                summary.fragments,
                summary.flows,
                summary.alerts_path.display()
            );
            for (model, n) in &summary.alerts {
                eprintln!("  {model}: {n}");
            }
            eprintln!(
                "{} incident(s) → incidents.jsonl, {} response(s) → responses.jsonl",
                summary.incidents, summary.responses
            );
            if summary.snapped > 0 {
                eprintln!(
                    "note: {} frame(s) were captured shorter than sent (snap length); byte counts come from the headers",
                    summary.snapped
                );
            }
            for (name, (n, first)) in &summary.weirds {
                eprintln!(
                    "warning: {}: {n} frame(s) not decoded: {name} (first at record {first})",
                    args.capture.display()
                );
            }
            match summary.capture_error {
                Some(e) => {
                    eprintln!("error: {e} (everything before it was processed)");
                    ExitCode::from(1)
                }
                None => ExitCode::SUCCESS,
            }
        }
        Err(e @ RunError::Open(_)) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
