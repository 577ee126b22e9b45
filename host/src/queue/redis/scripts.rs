//! The Lua scripts of the Redis broker: one `.lua` file each, next to this
//! one, with `common.lua` (the shared helpers) prepended at compile time.
//! Each file opens with a header naming its KEYS and ARGV and what it returns.
//!
//! Owns loading the scripts. It must not build what they are given (the
//! broker and `record` do), nor add logic to them.

use redis::Script;

/// A script of this directory with the shared helpers before it.
macro_rules! lua {
    ($file:literal) => {
        Script::new(concat!(include_str!("common.lua"), "\n", include_str!($file)))
    };
}

pub(super) struct Scripts {
    pub submit: Script,
    pub claim_next: Script,
    pub claim: Script,
    pub emit: Script,
    pub end_run: Script,
    pub cancel: Script,
    pub heartbeat: Script,
    pub dead_runs: Script,
    pub reap_run: Script,
    pub release_claiming: Script,
    pub reserve_job: Script,
    pub account_usage: Script,
    pub reserve_bytes: Script,
    pub revoke_tokens: Script,
}

impl Scripts {
    pub fn load() -> Scripts {
        Scripts {
            submit: lua!("submit.lua"),
            claim_next: lua!("claim_next.lua"),
            claim: lua!("claim.lua"),
            emit: lua!("emit.lua"),
            end_run: lua!("end_run.lua"),
            cancel: lua!("cancel.lua"),
            heartbeat: lua!("heartbeat.lua"),
            dead_runs: lua!("dead_runs.lua"),
            reap_run: lua!("reap_run.lua"),
            release_claiming: lua!("release_claiming.lua"),
            reserve_job: lua!("reserve_job.lua"),
            account_usage: lua!("account_usage.lua"),
            reserve_bytes: lua!("reserve_bytes.lua"),
            revoke_tokens: lua!("revoke_tokens.lua"),
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every script says what it takes and gives before its first line of code.
    #[test]
    fn each_script_opens_with_its_keys_argv_and_reply() {
        let scripts = [
            include_str!("submit.lua"),
            include_str!("claim_next.lua"),
            include_str!("claim.lua"),
            include_str!("emit.lua"),
            include_str!("end_run.lua"),
            include_str!("cancel.lua"),
            include_str!("heartbeat.lua"),
            include_str!("dead_runs.lua"),
            include_str!("reap_run.lua"),
            include_str!("release_claiming.lua"),
            include_str!("reserve_job.lua"),
            include_str!("account_usage.lua"),
            include_str!("reserve_bytes.lua"),
            include_str!("revoke_tokens.lua"),
        ];
        for script in scripts {
            let header: Vec<&str> = script.lines().take_while(|line| line.starts_with("--")).collect();
            let says = |word: &str| header.iter().any(|line| line.starts_with(&format!("-- {word}")));
            assert!(says("KEYS:") && says("ARGV:") && says("Returns"), "header missing in:\n{script}");
        }
    }
}
