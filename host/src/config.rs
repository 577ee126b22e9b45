//! The one configuration struct: a TOML file with every field overridable by
//! environment (`TRAINHOST_<SECTION>_<FIELD>`, plus `REDIS_URL`).
//!
//! Owns parsing, defaults and path resolution. It must not start anything.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub broker: BrokerConfig,
    pub storage: StorageConfig,
    pub workers: WorkersConfig,
    /// Limits for plugins that do not set their own.
    pub default_limits: Limits,
    /// Bounds on the tables the host itself decodes.
    pub limits: TableLimits,
    /// Who may call the API: tokens (the default) or nobody checked.
    pub auth: AuthConfig,
    /// Default quotas of members (admins have none unless set per user).
    pub quotas: QuotaConfig,
    /// Where plugins are looked for when `plugins` is empty: every `*.wasm`
    /// there (except `test_*`) is enabled with the default limits.
    pub plugin_dir: PathBuf,
    pub plugins: Vec<PluginConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub bind: String,
    /// Other origins (`scheme://host[:port]`) whose pages may call the API
    /// (CORS, and state-changing requests that carry their `Origin`); "*": any.
    pub cors_origins: Vec<String>,
    pub upload_limit_mib: u64,
    /// `Host` values the server answers (`name`: any port, `name:port`, "*":
    /// any). Empty: the bind address and localhost, 127.0.0.1 and [::1], with
    /// the bound port. Guards a local server against DNS rebinding.
    pub allowed_hosts: Vec<String>,
    /// A request's head (request line and headers) must arrive within this
    /// long of its first byte.
    pub header_read_timeout_secs: f64,
    /// A connection that moves no bytes this long while the server waits on
    /// the client (between requests, or for a request body) is closed.
    /// WebSockets are not: they close when their job ends or their client is slow.
    pub idle_timeout_secs: f64,
    /// Connections open at once (WebSockets included); more wait to be accepted.
    pub max_connections: usize,
    /// With `tls_key`: serve HTTPS and WSS (rustls) with this certificate
    /// chain, a PEM file (the server's certificate first). Empty: plain HTTP.
    pub tls_cert: PathBuf,
    /// The private key of `tls_cert`, a PEM file (PKCS#8, PKCS#1 or SEC1).
    pub tls_key: PathBuf,
    /// Under TLS, a connection must finish its handshake within this long of
    /// being accepted (a client that never sends its hello is dropped).
    pub tls_handshake_timeout_secs: f64,
    /// Under TLS, the `Strict-Transport-Security` max-age sent with every
    /// response (browsers then use only HTTPS for this host name, any port); 0: not sent.
    pub hsts_max_age_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// Empty: the embedded in-process broker. Otherwise a `redis://` URL.
    pub redis_url: String,
    /// Prefix of every Redis key, so several deployments (or tests) share one server.
    pub key_prefix: String,
    /// A request to Redis that takes longer fails (503 `broker_unavailable`)
    /// instead of hanging while Redis is down. Workers' blocking waits for a job are not bounded by it.
    pub timeout_ms: u64,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig { redis_url: String::new(), key_prefix: String::new(), timeout_ms: 2000 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Datasets, models, job records of the embedded broker, compile cache.
    pub data_dir: PathBuf,
    /// Empty: datasets and models live under `data_dir`. Otherwise an
    /// object-store URL shared by several machines: `s3://bucket/prefix`
    /// (settings from the `AWS_*` variables), `file:///dir` or `memory://`.
    pub url: String,
    /// With `url`: local copies of datasets kept on this machine (MiB) before
    /// the least recently used are deleted.
    pub cache_mib: u64,
    /// The embedded broker keeps the events of a finished job this many days
    /// (the job's record, and so its terminal event, stays). Redis keeps a week.
    pub event_retention_days: f64,
    /// Where compiled plugins are kept across restarts; empty: `data_dir/compile-cache`.
    /// Several processes (and data directories) may share one: entries are named by
    /// the plugin's sha256 and the engine's settings and written atomically, so a large
    /// component (a Python plugin carries CPython) is compiled once per machine.
    pub compile_cache_dir: PathBuf,
}

