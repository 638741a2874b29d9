//! Generation rate of the simulator on the real path (scenario → world → sessions → packets →
//! pcapng on disk), compared in the same run with how fast tshark reads the same capture, and
//! the peak memory when the simulated span doubles.
//!
//! `cargo bench -p simulator` — figures are printed after criterion's own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use simulator::scenario::LoadedScenario;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The benign office scenario with its span replaced.
fn office(span: &str) -> LoadedScenario {
    let path = repo().join("scenarios/benign-office.yaml");
    let text = std::fs::read_to_string(&path)
        .expect("benign-office.yaml")
        .replace("duration: 2d", &format!("duration: {span}"))
        .replace("learning: 8h", "learning: 1h");
    LoadedScenario::parse(&path, &text).expect("valid scenario")
}

fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!("netbehave-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

fn generate(c: &mut Criterion) {
    let sc = office("1d");
    let out = scratch().join("crit");
    let packets = simulator::simulate(&sc, 1, &out).expect("simulate").packets;
    let mut g = c.benchmark_group("simulate");
    g.throughput(Throughput::Elements(packets));
    g.sample_size(10).measurement_time(Duration::from_secs(12));
    g.bench_function("benign-office 56 devices x 1d (packets)", |b| {
        b.iter(|| simulator::simulate(&sc, 1, &out).expect("simulate"))
    });
    g.finish();
}

/// Peak resident memory of this process so far (Linux `VmHWM`), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn tshark_conv_seconds(capture: &Path) -> Option<f64> {
    let started = Instant::now();
    let out = Command::new("tshark")
        .args(["-r"])
        .arg(capture)
        .args(["-q", "-z", "conv,tcp"])
        .output()
        .ok()?;
    out.status.success().then(|| started.elapsed().as_secs_f64())
}

/// Simulator vs tshark on the same capture, and memory against span, printed as plain figures.
fn compare() {
    let dir = scratch();
    let mut rows = Vec::new();
    for span in ["1d", "2d"] {
        let sc = office(span);
        let started = Instant::now();
        let sim = simulator::simulate(&sc, 1, &dir.join(span)).expect("simulate");
        let secs = started.elapsed().as_secs_f64();
        rows.push((span, sim.packets, secs, peak_rss_kib(), sim.capture));
    }
    println!("\nsimulator, benign-office (56 devices), release, one thread:");
    for (span, packets, secs, rss, _) in &rows {
        println!(
            "  {span}: {packets} packets in {secs:.2} s = {:.2} M packets/s; peak RSS so far {} MiB",
            *packets as f64 / secs / 1e6,
            rss.map(|k| (k / 1024).to_string()).unwrap_or_else(|| "?".into())
        );
    }
    if let (Some(a), Some(b)) = (rows[0].3, rows[1].3) {
        println!("  peak RSS growth when the span doubles: {} KiB", b.saturating_sub(a));
    }
    let (_, packets, secs, _, capture) = &rows[1];
    match tshark_conv_seconds(capture) {
        Some(t) => {
            let sim_rate = *packets as f64 / secs;
            let tshark_rate = *packets as f64 / t;
            println!(
                "  tshark -q -z conv,tcp on the same 2d capture: {t:.2} s = {:.2} M packets/s; simulator/tshark = {:.1}x",
                tshark_rate / 1e6,
                sim_rate / tshark_rate
            );
        }
        None => println!("  tshark not installed: no comparison"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, generate);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    compare();
}
