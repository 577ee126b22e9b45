//! In-process fan-out of live events to the sockets watching a job.
//!
//! One bounded broadcast channel per watched job: a publisher never waits for
//! a subscriber, and a subscriber that falls behind by more than the buffer
//! learns it lagged (its socket is then closed) instead of slowing the others.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::jobs::StoredEvent;

/// Events buffered per job for a slow subscriber before it is dropped: a whole
/// job of the bundled plugins (at most ~200 progress events plus the status
/// changes). Allocated per watched job, so not larger than that.
pub const BUFFER: usize = 256;

#[derive(Default)]
pub struct Hub {
    channels: Mutex<HashMap<String, broadcast::Sender<StoredEvent>>>,
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

    pub fn watched_jobs(&self) -> usize {
        self.channels.lock().len()
    }
}
