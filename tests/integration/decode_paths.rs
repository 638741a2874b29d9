//! The detectors' fast decoding path must give exactly what the etherparse reference path
//! gives, frame by frame, on real captures (Zeek's corpus) and on a simulated one.

use std::path::Path;

use detectors::capture::CaptureReader;
use detectors::decode::{Decoded, decode_fast, decode_frame, decode_frame_reference};

use crate::common::{fixture, scratch, zeek_corpus};

/// Returns (frames, frames the fast path decoded).
fn compare(file: &Path) -> (u64, u64) {
    let mut reader = CaptureReader::open(file).unwrap();
    let (mut frames, mut fast_path) = (0, 0);
    let _ = reader.for_each(|f| {
        frames += 1;
        fast_path += u64::from(decode_fast(f.ts, f.linktype, f.data).is_some());
        let fast = decode_frame(f.ts, f.linktype, f.data);
        let reference = decode_frame_reference(f.ts, f.linktype, f.data);
        match (fast, reference) {
            (Ok(Decoded::Packet(a)), Ok(Decoded::Packet(b))) => {
                assert_eq!(a, b, "{} frame {frames}", file.display());
            }
            (Ok(Decoded::Fragment(a)), Ok(Decoded::Fragment(b))) => {
                assert_eq!((a.key, a.offset, a.more, a.data), (b.key, b.offset, b.more, b.data));
            }
            (Err(a), Err(b)) => assert_eq!(a, b, "{} frame {frames}", file.display()),
            (a, b) => panic!(
                "{} frame {frames}: paths disagree ({} vs {})",
                file.display(),
                a.is_ok(),
                b.is_ok()
            ),
        }
    });
    (frames, fast_path)
}

#[test]
fn fast_path_equals_reference_path() {
    let dir = scratch("decode-paths");
    let sc = simulator::scenario::LoadedScenario::load(&fixture("small-dprk.yaml")).unwrap();
    let sim = simulator::simulate(&sc, 11, &dir).unwrap();
    let (frames, fast) = compare(&sim.capture);
    // Simulated traffic is all plain TCP/UDP over Ethernet: the fast path takes it all.
    assert!(frames > 1000 && fast == frames, "fast path took {fast} of {frames}");
    let Some(corpus) = zeek_corpus() else { return };
    let (mut total, mut fast) = (0, 0);
    for entry in walk(&corpus) {
        if entry.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
            let (t, f) = compare(&entry);
            total += t;
            fast += f;
        }
    }
    eprintln!("corpus: fast path took {fast} of {total} frames");
    assert!(
        total > 10_000 && fast > total / 2,
        "fast path took {fast} of {total} corpus frames"
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}
