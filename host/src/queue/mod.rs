//! The broker: job records, the work queue, per-job event logs and live event
//! delivery, behind one trait with two implementations: `redis` (several
//! processes and machines) and `embedded` (one process, persisted in the data
//! dir). Both pass the same contract suite (`tests/broker_contract.rs`).
//!
//! Owns where jobs and events live and what keeps them consistent: seq
//! numbering, claim tokens, and applying each transition `jobs::lifecycle`
//! decides atomically. It must not decide transitions itself, run training,
//! read datasets or know about HTTP.

pub mod embedded;
pub mod hub;
pub mod redis;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::accounts::AccountStore;
use crate::config::Config;
use crate::jobs::lifecycle::CancelCause;
use crate::jobs::{Ending, Event, JobPage, JobQuery, JobRecord, JobSpec, JobStatus, StoredEvent};
pub use hub::{Hub, Subscription};

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("job {0} not found")]
    NotFound(String),
    /// The claim is no longer the job's current one (reaped, re-queued, finished).
    #[error("the claim on job {0} is no longer valid")]
    Stale(String),
    #[error("broker: {0}")]
    Backend(String),
    /// A job this process knew whose record is gone: the broker lost its data.
    #[error("job {0}: the broker lost this job's record (Redis restarted without persistence)")]
    Lost(String),
    /// The broker came back without the data it held (readiness says so).
    #[error("{0}")]
    DataLost(String),
}

impl From<::redis::RedisError> for BrokerError {
    fn from(e: ::redis::RedisError) -> Self {
        BrokerError::Backend(e.to_string())
    }
}

pub type Result<T, E = BrokerError> = std::result::Result<T, E>;

/// A worker's hold on one attempt of a job.
#[derive(Debug, Clone)]
pub struct Claim {
    pub job: JobRecord,
    pub token: String,
    pub worker: String,
}

impl Claim {
    pub fn job_id(&self) -> &str {
        &self.job.job_id
    }
}

/// What `cancel` found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// It was queued: it is now cancelled.
    Cancelled,
    /// It is running: the flag is set; its worker stops it.
    Requested,
    /// It had already ended with this status.
    AlreadyEnded(JobStatus),
}

/// Settings of the reaper: how long a worker may stay silent, how many attempts a job gets.
#[derive(Debug, Clone, Copy)]
pub struct ReapPolicy {
    pub dead_after: Duration,
    pub max_attempts: u32,
}

#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Stores a new job as queued, emits `status: queued` (seq 1) and queues it.
    async fn submit(&self, job_id: &str, spec: JobSpec) -> Result<JobRecord>;
    async fn get(&self, job_id: &str) -> Result<Option<JobRecord>>;
    /// Newest first.
    async fn list(&self, query: &JobQuery) -> Result<JobPage>;
    /// Takes the next queued job, waiting up to `wait`. The job is marked
    /// running with a fresh claim token, its attempt count raised, and
    /// `status: running` emitted.
    async fn claim(&self, worker: &str, wait: Duration) -> Result<Option<Claim>>;
    /// Emits a non-terminal event for a claimed job; refused if the claim is stale.
    async fn emit(&self, claim: &Claim, event: Event) -> Result<u64>;
    /// Ends the job: record and terminal event together; refused if the claim is stale.
    async fn finish(&self, claim: &Claim, ending: Ending) -> Result<()>;
    /// Puts a claimed job back on the queue without counting the attempt
    /// (a worker shutting down).
    async fn requeue(&self, claim: &Claim) -> Result<()>;
    /// Cancels at a user's request.
    async fn cancel(&self, job_id: &str) -> Result<CancelOutcome> {
        self.cancel_for(job_id, CancelCause::Requested).await
    }
    /// Cancels for `cause`, which the job's messages tell.
    async fn cancel_for(&self, job_id: &str, cause: CancelCause) -> Result<CancelOutcome>;
    async fn cancel_requested(&self, job_id: &str) -> Result<bool>;
    /// The ids of running jobs asked to cancel from now on, from any process
    /// sharing the broker: a wake-up for their workers, so a cancel (a pruned
    /// trial) lands at once instead of at the next read of the flag. Best
    /// effort; `cancel_requested` stays the truth.
    fn cancel_requests(&self) -> tokio::sync::broadcast::Receiver<String>;
    /// Says `worker` is alive.
    async fn heartbeat(&self, worker: &str) -> Result<()>;
    /// A worker leaving cleanly.
    async fn retire(&self, worker: &str) -> Result<()>;
    /// Re-queues the jobs of workers silent for longer than the policy allows,
    /// failing those that used up their attempts. Returns the job ids handled.
    async fn reap(&self, policy: ReapPolicy) -> Result<Vec<String>>;
    /// Stored events with seq > `after`, in order.
    async fn events_after(&self, job_id: &str, after: u64) -> Result<Vec<StoredEvent>>;
    /// Live events of a job from now on (subscribe BEFORE replaying).
    async fn subscribe(&self, job_id: &str) -> Result<Subscription>;
    /// Jobs waiting in the queue.
    async fn queue_depth(&self) -> Result<u64>;
    /// Where a queued job waits: 1 is taken next; None when it is not in the queue.
    async fn queue_position(&self, job_id: &str) -> Result<Option<u64>>;
    async fn ping(&self) -> Result<()>;
    /// Whether jobs can be claimed by another process (false for embedded).
    fn shared(&self) -> bool;
}

