//! What the fuzz targets share: a table file to hand the host's readers, the
//! small limits they read it under, and the bundled plugins' schemas in the
//! host's own types (so a request is validated exactly as the API does it).
//!
//! Owns nothing of the service: it only calls its public functions.

#![cfg(feature = "host")]

use std::io::Write;
use std::path::PathBuf;

use trainhost::config::TableLimits;
use trainhost::contract;
use trainhost::data::roles::ColumnChoices;
use trainhost::runtime::schema::PluginSchema;

/// Limits far below the defaults, so a hostile file that the size check lets
/// through cannot take the fuzzer's memory (its RSS limit is 2 GiB).
pub const LIMITS: TableLimits = TableLimits { max_table_cells: 200_000, max_table_mib: 64, max_classes: 100 };

/// Writes `bytes` to this process's scratch file (in memory when /dev/shm exists)
/// and returns its path: the host reads tables from files, as uploads are.
pub fn table_file(bytes: &[u8]) -> PathBuf {
    let dir = if std::path::Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let path = dir.join(format!("trainhost-fuzz-{}.table", std::process::id()));
    let mut file = std::fs::File::create(&path).expect("scratch file");
    file.write_all(bytes).expect("scratch write");
    path
}

/// libfuzzer-sys aborts in its panic hook, before any unwinding, so a panic the
/// host contains on purpose (`data::ingest::contain_reader_panic`, around
/// polars' readers) would count as a crash. With the default hook back, a
/// contained panic is a refusal, and one that escapes still aborts: libfuzzer-sys
/// catches it at the top of each input.
fn let_panics_unwind() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = std::panic::take_hook();
    });
}

/// A table as an upload goes through it: measured and refused past the
/// limits, decoded, profiled for the record, then encoded as a worker would.
pub fn ingest(bytes: &[u8]) {
    let_panics_unwind();
    let path = table_file(bytes);
    let Ok(df) = trainhost::data::read_table_within(&path, &LIMITS) else { return };
    let profile = trainhost::data::ingest::profile(&df, 10);
    assert_eq!(profile.rows, df.height());
    assert!(profile.preview.len() <= 10);
    if let Ok(encoding) = trainhost::data::Encoding::fit(&df, None, contract::Task::Clustering, &ColumnChoices::default()) {
        let encoded = encoding.encode(&df, false).expect("a table encodes with the encoding fitted on it");
        assert_eq!(encoded.rows, df.height());
        let _ = encoding.to_contract(&encoded);
    }
    // A target column as a classification job would pick it: the last one.
    if let Some(last) = df.get_column_names().last().map(|n| n.to_string()) {
        if let Ok(encoding) = trainhost::data::Encoding::fit(&df, Some(&last), contract::Task::Classification, &ColumnChoices::default()) {
            let _ = encoding.encode(&df, true);
        }
    }
}

/// The bundled plugins' schemas as the host holds them after `describe()`.
pub fn bundled_schemas() -> Vec<PluginSchema> {
    [random_forest::info(), kmodes::info(), baseline::info()]
        .iter()
        .map(|info| PluginSchema::from_info(&to_host(info)).expect("a bundled schema is valid"))
        .collect()
}

fn to_host(info: &trainhost_sdk::PluginInfo) -> contract::PluginInfo {
    use trainhost_sdk::ParamKind as G;
    let kind = |k: &G| match k {
        G::Int(s) => contract::ParamKind::Int(contract::IntSpec { default: s.default, min: s.min, max: s.max }),
        G::Float(s) => contract::ParamKind::Float(contract::FloatSpec { default: s.default, min: s.min, max: s.max }),
        G::Boolean(b) => contract::ParamKind::Boolean(*b),
        G::Choice(s) => contract::ParamKind::Choice(contract::ChoiceSpec { default: s.default.clone(), choices: s.choices.clone() }),
        G::ChoiceOrNumber(s) => {
            contract::ParamKind::ChoiceOrNumber(contract::ChoiceOrNumberSpec { default: s.default.clone(), choices: s.choices.clone(), min: s.min, max: s.max })
        }
    };
    let task = |t: &trainhost_sdk::Task| match t {
        trainhost_sdk::Task::Classification => contract::Task::Classification,
        trainhost_sdk::Task::Regression => contract::Task::Regression,
        trainhost_sdk::Task::Clustering => contract::Task::Clustering,
    };
    contract::PluginInfo {
        name: info.name.clone(),
        version: info.version.clone(),
        description: info.description.clone(),
        tasks: info.tasks.iter().map(task).collect(),
        params: info.params.iter().map(|p| contract::ParamSpec { name: p.name.clone(), help: p.help.clone(), kind: kind(&p.kind) }).collect(),
    }
}

/// The same parameters in the plugins' own types, to hand them to a plugin natively.
pub fn to_guest(params: &[contract::Param]) -> Vec<trainhost_sdk::Param> {
    use contract::ParamValue as H;
    use trainhost_sdk::ParamValue as G;
    params
        .iter()
        .map(|p| trainhost_sdk::Param {
            name: p.name.clone(),
            value: match &p.value {
                H::Int(v) => G::Int(*v),
                H::Float(v) => G::Float(*v),
                H::Boolean(v) => G::Boolean(*v),
                H::Choice(v) => G::Choice(v.clone()),
            },
        })
        .collect()
}
