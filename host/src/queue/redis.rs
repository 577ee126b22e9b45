//! The Redis broker, shared by every API and worker process of a deployment.
//!
//! Keys, all under the configured prefix `P`:
//! - `P:job:{id}`: the job record (hash): `spec` (JSON), `status`, `attempts`,
//!   `progress`, `results`, `error`, `cancel`, `token`, `worker`, `seq`, timings.
//! - `P:jobs`: sorted set of job ids by creation time (listing).
//! - `P:queue`: list of queued job ids. A worker takes the next one, gives it a
//!   token and heartbeats, all in one script (one round trip per job under
//!   load). When the queue is empty it waits with BLMOVE, which moves the id to
//!   `P:claiming:{worker}` (a crash there loses nothing: the reaper puts it
//!   back), then the claim script gives it a token.
//! - `P:running`: set of running job ids; `P:workers`: sorted set of worker
//!   heartbeats (Redis server time, ms), read by the reaper.
//! - `P:events:{id}`: the job's event stream (capped; expires a week after
//!   the job ends); every event is also published on channel `job_{id}`.
//!
//! Every change that must be atomic is one Lua script, and every change a
//! worker makes checks its claim token there, so a worker presumed dead can
//! never overwrite a newer attempt. Scripts name keys they compute from the
//! prefix, so this works on one Redis (or Sentinel), not on Redis Cluster.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Script};
use tokio::sync::Mutex as AsyncMutex;

use super::{Broker, BrokerError, CancelOutcome, Claim, Hub, ReapPolicy, Result, Subscription};
use crate::jobs::{Ending, Event, JobPage, JobQuery, JobRecord, JobSpec, JobStatus, StoredEvent, CANCELLED_BEFORE_START};

/// Events kept per job stream.
const STREAM_MAXLEN: u64 = 100_000;
/// How long a finished job's event stream is kept.
const STREAM_TTL_SECS: u64 = 7 * 24 * 3600;

pub struct RedisBroker {
    prefix: String,
    conn: ConnectionManager,
    /// BLMOVE blocks its connection: it gets its own, without a response timeout.
    blocking: AsyncMutex<MultiplexedConnection>,
    hub: Arc<Hub>,
    scripts: Scripts,
}

struct Scripts {
    submit: Script,
    claim_next: Script,
    claim: Script,
    emit: Script,
    finish: Script,
    requeue: Script,
    cancel: Script,
    heartbeat: Script,
    reap: Script,
}

/// `status: running` of a job whose id (`JOBID`) and attempt the claim scripts fill in.
static RUNNING_TEMPLATE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| Event::status("JOBID", JobStatus::Running, Some(0), None).template());

/// Shared Lua: append an event (seq from the record), publish it.
/// Expects `job`, `stream`, `channel`, `maxlen` locals; defines emit(template).
const EMIT_FN: &str = r#"
local job, stream, channel, maxlen
local function emit(template)
  local seq = redis.call('HINCRBY', job, 'seq', 1)
  local json = string.gsub(template, '"seq":0,', '"seq":' .. seq .. ',', 1)
  redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'seq', seq, 'e', json)
  redis.call('PUBLISH', channel, json)
  return seq
end
local function token_ok(token)
  return redis.call('HGET', job, 'token') == token and redis.call('HGET', job, 'status') == 'running'
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"#;

/// Shared Lua of the two claim scripts: hand queued job `id` (whose `job`,
/// `stream` and `channel` are set) to `worker` under `token`.
const START_FN: &str = r#"
local function start(id, running, token, worker, now, template)
  local attempts = redis.call('HINCRBY', job, 'attempts', 1)
  redis.call('HSET', job, 'status', 'running', 'token', token, 'worker', worker, 'started_at', now)
  redis.call('SADD', running, id)
  template = string.gsub(template, '"jobId":"JOBID"', '"jobId":"' .. id .. '"', 1)
  emit((string.gsub(template, '"attempt":0', '"attempt":' .. attempts, 1)))
  return redis.call('HGETALL', job)
end
"#;

fn script(body: &str) -> Script {
    Script::new(&format!("{EMIT_FN}\n{body}"))
}

fn claim_script(body: &str) -> Script {
    Script::new(&format!("{EMIT_FN}\n{START_FN}\n{body}"))
}

