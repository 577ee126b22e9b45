//! Starting and stopping the service: `trainhost serve` (HTTP API plus a
//! worker pool in one process, or API only) and `trainhost worker` (workers
//! only). Loads plugins, connects the broker and storage, handles SIGINT and
//! SIGTERM: the API stops accepting, the workers finish or re-queue their jobs;
//! and SIGHUP: the config is read again, a new plugin registry swapped in, and
//! the `auth` and `quotas` sections applied to the requests that follow.
//! With `server.tls_cert`/`tls_key` the API speaks HTTPS (`api::tls`).
//!
//! At start, what a crash left behind goes (`storage::cleanup`): temporary
//! uploads and partial files at once, then in the background the model files
//! of jobs the broker no longer has (or that did not complete) and dataset
//! folders without a record.
//!
//! Owns process wiring. It must not contain request or job logic.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use crate::accounts::{self, AccountStore};
use crate::api::{self, AppState};
use crate::config::{AuthMode, Config, ConfigSource, SharedConfig};
use crate::jobs::{JobQuery, JobStatus};
use crate::queue::{self, Broker, BrokerError};
use crate::runtime::{PluginRegistry, Runtime, SharedRegistry};
use crate::storage::{self, cleanup};
use crate::sweeps::driver::SweepContext;
use crate::sweeps::redis::RedisSweeps;
use crate::sweeps::state::{EmbeddedSweeps, SweepStore};
use crate::worker::{Worker, WorkerSettings};

struct Parts {
    broker: Arc<dyn Broker>,
    accounts: Arc<dyn AccountStore>,
    storage: Arc<dyn storage::Storage>,
    registry: SharedRegistry,
    runtime: Arc<Runtime>,
    /// Held while the process runs: see `storage::cleanup`.
    _data_dir: cleanup::DataDirUse,
}

fn upload_dir(config: &Config) -> std::path::PathBuf {
    config.storage.data_dir.join("uploads")
}

async fn start(config: &Config) -> anyhow::Result<Parts> {
    std::fs::create_dir_all(&config.storage.data_dir).with_context(|| format!("creating data dir {}", config.storage.data_dir.display()))?;
    let (data_dir, _) = cleanup::at_start(&config.storage.data_dir, &upload_dir(config)).context("taking the data dir")?;
    // First, so that a wrong storage URL or unreachable store stops the process at once.
    let storage = storage::open(config).await?;
    let cache = config.storage.compile_cache();
    let plugins_from = config.clone();
    let (runtime, registry) = tokio::task::spawn_blocking(move || {
        let runtime = Runtime::new(Some(cache)).map_err(|e| anyhow::anyhow!("starting wasmtime: {e:#}"))?;
        let registry = PluginRegistry::from_config(&runtime, &plugins_from, &PluginRegistry::default())?;
        Ok::<_, anyhow::Error>((runtime, registry))
    })
    .await??;
    for (name, why) in registry.failures() {
        tracing::warn!(plugin = %name, reason = %why, "plugin left out");
    }
    let (broker, accounts) = queue::connect_with_accounts(config).await.context("connecting the broker")?;
    tokio::spawn(remove_orphans(storage.clone(), broker.clone()));
    if broker.shared() {
        // Another node may be between reserving and storing a dataset right now.
        tokio::spawn(release_unstored_bytes(accounts.clone(), storage.clone(), UPLOAD_SETTLE));
    } else {
        // Before serving: no upload of this process can be under way yet.
        release_unstored_bytes(accounts.clone(), storage.clone(), Duration::ZERO).await;
    }
    Ok(Parts { broker, accounts, storage, registry: SharedRegistry::new(registry), runtime, _data_dir: data_dir })
}

/// Removes orphaned dataset folders and model files, logging what went.
async fn remove_orphans(storage: Arc<dyn storage::Storage>, broker: Arc<dyn Broker>) {
    match cleanup::remove_orphan_datasets(&storage).await {
        Ok(removed) if removed.files > 0 => tracing::warn!(datasets = removed.files, bytes = removed.bytes, "removed orphaned dataset files"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "looking for orphaned dataset files failed"),
    }
    match remove_orphan_models(&storage, broker.as_ref()).await {
        Ok(removed) if removed.files > 0 => tracing::warn!(models = removed.files, bytes = removed.bytes, "removed orphaned model files"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "looking for orphaned model files failed"),
    }
}

/// How long a dataset being stored takes at most, from the reservation of
/// its bytes (after the upload is streamed) to its record: longer, and the
/// reservation was left by a crash.
const UPLOAD_SETTLE: Duration = Duration::from_secs(600);