impl StorageConfig {
    /// The compile cache's directory (the one home of this path).
    pub fn compile_cache(&self) -> PathBuf {
        if self.compile_cache_dir.as_os_str().is_empty() {
            self.data_dir.join("compile-cache")
        } else {
            self.compile_cache_dir.clone()
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WorkersConfig {
    /// Jobs trained at once per process; 0 means one per core.
    pub concurrency: usize,
    /// How often a worker says it is alive.
    pub heartbeat_secs: f64,
    /// A worker silent this long is presumed dead: its jobs are re-queued.
    pub dead_after_secs: f64,
    /// A job whose worker died this many times fails.
    pub max_attempts: u32,
    /// On shutdown, running jobs get this long to finish before they are re-queued.
    pub shutdown_grace_secs: f64,
    /// How often a running job's cancel flag is read besides when a cancel
    /// is announced (the backstop for an announcement lost with a pub/sub link).
    pub cancel_poll_secs: f64,
}

impl Default for WorkersConfig {
    fn default() -> Self {
        WorkersConfig { concurrency: 0, heartbeat_secs: 1.0, dead_after_secs: 10.0, max_attempts: 3, shutdown_grace_secs: 30.0, cancel_poll_secs: 0.2 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    pub name: String,
    pub path: PathBuf,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Refuse the file unless its sha256 (hex) is this.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Overrides of the default limits; unset fields keep the defaults.
    #[serde(default)]
    pub limits: Option<toml::Table>,
}

fn yes() -> bool {
    true
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1:8080".into(),
            cors_origins: vec![],
            upload_limit_mib: 512,
            allowed_hosts: vec![],
            header_read_timeout_secs: 10.0,
            idle_timeout_secs: 60.0,
            max_connections: 4096,
            tls_cert: PathBuf::new(),
            tls_key: PathBuf::new(),
            tls_handshake_timeout_secs: 10.0,
            hsts_max_age_secs: 31_536_000,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("data"),
            url: String::new(),
            cache_mib: 10 * 1024,
            event_retention_days: 7.0,
            compile_cache_dir: PathBuf::new(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig::default(),
            broker: BrokerConfig::default(),
            storage: StorageConfig::default(),
            workers: WorkersConfig::default(),
            default_limits: Limits::default(),
            limits: TableLimits::default(),
            auth: AuthConfig::default(),
            quotas: QuotaConfig::default(),
            plugin_dir: PathBuf::from("build/plugins"),
            plugins: vec![],
        }
    }
}

/// `tokens`: every request names a user by a bearer token (or the web UI's
/// session cookie). `none`: no accounts at all, as before accounts existed
/// (for a trusted single-user machine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    Tokens,
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub mode: AuthMode,
    /// The first admin's token when no admin exists yet; empty: a random one,
    /// printed once and written to `<data_dir>/admin-token`.
    pub bootstrap_token: String,
    /// A token that may read `/metrics` only (for a scraper); empty: admins only.
    pub metrics_token: String,
    /// How long a web UI sign-in lasts.
    pub session_hours: f64,
    /// Failed authentications allowed per client address and minute; more answer 429.
    pub failed_per_minute: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig { mode: AuthMode::Tokens, bootstrap_token: String::new(), metrics_token: String::new(), session_hours: 12.0, failed_per_minute: 20 }
    }
}

/// What a member may hold at once and submit; 0: no limit. Per-user values
/// set through the admin API win.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaConfig {
    /// Queued plus running jobs.
    pub active_jobs: u64,
    /// Datasets stored, all together, in MiB.
    pub dataset_mib: u64,
    /// One upload, in MiB (`server.upload_limit_mib` bounds everyone's).
    pub upload_mib: u64,
    /// Jobs submitted in the last hour.
    pub jobs_per_hour: u64,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        QuotaConfig { active_jobs: 4, dataset_mib: 10 * 1024, upload_mib: 512, jobs_per_hour: 100 }
    }
}

