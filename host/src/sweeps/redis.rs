//! The sweeps' store on the Redis broker, shared by every process.
//!
//! Keys, under the broker's prefix `P`:
//! - `P:sweep:{id}`: hash of `record` (JSON), `seq` (its last event's) and
//!   `cancel` (set by `POST /sweeps/{id}/cancel`, never overwritten by a save).
//! - `P:sweep_events:{id}`: list of its events, the n-th with seq n; each is
//!   also published on channel `sweep_{id}`.
//! - `P:sweeps`: sorted set of sweep ids by creation; `P:sweeps_live`: set
//!   of those not ended yet (what processes look through for sweeps to drive).
//! - `P:sweep_lease:{id}`: the holder driving it, with a TTL it renews; a
//!   save is refused unless the saver holds it, so two processes never both
//!   write a sweep, and when the holder dies the lease expires and another
//!   process takes it.
//!
//! Owns these keys. Every change is one Lua script (`redis/*.lua`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use redis::aio::ConnectionManager;
use redis::Script;

use super::events::{is_terminal_text, SweepEvent};
use super::state::{Result, SweepStore};
use super::SweepRecord;
use crate::jobs::StoredEvent;
use crate::queue::{BrokerError, Hub, Subscription};

struct Scripts {
    create: Script,
    save: Script,
    lease: Script,
    release: Script,
}

/// Sweeps in Redis.
pub struct RedisSweeps {
    prefix: String,
    conn: ConnectionManager,
    hub: Arc<Hub>,
    scripts: Scripts,
    timeout: Duration,
}

impl RedisSweeps {
    /// Connects to `url` with the broker's key prefix, and listens for sweep events.
    pub async fn connect(url: &str, prefix: &str, timeout: Duration) -> anyhow::Result<RedisSweeps> {
        let client = redis::Client::open(url)?;
        let config =
            redis::aio::ConnectionManagerConfig::new().set_response_timeout(Some(timeout.max(Duration::from_secs(10)))).set_connection_timeout(Some(timeout));
        let conn = client.get_connection_manager_with_config(config).await?;
        let hub = Hub::new();
        tokio::spawn(listen(client, hub.clone()));
        let prefix = if prefix.is_empty() { "trainhost".to_string() } else { prefix.to_string() };
        let scripts = Scripts {
            create: Script::new(include_str!("redis/create.lua")),
            save: Script::new(include_str!("redis/save.lua")),
            lease: Script::new(include_str!("redis/lease.lua")),
            release: Script::new(include_str!("redis/release.lua")),
        };
        Ok(RedisSweeps { prefix, conn, hub, scripts, timeout })
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}:{kind}:{id}", self.prefix)
    }

    fn live_key(&self) -> String {
        format!("{}:sweeps_live", self.prefix)
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    async fn bounded<T>(&self, call: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(BrokerError::Backend(format!("Redis did not answer within {} ms", self.timeout.as_millis()))),
        }
    }
}