/// Bytes counted against a user for a dataset that has no record (the
/// process died between reserving them and storing the dataset) are given
/// back. With `settle`, only those still unstored after it (a shared store's
/// other nodes may be storing theirs right now); without, at once (this
/// process holds the data dir, so nothing else is storing).
pub async fn release_unstored_bytes(accounts: Arc<dyn AccountStore>, storage: Arc<dyn storage::Storage>, settle: Duration) -> u64 {
    let first = match unstored_datasets(accounts.as_ref(), &storage).await {
        Ok(found) if found.is_empty() => return 0,
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "looking for dataset bytes counted without a dataset failed");
            return 0;
        }
    };
    tokio::time::sleep(settle).await;
    let mut released = 0;
    for (user, id) in first {
        let still_unstored = settle.is_zero() || matches!(storage::datasets::get(&storage, &id).await, Ok(None));
        if still_unstored && accounts.release_bytes(&user, &id).await.is_ok() {
            tracing::warn!(%user, dataset = %id, "released dataset bytes counted for a dataset that was never stored (a crash during its upload)");
            released += 1;
        }
    }
    released
}

/// (user, dataset id) of every counted dataset without a record.
async fn unstored_datasets(accounts: &dyn AccountStore, storage: &Arc<dyn storage::Storage>) -> anyhow::Result<Vec<(String, String)>> {
    let mut found = vec![];
    for user in accounts.users().await? {
        for id in accounts.counted_datasets(&user.name).await? {
            if crate::ids::is_valid_id(&id) && storage::datasets::get(storage, &id).await?.is_none() {
                found.push((user.name.clone(), id));
            }
        }
    }
    Ok(found)
}

/// The model files of jobs the broker does not have, or that ended without
/// completing (a store abandoned by a cancel): nothing can serve them.
async fn remove_orphan_models(storage: &Arc<dyn storage::Storage>, broker: &dyn Broker) -> anyhow::Result<cleanup::Removed> {
    let mut removed = cleanup::Removed::default();
    let models = cleanup::model_files(storage).await?;
    if models.is_empty() {
        return Ok(removed);
    }
    if broker.list(&JobQuery { limit: 1, ..JobQuery::default() }).await?.total == 0 {
        tracing::warn!(models = models.len(), "the broker holds no jobs at all: keeping every model file (check broker.key_prefix and storage.url)");
        return Ok(removed);
    }
    for job_id in models {
        let orphan = match broker.get(&job_id).await {
            Ok(None) | Err(BrokerError::Lost(_)) => true,
            Ok(Some(job)) => matches!(job.status, JobStatus::Failed | JobStatus::Cancelled),
            Err(e) => return Err(e.into()),
        };
        if orphan {
            let bytes = cleanup::remove_model(storage, &job_id).await?;
            tracing::info!(job_id = %job_id, bytes, "removed the model file of a job that no longer has one");
            removed.add(bytes);
        }
    }
    Ok(removed)
}

/// SIGHUP, caught from the start of the process so that it never kills it,
/// and where to read the config again when it comes.
struct Hangups {
    source: ConfigSource,
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Hangups {
    /// Catches SIGHUP from now on (a signal before `reload_on_signal` waits for
    /// it). No `source`: not caught.
    fn catch(source: Option<ConfigSource>) -> anyhow::Result<Option<Hangups>> {
        let Some(source) = source else { return Ok(None) };
        #[cfg(unix)]
        let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).context("installing the SIGHUP handler")?;
        Ok(Some(Hangups {
            source,
            #[cfg(unix)]
            signal,
        }))
    }

    /// On each SIGHUP: reads the config again and applies it (see `Reload::apply`).
    fn reload_on_signal(self, reload: Reload) {
        #[cfg(unix)]
        {
            let Hangups { source, mut signal } = self;
            tokio::spawn(async move {
                while signal.recv().await.is_some() {
                    tracing::info!("SIGHUP: reloading the config");
                    if let Err(e) = reload.apply(&source).await {
                        tracing::error!(error = %format!("{e:#}"), "config reload failed: keeping the previous config and plugins");
                    }
                }
            });
        }
        #[cfg(not(unix))]
        let _ = (self, reload);
    }
}

/// What a reload swaps: the plugins, and (for an API) the config its requests read.
struct Reload {
    config: SharedConfig,
    runtime: Arc<Runtime>,
    registry: SharedRegistry,
    /// An API process's accounts and address: switching `auth.mode` to
    /// `tokens` creates the first admin, as a start would.
    api: Option<ApiSide>,
}

struct ApiSide {
    accounts: Arc<dyn AccountStore>,
    addr: std::net::SocketAddr,
    scheme: &'static str,
    /// Under TLS: read again from the same files on every reload (a renewed certificate).
    certificate: Option<Arc<api::tls::Certificate>>,
}