impl Scripts {
    fn new() -> Scripts {
        Scripts {
            // KEYS: job stream jobs queue submissions; ARGV: channel maxlen id spec created template
            // The jobs index is scored by a submission counter, not the clock: two jobs
            // submitted in the same millisecond still list newest first.
            submit: script(
                r#"
job, stream, channel, maxlen = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
redis.call('HSET', job, 'spec', ARGV[4], 'status', 'queued', 'attempts', 0, 'progress', 0, 'seq', 0, 'cancel', 0, 'created_at', ARGV[5])
redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[5]), ARGV[3])
emit(ARGV[6])
redis.call('LPUSH', KEYS[4], ARGV[3])
return 1
"#,
            ),
            // KEYS: queue running workers; ARGV: prefix maxlen token worker template
            // Returns {id, record fields...}, or nothing when the queue is empty.
            claim_next: claim_script(
                r#"
local prefix, token, worker = ARGV[1], ARGV[3], ARGV[4]
maxlen = ARGV[2]
local now = now_ms()
redis.call('ZADD', KEYS[3], now, worker)
while true do
  local id = redis.call('RPOP', KEYS[1])
  if not id then return {} end
  job = prefix .. ':job:' .. id
  -- A job cancelled while queued is normally gone from the queue already.
  if redis.call('HGET', job, 'status') == 'queued' then
    stream = prefix .. ':events:' .. id
    channel = 'job_' .. id
    local reply = start(id, KEYS[2], token, worker, now, ARGV[5])
    table.insert(reply, 1, id)
    return reply
  end
end
"#,
            ),
            // KEYS: job stream claiming running; ARGV: channel maxlen id token worker template
            claim: claim_script(
                r#"
job, stream, channel, maxlen = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
redis.call('LREM', KEYS[3], 1, ARGV[3])
if redis.call('HGET', job, 'status') ~= 'queued' then return {} end
return start(ARGV[3], KEYS[4], ARGV[4], ARGV[5], now_ms(), ARGV[6])
"#,
            ),
            // KEYS: job stream; ARGV: channel maxlen token template progress
            emit: script(
                r#"
job, stream, channel, maxlen = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
if not token_ok(ARGV[3]) then return -1 end
if ARGV[5] ~= '' then redis.call('HSET', job, 'progress', ARGV[5]) end
return emit(ARGV[4])
"#,
            ),
            // KEYS: job stream running; ARGV: channel maxlen token template status field value progress id ttl
            finish: script(
                r#"
job, stream, channel, maxlen = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
if not token_ok(ARGV[3]) then return -1 end
redis.call('HSET', job, 'status', ARGV[5], ARGV[6], ARGV[7], 'finished_at', now_ms())
if ARGV[8] ~= '' then redis.call('HSET', job, 'progress', ARGV[8]) end
redis.call('HDEL', job, 'token')
redis.call('SREM', KEYS[3], ARGV[9])
local seq = emit(ARGV[4])
redis.call('EXPIRE', stream, ARGV[10])
return seq
"#,
            ),
            // KEYS: job stream running queue; ARGV: channel maxlen token template id
            requeue: script(
                r#"
job, stream, channel, maxlen = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
if not token_ok(ARGV[3]) then return -1 end
redis.call('HSET', job, 'status', 'queued')
redis.call('HDEL', job, 'token', 'worker')
redis.call('HINCRBY', job, 'attempts', -1)
redis.call('SREM', KEYS[3], ARGV[5])
emit(ARGV[4])
redis.call('RPUSH', KEYS[4], ARGV[5])
return 1
"#,
            ),
            // KEYS: job stream queue; ARGV: channel maxlen id template ttl message
            cancel: script(
                r#"
job, stream, channel, maxlen = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local status = redis.call('HGET', job, 'status')
if not status then return 'missing' end
if status == 'queued' then
  redis.call('HSET', job, 'status', 'cancelled', 'cancel', 1, 'error', ARGV[6], 'finished_at', now_ms())
  redis.call('LREM', KEYS[3], 0, ARGV[3])
  emit(ARGV[4])
  redis.call('EXPIRE', stream, ARGV[5])
  return 'cancelled'
end
if status == 'running' then
  redis.call('HSET', job, 'cancel', 1)
  return 'requested'
end
return 'ended:' .. status
"#,
            ),
            // KEYS: workers; ARGV: worker
            heartbeat: script(
                r#"
redis.call('ZADD', KEYS[1], now_ms(), ARGV[1])
return 1
"#,
            ),
            // KEYS: running workers queue; ARGV: prefix dead_after_ms max_attempts maxlen ttl
            reap: script(
                r#"
local prefix, dead_after, max_attempts, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[5]
maxlen = ARGV[4]
local now = now_ms()
local handled = {}
local function dead(worker)
  if not worker then return true end
  local beat = redis.call('ZSCORE', KEYS[2], worker)
  return (not beat) or (now - tonumber(beat) > dead_after)
end
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  job = prefix .. ':job:' .. id
  stream = prefix .. ':events:' .. id
  channel = 'job_' .. id
  local worker = redis.call('HGET', job, 'worker')
  if redis.call('HGET', job, 'status') ~= 'running' then
    redis.call('SREM', KEYS[1], id)
  elseif dead(worker) then
    local attempts = tonumber(redis.call('HGET', job, 'attempts') or '0')
    redis.call('HDEL', job, 'token', 'worker')
    redis.call('SREM', KEYS[1], id)
    local who = worker or '?'
    if attempts >= max_attempts then
      local message = 'the job failed after ' .. attempts .. ' attempts: each time its worker stopped responding while training (last worker: ' .. who .. ')'
      redis.call('HSET', job, 'status', 'failed', 'error', message, 'finished_at', now)
      emit('{"type":"error","seq":0,"jobId":' .. cjson.encode(id) .. ',"message":' .. cjson.encode(message) .. '}')
      redis.call('EXPIRE', stream, ttl)
    else
      redis.call('HSET', job, 'status', 'queued')
      local message = 're-queued: worker ' .. who .. ' stopped responding (attempt ' .. attempts .. ' of ' .. max_attempts .. ')'
      emit('{"type":"status","seq":0,"jobId":' .. cjson.encode(id) .. ',"status":"queued","message":' .. cjson.encode(message) .. '}')
      redis.call('RPUSH', KEYS[3], id)
    end
    table.insert(handled, id)
  end
end
-- Jobs a dead worker took off the queue but never claimed go back.
for _, worker in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - dead_after)) do
  local claiming = prefix .. ':claiming:' .. worker
  for _, id in ipairs(redis.call('LRANGE', claiming, 0, -1)) do
    redis.call('RPUSH', KEYS[3], id)
  end
  redis.call('DEL', claiming)
  redis.call('ZREM', KEYS[2], worker)
