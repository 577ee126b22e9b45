//! The embedded broker's accounts: users, token hashes and stored dataset
//! bytes in `broker/accounts.json` beside the job journal (the same locked
//! directory, so one process at a time), rewritten whole on every change (it
//! is small and changes rarely). Active jobs and the last hour's submissions
//! are not stored: they are the broker's own job records, counted at start
//! and kept up to date as jobs are reserved and end.
//!
//! Owns that file and the quota bookkeeping of one process, under one lock,
//! which is what makes a reservation atomic here. It must not decide who may
//! do what (the API's `auth` does).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::EmbeddedBroker;
use crate::accounts::{AccountError, AccountStore, Quota, QuotaHit, Result, TokenRecord, Usage, User};
use crate::jobs::{now_ms, JobStatus};
use crate::queue::BrokerError;

/// A reservation whose job is not (yet) in the broker counts this long: the
/// submit that made it is under way, or died before storing the job.
pub(crate) const PENDING_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;

#[derive(Default, Serialize, Deserialize)]
struct Saved {
    users: BTreeMap<String, User>,
    /// By hash.
    tokens: BTreeMap<String, TokenRecord>,
    /// User -> dataset id -> bytes.
    datasets: BTreeMap<String, BTreeMap<String, u64>>,
}

#[derive(Default)]
struct Live {
    /// User -> job id -> when it was reserved.
    active: HashMap<String, HashMap<String, i64>>,
    /// User -> (time, job id) of the last hour's submissions, oldest first.
    submits: HashMap<String, VecDeque<(i64, String)>>,
}

pub struct EmbeddedAccounts {
    path: PathBuf,
    broker: Arc<EmbeddedBroker>,
    state: Mutex<(Saved, Live)>,
}

impl EmbeddedAccounts {
    /// Opens the accounts of the broker whose journal is in `dir`.
    pub fn open(dir: &Path, broker: Arc<EmbeddedBroker>) -> anyhow::Result<EmbeddedAccounts> {
        let path = dir.join("accounts.json");
        let saved: Saved = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| anyhow::anyhow!("{}: corrupt accounts file: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Saved::default(),
            Err(e) => anyhow::bail!("reading {}: {e}", path.display()),
        };
        let live = live_from(&broker);
        Ok(EmbeddedAccounts { path, broker, state: Mutex::new((saved, live)) })
    }

    fn save(&self, saved: &mut Saved) -> Result<()> {
        let now = now_ms();
        saved.tokens.retain(|_, t| t.is_live(now));
        let bytes = serde_json::to_vec(saved).map_err(|e| backend(e.to_string()))?;
        crate::files::write_atomically(&self.path, &bytes).map_err(|e| backend(format!("writing {}: {e}", self.path.display())))
    }

    fn status(&self, job_id: &str) -> Option<JobStatus> {
        self.broker.state.lock().jobs.get(job_id).map(|e| e.record.status)
    }

    /// Drops the user's reservations whose job ended (or never came); returns how many remain.
    fn prune_active(&self, live: &mut Live, user: &str, now: i64) -> u64 {
        let Some(active) = live.active.get_mut(user) else { return 0 };
        active.retain(|id, reserved| match self.status(id) {
            None => now - *reserved < PENDING_MS,
            Some(status) => !status.is_terminal(),
        });
        active.len() as u64
    }
}

/// The active jobs and last hour's submissions of the broker's job records.
fn live_from(broker: &EmbeddedBroker) -> Live {
    let mut live = Live::default();
    let state = broker.state.lock();
    let since = now_ms() - HOUR_MS;
    for id in &state.order {
        let Some(entry) = state.jobs.get(id) else { continue };
        let Some(owner) = &entry.record.spec.owner else { continue };
        if !entry.record.status.is_terminal() {
            live.active.entry(owner.clone()).or_default().insert(id.clone(), entry.record.created_at);
        }
        if entry.record.created_at > since {
            live.submits.entry(owner.clone()).or_default().push_back((entry.record.created_at, id.clone()));
        }
    }
    live
}

fn backend(message: String) -> AccountError {
    AccountError::Broker(BrokerError::Backend(message))
}

fn prune_hour<'a>(live: &'a mut Live, user: &str, now: i64) -> &'a mut VecDeque<(i64, String)> {
    let submits = live.submits.entry(user.to_string()).or_default();
    while submits.front().is_some_and(|(at, _)| now - at >= HOUR_MS) {
        submits.pop_front();
    }
    submits
}

#[async_trait]
impl AccountStore for EmbeddedAccounts {
    async fn user(&self, name: &str) -> Result<Option<User>> {
        Ok(self.state.lock().0.users.get(name).cloned())
    }

    async fn users(&self) -> Result<Vec<User>> {
        Ok(self.state.lock().0.users.values().cloned().collect())
    }

