//! Starting and stopping the service: `trainhost serve` (HTTP API plus a
//! worker pool in one process, or API only) and `trainhost worker` (workers
//! only). Loads plugins, connects the broker and storage, handles SIGINT and
//! SIGTERM: the API stops accepting, the workers finish or re-queue their jobs.
//!
//! Owns process wiring. It must not contain request or job logic.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use crate::api::{self, AppState};
use crate::config::Config;
use crate::queue::{self, Broker};
use crate::runtime::{PluginRegistry, Runtime};
use crate::storage;
use crate::worker::{Worker, WorkerSettings};

struct Parts {
    broker: Arc<dyn Broker>,
    storage: Arc<dyn storage::Storage>,
    registry: Arc<PluginRegistry>,
}

async fn start(config: &Config) -> anyhow::Result<Parts> {
    std::fs::create_dir_all(&config.storage.data_dir).with_context(|| format!("creating data dir {}", config.storage.data_dir.display()))?;
    // First, so that a wrong storage URL or unreachable store stops the process at once.
    let storage = storage::open(config).await?;
    let entries = config.plugin_entries()?;
    let cache = config.storage.data_dir.join("compile-cache");
    let registry = tokio::task::spawn_blocking(move || {
        let runtime = Runtime::new(Some(cache)).map_err(|e| anyhow::anyhow!("starting wasmtime: {e:#}"))?;
        Ok::<_, anyhow::Error>(PluginRegistry::load(&runtime, &entries))
    })
    .await??;
    for (name, why) in registry.failures() {
        tracing::warn!(plugin = %name, reason = %why, "plugin left out");
    }
    let broker = queue::connect(config).await.context("connecting the broker")?;
    Ok(Parts { broker, storage, registry: Arc::new(registry) })
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

/// `trainhost serve`: the API, plus workers unless `api_only`.
pub async fn serve(config: Config, api_only: bool) -> anyhow::Result<()> {
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
    println!("trainhost listening on http://{addr} (broker: {broker_kind}, workers: {})", if api_only { "none".to_string() } else { config.worker_count().to_string() });
    let app = api::router(state);
    let mut stop = shutdown.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = stop.wait_for(|s| *s).await;
    });
    let server = tokio::spawn(async move { server.await });
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
pub async fn worker(config: Config) -> anyhow::Result<()> {
    if config.broker.redis_url.trim().is_empty() {
        anyhow::bail!("`trainhost worker` needs a shared broker: set broker.redis_url (or REDIS_URL); with the embedded broker, `trainhost serve` runs the workers itself");
    }
    let parts = start(&config).await?;
    let worker = Worker::new(parts.broker, parts.storage, parts.registry, WorkerSettings::from_config(&config));
    println!("trainhost worker {} started ({} slots)", worker.id, config.worker_count());
    worker.run(shutdown_signal()).await;
    Ok(())
}
