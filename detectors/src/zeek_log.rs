//! Zeek-format logs (TSV with `#fields` headers) so flow records can be compared with Zeek's
//! and read by the tools analysts already use.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::flow::Flow;

const CONN_FIELDS: &[(&str, &str)] = &[
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("proto", "enum"),
    ("service", "string"),
    ("duration", "interval"),
    ("orig_bytes", "count"),
    ("resp_bytes", "count"),
    ("conn_state", "string"),
    ("history", "string"),
    ("orig_pkts", "count"),
    ("orig_ip_bytes", "count"),
    ("resp_pkts", "count"),
    ("resp_ip_bytes", "count"),
];

pub struct ConnLog {
    out: BufWriter<File>,
}

fn secs(ns: u64) -> String {
    format!("{}.{:06}", ns / 1_000_000_000, ns % 1_000_000_000 / 1000)
}

impl ConnLog {
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let mut out = BufWriter::new(File::create(path)?);
        writeln!(out, "#separator \\x09")?;
        writeln!(out, "#set_separator\t,")?;
        writeln!(out, "#empty_field\t(empty)")?;
        writeln!(out, "#unset_field\t-")?;
        writeln!(out, "#path\tconn")?;
        let names: Vec<&str> = CONN_FIELDS.iter().map(|f| f.0).collect();
        let types: Vec<&str> = CONN_FIELDS.iter().map(|f| f.1).collect();
        writeln!(out, "#fields\t{}", names.join("\t"))?;
        writeln!(out, "#types\t{}", types.join("\t"))?;
        Ok(ConnLog { out })
    }

    pub fn write(&mut self, f: &Flow) -> std::io::Result<()> {
        // Zeek leaves duration and byte counts unset for a connection of a single packet.
        let single = f.orig.pkts + f.resp.pkts <= 1;
        let unset = |v: String| if single { "-".to_string() } else { v };
        writeln!(
            self.out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            secs(f.ts_first),
            f.uid,
            f.id.orig,
            f.id.orig_port,
            f.id.resp,
            f.id.resp_port,
            f.id.proto_name(),
            f.service.unwrap_or("-"),
            unset(secs(f.duration_ns())),
            unset(f.orig_bytes().to_string()),
            unset(f.resp_bytes().to_string()),
            f.conn_state(),
            if f.history.is_empty() { "-" } else { &f.history },
            f.orig.pkts,
            f.orig.ip_bytes,
            f.resp.pkts,
            f.resp.ip_bytes
        )
    }

    pub fn finish(mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