end
return handled
"#,
            ),
        }
    }
}

impl RedisBroker {
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<RedisBroker> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new().set_response_timeout(Some(Duration::from_secs(10))).set_connection_timeout(Some(Duration::from_secs(5)));
        let conn = client.get_connection_manager_with_config(config).await?;
        let blocking = client
            .get_multiplexed_async_connection_with_config(
                &AsyncConnectionConfig::new().set_response_timeout(None).set_connection_timeout(Some(Duration::from_secs(5))),
            )
            .await?;
        let hub = Hub::new();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(listen(client, hub.clone(), ready_tx));
        ready_rx.await.map_err(|_| anyhow::anyhow!("the Redis pub/sub listener stopped"))??;
        let prefix = if prefix.is_empty() { "trainhost".to_string() } else { prefix.to_string() };
        Ok(RedisBroker { prefix, conn, blocking: AsyncMutex::new(blocking), hub, scripts: Scripts::new() })
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
        let fields: std::collections::HashMap<String, String> = redis::cmd("HGETALL").arg(self.job_key(id)).query_async(&mut self.conn()).await?;
        parse_record(id, &fields)
    }

    /// Claims the next queued job without waiting (and heartbeats), in one round trip.
    async fn claim_next(&self, worker: &str) -> Result<Option<Claim>> {
        let token = uuid::Uuid::new_v4().to_string();
        let reply: Vec<String> = self
            .scripts
            .claim_next
            .key(self.key(&["queue"]))
            .key(self.key(&["running"]))
            .key(self.key(&["workers"]))
            .arg(&self.prefix)
            .arg(STREAM_MAXLEN)
            .arg(&token)
            .arg(worker)
            .arg(&*RUNNING_TEMPLATE)
            .invoke_async(&mut self.conn())
            .await?;
        let Some((id, flat)) = reply.split_first() else { return Ok(None) };
        let fields = flat.chunks_exact(2).map(|kv| (kv[0].clone(), kv[1].clone())).collect();
        let job = parse_record(id, &fields)?.ok_or_else(|| BrokerError::NotFound(id.clone()))?;
        Ok(Some(Claim { job, token, worker: worker.to_string() }))
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
}

