//! Simulate, detect and score scenarios; used by the `eval` binary and the integration tests.
#![forbid(unsafe_code)]

pub mod aggregate;
pub mod conn_log;
pub mod incidents;
pub mod jsonl;
pub mod report;
pub mod response;
pub mod run;
pub mod score;
pub mod seeds;
pub mod truth;

use std::path::{Path, PathBuf};

use simulator::scenario::{LoadedScenario, ScenarioError};

/// Scenario files named on the command line: files as given, folders by their `*.yaml`/`*.yml`
/// (sorted, so runs are reproducible).
pub fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("{}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && f.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(format!("{}: no *.yaml scenario files", p.display()));
            }
            files.extend(found);
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            return Err(format!("{}: no such file or folder", p.display()));
        }
    }
    Ok(files)
}

/// Loads and validates every file; returns all scenarios or every error found.
pub fn load_all(files: &[PathBuf]) -> Result<Vec<LoadedScenario>, Vec<ScenarioError>> {
    let mut models = detectors::models::names();
    if !models.contains(&incidents::MODEL) {
        models.push(incidents::MODEL);
    }
    let mut errors = Vec::new();
    let mut ok = Vec::new();
    for f in files {
        match LoadedScenario::load(f) {
            Ok(sc) => {
                errors.extend(sc.check_models(&models));
                ok.push(sc);
            }
            Err(e) => errors.extend(e.0),
        }
    }
    // Two scenarios with one name would overwrite each other's report folder.
    let mut seen: Vec<(&str, &Path)> = Vec::new();
    for sc in &ok {
        if let Some((_, other)) = seen.iter().find(|(n, _)| *n == sc.name) {
            errors.push(ScenarioError {
                file: sc.path.clone(),
                line: 1,
                column: 1,
                key: "name".into(),
                message: format!("scenario name `{}` is also used by {}", sc.name, other.display()),
            });
        }
        seen.push((&sc.name, &sc.path));
    }
    if errors.is_empty() { Ok(ok) } else { Err(errors) }
}