/// Limits an admin sets per plugin in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// All linear memories of one job's store together, in MiB.
    pub memory_mib: u64,
    /// Wall-clock time of one call into the plugin, in seconds.
    pub time_secs: f64,
    /// Largest model a plugin may return, in MiB.
    pub model_mib: u64,
    /// Log text kept per job (log() calls plus stdout/stderr), in KiB.
    pub log_kib: u64,
    /// Most instances one job of a parallel plugin (contract 0.4.0) runs in,
    /// each holding a worker slot; 0: no cap beyond the plugin's own and the
    /// free slots. `memory_mib` and `time_secs` bound the job, all instances together.
    pub max_instances: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { memory_mib: 2048, time_secs: 600.0, model_mib: 256, log_kib: 256, max_instances: 0 }
    }
}

impl Limits {
    pub fn memory_bytes(&self) -> usize {
        (self.memory_mib as usize).saturating_mul(1 << 20)
    }

    pub fn log_bytes(&self) -> usize {
        (self.log_kib as usize).saturating_mul(1 << 10)
    }
}

/// Bounds on a table the host decodes, encodes and splits on its own memory
/// (uploads, jobs, predictions, the CLI): a plugin's `memory_mib` covers only
/// its sandbox. Both are checked before a table is decoded (from the Parquet
/// footer, or a scan of the CSV) and again once it is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TableLimits {
    /// Rows × columns (values, for nested Parquet columns).
    pub max_table_cells: u64,
    /// The decoded table's size in memory, in MiB.
    pub max_table_mib: u64,
    /// Distinct values a classification target may have: past it, a job is
    /// refused at submit (a numeric column chosen as a label by mistake, such as a price).
    pub max_classes: usize,
}

impl Default for TableLimits {
    /// Room for a million rows of 32 columns: training `baseline` on such a table peaked at 1.4 GiB of host memory (scripts/peak_rss.sh).
    fn default() -> Self {
        TableLimits { max_table_cells: 32_000_000, max_table_mib: 1024, max_classes: 100 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
}

/// Where the running config came from, so that a reload reads it the same way.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    /// `--config`; None: `./trainhost.toml` if it exists, else the defaults.
    pub file: Option<PathBuf>,
    /// `serve --bind`, which wins over the file and the environment.
    pub bind: Option<String>,
}

impl ConfigSource {
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut config = Config::load(self.file.as_deref())?;
        if let Some(bind) = &self.bind {
            config.server.bind = bind.clone();
        }
        Ok(config)
    }
}

/// The config the API reads, one `current()` snapshot per request. A reload
/// swaps in a new one whose restart-only sections are the running ones
/// (`Config::with_live_settings_of`), so only `auth`, `quotas` and the plugin
/// settings ever differ between snapshots.
#[derive(Debug, Clone)]
pub struct SharedConfig(std::sync::Arc<parking_lot::RwLock<std::sync::Arc<Config>>>);

impl SharedConfig {
    pub fn new(config: Config) -> SharedConfig {
        SharedConfig(std::sync::Arc::new(parking_lot::RwLock::new(std::sync::Arc::new(config))))
    }

    pub fn current(&self) -> std::sync::Arc<Config> {
        self.0.read().clone()
    }

    pub fn replace(&self, config: Config) {
        *self.0.write() = std::sync::Arc::new(config);
    }
}

/// A plugin to load, with its limits resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginEntry {
    pub name: String,
    pub path: PathBuf,
    pub sha256: Option<String>,
    pub limits: Limits,
}

