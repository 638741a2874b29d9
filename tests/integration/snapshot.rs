//! The summary table of a small fixed-seed run, as a reviewed snapshot: any change in what the
//! simulator writes or the models find shows up here as a diff to accept or fix.

use simulator::scenario::LoadedScenario;

use crate::common::{fixture, scratch};

#[test]
fn small_scenarios_summary_table() {
    let dir = scratch("snapshot");
    let opts = eval::run::RunOptions {
        thresholds: Default::default(),
        seed_folders: false,
        discard_captures: false,
    };
    let results: Vec<_> = ["small-dprk.yaml", "small-benign.yaml"]
        .iter()
        .map(|f| eval::run::run(&LoadedScenario::load(&fixture(f)).unwrap(), None, &dir, &opts).unwrap())
        .collect();
    insta::assert_snapshot!(eval::report::summary_table(&results));
}
