//! Throughput of the decode + flow path and of the full pipeline (every model), compared in the
//! same run with `tshark -r F -q -z conv,tcp` on the same capture, and the pipeline's peak
//! memory when the capture doubles.
//!
//! `cargo bench -p detectors` — figures are printed after criterion's own.
//!
//! Input: `DETECTORS_BENCH_CAPTURE` (and optionally `DETECTORS_BENCH_CAPTURE_2X` for the memory
//! check) when set. Otherwise a smaller benign office is simulated for one day (about 1 M
//! packets) and for two (the 2× capture) by running the simulator's CLI through cargo:
//! `detectors` must not depend on `simulator`, even to benchmark. The captures are cached in
//! `target/bench-capture/`; delete that folder after changing the simulator.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use detectors::capture::CaptureReader;
use detectors::config::Thresholds;
use detectors::decode::decode;
use detectors::flow::{FlowTable, Timeouts};
use detectors::net::default_internal;
use detectors::{LogFormat, Options, run};

/// Devices kept from each group of the benign office (56 in all there). With a Thursday and a
/// Friday, both working days, one day gives about 1 M packets and two days twice as many: the
/// 2× capture is the same organisation for twice as long, not a bigger one.
const DEVICES: [(&str, u32); 5] = [("mac", 5), ("win", 8), ("srv", 2), ("web", 1), ("printer", 2)];
const START: &str = "2026-03-05T00:00:00Z";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
}

fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!("detectors-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// The benign office scenario, cut down to [`DEVICES`], from [`START`] for `days` days.
fn office(days: u64) -> String {
    let text = std::fs::read_to_string(repo().join("scenarios/benign-office.yaml")).expect("benign-office.yaml");
    let mut device = "";
    let mut rewritten = 0;
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        let indent = &line[..line.len() - t.len()];
        let new = if let Some(name) = t.strip_prefix("- name: ") {
            device = name.trim();
            line.to_string()
        } else if t.starts_with("count:") {
            let (_, n) = DEVICES
                .iter()
                .find(|(d, _)| *d == device)
                .unwrap_or_else(|| panic!("benign-office.yaml has a device group `{device}` the bench does not know"));
            rewritten += 1;
            format!("{indent}count: {n}")
        } else if t.starts_with("start:") {
            rewritten += 1;
            format!("{indent}start: {START}")
        } else if t.starts_with("duration:") {
            rewritten += 1;
            format!("{indent}duration: {days}d")
        } else {
            line.to_string()
        };
        out.push_str(&new);
        out.push('\n');
    }
    assert_eq!(
        rewritten,
        DEVICES.len() + 2,
        "benign-office.yaml changed shape: update the bench"
    );
    out
}

/// The capture of [`office`]`(days)`, simulated once and then reused from `target/`.
fn simulated(days: u64) -> PathBuf {
    let dir = target_dir().join("bench-capture");
    let name = format!("office-{}-devices-{days}d", DEVICES.iter().map(|(_, n)| n).sum::<u32>());
    let scenario = dir.join(format!("{name}.yaml"));
    let out = dir.join(&name);
    let capture = out.join("capture.pcapng");
    let text = office(days);
    // The scenario copy is written only after a successful run, so a changed scenario or an
    // interrupted run both regenerate.
    if capture.exists() && std::fs::read_to_string(&scenario).is_ok_and(|t| t == text) {
        return capture;
    }
    std::fs::create_dir_all(&dir).expect("target/bench-capture");
    let _ = std::fs::remove_file(&scenario);
    eprintln!("generating {} with the simulator (once; cached)…", capture.display());
    let tmp = dir.join(format!("{name}.yaml.tmp"));
    std::fs::write(&tmp, &text).expect("write scenario copy");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(repo())
        .args(["run", "--quiet", "--release", "-p", "simulator", "--"])
        .arg(&tmp)
        .arg("--out")
        .arg(&out)
        .args(["--seed", "1"])
        .status()
        .expect("run cargo");
    assert!(status.success(), "simulator failed: {status}");
    std::fs::rename(&tmp, &scenario).expect("keep scenario copy");
    capture
}

