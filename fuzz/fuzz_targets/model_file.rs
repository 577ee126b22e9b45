//! A model file as `POST /jobs/{id}/predict` and the CLI's `predict` read it:
//! the host's header (magic, length, JSON with the encoding), then the
//! encoding applied to a table, as a prediction on that table does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polars::prelude::{Column, DataFrame};
use trainhost::training::ModelArtifact;

fn table() -> DataFrame {
    let columns = vec![
        Column::new("x".into(), [Some(1.5), None, Some(-2.0)]),
        Column::new("kind".into(), [Some("a"), Some("b"), None]),
        Column::new("n".into(), [Some(1i64), Some(2), Some(3)]),
    ];
    DataFrame::new(3, columns).expect("three columns of three rows")
}

fuzz_target!(|data: &[u8]| {
    let Ok(artifact) = ModelArtifact::from_bytes(data) else { return };
    let df = table();
    let encoding = &artifact.header.encoding;
    if encoding.check_prediction_table(&df).is_ok() {
        if let Ok(encoded) = encoding.encode(&df, false) {
            let _ = encoding.to_contract(&encoded);
        }
    }
    let _ = encoding.class_labels();
    let _ = artifact.to_bytes();
});