/// Forwards `sweep_*` messages to `hub`, reconnecting on failure (sockets
/// fill a gap from the stored events).
async fn listen(client: redis::Client, hub: Arc<Hub>) {
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if pubsub.psubscribe("sweep_*").await.is_ok() {
                    let mut messages = pubsub.on_message();
                    while let Some(msg) = messages.next().await {
                        let Some(id) = msg.get_channel_name().strip_prefix("sweep_").map(str::to_string) else { continue };
                        let Ok(payload) = msg.get_payload::<String>() else { continue };
                        if let Some(event) = parse(payload) {
                            hub.publish(&id, event);
                        }
                    }
                }
                tracing::warn!("Redis pub/sub connection of the sweeps lost; reconnecting");
            }
            Err(e) => tracing::warn!(error = %e, "Redis pub/sub connection of the sweeps failed"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A stored sweep event read back: its seq and whether it ends the sweep.
fn parse(text: String) -> Option<StoredEvent> {
    #[derive(serde::Deserialize)]
    struct Head {
        seq: u64,
    }
    let seq = serde_json::from_str::<Head>(&text).ok()?.seq;
    let terminal = is_terminal_text(&text);
    Some(StoredEvent { seq, terminal, json: text.into() })
}

fn decode(record: Option<String>, seq: Option<u64>, cancel: Option<u8>) -> Result<Option<SweepRecord>> {
    let Some(text) = record else { return Ok(None) };
    let mut record: SweepRecord = serde_json::from_str(&text).map_err(|e| BrokerError::Backend(format!("a stored sweep does not parse: {e}")))?;
    record.last_seq = seq.unwrap_or(record.last_seq);
    record.cancel_requested |= cancel == Some(1);
    Ok(Some(record))
}

fn encode(record: &SweepRecord) -> Result<String> {
    serde_json::to_string(record).map_err(|e| BrokerError::Backend(e.to_string()))
}

#[async_trait]
impl SweepStore for RedisSweeps {
    async fn create(&self, record: &SweepRecord, event: SweepEvent) -> Result<()> {
        let id = &record.sweep_id;
        let mut invocation = self.scripts.create.prepare_invoke();
        invocation.key(self.key("sweep", id)).key(self.key("sweep_events", id)).key(format!("{}:sweeps", self.prefix)).key(self.live_key());
        invocation.arg(id).arg(encode(record)?).arg(record.created_at).arg(format!("sweep_{id}")).arg(event.stored(0).json.to_string());
        self.bounded(async { Ok(invocation.invoke_async::<i64>(&mut self.conn()).await.map(|_| ())?) }).await
    }

    async fn get(&self, id: &str) -> Result<Option<SweepRecord>> {
        let (record, seq, cancel): (Option<String>, Option<u64>, Option<u8>) = self
            .bounded(async { Ok(redis::cmd("HMGET").arg(self.key("sweep", id)).arg("record").arg("seq").arg("cancel").query_async(&mut self.conn()).await?) })
            .await?;
        decode(record, seq, cancel)
    }

    async fn list(&self, owner: Option<&str>) -> Result<Vec<SweepRecord>> {
        let ids: Vec<String> = self
            .bounded(async { Ok(redis::cmd("ZREVRANGE").arg(format!("{}:sweeps", self.prefix)).arg(0).arg(-1).query_async(&mut self.conn()).await?) })
            .await?;
        let mut out = vec![];
        for id in ids {
            if let Some(record) = self.get(&id).await? {
                if owner.is_none() || record.owner.as_deref() == owner {
                    out.push(record);
                }
            }
        }
        Ok(out)
    }

    async fn unfinished(&self) -> Result<Vec<String>> {
        self.bounded(async { Ok(redis::cmd("SMEMBERS").arg(self.live_key()).query_async(&mut self.conn()).await?) }).await
    }

    async fn save(&self, record: &SweepRecord, events: Vec<SweepEvent>, holder: &str) -> Result<SweepRecord> {
        let id = &record.sweep_id;
        let mut invocation = self.scripts.save.prepare_invoke();
        invocation.key(self.key("sweep", id)).key(self.key("sweep_events", id)).key(self.key("sweep_lease", id)).key(self.live_key());
        let ended = if record.status.is_terminal() { "1" } else { "0" };
        invocation.arg(holder).arg(encode(record)?).arg(format!("sweep_{id}")).arg(id).arg(ended);
        for event in &events {
            invocation.arg(event.stored(0).json.to_string());
        }
        let seq: i64 = self.bounded(async { Ok(invocation.invoke_async(&mut self.conn()).await?) }).await?;
        if seq == -1 {
            return Err(BrokerError::Stale(id.clone()));
        }
        self.get(id).await?.ok_or_else(|| BrokerError::NotFound(id.clone()))
    }

    async fn request_cancel(&self, id: &str) -> Result<Option<SweepRecord>> {
        let key = self.key("sweep", id);
        let exists: bool = self.bounded(async { Ok(redis::cmd("EXISTS").arg(&key).query_async(&mut self.conn()).await?) }).await?;
        if !exists {
            return Ok(None);
        }
        self.bounded(async { Ok(redis::cmd("HSET").arg(&key).arg("cancel").arg(1).query_async::<i64>(&mut self.conn()).await.map(|_| ())?) }).await?;
        self.get(id).await
    }

    async fn events_after(&self, id: &str, after: u64) -> Result<Vec<StoredEvent>> {
        let texts: Vec<String> =
            self.bounded(async { Ok(redis::cmd("LRANGE").arg(self.key("sweep_events", id)).arg(after).arg(-1).query_async(&mut self.conn()).await?) }).await?;
        if texts.is_empty() && self.get(id).await?.is_none() {
            return Err(BrokerError::NotFound(id.into()));
        }
        Ok(texts.into_iter().filter_map(parse).collect())
    }

    async fn subscribe(&self, id: &str) -> Result<Subscription> {
        Ok(self.hub.subscribe(id))
    }

    async fn lease(&self, id: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let mut invocation = self.scripts.lease.prepare_invoke();
        invocation.key(self.key("sweep_lease", id)).arg(holder).arg(ttl.as_millis() as u64);
        let got: i64 = self.bounded(async { Ok(invocation.invoke_async(&mut self.conn()).await?) }).await?;
        Ok(got == 1)
    }

    async fn release(&self, id: &str, holder: &str) -> Result<()> {
        let mut invocation = self.scripts.release.prepare_invoke();
        invocation.key(self.key("sweep_lease", id)).arg(holder);
        self.bounded(async { Ok(invocation.invoke_async::<i64>(&mut self.conn()).await.map(|_| ())?) }).await
    }
}

#[cfg(test)]
mod tests {
    /// Every script says what it takes and gives before its first line of code.
    #[test]
    fn each_script_opens_with_its_keys_argv_and_reply() {
        for script in [include_str!("redis/create.lua"), include_str!("redis/save.lua"), include_str!("redis/lease.lua"), include_str!("redis/release.lua")] {
            let header: Vec<&str> = script.lines().take_while(|line| line.starts_with("--")).collect();
            let says = |word: &str| header.iter().any(|line| line.starts_with(&format!("-- {word}")));
            assert!(says("KEYS:") && says("ARGV:") && says("Returns"), "header missing in:\n{script}");
        }
    }
}
