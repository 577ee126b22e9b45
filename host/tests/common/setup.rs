//! One test deployment's settings, written as its own config file, and its
//! Redis key prefix (deleted at the end, and only it: never FLUSHALL).

use std::path::{Path, PathBuf};

use super::paths::plugin_file;

pub const REDIS: &str = "redis://127.0.0.1:6379";

/// A key prefix no other test uses.
pub fn redis_prefix() -> String {
    format!("trainhost-test-{}", uuid::Uuid::new_v4())
}

/// Deletes every Redis key under `prefix`; returns how many there were.
pub async fn delete_redis_keys(prefix: &str) -> u64 {
    let broker = trainhost::queue::redis::RedisBroker::connect(REDIS, prefix).await.expect("Redis at 127.0.0.1:6379 (scripts/test starts it)");
    broker.delete_all_keys().await.expect("deleting the test's Redis keys")
}

/// Settings of one test deployment.
#[derive(Clone)]
pub struct Setup {
    pub dir: PathBuf,
    /// Some(prefix): the Redis broker under that key prefix; None: embedded.
    pub redis_prefix: Option<String>,
    pub concurrency: usize,
    pub dead_after_secs: f64,
    pub max_attempts: u32,
    pub grace_secs: f64,
    /// `workers.cancel_poll_secs`: how often a running job's cancel flag is read besides when announced.
    pub cancel_poll_secs: f64,
    /// Extra environment of the started processes.
    pub env: Vec<(String, String)>,
}

impl Setup {
    pub fn embedded(dir: &Path) -> Setup {
        Setup {
            dir: dir.to_path_buf(),
            redis_prefix: None,
            concurrency: 2,
            dead_after_secs: 1.5,
            max_attempts: 3,
            grace_secs: 5.0,
            cancel_poll_secs: 0.2,
            env: vec![],
        }
    }

    pub fn redis(dir: &Path) -> Setup {
        Setup { redis_prefix: Some(redis_prefix()), ..Setup::embedded(dir) }
    }

    /// Writes `DIR/trainhost.toml` (data in `DIR/data`) and returns its path.
    pub fn config_path(&self) -> PathBuf {
        let path = self.dir.join("trainhost.toml");
        let broker = match &self.redis_prefix {
            Some(prefix) => format!("redis_url = {REDIS:?}\nkey_prefix = {prefix:?}\n"),
            None => String::new(),
        };
        let text = format!(
            r#"[server]
bind = "127.0.0.1:0"
upload_limit_mib = 1
[broker]
{broker}
[storage]
data_dir = {data:?}
[workers]
concurrency = {concurrency}
heartbeat_secs = 0.2
dead_after_secs = {dead}
max_attempts = {attempts}
shutdown_grace_secs = {grace}
cancel_poll_secs = {poll}
[default_limits]
memory_mib = 256
time_secs = 30.0
[[plugins]]
name = "baseline"
path = {baseline:?}
[[plugins]]
name = "slow"
path = {slow:?}
[[plugins]]
name = "endless_loop"
path = {endless:?}
limits = {{ time_secs = 3.0 }}
[[plugins]]
name = "panic"
path = {panic:?}
enabled = false
[[plugins]]
name = "kmodes"
path = {kmodes:?}
[[plugins]]
name = "random_forest"
path = {forest:?}
"#,
            data = self.dir.join("data"),
            concurrency = self.concurrency,
            dead = self.dead_after_secs,
            attempts = self.max_attempts,
            grace = self.grace_secs,
            poll = self.cancel_poll_secs,
            baseline = plugin_file("baseline"),
            slow = plugin_file("test_slow"),
            endless = plugin_file("test_endless_loop"),
            panic = plugin_file("test_panic"),
            kmodes = plugin_file("kmodes"),
            forest = plugin_file("random_forest"),
        );
        std::fs::write(&path, text).expect("writing the test config");
        path
    }

    /// Deletes this test's Redis keys (and only them).
    pub async fn cleanup(&self) {
        if let Some(prefix) = &self.redis_prefix {
            delete_redis_keys(prefix).await;
        }
    }
}