/// One pattern subscription per process delivers every job's events to the
/// local hub; reconnects on failure (sockets fill any gap from the stream).
async fn listen(client: redis::Client, hub: Arc<Hub>, ready: tokio::sync::oneshot::Sender<anyhow::Result<()>>) {
    let mut ready = Some(ready);
    loop {
        let result = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.psubscribe("job_*").await?;
            Ok::<_, redis::RedisError>(pubsub)
        }
        .await;
        match result {
            Ok(mut pubsub) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Ok(()));
                }
                let mut messages = pubsub.on_message();
                while let Some(msg) = messages.next().await {
                    let Some(id) = msg.get_channel_name().strip_prefix("job_") else { continue };
                    let Ok(payload) = msg.get_payload::<String>() else { continue };
                    if let Some(event) = StoredEvent::parse_owned(payload) {
                        hub.publish(id, event);
                    }
                }
                tracing::warn!("Redis pub/sub connection lost; reconnecting");
            }
            Err(e) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Err(e.into()));
                    return;
                }
                tracing::warn!(error = %e, "Redis pub/sub reconnect failed");
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn parse_record(id: &str, f: &std::collections::HashMap<String, String>) -> Result<Option<JobRecord>> {
    let Some(spec) = f.get("spec") else { return Ok(None) };
    let bad = |what: &str| BrokerError::Backend(format!("job {id}: bad `{what}` field in Redis"));
    let spec: JobSpec = serde_json::from_str(spec).map_err(|_| bad("spec"))?;
    let num = |k: &str| f.get(k).and_then(|v| v.parse::<i64>().ok());
    let status = f.get("status").and_then(|s| JobStatus::parse(s)).ok_or_else(|| bad("status"))?;
    Ok(Some(JobRecord {
        job_id: id.to_string(),
        status,
        spec,
        progress: num("progress").unwrap_or(0).clamp(0, 100) as u8,
        attempts: num("attempts").unwrap_or(0).max(0) as u32,
        results: f.get("results").and_then(|r| serde_json::from_str(r).ok()),
        error: f.get("error").cloned(),
        cancel_requested: num("cancel").unwrap_or(0) != 0,
        worker: f.get("worker").cloned(),
        created_at: num("created_at").unwrap_or(0),
        started_at: num("started_at"),
        finished_at: num("finished_at"),
        last_seq: num("seq").unwrap_or(0).max(0) as u64,
    }))
}

#[async_trait]
impl Broker for RedisBroker {
    async fn submit(&self, job_id: &str, spec: JobSpec) -> Result<JobRecord> {
        let mut record = JobRecord::new(job_id.to_string(), spec);
        let spec_json = serde_json::to_string(&record.spec).expect("specs are plain data");
        self.scripts
            .submit
            .key(self.job_key(job_id))
            .key(self.stream_key(job_id))
            .key(self.key(&["jobs"]))
            .key(self.key(&["queue"]))
            .key(self.key(&["submissions"]))
            .arg(format!("job_{job_id}"))
            .arg(STREAM_MAXLEN)
            .arg(job_id)
            .arg(spec_json)
            .arg(record.created_at)
            .arg(Event::status(job_id, JobStatus::Queued, None, None).template())
            .invoke_async::<i64>(&mut self.conn())
            .await?;
        record.last_seq = 1;
        Ok(record)
    }

    async fn get(&self, job_id: &str) -> Result<Option<JobRecord>> {
        self.record(job_id).await
    }