impl Reload {
    /// Plugins are added, removed, disabled or reloaded, `auth` and `quotas`
    /// apply to the next requests, and the TLS certificate is read again; a
    /// config that no longer parses (or whose auth settings or certificate are
    /// refused) changes nothing (the error is returned). The other sections keep their running values: a change to
    /// them is logged as needing a restart.
    async fn apply(&self, source: &ConfigSource) -> anyhow::Result<()> {
        let file = source.load()?;
        let running = self.config.current();
        for setting in running.restart_only_changes(&file) {
            tracing::warn!(%setting, "config reload: this setting changed but needs a restart to take effect; the running value is kept");
        }
        let next = running.with_live_settings_of(&file);
        let previous = self.registry.current();
        let (runtime, old, plugins_of) = (self.runtime.clone(), previous.clone(), next.clone());
        let new = tokio::task::spawn_blocking(move || PluginRegistry::from_config(&runtime, &plugins_of, &old)).await??;
        let live = running.live_changes(&next);
        let certificate = match self.api.as_ref().and_then(|api| api.certificate.as_ref()) {
            Some(certificate) => Some((certificate, certificate.read_again(&running.server)?)),
            None => None,
        };
        if let Some(api) = &self.api {
            if next.auth.mode != running.auth.mode {
                if let Some(line) = prepare_accounts(&next, api.accounts.as_ref(), api.addr, api.scheme).await? {
                    println!("{line}");
                }
            }
        }
        let names = |r: &PluginRegistry| r.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        let (before, after) = (names(&previous), names(&new));
        let added: Vec<&String> = after.iter().filter(|n| !before.contains(n)).collect();
        let removed: Vec<&String> = before.iter().filter(|n| !after.contains(n)).collect();
        let failed: Vec<&String> = new.failures().keys().collect();
        tracing::info!(plugins = ?after, ?added, ?removed, ?failed, "config reloaded: plugins swapped (running jobs keep the plugin they started with)");
        self.registry.replace(new);
        self.config.replace(next);
        if let Some((certificate, key)) = certificate {
            certificate.replace(key);
            tracing::info!(cert = %running.server.tls_cert.display(), "config reload: TLS certificate and key read again; new connections get them");
        }
        if self.api.is_some() {
            for (setting, change) in live {
                tracing::info!(%setting, %change, "config reload: applied to the requests from now on");
            }
        }
        Ok(())
    }
}

fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("installing the SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("stopping");
        let _ = tx.send(true);
    });
    rx
}

/// `trainhost serve`: the API, plus workers unless `api_only`. `source`: where
/// `config` was read from, to read it again on SIGHUP (None: no reloads).
pub async fn serve(source: Option<ConfigSource>, config: Config, api_only: bool) -> anyhow::Result<()> {
    // First: a certificate that cannot be used stops the start before anything else happens.
    let (tls, certificate) = api::tls::acceptor(&config.server)?.unzip();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let hangups = Hangups::catch(source)?;
    let parts = start(&config).await?;
    let shutdown = shutdown_signal();
    let listener = tokio::net::TcpListener::bind(&config.server.bind).await.with_context(|| format!("binding {}", config.server.bind))?;
    let addr = listener.local_addr()?;
    let workers = if api_only {
        None
    } else {
        let worker = Worker::new(parts.broker.clone(), parts.storage.clone(), parts.registry.clone(), WorkerSettings::from_config(&config));
        Some(tokio::spawn(worker.run(shutdown.clone())))
    };
    let sign_in = prepare_accounts(&config, parts.accounts.as_ref(), addr, scheme).await?;
    let shared = SharedConfig::new(config.clone());
    if let Some(hangups) = hangups {
        let api = ApiSide { accounts: parts.accounts.clone(), addr, scheme, certificate };
        hangups.reload_on_signal(Reload { config: shared.clone(), runtime: parts.runtime.clone(), registry: parts.registry.clone(), api: Some(api) });
    }
    let sweeps = sweep_context(&config, &parts, shared.clone()).await?;
    let state = AppState {
        sweeps,
        broker: parts.broker.clone(),
        storage: parts.storage.clone(),
        registry: parts.registry.clone(),
        upload_dir: upload_dir(&config),
        config: shared,
        accounts: parts.accounts.clone(),
        failed: Default::default(),
        tls: tls.is_some(),
    };
    let broker_kind = if parts.broker.shared() { "redis" } else { "embedded" };
    tracing::info!(%addr, broker = broker_kind, storage = %parts.storage.describe(), "serving");
    // Tests and scripts read this line to find the port.
    println!(
        "trainhost listening on {scheme}://{addr} (broker: {broker_kind}, workers: {})",
        if api_only { "none".to_string() } else { config.worker_count().to_string() }
    );
    if let Some(line) = sign_in {
        println!("{line}");
    }
    if addr.ip().is_unspecified() && config.server.allowed_hosts.is_empty() {
        tracing::warn!(%addr, "bound to every address, but only localhost names are answered: list the names clients use in server.allowed_hosts");
    }
    let app = api::router(state, addr);
    let limits = api::connections::ConnectionLimits::from_config(&config.server);
    let server = tokio::spawn(api::connections::serve(listener, app, limits, tls, shutdown.clone()));
    let mut stop = shutdown.clone();
    let _ = stop.wait_for(|s| *s).await;
    // Open WebSockets would hold the server forever: give them a moment.
    let _ = tokio::time::timeout(Duration::from_secs(3), server).await;
    if let Some(workers) = workers {
        let _ = workers.await;
    }
    Ok(())
}

