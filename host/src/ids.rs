//! Identities and timestamps of stored records (jobs, datasets): ids are
//! UUIDs, times Unix milliseconds.
//!
//! Owns what a valid id is, so that nothing else ever reaches a Redis key or a
//! file path. It must not know what the records are.

/// A new record id (a random UUID).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Job and dataset ids are UUIDs in their 36-character form; anything else is
/// refused before it reaches a key or a path.
pub fn is_valid_id(id: &str) -> bool {
    id.len() == 36 && uuid::Uuid::try_parse(id).is_ok()
}

/// Now, in Unix milliseconds (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hyphenated_uuids_are_ids() {
        assert!(is_valid_id(&new_id()));
        for bad in ["", "..", "../etc/passwd", "0123456789abcdef0123456789abcdef", "{01234567-89ab-cdef-0123-456789abcdef}"] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
    }
}