    async fn list(&self, query: &JobQuery) -> Result<JobPage> {
        let mut conn = self.conn();
        let ids: Vec<String> = redis::cmd("ZREVRANGE").arg(self.key(&["jobs"])).arg(0).arg(-1).query_async(&mut conn).await?;
        let filtered = query.status.is_some() || query.plugin.is_some() || query.dataset_id.is_some();
        let mut matching = Vec::new();
        if filtered {
            let mut pipe = redis::pipe();
            for id in &ids {
                pipe.cmd("HMGET").arg(self.job_key(id)).arg("status").arg("spec");
            }
            let rows: Vec<(Option<String>, Option<String>)> = if ids.is_empty() { vec![] } else { pipe.query_async(&mut conn).await? };
            for (id, (status, spec)) in ids.iter().zip(rows) {
                let (Some(status), Some(spec)) = (status.and_then(|s| JobStatus::parse(&s)), spec) else { continue };
                let Ok(spec) = serde_json::from_str::<JobSpec>(&spec) else { continue };
                let probe = JobRecord { status, ..JobRecord::new(id.clone(), spec) };
                if query.matches(&probe) {
                    matching.push(id.clone());
                }
            }
        } else {
            matching = ids;
        }
        let total = matching.len();
        let mut jobs = Vec::new();
        for id in matching.iter().skip(query.offset).take(query.limit) {
            if let Some(r) = self.record(id).await? {
                jobs.push(r);
            }
        }
        Ok(JobPage { jobs, total })
    }

    async fn claim(&self, worker: &str, wait: Duration) -> Result<Option<Claim>> {
        if let Some(claim) = self.claim_next(worker).await? {
            return Ok(Some(claim));
        }
        let claiming = self.key(&["claiming", worker]);
        let id: Option<String> = {
            let mut blocking = self.blocking.lock().await;
            redis::cmd("BLMOVE")
                .arg(self.key(&["queue"]))
                .arg(&claiming)
                .arg("RIGHT")
                .arg("LEFT")
                .arg(wait.as_secs_f64().max(0.01))
                .query_async(&mut *blocking)
                .await?
        };
        let Some(id) = id else { return Ok(None) };
        let token = uuid::Uuid::new_v4().to_string();
        // The script returns the claimed record (saves a round trip), or nothing.
        let fields: std::collections::HashMap<String, String> = self
            .scripts
            .claim
            .key(self.job_key(&id))
            .key(self.stream_key(&id))
            .key(&claiming)
            .key(self.key(&["running"]))
            .arg(format!("job_{id}"))
            .arg(STREAM_MAXLEN)
            .arg(&id)
            .arg(&token)
            .arg(worker)
            .arg(&*RUNNING_TEMPLATE)
            .invoke_async(&mut self.conn())
            .await?;
        if fields.is_empty() {
            // Cancelled (or gone) while queued: nothing to run.
            return Ok(None);
        }
        let job = parse_record(&id, &fields)?.ok_or_else(|| BrokerError::NotFound(id.clone()))?;
        Ok(Some(Claim { job, token, worker: worker.to_string() }))
    }

    async fn emit(&self, claim: &Claim, event: Event) -> Result<u64> {
        let id = claim.job_id();
        let seq: i64 = self
            .scripts
            .emit
            .key(self.job_key(id))
            .key(self.stream_key(id))
            .arg(format!("job_{id}"))
            .arg(STREAM_MAXLEN)
            .arg(&claim.token)
            .arg(event.template())
            .arg(event.progress_value().map(|p| p.to_string()).unwrap_or_default())
            .invoke_async(&mut self.conn())
            .await?;
        if seq < 0 {
            return Err(BrokerError::Stale(id.into()));
        }
        Ok(seq as u64)
    }

    async fn finish(&self, claim: &Claim, ending: Ending) -> Result<()> {
        let id = claim.job_id();
        let (field, value, progress) = match &ending {
            Ending::Completed { results, .. } => ("results", serde_json::to_string(results).expect("results are plain data"), "100"),
            Ending::Failed(m) | Ending::Cancelled(m) => ("error", m.clone(), ""),
        };
        let seq: i64 = self
            .scripts
            .finish
            .key(self.job_key(id))
            .key(self.stream_key(id))
            .key(self.key(&["running"]))
            .arg(format!("job_{id}"))
            .arg(STREAM_MAXLEN)
            .arg(&claim.token)
            .arg(ending.event(id).template())
            .arg(ending.status().as_str())
            .arg(field)
            .arg(value)
            .arg(progress)
            .arg(id)
            .arg(STREAM_TTL_SECS)
            .invoke_async(&mut self.conn())
            .await?;
        if seq < 0 {
            return Err(BrokerError::Stale(id.into()));
        }
        Ok(())
    }