/// The sweeps' store beside the broker's jobs, and this process's drivers,
/// which take up every sweep nobody drives (after a restart, or a dead node's).
async fn sweep_context(config: &Config, parts: &Parts, shared: SharedConfig) -> anyhow::Result<Arc<SweepContext>> {
    let store: Arc<dyn SweepStore> = if parts.broker.shared() {
        Arc::new(
            RedisSweeps::connect(&config.broker.redis_url, &config.broker.key_prefix, config.broker_timeout()).await.context("connecting the sweeps' store")?,
        )
    } else {
        Arc::new(EmbeddedSweeps::open(&config.storage.data_dir.join("broker")).context("opening the sweeps' journal")?)
    };
    let ctx = SweepContext::new(parts.broker.clone(), store, parts.accounts.clone(), parts.registry.clone(), shared);
    crate::sweeps::driver::adopt_periodically(ctx.clone());
    Ok(ctx)
}

/// The file the bootstrap admin's token is written to.
pub fn admin_token_path(config: &Config) -> std::path::PathBuf {
    config.storage.data_dir.join("admin-token")
}

/// Checks the auth settings and creates the first admin when there is none.
/// Returns the line to print once: the URL (`scheme`: http or https) that signs the web UI in.
async fn prepare_accounts(config: &Config, store: &dyn AccountStore, addr: std::net::SocketAddr, scheme: &str) -> anyhow::Result<Option<String>> {
    if config.auth.mode == AuthMode::None {
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "auth.mode = \"none\" on an address other machines can reach: anyone who reaches the port can read, change and delete everything");
        }
        return Ok(None);
    }
    let given = config.auth.bootstrap_token.trim();
    if !given.is_empty() && given.len() < 32 {
        anyhow::bail!("auth.bootstrap_token (TRAINHOST_AUTH_BOOTSTRAP_TOKEN) must have at least 32 characters");
    }
    let bootstrap = accounts::bootstrap(store, (!given.is_empty()).then_some(given)).await.context("creating the first admin")?;
    let host = if addr.ip().is_unspecified() { std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port()) } else { addr };
    let path = admin_token_path(config);
    match bootstrap {
        accounts::Bootstrap::Created { token } => {
            write_secret(&path, &token).with_context(|| format!("writing {}", path.display()))?;
            tracing::info!(user = accounts::BOOTSTRAP_ADMIN, file = %path.display(), "created the first admin");
            Ok(Some(format!("admin sign-in (shown once; the token is also in {}): {scheme}://{host}/#token={token}", path.display())))
        }
        accounts::Bootstrap::Existing if path.exists() => Ok(Some(format!("sign in at {scheme}://{host}/ with the admin token in {}", path.display()))),
        accounts::Bootstrap::Existing => Ok(None),
    }
}

/// Writes a secret readable by this user only (0600 from the start).
fn write_secret(path: &std::path::Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    // A file that existed keeps its mode through open(): set it again.
    #[cfg(unix)]
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(format!("{secret}\n").as_bytes())
}

/// `trainhost worker`: workers only, against a shared (Redis) broker.
/// `source` as for `serve`.
pub async fn worker(source: Option<ConfigSource>, config: Config) -> anyhow::Result<()> {
    if config.broker.redis_url.trim().is_empty() {
        anyhow::bail!("`trainhost worker` needs a shared broker: set broker.redis_url (or REDIS_URL); with the embedded broker, `trainhost serve` runs the workers itself");
    }
    let hangups = Hangups::catch(source)?;
    let parts = start(&config).await?;
    if let Some(hangups) = hangups {
        let config = SharedConfig::new(config.clone());
        hangups.reload_on_signal(Reload { config, runtime: parts.runtime.clone(), registry: parts.registry.clone(), api: None });
    }
    // A worker node drives sweeps too: one whose driver died is taken over here.
    let _sweeps = sweep_context(&config, &parts, SharedConfig::new(config.clone())).await?;
    let worker = Worker::new(parts.broker, parts.storage, parts.registry, WorkerSettings::from_config(&config));
    println!("trainhost worker {} started ({} slots)", worker.id, config.worker_count());
    worker.run(shutdown_signal()).await;
    Ok(())
}
