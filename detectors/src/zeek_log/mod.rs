//! Zeek-format logs — conn, http, dns and ssl — so our records can be compared with Zeek's and
//! read by the tools analysts already use. TSV with Zeek's `#` headers, or JSON lines as Zeek
//! writes them with `LogAscii::use_json=T` (same file names, unset fields omitted).

pub mod conn;
pub mod dns;
pub mod http;
pub mod ssl;
pub mod weird;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// How logs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Zeek's tab-separated layout with `#fields`/`#types` headers.
    #[default]
    Tsv,
    /// One JSON object per line.
    Json,
}

/// One field value, typed as Zeek types it.
#[derive(Clone, Debug)]
pub enum Val<'a> {
    Unset,
    Str(&'a str),
    Owned(String),
    Count(u64),
    /// Nanoseconds since the epoch.
    Time(u64),
    /// Nanoseconds.
    Interval(u64),
    Bool(bool),
    Addr(IpAddr),
    Port(u16),
    /// A `set[string]` or `vector of string`.
    Strs(Vec<String>),
    /// A `vector of interval`, nanoseconds.
    Intervals(Vec<u64>),
    /// A `vector of count`.
    Counts(Vec<u64>),
}

impl<'a> Val<'a> {
    pub fn opt_str(s: Option<&'a str>) -> Val<'a> {
        s.map_or(Val::Unset, Val::Str)
    }

    pub fn opt_count(n: Option<u64>) -> Val<'a> {
        n.map_or(Val::Unset, Val::Count)
    }
}

/// Zeek's `%.6f` rendering of a time or interval in nanoseconds.
fn secs(ns: u64) -> String {
    format!("{}.{:06}", ns / 1_000_000_000, ns % 1_000_000_000 / 1000)
}

/// TSV escaping as Zeek's ASCII writer does it: non-printable bytes, the separator and a
/// backslash become `\xNN`; inside sets the set separator too.
fn escape_tsv(s: &str, in_set: bool, out: &mut String) {
    if s.is_empty() {
        out.push_str(if in_set { "" } else { "(empty)" });
        return;
    }
    if s == "-" {
        out.push_str("\\x2d");
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\x5c"),
            '\t' => out.push_str("\\x09"),
            ',' if in_set => out.push_str("\\x2c"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
}

fn tsv_list<T>(items: &[T], mut each: impl FnMut(&T, &mut String), out: &mut String) {
    if items.is_empty() {
        out.push_str("(empty)");
        return;
    }
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        each(x, out);
    }
}

impl Val<'_> {
    fn tsv(&self, out: &mut String) {
        match self {
            Val::Unset => out.push('-'),
            Val::Str(s) => escape_tsv(s, false, out),
            Val::Owned(s) => escape_tsv(s, false, out),
            Val::Count(n) => out.push_str(&n.to_string()),
            Val::Time(ns) | Val::Interval(ns) => out.push_str(&secs(*ns)),
            Val::Bool(b) => out.push(if *b { 'T' } else { 'F' }),
            Val::Addr(a) => out.push_str(&a.to_string()),
            Val::Port(p) => out.push_str(&p.to_string()),
            Val::Strs(v) => tsv_list(v, |s, o| escape_tsv(s, true, o), out),
            Val::Intervals(v) => tsv_list(v, |ns, o| o.push_str(&secs(*ns)), out),
            Val::Counts(v) => tsv_list(v, |n, o| o.push_str(&n.to_string()), out),
        }
    }

    /// JSON value, or None for an unset field (Zeek omits those).
    fn json(&self, out: &mut String) -> bool {
        let quoted = |s: &str, out: &mut String| out.push_str(&serde_json::Value::from(s).to_string());
        match self {
            Val::Unset => return false,
            Val::Str(s) => quoted(s, out),
            Val::Owned(s) => quoted(s, out),
            Val::Count(n) => out.push_str(&n.to_string()),
            Val::Time(ns) | Val::Interval(ns) => out.push_str(&secs(*ns)),
            Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Val::Addr(a) => quoted(&a.to_string(), out),
            Val::Port(p) => out.push_str(&p.to_string()),
            Val::Strs(v) => {
                out.push('[');
                for (i, s) in v.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    quoted(s, out);
                }
                out.push(']');
            }
            Val::Intervals(v) => {
                let parts: Vec<String> = v.iter().map(|ns| secs(*ns)).collect();
                out.push_str(&format!("[{}]", parts.join(",")));
            }
            Val::Counts(v) => {
                let parts: Vec<String> = v.iter().map(u64::to_string).collect();
                out.push_str(&format!("[{}]", parts.join(",")));
            }
        }
        true
    }
}

