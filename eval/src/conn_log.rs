//! Reading the detectors' `conn.log` (Zeek TSV) back: only the columns the response replay
//! needs, found by their `#fields` names rather than by position so that added columns do not
//! shift them.

use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;

use anyhow::{Context, Result, anyhow, bail};

/// One flow of `conn.log`.
#[derive(Clone, Debug, PartialEq)]
pub struct Conn {
    /// First packet, seconds since the epoch.
    pub ts: f64,
    pub orig_h: IpAddr,
    pub resp_h: IpAddr,
    pub resp_p: u16,
    /// `None` when the column is unset (`-`).
    pub community_id: Option<String>,
}

const COLUMNS: [&str; 5] = ["ts", "id.orig_h", "id.resp_h", "id.resp_p", "community_id"];

pub fn read(path: &Path) -> Result<Vec<Conn>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(path, &text)
}

/// Parses `text` as the contents of `path` (named in errors, with the line).
pub fn parse(path: &Path, text: &str) -> Result<Vec<Conn>> {
    let mut index: Option<[usize; 5]> = None;
    let mut conns = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = || format!("{}:{}", path.display(), i + 1);
        if let Some(fields) = line.strip_prefix("#fields\t") {
            let names: Vec<&str> = fields.split('\t').collect();
            let mut idx = [0; 5];
            for (slot, want) in idx.iter_mut().zip(COLUMNS) {
                *slot = names
                    .iter()
                    .position(|n| *n == want)
                    .ok_or_else(|| anyhow!("{}: no `{want}` column in #fields", at()))?;
            }
            index = Some(idx);
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let Some(idx) = index else {
            bail!("{}: a record before the #fields header", at());
        };
        let cols: Vec<&str> = line.split('\t').collect();
        let value = |k: usize| -> Result<&str> {
            cols.get(idx[k])
                .copied()
                .ok_or_else(|| anyhow!("{}: no value for `{}`", at(), COLUMNS[k]))
        };
        let ts: f64 = field(value(0)?, COLUMNS[0]).map_err(|e| anyhow!("{}: {e}", at()))?;
        let orig_h = field(value(1)?, COLUMNS[1]).map_err(|e| anyhow!("{}: {e}", at()))?;
        let resp_h = field(value(2)?, COLUMNS[2]).map_err(|e| anyhow!("{}: {e}", at()))?;
        let resp_p = field(value(3)?, COLUMNS[3]).map_err(|e| anyhow!("{}: {e}", at()))?;
        if !ts.is_finite() {
            bail!("{}: `ts`: invalid value `{}`", at(), value(0)?);
        }
        let community_id = match value(4)? {
            "-" | "(empty)" => None,
            v => Some(v.to_string()),
        };
        conns.push(Conn {
            ts,
            orig_h,
            resp_h,
            resp_p,
            community_id,
        });
    }
    Ok(conns)
}

/// A set column's value.
fn field<T: FromStr>(v: &str, name: &str) -> Result<T, String> {
    if v == "-" {
        return Err(format!("`{name}` is unset"));
    }
    v.parse().map_err(|_| format!("`{name}`: invalid value `{v}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "#separator \\x09\n#path\tconn\n\
        #fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tcommunity_id\n\
        #types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\n\
        1000.500000\tC1\t10.0.0.5\t50000\t203.0.113.9\t443\ttcp\t1:abc=\n\
        1001.000000\tC2\tfd00::5\t50001\t2001:db8::1\t53\tudp\t-\n\
        #close\t2026-01-01-00-00-00\n";

    #[test]
    fn reads_columns_by_name() {
        let c = parse(Path::new("conn.log"), LOG).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(
            c[0],
            Conn {
                ts: 1000.5,
                orig_h: "10.0.0.5".parse().unwrap(),
                resp_h: "203.0.113.9".parse().unwrap(),
                resp_p: 443,
                community_id: Some("1:abc=".into()),
            }
        );
        assert_eq!((c[1].resp_p, c[1].community_id.as_deref()), (53, None));
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let e = parse(Path::new("conn.log"), &LOG.replace("203.0.113.9", "203.0.113")).unwrap_err();
        assert_eq!(e.to_string(), "conn.log:5: `id.resp_h`: invalid value `203.0.113`");
        let e = parse(Path::new("conn.log"), &LOG.replace("\tcommunity_id\n", "\tcid\n")).unwrap_err();
        assert_eq!(e.to_string(), "conn.log:3: no `community_id` column in #fields");
        let e = parse(Path::new("conn.log"), "1.0\t10.0.0.1\n").unwrap_err();
        assert_eq!(e.to_string(), "conn.log:1: a record before the #fields header");
    }
}
