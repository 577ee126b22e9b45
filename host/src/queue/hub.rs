//! In-process fan-out of live events to the sockets watching a job, and of
//! cancel requests to the workers running one.
//!
//! One bounded broadcast channel per watched job: a publisher never waits for
//! a subscriber, and a subscriber that falls behind by more than the buffer
//! learns it lagged (its socket is then closed) instead of slowing the others.
//! Cancel requests go on one channel for the process: they are wake-ups only
//! (the job's cancel flag in the broker says whether it is cancelled), so a
//! worker that lagged or missed one reads the flag and loses nothing.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::jobs::StoredEvent;

/// Events buffered per job for a slow subscriber before it is dropped: a whole
/// job of the bundled plugins (at most ~200 progress events plus the status
/// changes). Allocated per watched job, so not larger than that.
pub const BUFFER: usize = 256;

/// Cancel requests buffered for a worker that has not looked yet; one that
/// falls further behind reads its jobs' flags at once.
const CANCEL_BUFFER: usize = 64;

pub struct Hub {
    channels: Mutex<HashMap<String, broadcast::Sender<StoredEvent>>>,
    cancels: broadcast::Sender<String>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub { channels: Mutex::default(), cancels: broadcast::channel(CANCEL_BUFFER).0 }
    }
}

/// Live events of one job; unregisters itself when dropped.
pub struct Subscription {
    pub receiver: broadcast::Receiver<StoredEvent>,
    hub: Arc<Hub>,
    job_id: String,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut channels = self.hub.channels.lock();
        if let Some(sender) = channels.get(&self.job_id) {
            // This receiver is still counted until it is dropped after us.
            if sender.receiver_count() <= 1 {
                channels.remove(&self.job_id);
            }
        }
    }
}

impl Hub {
    pub fn new() -> Arc<Hub> {
        Arc::new(Hub::default())
    }

    pub fn subscribe(self: &Arc<Self>, job_id: &str) -> Subscription {
        let mut channels = self.channels.lock();
        let receiver = channels.entry(job_id.to_string()).or_insert_with(|| broadcast::channel(BUFFER).0).subscribe();
        Subscription { receiver, hub: self.clone(), job_id: job_id.to_string() }
    }

    /// Delivers to the local subscribers of the job, if any.
    pub fn publish(&self, job_id: &str, event: StoredEvent) {
        let channels = self.channels.lock();
        if let Some(sender) = channels.get(job_id) {
            let _ = sender.send(event);
        }
    }

    /// Tells this process's workers that job `job_id` was asked to cancel.
    pub fn announce_cancel(&self, job_id: &str) {
        let _ = self.cancels.send(job_id.to_string());
    }

    /// The ids of jobs asked to cancel from now on (`announce_cancel`).
    pub fn cancel_requests(&self) -> broadcast::Receiver<String> {
        self.cancels.subscribe()
    }

    pub fn watched_jobs(&self) -> usize {
        self.channels.lock().len()
    }
}