/// The broker the config asks for.
pub async fn connect(config: &Config) -> anyhow::Result<Arc<dyn Broker>> {
    if config.broker.redis_url.trim().is_empty() {
        let dir = config.storage.data_dir.join("broker");
        let broker = Arc::new(embedded::EmbeddedBroker::open_with(&dir, config.event_retention())?);
        embedded::EmbeddedBroker::sweep_periodically(&broker);
        Ok(broker)
    } else {
        let settings = redis::RedisSettings { timeout: config.broker_timeout() };
        Ok(Arc::new(redis::RedisBroker::connect_with(&config.broker.redis_url, &config.broker.key_prefix, settings).await?))
    }
}

/// The broker the config asks for, with the accounts it keeps beside its jobs.
pub async fn connect_with_accounts(config: &Config) -> anyhow::Result<(Arc<dyn Broker>, Arc<dyn AccountStore>)> {
    if config.broker.redis_url.trim().is_empty() {
        let dir = config.storage.data_dir.join("broker");
        let broker = Arc::new(embedded::EmbeddedBroker::open_with(&dir, config.event_retention())?);
        embedded::EmbeddedBroker::sweep_periodically(&broker);
        let accounts = Arc::new(embedded::accounts::EmbeddedAccounts::open(&dir, broker.clone())?);
        Ok((broker, accounts))
    } else {
        let settings = redis::RedisSettings { timeout: config.broker_timeout() };
        let broker = Arc::new(redis::RedisBroker::connect_with(&config.broker.redis_url, &config.broker.key_prefix, settings).await?);
        Ok((broker.clone(), broker))
    }
}

/// Cancels the jobs of a dataset that was just deleted: queued ones at once,
/// running ones by their flag (their worker tells why). Returns how many of each.
pub async fn cancel_jobs_of_dataset(broker: &dyn Broker, dataset_id: &str) -> Result<(usize, usize)> {
    let (mut cancelled, mut requested) = (0, 0);
    for status in [JobStatus::Queued, JobStatus::Running] {
        let query = JobQuery { status: Some(status), dataset_id: Some(dataset_id.to_string()), limit: usize::MAX, ..JobQuery::default() };
        for job in broker.list(&query).await?.jobs {
            match broker.cancel_for(&job.job_id, CancelCause::DatasetDeleted).await {
                Ok(CancelOutcome::Cancelled) => cancelled += 1,
                Ok(CancelOutcome::Requested) => requested += 1,
                Ok(CancelOutcome::AlreadyEnded(_)) | Err(BrokerError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok((cancelled, requested))
}