    async fn requeue(&self, claim: &Claim) -> Result<()> {
        let id = claim.job_id();
        let done: i64 = self
            .scripts
            .requeue
            .key(self.job_key(id))
            .key(self.stream_key(id))
            .key(self.key(&["running"]))
            .key(self.key(&["queue"]))
            .arg(format!("job_{id}"))
            .arg(STREAM_MAXLEN)
            .arg(&claim.token)
            .arg(Event::status(id, JobStatus::Queued, None, Some("re-queued: its worker is shutting down".into())).template())
            .arg(id)
            .invoke_async(&mut self.conn())
            .await?;
        if done < 0 {
            return Err(BrokerError::Stale(id.into()));
        }
        Ok(())
    }

    async fn cancel(&self, job_id: &str) -> Result<CancelOutcome> {
        let template = Event::Cancelled { seq: 0, job_id: job_id.into(), message: CANCELLED_BEFORE_START.into() }.template();
        let status: String = self
            .scripts
            .cancel
            .key(self.job_key(job_id))
            .key(self.stream_key(job_id))
            .key(self.key(&["queue"]))
            .arg(format!("job_{job_id}"))
            .arg(STREAM_MAXLEN)
            .arg(job_id)
            .arg(template)
            .arg(STREAM_TTL_SECS)
            .arg(CANCELLED_BEFORE_START)
            .invoke_async(&mut self.conn())
            .await?;
        match status.as_str() {
            "missing" => Err(BrokerError::NotFound(job_id.into())),
            "cancelled" => Ok(CancelOutcome::Cancelled),
            "requested" => Ok(CancelOutcome::Requested),
            other => {
                let ended = other.strip_prefix("ended:").and_then(JobStatus::parse).unwrap_or(JobStatus::Failed);
                Ok(CancelOutcome::AlreadyEnded(ended))
            }
        }
    }

    async fn cancel_requested(&self, job_id: &str) -> Result<bool> {
        let flag: Option<String> = redis::cmd("HGET").arg(self.job_key(job_id)).arg("cancel").query_async(&mut self.conn()).await?;
        Ok(flag.as_deref() == Some("1"))
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
        let handled: Vec<String> = self
            .scripts
            .reap
            .key(self.key(&["running"]))
            .key(self.key(&["workers"]))
            .key(self.key(&["queue"]))
            .arg(&self.prefix)
            .arg(policy.dead_after.as_millis() as u64)
            .arg(policy.max_attempts)
            .arg(STREAM_MAXLEN)
            .arg(STREAM_TTL_SECS)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(handled)
    }

    async fn events_after(&self, job_id: &str, after: u64) -> Result<Vec<StoredEvent>> {
        let entries: Vec<(String, Vec<(String, String)>)> =
            redis::cmd("XRANGE").arg(self.stream_key(job_id)).arg("-").arg("+").query_async(&mut self.conn()).await?;
        if entries.is_empty() {
            // The stream expires a week after the job ends; the record stays
            // and still tells a late client how the job ended.
            let record = self.record(job_id).await?.ok_or_else(|| BrokerError::NotFound(job_id.into()))?;
            return Ok(record.terminal_event().filter(|e| e.seq > after).into_iter().collect());
        }
        Ok(entries
            .into_iter()
            .filter_map(|(_, fields)| fields.into_iter().find(|(k, _)| k == "e").and_then(|(_, v)| StoredEvent::parse(&v)))
            .filter(|e| e.seq > after)
            .collect())
    }

    async fn subscribe(&self, job_id: &str) -> Result<Subscription> {
        Ok(self.hub.subscribe(job_id))
    }

    async fn queue_depth(&self) -> Result<u64> {
        Ok(redis::cmd("LLEN").arg(self.key(&["queue"])).query_async(&mut self.conn()).await?)
    }

    async fn ping(&self) -> Result<()> {
        redis::cmd("PING").query_async::<String>(&mut self.conn()).await?;
        Ok(())
    }

    fn shared(&self) -> bool {
        true
    }
}
