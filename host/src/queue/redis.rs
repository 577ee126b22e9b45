//! The Redis broker, shared by every API and worker process of a deployment.
//!
//! Keys, all under the configured prefix `P`:
//! - `P:job:{id}`: the job record (hash): `spec` (JSON), `status`, `attempts`,
//!   `progress`, `results`, `error`, `cancel`, `token`, `worker`, `seq`, timings.
//! - `P:jobs`: sorted set of job ids by submission (listing); `P:submissions`
//!   its counter.
//! - `P:queue`: list of queued job ids. A worker takes the next one, gives it a
//!   token and heartbeats, all in one script (one round trip per job under
//!   load). When the queue is empty it waits with BLMOVE, which moves the id to
//!   `P:claiming:{worker}` (a crash there loses nothing: the reaper puts it
//!   back), then the claim script gives it a token.
//! - `P:running`: set of running job ids; `P:workers`: sorted set of worker
//!   heartbeats (Redis server time, ms), read by the reaper.
//! - `P:epoch`: a random marker, set by the first process that finds it
//!   absent; a process that finds it gone knows Redis lost its data
//!   (`generation`).
//! - `P:user:*`, `P:token:*` and the quota keys of the accounts: see `accounts`.
//! - `P:events:{id}`: the job's event stream (capped; expires a week after
//!   the job ends); every event is also published on channel `job_{id}`.
//!
//! Every call but a worker's blocking wait for a job gives up after
//! `broker.timeout_ms` (a request then answers 503 instead of hanging while
//! Redis is down).
//!
//! Every change that must be atomic is one Lua script (`redis/*.lua`), and
//! every change a worker makes checks its claim token there, so a worker
//! presumed dead can never overwrite a newer attempt. The scripts decide
//! nothing: `jobs::lifecycle` builds each transition (record writes, event
//! text, queue end), `record` encodes it for the hash, and a script checks the
//! guard and applies it. Scripts name keys they compute from the prefix, so
//! this works on one Redis (or Sentinel), not on Redis Cluster.

pub mod accounts;
mod generation;
mod listen;
mod reaper;
mod record;
mod scripts;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::AsyncConnectionConfig;
use tokio::sync::Mutex as AsyncMutex;

use super::{Broker, BrokerError, CancelOutcome, Claim, Hub, ReapPolicy, Result, Subscription};
use crate::jobs::lifecycle::{self, CancelCause, Transition};
use crate::jobs::{Ending, Event, JobPage, JobQuery, JobRecord, JobSpec, JobStatus, StoredEvent};
use generation::Generation;
pub use generation::Persistence;
use scripts::Scripts;

/// Events kept per job stream.
const STREAM_MAXLEN: u64 = 100_000;
/// How long a finished job's event stream is kept.
const STREAM_TTL_SECS: u64 = 7 * 24 * 3600;
/// The job id a claim's `status: running` template carries until the Lua
/// `start()` writes the claimed job's id over it (with its attempt over 0).
const CLAIMED_JOB_ID: &str = "JOBID";

/// How the broker talks to Redis.
#[derive(Debug, Clone, Copy)]
pub struct RedisSettings {
    /// The bound on every call but the blocking wait for a job (`broker.timeout_ms`).
    pub timeout: Duration,
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings { timeout: Duration::from_secs(2) }
    }
}

pub struct RedisBroker {
    prefix: String,
    client: redis::Client,
    conn: ConnectionManager,
    /// BLMOVE blocks its connection: it gets its own, without a response
    /// timeout; made again after it failed (a restarted Redis).
    blocking: AsyncMutex<Option<MultiplexedConnection>>,
    hub: Arc<Hub>,
    scripts: Scripts,
    timeout: Duration,
    generation: Arc<Generation>,
}

impl RedisBroker {
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<RedisBroker> {
        RedisBroker::connect_with(url, prefix, RedisSettings::default()).await
    }

