//! Runtime benchmark: what the sandbox costs. Prints figures; asserts nothing.
//!
//!   cargo bench -p trainhost --bench runtime
//!
//! 1. per-call instantiation (fresh store + limits + instance + a trivial call),
//! 2. passing a 1,000,000 × 20 numeric table into a plugin,
//! 3. the same table pass and instantiation under each interruption mode
//!    (epoch deadline, fuel, none), to show what enforcing limits costs.
//! Needs the plugins built: scripts/build-plugins.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use trainhost::contract::{Column, ColumnData, Table};
use trainhost::runtime::{Interruption, Limits, LoadedPlugin, Runtime};

fn plugin_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../build/plugins").join(format!("{name}.wasm"))
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time<R>(runs: usize, mut f: impl FnMut() -> R) -> Duration {
    median((0..runs).map(|_| {
        let started = Instant::now();
        std::hint::black_box(f());
        started.elapsed()
    }).collect())
}

fn wide_table(rows: usize, columns: usize) -> Table {
    Table {
        rows: rows as u32,
        columns: (0..columns)
            .map(|c| Column { name: format!("x{c}"), data: ColumnData::Numeric((0..rows).map(|r| (r * (c + 1)) as f64 * 0.5).collect()) })
            .collect(),
    }
}

const LIMITS: Limits = Limits { memory_mib: 2048, time_secs: 600.0, model_mib: 64, log_kib: 64 };

fn load(runtime: &std::sync::Arc<Runtime>, name: &str) -> LoadedPlugin {
    runtime.load(&plugin_file(name), None, LIMITS).unwrap_or_else(|e| panic!("{name}: {e} (run scripts/build-plugins)"))
}

fn main() {
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
    let native_copy = time(5, || table.columns.iter().map(|c| match &c.data { ColumnData::Numeric(v) => v.clone(), _ => vec![] }).collect::<Vec<_>>());
    println!(
        "native clone of the same table: {:.1} ms; passing it into wasm costs {:.1}× a native copy",
        native_copy.as_secs_f64() * 1e3,
        epoch_table.as_secs_f64() / native_copy.as_secs_f64()
    );
}