impl Config {
    /// Reads `path` (or `./trainhost.toml` if it exists, else the defaults),
    /// then applies environment overrides. Relative paths in the file are
    /// taken relative to the file's folder.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let default_file = Path::new("trainhost.toml");
        let file = path.or_else(|| default_file.exists().then_some(default_file));
        let (mut table, base) = match file {
            Some(file) => {
                let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read { path: file.to_path_buf(), source })?;
                let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Parse { path: file.to_path_buf(), message: e.to_string() })?;
                (table, file.parent().map(Path::to_path_buf).unwrap_or_default())
            }
            None => (toml::Table::new(), PathBuf::new()),
        };
        apply_env(&mut table, std::env::vars())?;
        let mut config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse { path: file.map(Path::to_path_buf).unwrap_or_default(), message: e.to_string() })?;
        config.resolve_paths(&base);
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() && !base.as_os_str().is_empty() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut self.storage.data_dir);
        resolve(&mut self.plugin_dir);
        // An empty path means "no TLS": it stays empty.
        for tls_file in [&mut self.server.tls_cert, &mut self.server.tls_key] {
            if !tls_file.as_os_str().is_empty() {
                resolve(tls_file);
            }
        }
        self.plugins.iter_mut().for_each(|p| resolve(&mut p.path));
    }

    /// The enabled plugins with their effective limits.
    pub fn plugin_entries(&self) -> Result<Vec<PluginEntry>, ConfigError> {
        if self.plugins.is_empty() {
            return Ok(self.discovered_plugins());
        }
        self.plugins
            .iter()
            .filter(|p| p.enabled)
            .map(|p| Ok(PluginEntry { name: p.name.clone(), path: p.path.clone(), sha256: p.sha256.clone(), limits: self.limits_for(p)? }))
            .collect()
    }

    fn limits_for(&self, plugin: &PluginConfig) -> Result<Limits, ConfigError> {
        let Some(overrides) = &plugin.limits else { return Ok(self.default_limits) };
        let mut table = toml::Table::try_from(self.default_limits).expect("limits serialize to a table");
        table.extend(overrides.clone());
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse { path: PathBuf::from(format!("plugins.{}.limits", plugin.name)), message: e.to_string() })
    }

    fn discovered_plugins(&self) -> Vec<PluginEntry> {
        let Ok(dir) = std::fs::read_dir(&self.plugin_dir) else { return vec![] };
        let mut entries: Vec<PluginEntry> = dir
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .filter_map(|path| {
                let name = path.file_stem()?.to_str()?.to_string();
                (!name.starts_with("test_")).then(|| PluginEntry { name, path: path.clone(), sha256: None, limits: self.default_limits })
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        entries
    }

    /// The settings that differ in `new` but only take effect on a restart
    /// (everything outside `LIVE` sections, `plugin_dir` and `plugins`), as
    /// `section.field`.
    pub fn restart_only_changes(&self, new: &Config) -> Vec<String> {
        self.changed_fields(new, &RESTART_ONLY).into_iter().map(|(name, _)| name).collect()
    }

    /// The settings of the sections applied on reload (`auth`, `quotas`) that
    /// differ in `new`: `section.field` and `old -> new` (secrets, fields named
    /// `*_token`, only as "changed").
    pub fn live_changes(&self, new: &Config) -> Vec<(String, String)> {
        self.changed_fields(new, &LIVE)
    }

    /// This config with what a reload may change taken from `new`: the `LIVE`
    /// sections, `default_limits`, `plugin_dir` and `plugins`.
    pub fn with_live_settings_of(&self, new: &Config) -> Config {
        Config {
            auth: new.auth.clone(),
            quotas: new.quotas,
            default_limits: new.default_limits,
            plugin_dir: new.plugin_dir.clone(),
            plugins: new.plugins.clone(),
            ..self.clone()
        }
    }

    fn changed_fields(&self, new: &Config, sections: &[&str]) -> Vec<(String, String)> {
        // A value TOML cannot hold (an env override above i64::MAX) compares as absent.
        let table = |c: &Config| toml::Table::try_from(c).unwrap_or_default();
        let (old, new) = (table(self), table(new));
        let mut changed = vec![];
        for section in sections {
            let fields = |t: &toml::Table| t.get(*section).and_then(toml::Value::as_table).cloned().unwrap_or_default();
            let (before, after) = (fields(&old), fields(&new));
            let names: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
            for name in names.into_iter().filter(|n| before.get(*n) != after.get(*n)) {
                let show = |v: Option<&toml::Value>| v.map_or_else(|| "unset".to_string(), toml::Value::to_string);
                let how = if name.ends_with("_token") { "changed".to_string() } else { format!("{} -> {}", show(before.get(name)), show(after.get(name))) };
                changed.push((format!("{section}.{name}"), how));
            }
        }
        changed
    }

    /// How long finished jobs' events are kept (at least a second, at most a century).
    pub fn event_retention(&self) -> std::time::Duration {
        let secs = self.storage.event_retention_days * 86_400.0;
        let secs = if secs.is_finite() { secs.clamp(1.0, 100.0 * 365.0 * 86_400.0) } else { 7.0 * 86_400.0 };
        std::time::Duration::from_secs_f64(secs)
    }

    /// The bound on one request to the broker (at least 50 ms).
    pub fn broker_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.broker.timeout_ms.max(50))
    }

    pub fn worker_count(&self) -> usize {
        match self.workers.concurrency {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
    }
}