/// Frames in the capture (what every throughput here is counted in).
fn count_frames(capture: &Path) -> u64 {
    let mut reader = CaptureReader::open(capture).expect("open capture");
    let mut n = 0u64;
    reader.for_each(|_| n += 1).expect("readable capture");
    n
}

/// Reading, decoding and flow accounting only: no protocol parsing, no models, no output.
fn decode_flow(capture: &Path) -> u64 {
    let mut reader = CaptureReader::open(capture).expect("open capture");
    let mut table = FlowTable::new(Timeouts::default());
    let mut flows = 0u64;
    let mut end = |f| {
        black_box(f);
        flows += 1;
    };
    reader
        .for_each(|frame| {
            if let Ok(p) = decode(frame.ts, frame.linktype, frame.data) {
                table.expire(p.ts, &mut end);
                black_box(table.update(&p, &mut end));
            }
        })
        .expect("readable capture");
    table.drain(&mut end);
    flows
}

/// As the CLI runs by default: every model, built-in thresholds, no learning period.
fn options(zeek_logs: Option<LogFormat>) -> Options {
    Options {
        internal: default_internal(),
        learning_secs: 0,
        thresholds: Thresholds::default(),
        zeek_logs,
    }
}

fn pipeline(capture: &Path, out: &Path, opts: &Options) -> u64 {
    run(capture, out, opts).expect("pipeline").packets
}

/// Criterion's flat sampling runs each sample the same number of times; ten one-pass samples
/// take ten passes, so the target time follows from one measured pass.
fn measurement_time(one_pass: Duration) -> Duration {
    (one_pass * 11).max(Duration::from_secs(1))
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let v = f();
    (v, started.elapsed())
}

fn benches(c: &mut Criterion, capture: &Path, frames: u64) {
    let out = scratch().join("crit");
    let mut g = c.benchmark_group("decode_flow");
    g.throughput(Throughput::Elements(frames));
    g.sampling_mode(SamplingMode::Flat).sample_size(10);
    let (_, one) = timed(|| decode_flow(capture));
    g.warm_up_time(one).measurement_time(measurement_time(one));
    g.bench_function("read+decode+flows (packets)", |b| b.iter(|| decode_flow(capture)));
    g.finish();

    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(frames));
    g.sampling_mode(SamplingMode::Flat).sample_size(10);
    for (name, zeek) in [
        ("all models (packets)", None),
        ("all models + zeek logs (packets)", Some(LogFormat::Tsv)),
    ] {
        let opts = options(zeek);
        let (_, one) = timed(|| pipeline(capture, &out, &opts));
        g.warm_up_time(one).measurement_time(measurement_time(one));
        g.bench_function(name, |b| b.iter(|| pipeline(capture, &out, &opts)));
    }
    g.finish();
}

