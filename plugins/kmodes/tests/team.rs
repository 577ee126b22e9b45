//! kmodes' restarts shared by a team of instances (contract 0.4.0), here
//! threads with the SDK's stand-in for the host's collectives: the model and
//! the metrics of one instance, for 1 to 4 instances and more than restarts.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use trainhost_sdk::team::Threads;
use trainhost_sdk::*;

#[test]
fn a_team_keeps_the_run_one_instance_keeps() {
    let (table, _) = planted(1500, 10, 5, 4, 0.5, 2, 3);
    for overrides in [vec![("nClusters", int(4)), ("nInit", int(7))], vec![("nClusters", int(4)), ("nInit", int(3)), ("init", choice("random"))]] {
        let request = request(table.clone(), 9, &overrides);
        let alone = kmodes::train(&request, &mut NoProgress).unwrap();
        for size in [1, 2, 3, 4, 5] {
            let team = Threads::run(size, |team| kmodes::train_in(&request, &mut NoProgress, team).unwrap()).swap_remove(0);
            assert!(team.model == alone.model, "{size} instances kept another run ({overrides:?})");
            assert_eq!(format!("{:?}", team.metrics), format!("{:?}", alone.metrics), "{size} instances");
        }
    }
}
