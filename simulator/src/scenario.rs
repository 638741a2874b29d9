//! The scenario file: schema, strict parsing and validation.
//!
//! Parsing is strict (unknown keys and wrong types are errors) and every error names the file,
//! `line:column` and the key, so a typo in a CI scenario fails loudly instead of silently
//! running something else.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::attacks::AttackSpec;
use crate::units::{Cidr, Duration, Timestamp};

/// A whole scenario file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name used for the report folder; defaults to the file stem.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Default seed; `--seed` overrides it.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Capture start, RFC 3339 UTC.
    pub start: Timestamp,
    /// Simulated span.
    pub duration: Spanned<Duration>,
    /// Initial period during which detectors learn the pattern of life.
    #[serde(default)]
    pub learning: Option<Spanned<Duration>>,
    #[serde(default)]
    pub format: CaptureFormat,
    pub network: Network,
    pub devices: Vec<DeviceGroup>,
    #[serde(default)]
    pub attacks: Vec<AttackSpec>,
    #[serde(default)]
    pub expect: Vec<Spanned<Expectation>>,
}

impl Scenario {
    /// The learning period (zero when not given).
    pub fn learning(&self) -> Duration {
        self.learning.as_ref().map(|l| l.value).unwrap_or_default()
    }
}

fn default_seed() -> u64 {
    1
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptureFormat {
    #[default]
    Pcapng,
    Pcap,
}

impl CaptureFormat {
    pub fn file_name(self) -> &'static str {
        match self {
            CaptureFormat::Pcapng => "capture.pcapng",
            CaptureFormat::Pcap => "capture.pcap",
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// The organisation's own address space; everything else is external.
    pub internal: Vec<Spanned<Cidr>>,
    /// The internal resolver every device uses; defaults to the `.2` of the first internal block.
    #[serde(default)]
    pub dns_server: Option<Spanned<IpAddr>>,
}

/// Device roles; each has consistent OS traits and its own behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    MacosLaptop,
    WindowsDesktop,
    LinuxServer,
    CloudWebVm,
    CloudWafVm,
    PrinterIot,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::MacosLaptop => "macos-laptop",
            Role::WindowsDesktop => "windows-desktop",
            Role::LinuxServer => "linux-server",
            Role::CloudWebVm => "cloud-web-vm",
            Role::CloudWafVm => "cloud-waf-vm",
            Role::PrinterIot => "printer-iot",
        }
    }
}

/// `count` devices named `NAME-1` … `NAME-count`, numbered from `.10` of `subnet`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceGroup {
    pub name: Spanned<String>,
    pub role: Role,
    pub count: Spanned<u32>,
    pub subnet: Spanned<Cidr>,
    /// Optional IPv6 subnet: the devices are dual-stack and prefer IPv6 where sites offer it.
    #[serde(default)]
    pub subnet6: Option<Spanned<Cidr>>,
}

/// First host number used in each device subnet (.1 is the gateway, .2 the resolver).
pub const FIRST_HOST: u32 = 10;

/// A CI gate for this scenario: on one model's scores (`model:` with the bounds below) or on
/// the replay of the detectors' responses (`response:`), one or the other per entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    #[serde(default)]
    pub model: Option<Spanned<String>>,
    #[serde(default)]
    pub min_recall: Option<f64>,
    /// Upper bound on recall: for comparison baselines that a scenario is built to evade.
    #[serde(default)]
    pub max_recall: Option<f64>,
    #[serde(default)]
    pub min_precision: Option<f64>,
    #[serde(default)]
    pub max_false_alerts_per_device_day: Option<f64>,
    /// Upper bound on the median time to detect over the scenario's attacks.
    #[serde(default)]
    pub max_time_to_detect: Option<Duration>,
    #[serde(default)]
    pub response: Option<Spanned<ResponseExpectation>>,
}

impl Expectation {
    /// The model bounds this entry sets, by key.
    fn model_bounds(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        for (set, key) in [
            (self.min_recall.is_some(), "min_recall"),
            (self.max_recall.is_some(), "max_recall"),
            (self.min_precision.is_some(), "min_precision"),
            (
                self.max_false_alerts_per_device_day.is_some(),
                "max_false_alerts_per_device_day",
            ),
            (self.max_time_to_detect.is_some(), "max_time_to_detect"),
        ] {
            if set {
                keys.push(key);
            }
        }
        keys
    }
}

