//! An uploaded Parquet file, from the footer's size figures to the encoded table.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The format is told by the first bytes: every input here is Parquet.
    let mut file = b"PAR1".to_vec();
    file.extend_from_slice(data.strip_prefix(b"PAR1").unwrap_or(data));
    trainhost_fuzz::ingest(&file);
});
