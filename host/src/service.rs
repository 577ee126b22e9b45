//! Starting and stopping the service: `trainhost serve` (HTTP API plus a
//! worker pool in one process, or API only) and `trainhost worker` (workers
//! only). Loads plugins, connects the broker and storage, handles SIGINT and
//! SIGTERM: the API stops accepting, the workers finish or re-queue their jobs;
//! and SIGHUP: the config is read again and a new plugin registry swapped in.
//!
//! Owns process wiring. It must not contain request or job logic.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use crate::api::{self, AppState};
use crate::config::{Config, ConfigSource};
use crate::queue::{self, Broker};
use crate::runtime::{PluginRegistry, Runtime, SharedRegistry};
use crate::storage;
use crate::worker::{Worker, WorkerSettings};

struct Parts {
    broker: Arc<dyn Broker>,
    storage: Arc<dyn storage::Storage>,
    registry: SharedRegistry,
    runtime: Arc<Runtime>,
}

async fn start(config: &Config) -> anyhow::Result<Parts> {
    std::fs::create_dir_all(&config.storage.data_dir).with_context(|| format!("creating data dir {}", config.storage.data_dir.display()))?;
    // First, so that a wrong storage URL or unreachable store stops the process at once.
    let storage = storage::open(config).await?;
    let cache = config.storage.data_dir.join("compile-cache");
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
    let broker = queue::connect(config).await.context("connecting the broker")?;
    Ok(Parts { broker, storage, registry: SharedRegistry::new(registry), runtime })
}

/// SIGHUP, caught from the start of the process so that it never kills it,
/// and where to read the config again when it comes.
struct Hangups {
    source: ConfigSource,
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Hangups {
    /// Catches SIGHUP from now on (a signal before `reload_plugins` waits for
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

    /// On each SIGHUP: reads the config again and swaps in a new plugin registry (see `reload`).
    fn reload_plugins(self, running: &Config, parts: &Parts) {
        let (running, runtime, registry) = (running.clone(), parts.runtime.clone(), parts.registry.clone());
        #[cfg(unix)]
        {
            let Hangups { source, mut signal } = self;
            tokio::spawn(async move {
                while signal.recv().await.is_some() {
                    tracing::info!("SIGHUP: reloading the config");
                    if let Err(e) = reload(&source, &running, &runtime, &registry).await {
                        tracing::error!(error = %format!("{e:#}"), "config reload failed: keeping the previous config and plugins");
                    }
                }
            });
        }
        #[cfg(not(unix))]
        let _ = (self, running, runtime, registry);
    }
}

/// Plugins are added, removed, disabled or reloaded; a config that no longer
/// parses changes nothing (the error is returned). `running` is the config the
/// process started with: its other settings stay, and a change to them is
/// logged as needing a restart.
async fn reload(source: &ConfigSource, running: &Config, runtime: &Arc<Runtime>, registry: &SharedRegistry) -> anyhow::Result<()> {
    let config = source.load()?;
    for setting in running.restart_only_changes(&config) {
        tracing::warn!(%setting, "config reload: this setting changed but needs a restart to take effect; the running value is kept");
    }
    let previous = registry.current();
    let (runtime, old) = (runtime.clone(), previous.clone());
    let new = tokio::task::spawn_blocking(move || PluginRegistry::from_config(&runtime, &config, &old)).await??;
    let names = |r: &PluginRegistry| r.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    let (before, after) = (names(&previous), names(&new));
    let added: Vec<&String> = after.iter().filter(|n| !before.contains(n)).collect();
    let removed: Vec<&String> = before.iter().filter(|n| !after.contains(n)).collect();
    let failed: Vec<&String> = new.failures().keys().collect();
    tracing::info!(plugins = ?after, ?added, ?removed, ?failed, "config reloaded: plugins swapped (running jobs keep the plugin they started with)");
    registry.replace(new);
    Ok(())
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
    let hangups = Hangups::catch(source)?;
    let parts = start(&config).await?;
    if let Some(hangups) = hangups {
        hangups.reload_plugins(&config, &parts);
    }
    let shutdown = shutdown_signal();
    let listener = tokio::net::TcpListener::bind(&config.server.bind).await.with_context(|| format!("binding {}", config.server.bind))?;
    let addr = listener.local_addr()?;
    let workers = if api_only {
        None
    } else {
        let worker = Worker::new(parts.broker.clone(), parts.storage.clone(), parts.registry.clone(), WorkerSettings::from_config(&config));
        Some(tokio::spawn(worker.run(shutdown.clone())))
    };
    let state = AppState {
        broker: parts.broker.clone(),
        storage: parts.storage.clone(),
        registry: parts.registry.clone(),
        upload_dir: config.storage.data_dir.join("uploads"),
        config: Arc::new(config.clone()),
    };
    let broker_kind = if parts.broker.shared() { "redis" } else { "embedded" };
    tracing::info!(%addr, broker = broker_kind, storage = %parts.storage.describe(), "serving");
    // Tests and scripts read this line to find the port.
    println!(
        "trainhost listening on http://{addr} (broker: {broker_kind}, workers: {})",
        if api_only { "none".to_string() } else { config.worker_count().to_string() }
    );
    if addr.ip().is_unspecified() && config.server.allowed_hosts.is_empty() {
        tracing::warn!(%addr, "bound to every address, but only localhost names are answered: list the names clients use in server.allowed_hosts");
    }
    let app = api::router(state, addr);
    let limits = api::connections::ConnectionLimits::from_config(&config.server);
    let server = tokio::spawn(api::connections::serve(listener, app, limits, shutdown.clone()));
    let mut stop = shutdown.clone();
    let _ = stop.wait_for(|s| *s).await;
    // Open WebSockets would hold the server forever: give them a moment.
    let _ = tokio::time::timeout(Duration::from_secs(3), server).await;
    if let Some(workers) = workers {
        let _ = workers.await;
    }
    Ok(())
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
        hangups.reload_plugins(&config, &parts);
    }
    let worker = Worker::new(parts.broker, parts.storage, parts.registry, WorkerSettings::from_config(&config));
    println!("trainhost worker {} started ({} slots)", worker.id, config.worker_count());
    worker.run(shutdown_signal()).await;
    Ok(())
}
