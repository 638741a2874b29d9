//! Conformance with Zeek: our conn, http, dns and ssl logs against Zeek's own baselines for the
//! real captures in `../shared/corpus/zeek` (see its INDEX.md). Records are matched on the
//! connection's addresses and ports (plus the transaction's id where a log has several records
//! per connection); `ts` and `uid` are never compared (masked / random in the baselines).
//!
//! The six conn.log fields that define a flow's meaning — `conn_state`, `history`, `orig_bytes`,
//! `resp_bytes`, `orig_pkts`, `resp_pkts` — must agree on ≥ 99 % of values across the corpus,
//! and every disagreement must be one of the [`ACCEPTED`] ones, each with its reason. Other
//! fields are compared and their agreement printed.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};

use crate::common::{scratch, zeek_corpus};

const CORE: [&str; 6] = [
    "conn_state",
    "history",
    "orig_bytes",
    "resp_bytes",
    "orig_pkts",
    "resp_pkts",
];

/// Disagreements we accept: (folder, log, record key contains, field, reason).
const ACCEPTED: &[(&str, &str, &str, &str, &str)] = &[];

/// Fields never compared: masked or random in the baselines, or dependent on Zeek's site
/// configuration (INDEX.md rules 1, 2 and 5), or produced by Zeek's file analysis, which we do
/// not do (file ids, names and sniffed MIME types).
const IGNORED: &[&str] = &[
    "ts",
    "uid",
    "local_orig",
    "local_resp",
    "orig_fuids",
    "orig_filenames",
    "orig_mime_types",
    "resp_fuids",
    "resp_filenames",
    "resp_mime_types",
    "speculative_service",
];

struct Log {
    rows: Vec<HashMap<String, String>>,
}

/// Reads a Zeek TSV log (or a btest `.cut` file whose first non-comment line names the fields).
fn read_log(path: &Path) -> Log {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut fields: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("#fields\t") {
            fields = f.split('\t').map(String::from).collect();
        } else if line.starts_with('#') || line.is_empty() {
            continue;
        } else if fields.is_empty() {
            fields = line.split('\t').map(String::from).collect();
        } else {
            rows.push(fields.iter().cloned().zip(line.split('\t').map(String::from)).collect());
        }
    }
    Log { rows }
}

/// The key a record is matched on.
fn key(kind: &str, row: &HashMap<String, String>) -> String {
    let get = |k: &str| row.get(k).map_or("", String::as_str);
    let conn = ["id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p"].map(get).join(" ");
    match kind {
        "http" => format!("{conn} #{}", get("trans_depth")),
        "dns" => format!("{conn} {} {}", get("trans_id"), get("query")),
        "conn" => format!("{conn} {}", get("proto")),
        _ => conn,
    }
}

fn capture_in(dir: &Path) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    assert_eq!(found.len(), 1, "{}: expected one capture", dir.display());
    found.remove(0)
}

#[derive(Default)]
struct Tally {
    /// field → (agree, total)
    fields: BTreeMap<String, (u64, u64)>,
    missing: u64,
    records: u64,
}

