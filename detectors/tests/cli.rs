//! The detectors' command line: exit codes and messages on good, damaged and foreign input.

use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/zeek");
    if dir.join("INDEX.md").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var("REQUIRE_ORACLES").as_deref() != Ok("1"),
        "Zeek corpus missing at {} but REQUIRE_ORACLES=1",
        dir.display()
    );
    eprintln!("SKIPPED: Zeek corpus not found at {}", dir.display());
    None
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("netbehave-detcli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn detect(args: &[&std::ffi::OsStr]) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_detectors"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().expect("exited normally, not by a signal"),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn zeek_truncated_captures_exit_cleanly_with_a_message() {
    let Some(corpus) = corpus() else { return };
    let out = scratch("trunc");
    let mut files: Vec<_> = std::fs::read_dir(corpus.join("truncated"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    files.sort();
    assert!(files.len() >= 10);
    for f in files {
        let (code, stderr) = detect(&[f.as_os_str(), "--out".as_ref(), out.as_os_str()]);
        assert!((0..=2).contains(&code), "{}: exit {code}: {stderr}", f.display());
        assert!(
            stderr.contains(&*f.file_name().unwrap().to_string_lossy()),
            "{}: {stderr}",
            f.display()
        );
        if code != 0 {
            assert!(stderr.contains("error:"), "{stderr}");
        }
    }
}

#[test]
fn exit_codes() {
    let Some(corpus) = corpus() else { return };
    let out = scratch("codes");
    let good = corpus.join("http-get/get.pcap");
    let (code, stderr) = detect(&[
        good.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--zeek-logs".as_ref(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(out.join("alerts.jsonl").is_file() && out.join("conn.log").is_file());

    // Cut inside the last record: the good packets are processed, exit 1 with the offset.
    let bytes = std::fs::read(&good).unwrap();
    let cut = out.join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let (code, stderr) = detect(&[cut.as_os_str(), "--out".as_ref(), out.as_os_str()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("cut.pcap: byte offset ") && stderr.contains("record 14: truncated"),
        "{stderr}"
    );
    assert!(stderr.contains("13 packets"), "{stderr}");

    let junk = out.join("junk.pcap");
    std::fs::write(&junk, b"GIF89a not a capture").unwrap();
    let (code, stderr) = detect(&[junk.as_os_str(), "--out".as_ref(), out.as_os_str()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not a pcap or pcapng capture"), "{stderr}");

    let cfg = out.join("bad.yaml");
    std::fs::write(&cfg, "http-post-bare-ip:\n  min_score: high\n").unwrap();
    let (code, stderr) = detect(&[
        good.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--config".as_ref(),
        cfg.as_os_str(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("bad.yaml:2:14"), "{stderr}");
}