    pub async fn connect_with(url: &str, prefix: &str, settings: RedisSettings) -> anyhow::Result<RedisBroker> {
        let client = redis::Client::open(url)?;
        // Requests are bounded by `bounded`; a worker's script may take longer
        // (a reply lost to a timeout leaves its claim unknown), and reconnects
        // are tried quickly and few times rather than with a long backoff.
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(settings.timeout.max(Duration::from_secs(10))))
            .set_connection_timeout(Some(settings.timeout))
            .set_number_of_retries(2)
            .set_max_delay(settings.timeout / 4);
        let mut conn = client.get_connection_manager_with_config(config).await?;
        let hub = Hub::new();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(listen::listen(client.clone(), hub.clone(), ready_tx));
        ready_rx.await.map_err(|_| anyhow::anyhow!("the Redis pub/sub listener stopped"))??;
        let prefix = if prefix.is_empty() { "trainhost".to_string() } else { prefix.to_string() };
        generation::warn_unless_persistent(&mut conn).await;
        let generation = Arc::new(Generation::adopt(&mut conn, format!("{prefix}:epoch")).await?);
        Generation::watch(&generation, conn.clone(), settings.timeout);
        let broker =
            RedisBroker { prefix, client, conn, blocking: AsyncMutex::new(None), hub, scripts: Scripts::load(), timeout: settings.timeout, generation };
        drop(broker.blocking_connection().await?);
        Ok(broker)
    }

    /// What Redis keeps across a restart; `None` when `CONFIG` is disabled.
    pub async fn persistence(&self) -> Option<Persistence> {
        generation::persistence(&mut self.conn()).await
    }

    /// Runs one call to Redis, giving up after the configured timeout.
    async fn bounded<T>(&self, call: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(BrokerError::Backend(format!("Redis did not answer within {} ms", self.timeout.as_millis()))),
        }
    }

    /// The connection BLMOVE blocks on, made again if the last one failed.
    async fn blocking_connection(&self) -> Result<tokio::sync::MutexGuard<'_, Option<MultiplexedConnection>>> {
        let mut blocking = self.blocking.lock().await;
        if blocking.is_none() {
            let config = AsyncConnectionConfig::new().set_response_timeout(None).set_connection_timeout(Some(self.timeout));
            *blocking = Some(self.client.get_multiplexed_async_connection_with_config(&config).await?);
        }
        Ok(blocking)
    }

    /// The record of a job that is missing: `Lost` when this process knew the
    /// job and Redis has lost its data, else nothing.
    async fn missing(&self, job_id: &str) -> Result<Option<JobRecord>> {
        if self.generation.knew(job_id) {
            // Checked now: the loss may have happened since the last tick.
            let _ = self.generation.check(&mut self.conn()).await;
            if self.generation.lost_at().is_some() {
                return Err(BrokerError::Lost(job_id.to_string()));
            }
        }
        Ok(None)
    }

    /// `result`, except that a job this process knew, missing because Redis
    /// lost its data, says so instead of a bare NotFound.
    async fn lost_or<T>(&self, job_id: &str, result: Result<T>) -> Result<T> {
        match result {
            Err(BrokerError::NotFound(_)) => {
                self.missing(job_id).await?;
                Err(BrokerError::NotFound(job_id.into()))
            }
            other => other,
        }
    }

    /// Deletes every key under this broker's prefix (tests use their own prefix).
    pub async fn delete_all_keys(&self) -> Result<u64> {
        let mut conn = self.conn();
        let pattern = format!("{}:*", self.prefix);
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        loop {
            let (next, keys): (u64, Vec<String>) =
                redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1000).query_async(&mut conn).await?;
            if !keys.is_empty() {
                deleted += redis::cmd("DEL").arg(&keys).query_async::<u64>(&mut conn).await?;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut key = self.prefix.clone();
        for p in parts {
            key.push(':');
            key.push_str(p);
        }
        key
    }

    fn job_key(&self, id: &str) -> String {
        self.key(&["job", id])
    }

    fn stream_key(&self, id: &str) -> String {
        self.key(&["events", id])
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    async fn record(&self, id: &str) -> Result<Option<JobRecord>> {
        let fields: HashMap<String, String> = redis::cmd("HGETALL").arg(self.job_key(id)).query_async(&mut self.conn()).await?;
        let record = record::parse(id, &fields)?;
        if record.is_some() {
            self.generation.remember(id);
        }
        Ok(record)
    }

    /// Claims the next queued job without waiting (and heartbeats), in one round trip.
    async fn claim_next(&self, worker: &str) -> Result<Option<Claim>> {
        let token = uuid::Uuid::new_v4().to_string();
        let transition = lifecycle::claim(CLAIMED_JOB_ID, worker, 0);
        let reply: Vec<String> = self
            .scripts
            .claim_next
            .key(self.key(&["queue"]))
            .key(self.key(&["running"]))
            .key(self.key(&["workers"]))
            .arg(&self.prefix)
            .arg(STREAM_MAXLEN)
            .arg(worker)
            .arg(record::writes(&transition, Some(&token)))
            .arg(event_template(&transition))
            .invoke_async(&mut self.conn())
            .await?;
        let Some((id, flat)) = reply.split_first() else { return Ok(None) };
        let fields = flat.chunks_exact(2).map(|kv| (kv[0].clone(), kv[1].clone())).collect();
        claimed(id, &fields, token, worker)
    }

    /// Waits up to `wait` for a job to be queued, and claims it.
    async fn claim_when_queued(&self, worker: &str, wait: Duration) -> Result<Option<Claim>> {
        let claiming = self.key(&["claiming", worker]);
        let id: Option<String> = {
            let mut blocking = self.blocking_connection().await?;
            let Some(connection) = blocking.as_mut() else { return Ok(None) };
            let moved = redis::cmd("BLMOVE")
                .arg(self.key(&["queue"]))
                .arg(&claiming)
                .arg("RIGHT")
                .arg("LEFT")
                .arg(wait.as_secs_f64().max(0.01))
                .query_async(connection)
                .await;
            if moved.is_err() {
                // A connection that failed once stays broken: the next wait makes another.
                *blocking = None;
            }
            moved?
        };
        let Some(id) = id else { return Ok(None) };
        let token = uuid::Uuid::new_v4().to_string();
        let transition = lifecycle::claim(CLAIMED_JOB_ID, worker, 0);
        // The script returns the claimed record (saves a round trip), or nothing.
        let fields: HashMap<String, String> = self
            .scripts
            .claim
            .key(self.job_key(&id))
            .key(self.stream_key(&id))
            .key(&claiming)
            .key(self.key(&["running"]))
            .arg(channel(&id))
            .arg(STREAM_MAXLEN)
            .arg(&id)
            .arg(record::writes(&transition, Some(&token)))
            .arg(event_template(&transition))
            .invoke_async(&mut self.conn())
            .await?;
        if fields.is_empty() {
            // Cancelled (or gone) while queued: nothing to run.
            return Ok(None);
        }
        claimed(&id, &fields, token, worker)
    }

    /// Ends the run `claim` holds with `transition` (finished or handed back).
    async fn end_run(&self, claim: &Claim, transition: &Transition) -> Result<()> {
        let id = claim.job_id();
        let seq: i64 = self
            .scripts
            .end_run
            .key(self.job_key(id))
            .key(self.stream_key(id))
            .key(self.key(&["running"]))
            .key(self.key(&["queue"]))
            .arg(channel(id))
            .arg(STREAM_MAXLEN)
            .arg(id)
            .arg(&claim.token)
            .arg(record::writes(transition, None))
            .arg(event_template(transition))
            .arg(record::queue_end(transition.enqueue))
            .arg(events_ttl(transition))
            .invoke_async(&mut self.conn())
            .await?;
        if seq < 0 {
            return Err(BrokerError::Stale(id.into()));
        }
        Ok(())
    }

    /// Ids of the jobs matching `query`'s filters, newest first.
    async fn matching_ids(&self, query: &JobQuery) -> Result<Vec<String>> {
        let mut conn = self.conn();
        let ids: Vec<String> = redis::cmd("ZREVRANGE").arg(self.key(&["jobs"])).arg(0).arg(-1).query_async(&mut conn).await?;
        let filtered = query.status.is_some() || query.plugin.is_some() || query.dataset_id.is_some() || query.owner.is_some() || query.tag.is_some();
        if !filtered || ids.is_empty() {
            return Ok(ids);
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HMGET").arg(self.job_key(id)).arg("status").arg("spec");
        }
        let rows: Vec<(Option<String>, Option<String>)> = pipe.query_async(&mut conn).await?;
        let mut matching = Vec::new();
        for (id, (status, spec)) in ids.into_iter().zip(rows) {
            let (Some(status), Some(spec)) = (status.and_then(|s| JobStatus::parse(&s)), spec) else { continue };
            let Ok(spec) = serde_json::from_str::<JobSpec>(&spec) else { continue };
            if query.matches(&JobRecord { status, ..JobRecord::new(id.clone(), spec) }) {
                matching.push(id);
            }
        }
        Ok(matching)
    }
}

/// The claim of job `id`, from the record the claim script returned.
fn claimed(id: &str, fields: &HashMap<String, String>, token: String, worker: &str) -> Result<Option<Claim>> {
    let job = record::parse(id, fields)?.ok_or_else(|| BrokerError::NotFound(id.to_string()))?;
    Ok(Some(Claim { job, token, worker: worker.to_string() }))
}

/// The pub/sub channel of a job's live events.
fn channel(id: &str) -> String {
    format!("{}{id}", listen::EVENTS)
}

/// The pub/sub channel that tells workers a running job was asked to cancel.
fn cancel_channel(id: &str) -> String {
    format!("{}{id}", listen::CANCELS)
}

/// The JSON text, seq to be filled in, of the event `transition` emits.
/// Every transition given to a script that emits carries one; a
/// `request_cancel` (no event) is never given to one.
fn event_template(transition: &Transition) -> String {
    transition.event.as_ref().map(Event::template).unwrap_or_default()
}

/// How long a job's events are kept once `transition` has ended it; '' when it does not end it.
fn events_ttl(transition: &Transition) -> String {
    if transition.to.is_terminal() {
        STREAM_TTL_SECS.to_string()
    } else {
        String::new()
    }
}

fn cancel_outcome(reply: &str, job_id: &str) -> Result<CancelOutcome> {
    match reply {
        "missing" => Err(BrokerError::NotFound(job_id.into())),
        "cancelled" => Ok(CancelOutcome::Cancelled),
        "requested" => Ok(CancelOutcome::Requested),
        other => {
            let ended = other.strip_prefix("ended:").and_then(JobStatus::parse).unwrap_or(JobStatus::Failed);
            Ok(CancelOutcome::AlreadyEnded(ended))
        }
    }
}

#[async_trait]
impl Broker for RedisBroker {
    async fn submit(&self, job_id: &str, spec: JobSpec) -> Result<JobRecord> {
        self.generation.remember(job_id);
        self.bounded(self.submit_job(job_id, spec)).await
    }

    async fn get(&self, job_id: &str) -> Result<Option<JobRecord>> {
        match self.bounded(self.record(job_id)).await? {
            Some(record) => Ok(Some(record)),
            None => self.missing(job_id).await,
        }
    }

    async fn list(&self, query: &JobQuery) -> Result<JobPage> {
        self.bounded(self.list_jobs(query)).await
    }

    async fn claim(&self, worker: &str, wait: Duration) -> Result<Option<Claim>> {
        let claim = match self.claim_next(worker).await? {
            Some(claim) => Some(claim),
            None => self.claim_when_queued(worker, wait).await?,
        };
        if let Some(claim) = &claim {
            self.generation.remember(claim.job_id());
        }
        Ok(claim)
    }

    async fn emit(&self, claim: &Claim, event: Event) -> Result<u64> {
        let id = claim.job_id();
        let transition = lifecycle::emit(event);
        let seq: i64 = self
            .scripts
            .emit
            .key(self.job_key(id))
            .key(self.stream_key(id))
            .arg(channel(id))
            .arg(STREAM_MAXLEN)
            .arg(&claim.token)
            .arg(record::writes(&transition, None))
            .arg(event_template(&transition))
            .invoke_async(&mut self.conn())
            .await?;
        if seq < 0 {
            return Err(BrokerError::Stale(id.into()));
        }
        Ok(seq as u64)
    }

    async fn finish(&self, claim: &Claim, ending: Ending) -> Result<()> {
        self.end_run(claim, &lifecycle::finish(claim.job_id(), &ending)).await
    }

    async fn requeue(&self, claim: &Claim) -> Result<()> {
        self.end_run(claim, &lifecycle::requeue_on_shutdown(claim.job_id())).await
    }

    async fn cancel_for(&self, job_id: &str, cause: CancelCause) -> Result<CancelOutcome> {
        let outcome = self.bounded(self.cancel_job(job_id, cause)).await;
        self.lost_or(job_id, outcome).await
    }

    async fn cancel_requested(&self, job_id: &str) -> Result<bool> {
        let flag: Option<String> =
            self.bounded(async { Ok(redis::cmd("HGET").arg(self.job_key(job_id)).arg("cancel").query_async(&mut self.conn()).await?) }).await?;
        Ok(flag.as_deref() == Some("1"))
    }

    fn cancel_requests(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.hub.cancel_requests()
    }

    async fn heartbeat(&self, worker: &str) -> Result<()> {
        self.scripts.heartbeat.key(self.key(&["workers"])).arg(worker).invoke_async::<i64>(&mut self.conn()).await?;
        Ok(())
    }

    async fn retire(&self, worker: &str) -> Result<()> {
        redis::cmd("ZREM").arg(self.key(&["workers"])).arg(worker).query_async::<i64>(&mut self.conn()).await?;
        Ok(())
    }

    async fn reap(&self, policy: ReapPolicy) -> Result<Vec<String>> {
        self.reap_silent(policy).await
    }

    async fn events_after(&self, job_id: &str, after: u64) -> Result<Vec<StoredEvent>> {
        let events = self.bounded(self.stored_events(job_id, after)).await;
        self.lost_or(job_id, events).await
    }

    async fn subscribe(&self, job_id: &str) -> Result<Subscription> {
        Ok(self.hub.subscribe(job_id))
    }

    async fn queue_depth(&self) -> Result<u64> {
        self.bounded(async { Ok(redis::cmd("LLEN").arg(self.key(&["queue"])).query_async(&mut self.conn()).await?) }).await
    }

    async fn queue_position(&self, job_id: &str) -> Result<Option<u64>> {
        // Workers take from the right (RPOP): the position counts from there.
        self.bounded(async {
            let (index, len): (Option<u64>, u64) = redis::pipe()
                .atomic()
                .cmd("LPOS")
                .arg(self.key(&["queue"]))
                .arg(job_id)
                .cmd("LLEN")
                .arg(self.key(&["queue"]))
                .query_async(&mut self.conn())
                .await?;
            Ok(index.map(|i| len.saturating_sub(i)))
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        self.bounded(async { Ok(redis::cmd("PING").query_async::<String>(&mut self.conn()).await?) }).await?;
        if let Some(at) = self.generation.lost_at() {
            let when = noticed_at(at);
            return Err(BrokerError::DataLost(format!(
                "Redis lost its data ({when}: it restarted without persistence, or was flushed): the jobs submitted before are gone; \
                 run Redis with --appendonly yes, then restart this process"
            )));
        }
        Ok(())
    }

    fn shared(&self) -> bool {
        true
    }
}

/// When the loss was noticed, for a message (Unix time: no calendar crate in the build).
fn noticed_at(ms: i64) -> String {
    format!("noticed at Unix time {}.{:03}", ms / 1000, ms % 1000)
}

/// The calls behind the trait's requests, each bounded by its caller.
impl RedisBroker {
    async fn submit_job(&self, job_id: &str, spec: JobSpec) -> Result<JobRecord> {
        let submission = lifecycle::submit(job_id, spec);
        self.scripts
            .submit
            .key(self.job_key(job_id))
            .key(self.stream_key(job_id))
            .key(self.key(&["jobs"]))
            .key(self.key(&["queue"]))
            .key(self.key(&["submissions"]))
            .arg(channel(job_id))
            .arg(STREAM_MAXLEN)
            .arg(job_id)
            .arg(record::new_record(&submission.record))
            .arg(submission.event.template())
            .arg(record::queue_end(Some(submission.enqueue)))
            .invoke_async::<i64>(&mut self.conn())
            .await?;
        Ok(JobRecord { last_seq: 1, ..submission.record })
    }

    async fn list_jobs(&self, query: &JobQuery) -> Result<JobPage> {
        let matching = self.matching_ids(query).await?;
        let mut jobs = Vec::new();
        for id in matching.iter().skip(query.offset).take(query.limit) {
            if let Some(r) = self.record(id).await? {
                jobs.push(r);
            }
        }
        Ok(JobPage { jobs, total: matching.len() })
    }

    async fn cancel_job(&self, job_id: &str, cause: CancelCause) -> Result<CancelOutcome> {
        let (cancel, flag) = (lifecycle::cancel_queued_for(job_id, cause), lifecycle::request_cancel());
        let reply: String = self
            .scripts
            .cancel
            .key(self.job_key(job_id))
            .key(self.stream_key(job_id))
            .key(self.key(&["queue"]))
            .arg(channel(job_id))
            .arg(STREAM_MAXLEN)
            .arg(job_id)
            .arg(events_ttl(&cancel))
            .arg(record::writes(&cancel, None))
            .arg(event_template(&cancel))
            .arg(record::writes(&flag, None))
            .arg(cancel_channel(job_id))
            .invoke_async(&mut self.conn())
            .await?;
        cancel_outcome(&reply, job_id)
    }

    async fn stored_events(&self, job_id: &str, after: u64) -> Result<Vec<StoredEvent>> {
        let entries: Vec<(String, Vec<(String, String)>)> =
            redis::cmd("XRANGE").arg(self.stream_key(job_id)).arg("-").arg("+").query_async(&mut self.conn()).await?;
        if entries.is_empty() {
            // The stream expires a week after the job ends; the record stays
            // and still tells a late client how the job ended.
            let record = self.record(job_id).await?.ok_or_else(|| BrokerError::NotFound(job_id.into()))?;
            return Ok(record.terminal_event().filter(|e| e.seq > after).into_iter().collect());
        }
        self.generation.remember(job_id);
        Ok(entries
            .into_iter()
            .filter_map(|(_, fields)| fields.into_iter().find(|(k, _)| k == "e").and_then(|(_, v)| StoredEvent::parse(&v)))
            .filter(|e| e.seq > after)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::events::fill_seq;

    /// The Rust twin of the Lua `start()`: the claimed job's id and attempt over the placeholders.
    fn fill_claim(template: &str, id: &str, attempt: u32) -> String {
        template.replacen(&format!("\"jobId\":\"{CLAIMED_JOB_ID}\""), &format!("\"jobId\":\"{id}\""), 1).replacen(
            "\"attempt\":0",
            &format!("\"attempt\":{attempt}"),
            1,
        )
    }

    #[test]
    fn the_claim_template_fills_in_as_the_event_of_the_claim() {
        let template = event_template(&lifecycle::claim(CLAIMED_JOB_ID, "w", 0));
        assert_eq!(template, r#"{"type":"status","seq":0,"jobId":"JOBID","status":"running","attempt":0}"#);
        let id = "5f0c6a52-1d7e-4b43-9a39-3f1f3c1d2e4b";
        let direct = lifecycle::claim(id, "w", 3).event.unwrap().template();
        assert_eq!(fill_claim(&template, id, 3), direct);
        assert_eq!(fill_seq(&direct, 2), format!(r#"{{"type":"status","seq":2,"jobId":"{id}","status":"running","attempt":3}}"#));
    }

    #[test]
    fn only_an_ending_keeps_the_events_for_a_week() {
        assert_eq!(events_ttl(&lifecycle::finish("j", &Ending::Failed("x".into()))), "604800");
        assert_eq!(events_ttl(&lifecycle::cancel_queued("j")), "604800");
        assert_eq!(events_ttl(&lifecycle::reap("j", 3, Some("w"), 3)), "604800");
        assert_eq!(events_ttl(&lifecycle::reap("j", 1, Some("w"), 3)), "");
        assert_eq!(events_ttl(&lifecycle::requeue_on_shutdown("j")), "");
    }
}
