//! Integration tests for the whole workspace, grouped by what they cover.

mod attacks;
mod common;
mod community_id;
mod decode_paths;
mod detectors_cli;
mod determinism;
mod eval_cli;
mod failed_connects;
mod incidents;
mod labels;
mod office;
mod scenario_errors;
mod snapshot;
mod tshark_oracle;
mod zeek_conformance;
