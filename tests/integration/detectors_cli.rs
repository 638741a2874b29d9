//! The detectors' command line on damaged and foreign input, and its conn.log against Zeek's.

use std::path::Path;

use crate::common::{fixture, scratch, zeek_corpus};

fn run_lib(capture: &Path, out: &Path) -> Result<detectors::Summary, detectors::RunError> {
    let opts = detectors::Options {
        internal: detectors::net::default_internal(),
        learning_secs: 0,
        thresholds: Default::default(),
        zeek_logs: Some(detectors::LogFormat::Tsv),
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
        part.packets + part.skipped + part.fragments + 1,
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
        // Must not panic, and must say what was wrong: a damaged file where (byte offset and
        // record), a frame that cannot be decoded why (Zeek's weird names), a frame cut by the
        // snap length that it was (the CLI prints all three; exit codes in detectors/tests/cli.rs).
        match run_lib(&f, &out) {
            Ok(s) => {
                if let Some(e) = &s.capture_error {
                    assert!(e.to_string().contains("byte offset"), "{e}");
                }
                assert!(
                    s.capture_error.is_some() || !s.weirds.is_empty() || s.snapped > 0,
                    "{}: nothing reported",
                    f.display()
                );
                eprintln!("{}: weirds {:?}, snapped {}", f.display(), s.weirds, s.snapped);
            }
            Err(e) => assert!(
                e.to_string().contains(&*f.file_name().unwrap().to_string_lossy()),
                "{e}"
            ),
        }
    }
}

/// Hostile input: real captures with bytes flipped at random (seeded) places must never make
/// the pipeline panic, whatever they break.
#[test]
fn corrupted_captures_never_panic() {
    let Some(corpus) = zeek_corpus() else { return };
    let dir = scratch("corrupt");
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut errors = 0;
    for name in [
        "wikipedia/wikipedia.pcap",
        "tls-sni-certchain/tls-conn-with-extensions.pcap",
        "dns-ipv6-fragmented/ipv6-fragmented-dns.pcap",
        "pcapng-multi-interface/pcapng-multi-interface.pcapng",
        "http-post-100-continue/100-continue.pcap",
    ] {
        let clean = std::fs::read(corpus.join(name)).unwrap();
        for round in 0..120 {
            let mut bytes = clean.clone();
            for _ in 0..1 + next() % 16 {
                let at = (next() % bytes.len() as u64) as usize;
                bytes[at] = next() as u8;
            }
            if round % 8 == 7 {
                bytes.truncate((next() % bytes.len() as u64) as usize);
            }
            let file = dir.join("mutated.pcap");
            std::fs::write(&file, &bytes).unwrap();
            match run_lib(&file, &dir.join("out")) {
                Ok(s) => errors += u32::from(s.capture_error.is_some()),
                Err(_) => errors += 1,
            }
        }
    }
    // Some mutations must have hit a record header (otherwise this tested nothing).
    assert!(errors > 0);
}
