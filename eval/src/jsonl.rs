//! JSON-lines files written by the detectors: one object per line, blank lines skipped. A line
//! that does not parse or fails its check is an error naming `file:line`, never skipped: a
//! half-read file would silently change the scores.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use serde::de::DeserializeOwned;

/// Reads every record of `path`.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(path, &text, |_: &T| Ok(()))
}

/// Reads every record of `path`, each checked by `check`; a missing file reads as no records
/// (for outputs that older detectors do not write).
pub fn read_if_present<T: DeserializeOwned>(path: &Path, check: impl Fn(&T) -> Result<(), String>) -> Result<Vec<T>> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(path, &text, check),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Parses `text` as the contents of `path` (named in errors).
pub fn parse<T: DeserializeOwned>(path: &Path, text: &str, check: impl Fn(&T) -> Result<(), String>) -> Result<Vec<T>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let at = || format!("{}:{}", path.display(), i + 1);
            let record: T = serde_json::from_str(l).with_context(at)?;
            check(&record).map_err(|e| anyhow!("{}: {e}", at()))?;
            Ok(record)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct R {
        n: u32,
    }

    #[test]
    fn errors_name_file_and_line_and_missing_files_are_empty() {
        let p = Path::new("x.jsonl");
        let ok = |r: &R| if r.n < 5 { Ok(()) } else { Err(format!("n is {}", r.n)) };
        assert_eq!(parse(p, "{\"n\":1}\n\n{\"n\":2}\n", ok).unwrap().len(), 2);
        let e = parse(p, "{\"n\":1}\n{\"n\":\n", ok).err().unwrap();
        assert!(format!("{e:#}").starts_with("x.jsonl:2: "), "{e:#}");
        let e = parse(p, "\n{\"n\":7}\n", ok).err().unwrap();
        assert_eq!(format!("{e:#}"), "x.jsonl:2: n is 7");
        assert!(
            read_if_present(Path::new("/nonexistent/none.jsonl"), ok)
                .unwrap()
                .is_empty()
        );
    }
}
