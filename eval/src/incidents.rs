//! `incidents.jsonl`: the detectors' correlated incidents, scored as one more model named
//! `incidents` (see [`crate::score::score_incidents`]).

use std::path::Path;

use anyhow::Result;
use detectors::alert::Alert;
use serde::Deserialize;

/// The model name incidents are scored under.
pub const MODEL: &str = "incidents";

/// One line of `incidents.jsonl`: the fields of an alert plus what the incident gathered.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Incident {
    /// `ts` is when the incident was raised; `flow` its leading flow.
    #[serde(flatten)]
    pub alert: Alert,
    pub id: String,
    /// Community IDs of every flow behind the incident.
    pub flows: Vec<String>,
    /// Models that contributed alerts.
    pub models: Vec<String>,
    /// Number of alerts in the incident.
    pub alerts: u64,
}

/// Reads `path`; a missing file is no incidents.
pub fn read(path: &Path) -> Result<Vec<Incident>> {
    crate::jsonl::read_if_present(path, |i: &Incident| match i.alert.schema {
        1 => Ok(()),
        s => Err(format!("incident schema {s} is not supported (expected 1)")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_line() {
        let line = r#"{"schema":1,"ts":1772448720.6,"model":"incidents","score":0.95,"device":"10.20.1.12","dst_ip":"133.126.101.242","dst_port":8443,"dst_host":null,"flow":"1:a=","uid":"C1","summary":"s","id":"I3","flows":["1:a=","1:b="],"models":["http-post-bare-ip","rare-external-endpoint"],"alerts":4}"#;
        let parsed: Vec<Incident> =
            crate::jsonl::parse(Path::new("incidents.jsonl"), line, |_: &Incident| Ok(())).unwrap();
        let i = &parsed[0];
        assert_eq!((i.id.as_str(), i.alerts, i.flows.len()), ("I3", 4, 2));
        assert_eq!((i.alert.model.as_str(), i.alert.dst_port), ("incidents", 8443));
        let e = crate::jsonl::parse::<Incident>(
            Path::new("incidents.jsonl"),
            &line.replace(r#","alerts":4"#, ""),
            |_| Ok(()),
        )
        .unwrap_err();
        assert!(
            format!("{e:#}").starts_with("incidents.jsonl:1: missing field `alerts`"),
            "{e:#}"
        );
        assert!(read(Path::new("/nonexistent/incidents.jsonl")).unwrap().is_empty());
    }
}
