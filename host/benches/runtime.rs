//! Runtime benchmark: what the sandbox costs. Prints figures; asserts nothing.
//!
//!   cargo bench -p trainhost --bench runtime [-- collectives]  (that part alone)
//!
//! 1. per-call instantiation (fresh store + limits + instance + a trivial call),
//! 2. passing a 1,000,000 × 20 numeric table into a plugin,
//! 3. the same table pass and instantiation under each interruption mode
//!    (epoch deadline, fuel, none), to show what enforcing limits costs,
//! 4. random_forest's fit built natively vs as wasm under each mode: the
//!    sandbox's overhead on a real algorithm.
//!
//! 5. the collective calls of contract 0.4.0 between the instances of one job
//!    (the `team` test plugin): µs per call and GB/s for 1 MiB, against a
//!    host call that does not wait (`size()`) and a native add of 1 MiB.
//!
//! Needs the plugins built: scripts/build-plugins.
// A benchmark, not the service: a failed set-up step may stop it with a panic.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use trainhost::contract::{self, Column, ColumnData, Table};
use trainhost::runtime::{Interruption, Limits, LoadedPlugin, Runtime};

fn plugin_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../build/plugins").join(format!("{name}.wasm"))
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time<R>(runs: usize, mut f: impl FnMut() -> R) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let started = Instant::now();
                std::hint::black_box(f());
                started.elapsed()
            })
            .collect(),
    )
}

fn wide_table(rows: usize, columns: usize) -> Table {
    Table {
        rows: rows as u32,
        columns: (0..columns)
            .map(|c| Column { name: format!("x{c}"), data: ColumnData::Numeric((0..rows).map(|r| (r * (c + 1)) as f64 * 0.5).collect()) })
            .collect(),
    }
}

const LIMITS: Limits = Limits { memory_mib: 2048, time_secs: 600.0, model_mib: 64, log_kib: 64, max_instances: 0 };

fn load(runtime: &std::sync::Arc<Runtime>, name: &str) -> LoadedPlugin {
    runtime.load(&plugin_file(name), None, LIMITS).unwrap_or_else(|e| panic!("{name}: {e} (run scripts/build-plugins)"))
}

/// A two-class problem in the spirit of make_classification: 10 informative
/// gaussian features, 10 noise features, a noisy linear rule.
fn synthetic(rows: usize) -> (Vec<Vec<f64>>, Vec<u32>) {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut gaussian = move || {
        // Box-Muller on a splitmix64 stream.
        let mut next = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        };
        let (u, v) = (next().max(1e-12), next());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let columns: Vec<Vec<f64>> = (0..20).map(|_| (0..rows).map(|_| gaussian()).collect()).collect();
    let labels = (0..rows)
        .map(|r| {
            let score: f64 = (0..10).map(|c| columns[c][r] * (c as f64 - 4.5)).sum::<f64>() + 2.0 * gaussian();
            u32::from(score > 0.0)
        })
        .collect();
    (columns, labels)
}

const FOREST_PARAMS: [(&str, i64); 1] = [("nEstimators", 20)];

fn native_forest_fit(columns: &[Vec<f64>], labels: &[u32]) -> Duration {
    use trainhost_sdk as sdk;
    let info = random_forest::info();
    let params = info
        .params
        .iter()
        .map(|p| {
            let value = match (&p.kind, FOREST_PARAMS.iter().find(|(n, _)| *n == p.name)) {
                (_, Some((_, v))) => sdk::ParamValue::Int(*v),
                (sdk::ParamKind::Int(s), None) => sdk::ParamValue::Int(s.default),
                (sdk::ParamKind::Float(s), None) => sdk::ParamValue::Float(s.default),
                (sdk::ParamKind::Boolean(b), None) => sdk::ParamValue::Boolean(*b),
                (sdk::ParamKind::Choice(c), None) => sdk::ParamValue::Choice(c.default.clone()),
                (sdk::ParamKind::ChoiceOrNumber(c), None) => sdk::ParamValue::Choice(c.default.clone()),
            };
            sdk::Param { name: p.name.clone(), value }
        })
        .collect();
    let request = sdk::TrainRequest {
        task: sdk::Task::Classification,
        train: sdk::LabelledTable {
            features: sdk::Table {
                rows: labels.len() as u32,
                columns: columns.iter().enumerate().map(|(i, c)| sdk::Column { name: format!("x{i}"), data: sdk::ColumnData::Numeric(c.clone()) }).collect(),
            },
            target: Some(sdk::ColumnData::Categorical(sdk::Categorical { codes: labels.to_vec(), levels: vec!["0".into(), "1".into()] })),
        },
        validation: None,
        params,
        seed: 7,
    };
    time(3, || random_forest::train(&request, &mut sdk::NoProgress).expect("native fit"))
}

fn wasm_forest_fit(runtime: &std::sync::Arc<Runtime>, columns: &[Vec<f64>], labels: &[u32]) -> (Duration, usize) {
    use trainhost::contract as c;
    let forest = load(runtime, "random_forest");
    let given: serde_json::Map<String, serde_json::Value> = FOREST_PARAMS.iter().map(|(n, v)| (n.to_string(), serde_json::Value::from(*v))).collect();
    let params = trainhost::runtime::schema::validate(&forest.schema, &given).expect("params");
    let request = c::TrainRequest {
        task: c::Task::Classification,
        train: c::LabelledTable {
            features: c::Table {
                rows: labels.len() as u32,
                columns: columns.iter().enumerate().map(|(i, col)| c::Column { name: format!("x{i}"), data: c::ColumnData::Numeric(col.clone()) }).collect(),
            },
            target: Some(c::ColumnData::Categorical(c::Categorical { codes: labels.to_vec(), levels: vec!["0".into(), "1".into()] })),
        },
        validation: None,
        params,
        seed: 7,
    };
    let mut peak = 0;
    let fit = time(3, || {
        let (result, report) = forest.train(&request, trainhost::runtime::CancelToken::default(), Box::new(trainhost::runtime::Discard));
        peak = report.peak_memory_bytes;
        result.expect("wasm fit")
    });
    (fit, peak)
}