/// A CI gate on the response replay: how much attack traffic the responses would have stopped,
/// and how many benign connections they would have cut.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseExpectation {
    /// Lower bound on prevented / attack bytes.
    #[serde(default)]
    pub min_prevented_fraction: Option<Spanned<f64>>,
    #[serde(default)]
    pub max_benign_connections_blocked: Option<u64>,
}

/// One problem in a scenario file, located precisely.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
    /// Dotted path of the offending key, e.g. `devices.count`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, "`{}`: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

/// All the problems found in one file.
#[derive(Debug)]
pub struct ScenarioErrors(pub Vec<ScenarioError>);

impl fmt::Display for ScenarioErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioErrors {}

/// A scenario that parsed and validated, with its source file.
#[derive(Clone, Debug)]
pub struct LoadedScenario {
    pub path: PathBuf,
    pub name: String,
    pub scenario: Scenario,
}

/// Scenario files larger than this are refused before parsing: they are hostile or a mistake.
const MAX_SCENARIO_BYTES: u64 = 4 << 20;

impl LoadedScenario {
    /// Reads, parses and validates one scenario file.
    pub fn load(path: &Path) -> Result<LoadedScenario, ScenarioErrors> {
        let err = |message: String| {
            ScenarioErrors(vec![ScenarioError {
                file: path.to_owned(),
                line: 0,
                column: 0,
                key: String::new(),
                message,
            }])
        };
        let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read: {e}")))?;
        if meta.len() > MAX_SCENARIO_BYTES {
            return Err(err(format!(
                "file is {} bytes; scenario files are limited to {MAX_SCENARIO_BYTES}",
                meta.len()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        Self::parse(path, &text)
    }

    /// Parses and validates scenario text; `path` is used in messages and for the default name.
    pub fn parse(path: &Path, text: &str) -> Result<LoadedScenario, ScenarioErrors> {
        let scenario: Scenario = serde_saphyr::from_str(text).map_err(|e| {
            let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
            ScenarioErrors(vec![ScenarioError {
                file: path.to_owned(),
                line,
                column,
                key: key_path(text, line, column),
                message: first_message(&e.to_string()),
            }])
        })?;
        let name = scenario.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "scenario".into())
        });
        let loaded = LoadedScenario {
            path: path.to_owned(),
            name,
            scenario,
        };
        let errors = loaded.validate(text);
        if errors.is_empty() {
            Ok(loaded)
        } else {
            Err(ScenarioErrors(errors))
        }
    }

    /// Cross-field checks that the schema alone cannot express.
    fn validate(&self, text: &str) -> Vec<ScenarioError> {
        let s = &self.scenario;
        let mut errors = Vec::new();
        let mut at = |line: u64, column: u64, message: String| {
            errors.push(ScenarioError {
                file: self.path.clone(),
                line,
                column,
                key: key_path(text, line, column),
                message,
            });
        };
        let loc = |l: &serde_saphyr::Location| (l.line(), l.column());

        if let Some(n) = &s.name
            && !valid_name(n)
        {
            at(
                1,
                1,
                format!("name `{n}` must be 1-64 characters of a-z, 0-9, `-` or `_`"),
            );
        }
        if s.duration.value.0 == 0 {
            let (l, c) = loc(&s.duration.referenced);
            at(l, c, "duration must be positive".into());
        }
        if let Some(learning) = &s.learning
            && learning.value >= s.duration.value
        {
            let (l, c) = loc(&learning.referenced);
            at(
                l,
                c,
                format!(
                    "learning period {} must be shorter than the duration {}",
                    learning.value, s.duration.value
                ),
            );
        }
        if s.network.internal.is_empty() {
            at(0, 0, "network.internal must list at least one address block".into());
        }
        let internal: Vec<Cidr> = s.network.internal.iter().map(|c| c.value).collect();
        if let Some(dns) = &s.network.dns_server
            && !internal.iter().any(|c| c.contains(dns.value))
        {
            let (l, c) = loc(&dns.referenced);
            at(
                l,
                c,
                format!("dns_server {} is not inside any internal block", dns.value),
            );
        }

        let mut names: BTreeMap<&str, (&DeviceGroup, u32)> = BTreeMap::new();
        let mut subnets: Vec<(Cidr, &str)> = Vec::new();
        for g in &s.devices {
            let (l, c) = loc(&g.name.referenced);
            if !valid_name(&g.name.value) {
                at(
                    l,
                    c,
                    format!(
                        "device group name `{}` must be 1-64 characters of a-z, 0-9, `-` or `_`",
                        g.name.value
                    ),
                );
            }
            if names.insert(&g.name.value, (g, g.count.value)).is_some() {
                at(l, c, format!("device group name `{}` is used twice", g.name.value));
            }
            let (sl, sc) = loc(&g.subnet.referenced);
            let subnet = g.subnet.value;
            if !internal.iter().any(|i| subnet.is_subset_of(i)) {
                at(
                    sl,
                    sc,
                    format!("subnet {subnet} is not inside any network.internal block"),
                );
            }
            if let Some((other, other_name)) = subnets
                .iter()
                .find(|(o, _)| o.is_subset_of(&subnet) || subnet.is_subset_of(o))
            {
                at(
                    sl,
                    sc,
                    format!("subnet {subnet} overlaps {other} of group `{other_name}`"),
                );
            }
            subnets.push((subnet, &g.name.value));
            if let Some(s6) = &g.subnet6 {
                let (l6, c6) = loc(&s6.referenced);
                if !s6.value.addr.is_ipv6() {
                    at(l6, c6, format!("subnet6 {} is not an IPv6 block", s6.value));
                } else if !internal.iter().any(|i| s6.value.is_subset_of(i)) {
                    at(
                        l6,
                        c6,
                        format!("subnet6 {} is not inside any network.internal block", s6.value),
                    );
                } else if s6.value.size() < u128::from(g.count.value) + u128::from(FIRST_HOST) + 1 {
                    at(l6, c6, format!("{} devices do not fit in {}", g.count.value, s6.value));
                }
            }
            if !subnet.addr.is_ipv4() {
                at(sl, sc, format!("subnet {subnet} must be IPv4 (give IPv6 as subnet6)"));
            }
            let (cl, cc) = loc(&g.count.referenced);
            if g.count.value == 0 {
                at(cl, cc, "count must be at least 1".into());
            }
            // Hosts are numbered from FIRST_HOST and the last address is kept free (broadcast).
            if subnet.size() < u128::from(g.count.value) + u128::from(FIRST_HOST) + 1 {
                at(
                    cl,
                    cc,
                    format!(
                        "{} devices do not fit in {subnet} (hosts start at .{FIRST_HOST})",
                        g.count.value
                    ),
                );
            }
        }
        if s.devices.is_empty() {
            at(0, 0, "devices must list at least one device group".into());
        }

        let mut ids = HashSet::new();
        for a in &s.attacks {
            let common = a.common();
            let (l, c) = loc(&common.id.referenced);
            if !valid_name(&common.id.value) {
                at(
                    l,
                    c,
                    format!(
                        "attack id `{}` must be 1-64 characters of a-z, 0-9, `-` or `_`",
                        common.id.value
                    ),
                );
            }
            if !ids.insert(common.id.value.clone()) {
                at(l, c, format!("attack id `{}` is used twice", common.id.value));
            }
            let (sl, sc) = loc(&common.start.referenced);
            if common.start.value.max >= s.duration.value {
                at(
                    sl,
                    sc,
                    format!(
                        "attack start {} is not before the end of the scenario ({})",
                        common.start.value, s.duration.value
                    ),
                );
            }
            let victim = &common.victim;
            let (vl, vc) = loc(&victim.referenced);
            match resolve_device(&names, &victim.value) {
                Err(msg) => at(vl, vc, msg),
                Ok(role) => {
                    if let Some(required) = a.victim_roles()
                        && !required.contains(&role)
                    {
                        let want: Vec<&str> = required.iter().map(|r| r.as_str()).collect();
                        at(
                            vl,
                            vc,
                            format!(
                                "victim `{}` is a {}, but {} needs one of: {}",
                                victim.value,
                                role.as_str(),
                                a.kind(),
                                want.join(", ")
                            ),
                        );
                    }
                }
            }
            for (l, c, msg) in a.validate() {
                at(l, c, msg);
            }
        }

        for entry in &s.expect {
            let e = &entry.value;
            match (&e.model, &e.response) {
                (Some(_), Some(r)) => {
                    let (l, c) = loc(&r.referenced);
                    at(
                        l,
                        c,
                        "an expectation is on one `model` or on the `response`, not both: write two entries".into(),
                    );
                }
                (None, None) => {
                    let (l, c) = loc(&entry.referenced);
                    at(l, c, "an expectation needs `model` (or `response`)".into());
                }
                (Some(model), None) => {
                    for (v, what) in [
                        (e.min_recall, "min_recall"),
                        (e.max_recall, "max_recall"),
                        (e.min_precision, "min_precision"),
                    ] {
                        if let Some(v) = v
                            && !(0.0..=1.0).contains(&v)
                        {
                            let (l, c) = loc(&model.referenced);
                            at(l, c, format!("{what} must be between 0 and 1, got {v}"));
                        }
                    }
                }
                (None, Some(r)) => {
                    let (l, c) = loc(&r.referenced);
                    let stray = e.model_bounds();
                    if !stray.is_empty() {
                        at(
                            l,
                            c,
                            format!(
                                "{} apply to a model's scores: give them in a `model:` entry",
                                stray.join(", ")
                            ),
                        );
                    }
                    let bounds = &r.value;
                    if bounds.min_prevented_fraction.is_none() && bounds.max_benign_connections_blocked.is_none() {
                        at(
                            l,
                            c,
                            "`response` needs min_prevented_fraction and/or max_benign_connections_blocked".into(),
                        );
                    }
                    if let Some(f) = &bounds.min_prevented_fraction
                        && !(0.0..=1.0).contains(&f.value)
                    {
                        let (l, c) = loc(&f.referenced);
                        at(
                            l,
                            c,
                            format!("min_prevented_fraction must be between 0 and 1, got {}", f.value),
                        );
                    }
                }
            }
        }
        errors
    }

    /// Checks that every `expect:` names a model the caller knows.
    pub fn check_models(&self, known: &[&str]) -> Vec<ScenarioError> {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        self.scenario
            .expect
            .iter()
            .filter_map(|e| e.value.model.as_ref())
            .filter(|m| !known.contains(&m.value.as_str()))
            .map(|m| ScenarioError {
                file: self.path.clone(),
                line: m.referenced.line(),
                column: m.referenced.column(),
                key: key_path(&text, m.referenced.line(), m.referenced.column()),
                message: format!("unknown model `{}`; known models: {}", m.value, known.join(", ")),
            })
            .collect()
    }

    /// Number of devices over all groups.
    pub fn device_count(&self) -> u32 {
        self.scenario.devices.iter().map(|g| g.count.value).sum()
    }
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Resolves `group-N` to the group's role.
fn resolve_device(names: &BTreeMap<&str, (&DeviceGroup, u32)>, device: &str) -> Result<Role, String> {
    let known = || {
        names
            .iter()
            .map(|(n, (_, c))| format!("{n}-1..{n}-{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (group, n) = device
        .rsplit_once('-')
        .and_then(|(g, n)| n.parse::<u32>().ok().map(|n| (g, n)))
        .ok_or_else(|| format!("device `{device}` must be written GROUP-N (devices here: {})", known()))?;
    match names.get(group) {
        Some((g, count)) if n >= 1 && n <= *count => Ok(g.role),
        Some(_) | None => Err(format!("device `{device}` does not exist (devices here: {})", known())),
    }
}

/// The error's first line without serde-saphyr's "error: line L column C:" prefix (we print the
/// location ourselves, with the file name).
fn first_message(rendered: &str) -> String {
    let line = rendered.lines().next().unwrap_or("invalid scenario").trim();
    let line = line.strip_prefix("error: ").unwrap_or(line);
    match line.split_once(": ") {
        Some((prefix, rest)) if prefix.starts_with("line ") => rest.to_string(),
        _ => line.to_string(),
    }
}

/// The dotted key path at `line:column` of a block-style YAML document, found from indentation
/// (e.g. `devices.count`). Best effort: used only to make messages easier to act on.
pub fn key_path(text: &str, line: u64, column: u64) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if line == 0 || line as usize > lines.len() {
        return String::new();
    }
    let key_of = |l: &str| -> Option<(usize, String)> {
        let trimmed = l.trim_start();
        let indent = l.len() - trimmed.len();
        let (indent, body) = match trimmed.strip_prefix("- ") {
            Some(rest) => (indent + 2 + (rest.len() - rest.trim_start().len()), rest.trim_start()),
            None => (indent, trimmed),
        };
        if body.starts_with('#') {
            return None;
        }
        let (k, _) = body.split_once(':')?;
        let k = k.trim();
        if k.is_empty() || k.contains(' ') || k.starts_with(['"', '\'', '{', '[']) {
            return None;
        }
        Some((indent, k.to_string()))
    };
    let here = lines[line as usize - 1];
    let mut path = Vec::new();
    let mut limit = match key_of(here) {
        // The error points at this line's key or its value.
        Some((indent, k)) if (column as usize) > indent => {
            path.push(k);
            indent
        }
        _ => here.len() - here.trim_start().len() + 1,
    };
    for l in lines[..line as usize - 1].iter().rev() {
        if let Some((indent, k)) = key_of(l)
            && indent < limit
        {
            path.push(k);
            limit = indent;
            if indent == 0 {
                break;
            }
        }
    }
    path.reverse();
    path.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_follow_indentation() {
        let y =
            "name: a\ndevices:\n  - name: x\n    count: lots\nattacks:\n  - dprk-macos-clickfix:\n      victim: bob\n";
        assert_eq!(key_path(y, 4, 12), "devices.count");
        assert_eq!(key_path(y, 7, 15), "attacks.dprk-macos-clickfix.victim");
        assert_eq!(key_path(y, 1, 1), "name");
    }

    const BASE: &str = "start: 2026-03-02T06:00:00Z\nduration: 1h\nnetwork:\n  internal: [10.0.0.0/16]\n\
        devices:\n  - name: mac\n    role: macos-laptop\n    count: 1\n    subnet: 10.0.1.0/24\nexpect:\n";

    fn errors(expect: &str) -> Vec<String> {
        match LoadedScenario::parse(Path::new("x.yaml"), &format!("{BASE}{expect}")) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn response_expectations() {
        let ok = "  - model: incidents\n    min_recall: 1.0\n  - response:\n      min_prevented_fraction: 0.9\n      \
                  max_benign_connections_blocked: 3\n";
        let sc = LoadedScenario::parse(Path::new("x.yaml"), &format!("{BASE}{ok}")).unwrap();
        let r = sc.scenario.expect[1].value.response.as_ref().unwrap();
        assert_eq!(r.value.min_prevented_fraction.as_ref().map(|f| f.value), Some(0.9));
        assert_eq!(r.value.max_benign_connections_blocked, Some(3));
        assert!(sc.scenario.expect[1].value.model.is_none());

        assert_eq!(
            errors("  - response:\n      min_prevented_fraction: 1.5\n"),
            [
                "x.yaml:12:31: `expect.response.min_prevented_fraction`: min_prevented_fraction must be between 0 and 1, got 1.5"
            ]
        );
        assert_eq!(
            errors("  - response:\n      prevented_fraction: 0.9\n"),
            [
                "x.yaml:12:7: `expect.response.prevented_fraction`: unknown field `prevented_fraction`, expected one of \
              min_prevented_fraction, max_benign_connections_blocked"
            ]
        );
        assert_eq!(
            errors("  - response: {}\n"),
            [
                "x.yaml:11:15: `expect.response`: `response` needs min_prevented_fraction and/or max_benign_connections_blocked"
            ]
        );
        let both = errors("  - model: incidents\n    response:\n      min_prevented_fraction: 0.5\n");
        assert_eq!(both.len(), 1, "{both:?}");
        assert!(both[0].contains("not both: write two entries"), "{both:?}");
        let stray = errors("  - response:\n      min_prevented_fraction: 0.5\n    min_recall: 1.0\n");
        assert_eq!(stray.len(), 1, "{stray:?}");
        assert!(
            stray[0].ends_with("min_recall apply to a model's scores: give them in a `model:` entry"),
            "{stray:?}"
        );
        assert_eq!(
            errors("  - model: ioc-baseline\n    max_recall: 1.5\n"),
            ["x.yaml:11:12: `expect.model`: max_recall must be between 0 and 1, got 1.5"]
        );
        let neither = errors("  - min_recall: 1.0\n");
        assert_eq!(
            neither,
            ["x.yaml:11:5: `expect.min_recall`: an expectation needs `model` (or `response`)"]
        );
    }
}