/// Sections read once at start: a reload reports their changes as needing a restart.
const RESTART_ONLY: [&str; 5] = ["server", "broker", "storage", "workers", "limits"];

/// Sections a reload applies to the requests that follow it (with the plugins).
const LIVE: [&str; 2] = ["auth", "quotas"];

const SECTIONS: [&str; 8] = ["server", "broker", "storage", "workers", "default_limits", "limits", "auth", "quotas"];

/// `TRAINHOST_SERVER_BIND=0.0.0.0:80` sets `server.bind`; `REDIS_URL` sets
/// `broker.redis_url`; `TRAINHOST_PLUGIN_DIR` sets `plugin_dir`. Values parse
/// as TOML scalars when they can (numbers, booleans), as strings otherwise.
fn apply_env(table: &mut toml::Table, vars: impl Iterator<Item = (String, String)>) -> Result<(), ConfigError> {
    for (var, value) in vars {
        let key = if var == "REDIS_URL" {
            "broker_redis_url".to_string()
        } else if let Some(rest) = var.strip_prefix("TRAINHOST_") {
            rest.to_ascii_lowercase()
        } else {
            continue;
        };
        // Read by the process itself (`--config`, the log filter, `users --url/--token`,
        // the runtime's perf map for profiling), not settings.
        if matches!(key.as_str(), "config" | "log" | "token" | "url") || var == crate::runtime::PERF_MAP_VAR {
            continue;
        }
        let parsed = parse_scalar(&value);
        if key == "plugin_dir" {
            table.insert(key, parsed);
            continue;
        }
        let Some(section) = SECTIONS.iter().find(|s| key.starts_with(&format!("{s}_"))) else {
            return Err(ConfigError::Env { var, message: format!("no such setting; sections are {}", SECTIONS.join(", ")) });
        };
        let field = key[section.len() + 1..].to_string();
        let entry = table.entry(section.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let toml::Value::Table(section_table) = entry else {
            return Err(ConfigError::Env { var, message: format!("`{section}` is not a section in the config file") });
        };
        let value = if field == "cors_origins" || field == "allowed_hosts" {
            toml::Value::Array(value.split(',').map(|o| toml::Value::String(o.trim().into())).collect())
        } else if field.ends_with("_token") {
            // A secret is text, even one that happens to read as a number.
            toml::Value::String(value)
        } else {
            parsed
        };
        section_table.insert(field, value);
    }
    Ok(())
}

fn parse_scalar(value: &str) -> toml::Value {
    if let Ok(i) = value.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    if let Ok(f) = value.parse::<f64>() {
        return toml::Value::Float(f);
    }
    match value {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_env(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut table: toml::Table = toml::from_str(text).unwrap();
        apply_env(&mut table, vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))?;
        toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| ConfigError::Parse { path: "t".into(), message: e.to_string() })
    }

    #[test]
    fn env_overrides_file_values() {
        let config = with_env(
            "[server]\nbind = \"127.0.0.1:1\"\n[workers]\nconcurrency = 3\n",
            &[("TRAINHOST_SERVER_BIND", "0.0.0.0:9000"), ("REDIS_URL", "redis://h/2"), ("TRAINHOST_DEFAULT_LIMITS_MEMORY_MIB", "64"), ("PATH", "/bin")],
        )
        .unwrap();
        assert_eq!(config.server.bind, "0.0.0.0:9000");
        assert_eq!(config.broker.redis_url, "redis://h/2");
        assert_eq!(config.workers.concurrency, 3);
        assert_eq!(config.default_limits.memory_mib, 64);
    }

    #[test]
    fn unknown_env_setting_is_an_error() {
        let err = with_env("", &[("TRAINHOST_SERVR_BIND", "x")]).unwrap_err();
        assert!(err.to_string().contains("sections are"), "{err}");
    }

    #[test]
    fn plugin_limits_override_only_what_they_name() {
        let config = with_env(
            "[default_limits]\ntime_secs = 30.0\n[[plugins]]\nname = \"a\"\npath = \"a.wasm\"\nlimits = { memory_mib = 64 }\n[[plugins]]\nname = \"b\"\npath = \"b.wasm\"\nenabled = false\n",
            &[],
        )
        .unwrap();
        let entries = config.plugin_entries().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].limits.memory_mib, 64);
        assert_eq!(entries[0].limits.time_secs, 30.0);
    }

    #[test]
    fn restart_only_changes_name_the_fields_but_not_plugins() {
        let old = with_env("[server]\nbind = \"127.0.0.1:1\"\n[workers]\nconcurrency = 2\n", &[]).unwrap();
        let new = with_env(
            "[server]\nbind = \"127.0.0.1:2\"\n[workers]\nconcurrency = 2\nmax_attempts = 5\n[default_limits]\nmemory_mib = 64\n[[plugins]]\nname = \"a\"\npath = \"a.wasm\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(old.restart_only_changes(&new), ["server.bind", "workers.max_attempts"]);
        assert!(old.restart_only_changes(&old).is_empty());
    }

    #[test]
    fn auth_and_quotas_change_live_and_secrets_are_not_shown() {
        let old = with_env("[quotas]\nactive_jobs = 1\n[auth]\nmetrics_token = \"old-secret\"\n", &[]).unwrap();
        let new =
            with_env("[server]\nbind = \"127.0.0.1:2\"\n[quotas]\nactive_jobs = 3\n[auth]\nmode = \"none\"\nmetrics_token = \"new-secret\"\n", &[]).unwrap();
        assert_eq!(old.restart_only_changes(&new), ["server.bind"]);
        let live = old.live_changes(&new);
        let shown: Vec<(&str, &str)> = live.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(shown, [("auth.metrics_token", "changed"), ("auth.mode", "\"tokens\" -> \"none\""), ("quotas.active_jobs", "1 -> 3")]);
        let applied = old.with_live_settings_of(&new);
        assert_eq!((applied.auth.mode, applied.quotas.active_jobs), (AuthMode::None, 3));
        assert_eq!(applied.server, old.server, "what needs a restart keeps its running value");
    }

    #[test]
    fn tls_files_are_taken_from_the_config_files_folder_and_empty_stays_empty() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(&file, "[server]\ntls_cert = \"cert.pem\"\n").unwrap();
        let config = Config::load(Some(&file)).unwrap();
        assert_eq!(config.server.tls_cert, dir.path().join("cert.pem"));
        assert!(config.server.tls_key.as_os_str().is_empty());
    }

    #[test]
    fn host_and_origin_lists_split_on_commas_from_the_environment() {
        let config = with_env("", &[("TRAINHOST_SERVER_ALLOWED_HOSTS", "api.example, localhost:9000"), ("TRAINHOST_SERVER_MAX_CONNECTIONS", "8")]).unwrap();
        assert_eq!(config.server.allowed_hosts, ["api.example", "localhost:9000"]);
        assert_eq!(config.server.max_connections, 8);
        assert_eq!(config.server.idle_timeout_secs, 60.0);
    }

    #[test]
    fn retention_and_broker_timeout_read_as_durations() {
        let config = with_env("[storage]\nevent_retention_days = 7\n[broker]\ntimeout_ms = 500\n", &[]).unwrap();
        assert_eq!(config.event_retention(), std::time::Duration::from_secs(7 * 86_400));
        assert_eq!(config.broker_timeout(), std::time::Duration::from_millis(500));
        let defaults = Config::default();
        assert_eq!((defaults.event_retention(), defaults.broker_timeout()), (std::time::Duration::from_secs(7 * 86_400), std::time::Duration::from_secs(2)));
    }

    #[test]
    fn misspelled_field_is_refused() {
        assert!(with_env("[server]\nbnd = \"x\"\n", &[]).is_err());
    }
}