#[test]
fn logs_agree_with_zeek_baselines() {
    let Some(corpus) = zeek_corpus() else { return };
    let dir = scratch("zeek-conformance");
    let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut unexplained = Vec::new();
    let mut used_accepts = vec![false; ACCEPTED.len()];
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    for folder in folders {
        let name = folder.file_name().unwrap().to_string_lossy().into_owned();
        let baselines: Vec<(&str, PathBuf)> = [
            ("conn", "conn.log"),
            ("conn", "conn.log.cut"),
            ("http", "http.log"),
            ("dns", "dns.log"),
            ("ssl", "ssl.log"),
        ]
        .into_iter()
        .map(|(k, f)| (k, folder.join(f)))
        .filter(|(_, p)| p.is_file())
        .collect();
        if baselines.is_empty() {
            continue;
        }
        let out = dir.join(&name);
        let opts = detectors::Options {
            internal: detectors::net::default_internal(),
            learning_secs: 0,
            thresholds: Default::default(),
            zeek_logs: Some(detectors::LogFormat::Tsv),
        };
        let summary = detectors::run(&capture_in(&folder), &out, &opts).unwrap();
        assert!(summary.capture_error.is_none(), "{name}: {:?}", summary.capture_error);
        for (kind, path) in baselines {
            let zeek = read_log(&path);
            let ours_path = out.join(format!("{kind}.log"));
            let ours = if ours_path.is_file() {
                read_log(&ours_path)
            } else {
                Log { rows: Vec::new() }
            };
            let tally = tallies.entry(kind).or_default();
            // A baseline without addresses (a `.cut` of a one-flow trace) matches by position.
            let positional = zeek.rows.first().is_some_and(|r| !r.contains_key("id.orig_h"));
            let mut by_key: HashMap<String, VecDeque<&HashMap<String, String>>> = HashMap::new();
            for r in &ours.rows {
                let k = if positional { String::new() } else { key(kind, r) };
                by_key.entry(k).or_default().push_back(r);
            }
            for z in &zeek.rows {
                tally.records += 1;
                let k = if positional { String::new() } else { key(kind, z) };
                let Some(o) = by_key.get_mut(&k).and_then(VecDeque::pop_front) else {
                    tally.missing += 1;
                    eprintln!("{name} {kind} [{k}]: no record of ours");
                    if kind == "conn" {
                        unexplained.push(format!("{name} conn [{k}]: missing"));
                    }
                    continue;
                };
                for (field, zv) in z {
                    if IGNORED.contains(&field.as_str()) {
                        continue;
                    }
                    let ov = o.get(field).map_or("<no column>", String::as_str);
                    let t = tally.fields.entry(field.clone()).or_default();
                    t.1 += 1;
                    if ov == zv {
                        t.0 += 1;
                        continue;
                    }
                    eprintln!("{name} {kind} [{k}] {field}: ours {ov:?}, Zeek {zv:?}");
                    if kind == "conn" && CORE.contains(&field.as_str()) {
                        let accepted = ACCEPTED
                            .iter()
                            .position(|&(f, l, kc, fl, _)| f == name && l == kind && k.contains(kc) && fl == field);
                        match accepted {
                            Some(i) => used_accepts[i] = true,
                            None => unexplained.push(format!("{name} conn [{k}] {field}: ours {ov}, Zeek {zv}")),
                        }
                    }
                }
            }
        }
    }
    let mut core = (0, 0);
    for (kind, t) in &tallies {
        eprintln!(
            "== {kind}.log: {} records in Zeek's baselines, {} without a match of ours",
            t.records, t.missing
        );
        for (field, (agree, total)) in &t.fields {
            eprintln!(
                "   {field:<20} {agree:>5}/{total:<5} {:>6.1} %",
                100.0 * *agree as f64 / *total as f64
            );
            if *kind == "conn" && CORE.contains(&field.as_str()) {
                core.0 += agree;
                core.1 += total;
            }
        }
    }
    let conn_missing = tallies.get("conn").map_or(0, |t| t.missing) * CORE.len() as u64;
    let share = core.0 as f64 / (core.1 + conn_missing) as f64;
    eprintln!(
        "core conn fields agree: {}/{} = {:.2} %",
        core.0,
        core.1 + conn_missing,
        share * 100.0
    );
    for (i, used) in used_accepts.iter().enumerate() {
        assert!(
            used,
            "accepted disagreement no longer happens (remove it): {:?}",
            ACCEPTED[i]
        );
    }
    assert!(
        unexplained.is_empty(),
        "disagreements with Zeek that are not explained:\n{}",
        unexplained.join("\n")
    );
    assert!(share >= 0.99, "core conn fields agree on only {:.2} %", share * 100.0);
    // Every baseline kind was compared.
    for kind in ["conn", "http", "dns", "ssl"] {
        assert!(tallies.contains_key(kind), "no {kind}.log baseline compared");
    }
}