    async fn create_user(&self, user: &User) -> Result<()> {
        let mut state = self.state.lock();
        if state.0.users.contains_key(&user.name) {
            return Err(AccountError::Exists(user.name.clone()));
        }
        state.0.users.insert(user.name.clone(), user.clone());
        self.save(&mut state.0)
    }

    async fn update_user(&self, user: &User) -> Result<()> {
        let mut state = self.state.lock();
        let Some(stored) = state.0.users.get_mut(&user.name) else { return Err(AccountError::NoUser(user.name.clone())) };
        *stored = user.clone();
        self.save(&mut state.0)
    }

    async fn add_token(&self, token: &TokenRecord) -> Result<()> {
        let mut state = self.state.lock();
        state.0.tokens.insert(token.hash.clone(), token.clone());
        self.save(&mut state.0)
    }

    async fn token(&self, hash: &str) -> Result<Option<TokenRecord>> {
        Ok(self.state.lock().0.tokens.get(hash).cloned())
    }

    async fn revoke_token(&self, hash: &str) -> Result<()> {
        let mut state = self.state.lock();
        if state.0.tokens.remove(hash).is_some() {
            self.save(&mut state.0)?;
        }
        Ok(())
    }

    async fn revoke_tokens(&self, user: &str) -> Result<u64> {
        let mut state = self.state.lock();
        let before = state.0.tokens.len();
        state.0.tokens.retain(|_, t| t.user != user);
        let revoked = (before - state.0.tokens.len()) as u64;
        self.save(&mut state.0)?;
        Ok(revoked)
    }

    async fn reserve_job(&self, user: &str, job_id: &str, quota: &Quota) -> Result<Option<QuotaHit>> {
        let mut state = self.state.lock();
        let live = &mut state.1;
        let now = now_ms();
        let active = self.prune_active(live, user, now);
        if quota.active_jobs > 0 && active >= quota.active_jobs {
            return Ok(Some(QuotaHit { quota: "active_jobs", limit: quota.active_jobs, used: active, retry_after_secs: None }));
        }
        let submits = prune_hour(live, user, now);
        let used = submits.len() as u64;
        if quota.jobs_per_hour > 0 && used >= quota.jobs_per_hour {
            let oldest = submits.front().map_or(now, |(at, _)| *at);
            let retry = ((oldest + HOUR_MS - now).max(1000) as u64).div_ceil(1000);
            return Ok(Some(QuotaHit { quota: "jobs_per_hour", limit: quota.jobs_per_hour, used, retry_after_secs: Some(retry) }));
        }
        submits.push_back((now, job_id.to_string()));
        live.active.entry(user.to_string()).or_default().insert(job_id.to_string(), now);
        Ok(None)
    }

    async fn release_job(&self, user: &str, job_id: &str) -> Result<()> {
        let mut state = self.state.lock();
        if let Some(active) = state.1.active.get_mut(user) {
            active.remove(job_id);
        }
        if let Some(submits) = state.1.submits.get_mut(user) {
            submits.retain(|(_, id)| id != job_id);
        }
        Ok(())
    }

    async fn reserve_bytes(&self, user: &str, dataset_id: &str, bytes: u64, limit: u64) -> Result<Option<QuotaHit>> {
        let mut state = self.state.lock();
        let stored = state.0.datasets.entry(user.to_string()).or_default();
        let used: u64 = stored.values().sum();
        if limit > 0 && used.saturating_add(bytes) > limit {
            return Ok(Some(QuotaHit { quota: "dataset_bytes", limit, used, retry_after_secs: None }));
        }
        stored.insert(dataset_id.to_string(), bytes);
        self.save(&mut state.0)?;
        Ok(None)
    }

    async fn release_bytes(&self, user: &str, dataset_id: &str) -> Result<()> {
        let mut state = self.state.lock();
        let removed = state.0.datasets.get_mut(user).and_then(|d| d.remove(dataset_id)).is_some();
        if removed {
            self.save(&mut state.0)?;
        }
        Ok(())
    }

    async fn counted_datasets(&self, user: &str) -> Result<Vec<String>> {
        Ok(self.state.lock().0.datasets.get(user).map(|d| d.keys().cloned().collect()).unwrap_or_default())
    }

    async fn usage(&self, user: &str) -> Result<Usage> {
        let mut state = self.state.lock();
        let now = now_ms();
        let dataset_bytes = state.0.datasets.get(user).map_or(0, |d| d.values().sum());
        let active_jobs = self.prune_active(&mut state.1, user, now);
        let jobs_last_hour = prune_hour(&mut state.1, user, now).len() as u64;
        Ok(Usage { active_jobs, dataset_bytes, jobs_last_hour })
    }
}