/// A log's name and its columns (name, Zeek type).
pub struct Schema {
    pub path: &'static str,
    pub fields: &'static [(&'static str, &'static str)],
}

/// One open log file.
pub struct LogWriter {
    out: BufWriter<File>,
    schema: &'static Schema,
    format: LogFormat,
    file: PathBuf,
    line: String,
}

impl LogWriter {
    /// Creates `dir/<path>.log` and writes the header (TSV only).
    pub fn create(dir: &Path, schema: &'static Schema, format: LogFormat) -> std::io::Result<Self> {
        let file = dir.join(format!("{}.log", schema.path));
        let mut out = BufWriter::new(File::create(&file)?);
        if format == LogFormat::Tsv {
            writeln!(out, "#separator \\x09")?;
            writeln!(out, "#set_separator\t,")?;
            writeln!(out, "#empty_field\t(empty)")?;
            writeln!(out, "#unset_field\t-")?;
            writeln!(out, "#path\t{}", schema.path)?;
            let names: Vec<&str> = schema.fields.iter().map(|f| f.0).collect();
            let types: Vec<&str> = schema.fields.iter().map(|f| f.1).collect();
            writeln!(out, "#fields\t{}", names.join("\t"))?;
            writeln!(out, "#types\t{}", types.join("\t"))?;
        }
        Ok(LogWriter {
            out,
            schema,
            format,
            file,
            line: String::with_capacity(512),
        })
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Writes one record; `row` holds one value per schema field, in order.
    pub fn write(&mut self, row: &[Val<'_>]) -> std::io::Result<()> {
        debug_assert_eq!(row.len(), self.schema.fields.len(), "{} row width", self.schema.path);
        self.line.clear();
        match self.format {
            LogFormat::Tsv => {
                for (i, v) in row.iter().enumerate() {
                    if i > 0 {
                        self.line.push('\t');
                    }
                    v.tsv(&mut self.line);
                }
            }
            LogFormat::Json => {
                self.line.push('{');
                let mut first = true;
                for (v, (name, _)) in row.iter().zip(self.schema.fields) {
                    let mark = self.line.len();
                    if !first {
                        self.line.push(',');
                    }
                    self.line.push('"');
                    self.line.push_str(name);
                    self.line.push_str("\":");
                    if v.json(&mut self.line) {
                        first = false;
                    } else {
                        self.line.truncate(mark);
                    }
                }
                self.line.push('}');
            }
        }
        self.line.push('\n');
        self.out.write_all(self.line.as_bytes())
    }

    pub fn finish(mut self) -> std::io::Result<()> {
        if self.format == LogFormat::Tsv {
            writeln!(self.out, "#close")?;
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_escapes_like_zeek() {
        let mut s = String::new();
        Val::Str("a\tb\\").tsv(&mut s);
        assert_eq!(s, "a\\x09b\\x5c");
        s.clear();
        Val::Str("").tsv(&mut s);
        assert_eq!(s, "(empty)");
        s.clear();
        Val::Strs(vec!["x,y".into(), "z".into()]).tsv(&mut s);
        assert_eq!(s, "x\\x2cy,z");
        s.clear();
        Val::Intervals(vec![120_000_000_000]).tsv(&mut s);
        assert_eq!(s, "120.000000");
    }

    #[test]
    fn json_omits_unset_fields() {
        static SCHEMA: Schema = Schema {
            path: "t",
            fields: &[("a", "string"), ("b", "count"), ("c", "bool")],
        };
        let dir = std::env::temp_dir().join(format!("zeek-log-json-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut w = LogWriter::create(&dir, &SCHEMA, LogFormat::Json).unwrap();
        w.write(&[Val::Unset, Val::Count(3), Val::Bool(true)]).unwrap();
        w.write(&[Val::Str("q\""), Val::Unset, Val::Unset]).unwrap();
        w.finish().unwrap();
        let text = std::fs::read_to_string(dir.join("t.log")).unwrap();
        assert_eq!(text, "{\"b\":3,\"c\":true}\n{\"a\":\"q\\\"\"}\n");
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    }
}
