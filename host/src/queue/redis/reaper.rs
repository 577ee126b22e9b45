//! The Redis reaper: the jobs of workers silent for too long are re-queued,
//! or failed once they used up their attempts.
//!
//! Three steps, each one atomic script: list the runs of silent workers;
//! decide each in Rust (`lifecycle::reap`, which builds the message and
//! event) and apply it under a guard that refuses it if the run changed
//! meanwhile (another reaper, a newer claim, a heartbeat); then put back on
//! the queue what dead workers took off it but never claimed.
//!
//! Owns that sequence. It must not decide a job's transition itself.

use super::record;
use super::{RedisBroker, STREAM_MAXLEN};
use crate::jobs::lifecycle::{self, Transition};
use crate::queue::{ReapPolicy, Result};

/// A running job whose worker was silent when it was listed.
struct SilentRun {
    id: String,
    worker: String,
    attempts: u32,
    token: String,
}

impl RedisBroker {
    /// Reaps the runs of silent workers; returns the ids handled.
    pub(super) async fn reap_silent(&self, policy: ReapPolicy) -> Result<Vec<String>> {
        let mut handled = vec![];
        for run in self.silent_runs(policy).await? {
            let worker = Some(run.worker.as_str()).filter(|w| !w.is_empty());
            let transition = lifecycle::reap(&run.id, run.attempts, worker, policy.max_attempts);
            if self.reap_run(&run, &transition, policy).await? {
                handled.push(run.id);
            }
        }
        self.release_claiming(policy).await?;
        Ok(handled)
    }

    async fn silent_runs(&self, policy: ReapPolicy) -> Result<Vec<SilentRun>> {
        let flat: Vec<String> = self
            .scripts
            .dead_runs
            .key(self.key(&["running"]))
            .key(self.key(&["workers"]))
            .arg(&self.prefix)
            .arg(dead_after_ms(policy))
            .invoke_async(&mut self.conn())
            .await?;
        Ok(flat
            .chunks_exact(4)
            .map(|run| SilentRun { id: run[0].clone(), worker: run[1].clone(), attempts: run[2].parse().unwrap_or(0), token: run[3].clone() })
            .collect())
    }

    /// Applies the reaper's transition to one run, if its guard still holds.
    async fn reap_run(&self, run: &SilentRun, transition: &Transition, policy: ReapPolicy) -> Result<bool> {
        let id = run.id.as_str();
        let reaped: i64 = self
            .scripts
            .reap_run
            .key(self.job_key(id))
            .key(self.stream_key(id))
            .key(self.key(&["running"]))
            .key(self.key(&["workers"]))
            .key(self.key(&["queue"]))
            .arg(super::channel(id))
            .arg(STREAM_MAXLEN)
            .arg(id)
            .arg(&run.token)
            .arg(&run.worker)
            .arg(dead_after_ms(policy))
            .arg(record::writes(transition, None))
            .arg(super::event_template(transition))
            .arg(record::queue_end(transition.enqueue))
            .arg(super::events_ttl(transition))
            .invoke_async(&mut self.conn())
            .await?;
        Ok(reaped == 1)
    }

    async fn release_claiming(&self, policy: ReapPolicy) -> Result<()> {
        self.scripts
            .release_claiming
            .key(self.key(&["workers"]))
            .key(self.key(&["queue"]))
            .arg(&self.prefix)
            .arg(dead_after_ms(policy))
            .invoke_async::<i64>(&mut self.conn())
            .await?;
        Ok(())
    }
}

fn dead_after_ms(policy: ReapPolicy) -> u64 {
    policy.dead_after.as_millis() as u64
}