/// Wall time of `tshark -r F -q -z conv,tcp`, or `None` when tshark is missing or fails.
fn tshark_conv_seconds(capture: &Path) -> Option<f64> {
    let started = Instant::now();
    let out = Command::new("tshark")
        .args(["-r"])
        .arg(capture)
        .args(["-q", "-z", "conv,tcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    out.success().then(|| started.elapsed().as_secs_f64())
}

fn kib_field(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Runs the release `detectors` CLI on `capture` as a child and returns its wall time and peak
/// resident memory in KiB. A separate process so that the figure is the pipeline's alone, not
/// criterion's or the bench's. `VmHWM` is a high-water mark, so polling it every few
/// milliseconds loses at most the last interval before exit.
fn cli_run(capture: &Path, out: &Path) -> (f64, Option<u64>) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_detectors"))
        .arg(capture)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run the detectors binary");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = None;
    loop {
        // Read before reaping: once reaped the pid's status is gone (and may be reused).
        if let Ok(s) = std::fs::read_to_string(&status_path)
            && let Some(k) = kib_field(&s, "VmHWM:")
        {
            peak = peak.max(Some(k));
        }
        if let Some(status) = child.try_wait().expect("wait for detectors") {
            assert!(status.success(), "detectors failed: {status}");
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    (started.elapsed().as_secs_f64(), peak)
}

/// Two runs: the shorter time (as for tshark below) and the higher peak.
fn cli_best_of_two(capture: &Path, out: &Path) -> (f64, Option<u64>) {
    let (t1, m1) = cli_run(capture, out);
    let (t2, m2) = cli_run(capture, out);
    (t1.min(t2), m1.max(m2))
}

fn mib(k: Option<u64>) -> String {
    k.map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
        .unwrap_or_else(|| "?".into())
}

/// The pipeline against tshark on the same capture, and peak memory against capture size.
fn compare(capture: &Path, frames: u64, double: Option<&Path>) {
    let dir = scratch();
    println!(
        "\ndetectors pipeline (release CLI, every model, default options, best of two runs; capture read on a second thread):"
    );
    let (secs, rss1) = cli_best_of_two(capture, &dir.join("1x"));
    let rate = frames as f64 / secs;
    println!(
        "  1x: {frames} packets in {secs:.2} s = {:.3} M packets/s; peak RSS {}",
        rate / 1e6,
        mib(rss1)
    );
    match double {
        Some(double) => {
            let frames2 = count_frames(double);
            let (secs2, rss2) = cli_best_of_two(double, &dir.join("2x"));
            println!(
                "  2x: {frames2} packets in {secs2:.2} s = {:.3} M packets/s; peak RSS {}",
                frames2 as f64 / secs2 / 1e6,
                mib(rss2)
            );
            if let (Some(a), Some(b)) = (rss1, rss2) {
                println!(
                    "  peak RSS growth when the capture doubles: {} KiB",
                    b as i64 - a as i64
                );
            }
        }
        None => println!("  2x: skipped (set DETECTORS_BENCH_CAPTURE_2X to a capture twice as long)"),
    }
    // Best of two, as for detectors: the page cache is warm for both.
    let tshark = [tshark_conv_seconds(capture), tshark_conv_seconds(capture)]
        .into_iter()
        .flatten()
        .min_by(f64::total_cmp);
    // The same pipeline in this process, as criterion times it: no process start, warm allocator.
    let opts = options(None);
    let in_process = (0..2)
        .map(|_| {
            timed(|| pipeline(capture, &dir.join("in-process"), &opts))
                .1
                .as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    println!(
        "  1x in this process (detectors::run): {in_process:.2} s = {:.3} M packets/s",
        frames as f64 / in_process / 1e6
    );
    match tshark {
        Some(t) => {
            let tshark_rate = frames as f64 / t;
            println!(
                "  tshark -r F -q -z conv,tcp on the same 1x capture: {t:.2} s = {:.3} M packets/s",
                tshark_rate / 1e6
            );
            println!(
                "  detectors/tshark = {:.1}x (CLI process), {:.1}x (in process)",
                rate / tshark_rate,
                t / in_process
            );
        }
        None => println!("  tshark not installed (or failed): no comparison"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    // `cargo test --benches` runs bench targets without `--bench`; generating a capture and
    // timing tshark there would turn a smoke test into minutes of work.
    if !std::env::args().any(|a| a == "--bench") && std::env::var_os("DETECTORS_BENCH_CAPTURE").is_none() {
        println!("pipeline bench: skipped outside `cargo bench`");
        return;
    }
    let given = std::env::var_os("DETECTORS_BENCH_CAPTURE").map(PathBuf::from);
    let (capture, double) = match given {
        Some(c) => (c, std::env::var_os("DETECTORS_BENCH_CAPTURE_2X").map(PathBuf::from)),
        None => (simulated(1), Some(simulated(2))),
    };
    let frames = count_frames(&capture);
    println!("capture {}: {frames} packets", capture.display());
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c, &capture, frames);
    c.final_summary();
    compare(&capture, frames, double.as_deref());
    let _ = std::fs::remove_dir_all(scratch());
}
