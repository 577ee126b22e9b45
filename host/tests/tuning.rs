//! Contract 0.5.0's suggested search spaces end to end: a plugin's
//! `suggest-space` answer reaches `GET /plugins` as each parameter's
//! `tunable`, and plugins of the older contracts still load, suggesting
//! nothing. Needs the plugins built by `scripts/build-plugins`.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};
use trainhost::runtime::{Limits, Runtime};

use common::*;

const LIMITS: Limits = Limits { memory_mib: 256, time_secs: 20.0, model_mib: 8, log_kib: 64, max_instances: 0 };

fn runtime() -> Arc<Runtime> {
    Runtime::new(Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compile-cache"))).expect("engine")
}

/// `GET /plugins`'s entry for `name`'s parameter `param`.
fn param<'a>(plugins: &'a Value, name: &str, param: &str) -> &'a Value {
    let plugin = plugins["data"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{name} is not listed: {plugins}"));
    plugin["params"].as_array().unwrap().iter().find(|p| p["name"] == param).unwrap_or_else(|| panic!("{name} has no {param}"))
}

#[tokio::test]
async fn a_0_5_0_plugins_suggested_space_reaches_get_plugins_and_older_plugins_show_none() {
    let dir = temp_dir();
    let server = Process::serve(&Setup::embedded(dir.path()), &[]);
    wait_ready(&server.url).await;
    let (status, plugins) = get_json(&server.url, "/plugins").await;
    assert_eq!(status, 200, "{plugins}");

    let trees = param(&plugins, "random_forest", "nEstimators");
    assert_eq!(
        trees["tunable"],
        json!({"classification": {"min": 50.0, "max": 500.0, "scale": "log"}, "regression": {"min": 50.0, "max": 500.0, "scale": "log"}})
    );
    assert_eq!(param(&plugins, "random_forest", "maxDepth")["tunable"]["classification"], json!({"values": [0, 8, 16, 32]}));
    assert_eq!(
        param(&plugins, "random_forest", "criterion")["tunable"],
        json!({"classification": {"values": ["gini", "entropy"]}}),
        "by task: regression has one criterion"
    );
    assert_eq!(param(&plugins, "random_forest", "maxFeatures")["tunable"]["regression"]["values"][0], "all");
    assert!(param(&plugins, "random_forest", "maxBins").get("tunable").is_none(), "a parameter the plugin does not name has none");
    assert_eq!(param(&plugins, "kmodes", "nClusters")["tunable"], json!({"clustering": {"min": 2.0, "max": 32.0, "scale": "log"}}));

    // baseline speaks 0.3.0 and test_slow was built without the tuning feature: neither suggests anything.
    for name in ["baseline", "slow"] {
        let plugin = plugins["data"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap();
        assert!(plugin["params"].as_array().unwrap().iter().all(|p| p.get("tunable").is_none()), "{plugin}");
    }

    // How each trains in parallel (gbdt's shards are checked below): the forest and kmodes on copies, baseline alone.
    let parallel = |name: &str| plugins["data"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap()["parallel"].clone();
    assert_eq!(parallel("random_forest")["rows"], "copy");
    assert_eq!(parallel("kmodes")["rows"], "copy");
    assert!(parallel("random_forest")["max_instances"].as_u64().is_some_and(|n| n >= 2), "{}", parallel("random_forest"));
    assert_eq!(parallel("baseline"), Value::Null);
}

#[test]
fn gbdt_suggests_its_space_for_both_tasks() {
    let gbdt = runtime().load(&plugin_file("gbdt"), None, LIMITS).unwrap();
    let wire = serde_json::to_value(&gbdt.schema.params).unwrap();
    let tunable = |name: &str| wire.as_array().unwrap().iter().find(|p| p["name"] == name).unwrap()["tunable"].clone();
    for task in ["classification", "regression"] {
        assert_eq!(tunable("learningRate")[task], json!({"min": 0.01, "max": 0.3, "scale": "log"}));
        assert_eq!(tunable("numLeaves")[task], json!({"min": 8.0, "max": 255.0, "scale": "log"}));
        assert_eq!(tunable("minDataInLeaf")[task], json!({"min": 5.0, "max": 100.0, "scale": "log"}));
        assert_eq!(tunable("featureFraction")[task], json!({"min": 0.5, "max": 1.0, "scale": "linear"}));
    }
    assert_eq!(tunable("nEstimators"), Value::Null, "rounds are the budget successive halving spends, not a suggestion");
    let parallelism = gbdt.parallelism.expect("gbdt trains on row shards (contract 0.4.0, kept in 0.5.0)");
    assert_eq!(parallelism.rows, trainhost::runtime::parallel::Rows::Shard);
}

#[test]
fn plugins_of_the_older_contracts_still_load_and_suggest_nothing() {
    let runtime = runtime();
    // The fixtures built without the SDK (0.1.0, 0.2.0), an SDK plugin of 0.3.0 and one of 0.4.0.
    for (name, version, has_params) in
        [("test_contract_v010", "0.1.0", false), ("test_contract_v020", "0.2.0", false), ("linear", "0.3.0", true), ("test_team", "0.3.0", true)]
    {
        let plugin = runtime.load(&plugin_file(name), None, LIMITS).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(plugin.contract.as_str(), version, "{name}");
        assert_eq!(!plugin.schema.params.is_empty(), has_params, "{name}");
        assert!(plugin.schema.params.iter().all(|p| p.tunable.is_empty()), "{name}");
        let wire = serde_json::to_string(&plugin.schema).unwrap();
        assert!(!wire.contains("tunable"), "{name}: {wire}");
    }
}

#[test]
fn the_released_contracts_are_untouched_copies_in_0_4_0s_and_0_5_0s_deps() {
    let wit = workspace().join("wit");
    let read = |path: &str| std::fs::read_to_string(wit.join(path)).unwrap();
    for deps in ["v0.4/deps", "v0.5/deps"] {
        assert_eq!(read(&format!("{deps}/plugin-0.1.0.wit")), read("plugin.wit"), "{deps}");
        assert_eq!(read(&format!("{deps}/plugin-0.2.0.wit")), read("v0.2/plugin.wit"), "{deps}");
        assert_eq!(read(&format!("{deps}/plugin-0.3.0.wit")), read("v0.3/plugin.wit"), "{deps}");
    }
    assert_eq!(read("v0.5/deps/plugin-0.4.0.wit"), read("v0.4/plugin.wit"));
    assert!(read("v0.5/plugin.wit").contains("package trainhost:plugin@0.5.0;"));
}
