//! Whether Redis still holds the data this process saw: a marker key
//! (`P:epoch`, a random id set by the first process that finds it absent) is
//! read back every `CHECK_EVERY`. A Redis without persistence that restarts
//! comes back empty, marker included: that is logged as an error, readiness
//! fails from then on, and a job this process knew (`KnownJobs`) whose record
//! is gone is reported as lost rather than as never having existed. Also the
//! warning at start when Redis persists nothing.
//!
//! Owns the marker and the set of known ids. It must not change job records.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use redis::aio::ConnectionManager;

use crate::queue::Result;

/// How often the marker is read back.
pub(super) const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Job ids remembered per process (about 100 bytes each).
const KNOWN_JOBS: usize = 100_000;

pub(super) struct Generation {
    key: String,
    state: Mutex<State>,
}

struct State {
    /// The marker's value this process expects.
    marker: String,
    /// When (Unix ms) this process found the marker gone, if it ever did.
    lost_at: Option<i64>,
    known: KnownJobs,
}

impl Generation {
    /// Sets the marker under `key` if it is absent and adopts its value.
    pub(super) async fn adopt(conn: &mut ConnectionManager, key: String) -> Result<Generation> {
        let marker = arm(conn, &key).await?;
        Ok(Generation { key, state: Mutex::new(State { marker, lost_at: None, known: KnownJobs::default() }) })
    }

    /// Reads the marker back; `true` when it vanished (or changed) since it was last read.
    pub(super) async fn check(&self, conn: &mut ConnectionManager) -> Result<bool> {
        let current: Option<String> = redis::cmd("GET").arg(&self.key).query_async(conn).await?;
        let expected = self.state.lock().marker.clone();
        if current.as_deref() == Some(expected.as_str()) {
            return Ok(false);
        }
        tracing::error!(
            marker = %self.key,
            "Redis lost its data (it restarted without persistence, or was flushed): every job submitted before is gone, running jobs cannot finish \
             and their models are orphaned; run Redis with `--appendonly yes` (see README), then restart the trainhost processes"
        );
        // Armed again, so that a later loss is noticed too.
        let marker = arm(conn, &self.key).await?;
        let mut state = self.state.lock();
        state.marker = marker;
        state.lost_at = Some(crate::ids::now_ms());
        Ok(true)
    }

    /// When this process found Redis emptied, if it did.
    pub(super) fn lost_at(&self) -> Option<i64> {
        self.state.lock().lost_at
    }

    pub(super) fn remember(&self, job_id: &str) {
        self.state.lock().known.insert(job_id);
    }

    pub(super) fn knew(&self, job_id: &str) -> bool {
        self.state.lock().known.contains(job_id)
    }

    /// Checks the marker every `CHECK_EVERY` until the broker is dropped.
    pub(super) fn watch(generation: &Arc<Generation>, conn: ConnectionManager, timeout: Duration) {
        let weak: Weak<Generation> = Arc::downgrade(generation);
        tokio::spawn(async move {
            let mut conn = conn;
            loop {
                tokio::time::sleep(CHECK_EVERY).await;
                let Some(generation) = weak.upgrade() else { return };
                // An unreachable Redis is not a lost one: the next check tells.
                let _ = tokio::time::timeout(timeout, generation.check(&mut conn)).await;
            }
        });
    }
}

/// Sets the marker if absent; returns its value.
async fn arm(conn: &mut ConnectionManager, key: &str) -> Result<String> {
    let fresh = uuid::Uuid::new_v4().to_string();
    let _: Option<String> = redis::cmd("SET").arg(key).arg(&fresh).arg("NX").query_async(conn).await?;
    let marker: Option<String> = redis::cmd("GET").arg(key).query_async(conn).await?;
    Ok(marker.unwrap_or(fresh))
}

/// The most recent `KNOWN_JOBS` ids, oldest forgotten first.
#[derive(Default)]
struct KnownJobs {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl KnownJobs {
    fn insert(&mut self, id: &str) {
        if self.ids.contains(id) {
            return;
        }
        if self.order.len() >= KNOWN_JOBS {
            if let Some(oldest) = self.order.pop_front() {
                self.ids.remove(&oldest);
            }
        }
        self.ids.insert(id.to_string());
        self.order.push_back(id.to_string());
    }

    fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }
}

/// What Redis keeps across a restart, as far as `CONFIG GET` tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Persistence {
    /// The append-only file: every write survives (within a second).
    AppendOnly,
    /// RDB snapshots only (`save` rules): a restart loses what came after the last one.
    SnapshotsOnly,
    None,
}

/// Reads Redis's persistence settings; `None` when `CONFIG` is disabled or renamed.
pub async fn persistence(conn: &mut ConnectionManager) -> Option<Persistence> {
    let setting = |name: &'static str| {
        let mut conn = conn.clone();
        async move {
            let pair: Vec<String> = redis::cmd("CONFIG").arg("GET").arg(name).query_async(&mut conn).await.ok()?;
            pair.get(1).cloned()
        }
    };
    let appendonly = setting("appendonly").await?;
    let save = setting("save").await?;
    Some(if appendonly.eq_ignore_ascii_case("yes") {
        Persistence::AppendOnly
    } else if !save.trim().is_empty() {
        Persistence::SnapshotsOnly
    } else {
        Persistence::None
    })
}

/// Logs a warning when Redis would lose jobs on a restart.
pub(super) async fn warn_unless_persistent(conn: &mut ConnectionManager) {
    match persistence(conn).await {
        Some(Persistence::AppendOnly) => {}
        Some(Persistence::SnapshotsOnly) => tracing::warn!(
            "Redis persists only RDB snapshots (appendonly no): a restart loses the jobs submitted since the last snapshot; run it with `--appendonly yes`"
        ),
        Some(Persistence::None) => tracing::warn!(
            "Redis has no persistence (appendonly no, save \"\"): a restart of Redis loses every job, running ones included; run it with `--appendonly yes`"
        ),
        None => tracing::info!("cannot read Redis's persistence settings (CONFIG is disabled); make sure it runs with `--appendonly yes`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_jobs_forget_the_oldest_beyond_the_bound() {
        let mut known = KnownJobs::default();
        for i in 0..KNOWN_JOBS + 2 {
            known.insert(&i.to_string());
        }
        known.insert("5");
        assert!(!known.contains("0") && !known.contains("1"));
        assert!(known.contains("2") && known.contains(&(KNOWN_JOBS + 1).to_string()));
        assert_eq!((known.ids.len(), known.order.len()), (KNOWN_JOBS, KNOWN_JOBS));
    }
}
