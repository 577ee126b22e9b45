//! An uploaded CSV file, from its size check to the encoded table a plugin gets.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A file starting `PAR1` is read as Parquet: that is the other target's.
    if data.starts_with(b"PAR1") {
        return;
    }
    trainhost_fuzz::ingest(data);
});