fn main() {
    // `cargo bench -p trainhost --bench runtime -- collectives`: that part alone.
    if std::env::args().skip(1).any(|a| a == "collectives") {
        return collectives();
    }
    // The baseline plugin's "one cluster" model: predict touches every row once.
    let one_cluster_model = b"BSL1\x02".to_vec();
    let table = wide_table(1_000_000, 20);
    let table_bytes = 1_000_000 * 20 * 8;
    println!("{:<10} {:>22} {:>28} {:>12}", "mode", "instantiate+describe", "1M×20 f64 table into plugin", "GB/s");
    let mut epoch_table = Duration::ZERO;
    for (label, mode) in [("epoch", Interruption::Epoch), ("fuel", Interruption::Fuel), ("off", Interruption::Off)] {
        let runtime = Runtime::with_interruption(None, mode).expect("engine");
        let baseline = load(&runtime, "baseline");
        let instantiate = time(200, || baseline.describe().expect("describe"));
        let pass = time(5, || baseline.predict(&one_cluster_model, &table).expect("predict"));
        if mode == Interruption::Epoch {
            epoch_table = pass;
        }
        println!(
            "{label:<10} {:>19.1} µs {:>25.1} ms {:>12.2}",
            instantiate.as_secs_f64() * 1e6,
            pass.as_secs_f64() * 1e3,
            table_bytes as f64 / pass.as_secs_f64() / 1e9
        );
    }
    // The peer for the table pass: copying the same bytes natively once.
    let native_copy = time(5, || {
        table
            .columns
            .iter()
            .map(|c| match &c.data {
                ColumnData::Numeric(v) => v.clone(),
                _ => vec![],
            })
            .collect::<Vec<_>>()
    });
    println!(
        "native clone of the same table: {:.1} ms; passing it into wasm costs {:.1}× a native copy",
        native_copy.as_secs_f64() * 1e3,
        epoch_table.as_secs_f64() / native_copy.as_secs_f64()
    );
    drop(table);

    let rows = 100_000;
    let (columns, labels) = synthetic(rows);
    println!("\nrandom_forest fit, {rows} rows × 20 features, 20 trees, full depth (median of 3):");
    let native = native_forest_fit(&columns, &labels);
    println!("{:<22} {:>9.3} s {:>8}", "native", native.as_secs_f64(), "1.00×");
    for (label, mode) in [("wasm, epoch deadline", Interruption::Epoch), ("wasm, fuel", Interruption::Fuel), ("wasm, no limits", Interruption::Off)] {
        let runtime = Runtime::with_interruption(None, mode).expect("engine");
        let (fit, peak) = wasm_forest_fit(&runtime, &columns, &labels);
        println!(
            "{label:<22} {:>9.3} s {:>7.2}× (peak linear memory {:.0} MiB)",
            fit.as_secs_f64(),
            fit.as_secs_f64() / native.as_secs_f64(),
            peak as f64 / (1u64 << 20) as f64
        );
    }
    collectives();
}

/// Each collective call of `team` timed inside the plugin, by 1, 2 and 4 instances.
fn collectives() {
    let runtime = Runtime::new(None).expect("engine");
    let team = load(&runtime, "test_team");
    let column = Column { name: "x".into(), data: ColumnData::Numeric(vec![1.0; 8]) };
    let request = |calls: i64| contract::TrainRequest {
        task: contract::Task::Clustering,
        train: contract::LabelledTable { features: Table { rows: 8, columns: vec![column.clone()] }, target: None },
        validation: None,
        params: vec![contract::Param { name: "benchCalls".into(), value: contract::ParamValue::Int(calls) }],
        seed: 1,
    };
    let a = vec![1.0f64; 1 << 17];
    let b = vec![2.0f64; 1 << 17];
    let native = time(50, || a.iter().zip(&b).map(|(x, y)| x + y).collect::<Vec<f64>>());
    println!("\ncollectives between the instances of one job (contract 0.4.0), timed in the plugin; 1 MiB = 131,072 f64:");
    println!("{:<10} {:>12} {:>14} {:>14} {:>10} {:>16} {:>10}", "instances", "size() µs", "empty sum µs", "sum 1 MiB µs", "GB/s", "broadcast µs", "GB/s");
    for instances in [1, 2, 4] {
        let (trained, _) = team.train_on(&request(2000), instances, Default::default(), Box::new(trainhost::runtime::Discard));
        let trained = trained.unwrap_or_else(|e| panic!("team with {instances} instances: {e}"));
        let metric = |name: &str| trained.model.metrics.iter().find(|m| m.name == name).map_or(f64::NAN, |m| m.value);
        let (sum, broadcast) = (metric("sum_1mib_us"), metric("broadcast_1mib_us"));
        println!(
            "{instances:<10} {:>12.2} {:>14.2} {:>14.1} {:>10.2} {:>16.1} {:>10.2}",
            metric("size_call_us"),
            metric("empty_sum_us"),
            sum,
            (1 << 20) as f64 / sum / 1e3,
            broadcast,
            (1 << 20) as f64 / broadcast / 1e3
        );
    }
    println!(
        "peer: a native element-wise add of two 1 MiB lists takes {:.1} µs ({:.2} GB/s of output)",
        native.as_secs_f64() * 1e6,
        (1 << 20) as f64 / native.as_secs_f64() / 1e9
    );
}
