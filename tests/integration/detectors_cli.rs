//! The detectors' command line on damaged and foreign input, and its conn.log against Zeek's.

use std::collections::HashMap;
use std::path::Path;

use crate::common::{fixture, scratch, zeek_corpus};

fn run_lib(capture: &Path, out: &Path) -> Result<detectors::Summary, detectors::RunError> {
    let opts = detectors::Options {
        internal: detectors::net::default_internal(),
        learning_secs: 0,
        thresholds: Default::default(),
        zeek_logs: true,
    };
    detectors::run(capture, out, &opts)
}

#[test]
fn not_a_capture_is_a_clear_error() {
    let dir = scratch("not-capture");
    let file = dir.join("notes.pcap");
    std::fs::write(&file, "these are not packets\n").unwrap();
    let err = run_lib(&file, &dir.join("out")).unwrap_err();
    assert!(matches!(err, detectors::RunError::Open(_)));
    assert!(
        err.to_string().contains("notes.pcap") && err.to_string().contains("not a pcap or pcapng capture"),
        "{err}"
    );
    let empty = dir.join("empty.pcap");
    std::fs::write(&empty, "").unwrap();
    assert!(
        run_lib(&empty, &dir.join("out"))
            .unwrap_err()
            .to_string()
            .contains("empty file")
    );
}

#[test]
fn truncated_capture_keeps_the_good_part_and_names_the_offset() {
    let dir = scratch("truncated");
    let sc = simulator::scenario::LoadedScenario::load(&fixture("small-dprk.yaml")).unwrap();
    let sim = simulator::simulate(&sc, 3, &dir.join("sim")).unwrap();
    let whole = std::fs::read(&sim.capture).unwrap();
    let cut = dir.join("cut.pcapng");
    // Cut in the middle of a record, about two thirds in.
    std::fs::write(&cut, &whole[..whole.len() * 2 / 3 + 7]).unwrap();
    let full = run_lib(&sim.capture, &dir.join("full")).unwrap();
    let part = run_lib(&cut, &dir.join("part")).unwrap();
    let e = part.capture_error.expect("a truncated file is reported");
    assert!(
        e.to_string().contains("cut.pcapng: byte offset ") && e.to_string().contains(", record "),
        "{e}"
    );
    assert!(e.what.contains("truncated"), "{e}");
    assert_eq!(
        e.record,
        part.packets + part.skipped + 1,
        "the error names the first unreadable record"
    );
    assert!(part.packets > full.packets / 2 && part.packets < full.packets);
    assert!(e.offset > 0 && (e.offset as usize) < whole.len() * 2 / 3 + 7);
    assert!(dir.join("part/alerts.jsonl").is_file());
}

#[test]
fn zeek_truncated_corpus_never_panics_and_explains() {
    let Some(corpus) = zeek_corpus() else { return };
    let dir = scratch("zeek-trunc");
    let mut files: Vec<_> = std::fs::read_dir(corpus.join("truncated"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    files.sort();
    assert!(files.len() >= 10);
    for f in files {
        let out = dir.join(f.file_stem().unwrap());
        // Must not panic; a damaged file must say where (the CLI's exit codes are tested in
        // detectors/tests/cli.rs).
        match run_lib(&f, &out) {
            Ok(s) => {
                if let Some(e) = s.capture_error {
                    assert!(e.to_string().contains("byte offset"), "{e}");
                }
            }
            Err(e) => assert!(
                e.to_string().contains(&*f.file_name().unwrap().to_string_lossy()),
                "{e}"
            ),
        }
    }
}

/// Zeek conn.log rows keyed by 5-tuple → field name → value.
fn read_conn_log(path: &Path) -> HashMap<String, HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut fields: Vec<String> = Vec::new();
    let mut rows = HashMap::new();
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("#fields\t") {
            fields = f.split('\t').map(String::from).collect();
        } else if !line.starts_with('#') && !fields.is_empty() {
            let row: HashMap<String, String> = fields.iter().cloned().zip(line.split('\t').map(String::from)).collect();
            let key = ["id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto"]
                .map(|k| row[k].clone())
                .join(" ");
            rows.insert(key, row);
        }
    }
    rows
}

#[test]
fn conn_log_agrees_with_zeek_baselines() {
    let Some(corpus) = zeek_corpus() else { return };
    let dir = scratch("conformance");
    const FIELDS: [&str; 6] = [
        "conn_state",
        "history",
        "orig_bytes",
        "resp_bytes",
        "orig_pkts",
        "resp_pkts",
    ];
    // (folder, capture, minimum share of agreeing fields)
    for (folder, capture, min) in [
        ("http-get", "get.pcap", 1.0),
        ("pcapng-multi-interface", "pcapng-multi-interface.pcapng", 1.0),
        ("wikipedia", "wikipedia.pcap", 0.99),
    ] {
        let out = dir.join(folder);
        run_lib(&corpus.join(folder).join(capture), &out).unwrap();
        let ours = read_conn_log(&out.join("conn.log"));
        let zeek = read_conn_log(&corpus.join(folder).join("conn.log"));
        let (mut agree, mut total) = (0, 0);
        for (key, z) in &zeek {
            for f in FIELDS {
                total += 1;
                match ours.get(key) {
                    Some(o) if o[f] == z[f] => agree += 1,
                    Some(o) => eprintln!("{folder} {key}: {f} ours {} zeek {}", o[f], z[f]),
                    None => eprintln!("{folder} {key}: no flow of ours"),
                }
            }
        }
        let share = f64::from(agree) / f64::from(total);
        eprintln!("{folder}: {agree}/{total} fields agree ({:.1} %)", share * 100.0);
        assert!(
            share >= min,
            "{folder}: only {:.1} % of fields agree with Zeek",
            share * 100.0
        );
    }
}
