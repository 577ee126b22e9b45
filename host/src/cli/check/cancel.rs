//! The cancel property: cancel at the first epoch report; the plugin must
//! see `host::cancelled()` and return `cancelled` within one epoch. The host
//! of a real job stops a plugin at once on cancel; here it waits one
//! measured epoch plus `SLACK` before doing so, to see whether the plugin
//! stops on its own.
//!
//! Owns only that probe and its time bound.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use polars::prelude::DataFrame;

use crate::contract::{self, Task};
use crate::runtime::{CancelToken, Epoch, LoadedPlugin, ProgressSink, RunError};

use super::Verdict;

/// Added to one epoch's time for the bound: instance teardown and a loaded machine.
const SLACK: Duration = Duration::from_secs(2);

/// What the sink saw: the epoch at which it cancelled, and what came after.
#[derive(Default)]
struct Seen {
    cancelled_at: Option<(Epoch, Instant)>,
    later: Vec<Epoch>,
}

/// Cancels at the first report and remembers the rest.
struct CancelAtFirst {
    token: CancelToken,
    seen: Arc<Mutex<Seen>>,
}

impl ProgressSink for CancelAtFirst {
    fn epoch(&mut self, epoch: Epoch) {
        let Ok(mut seen) = self.seen.lock() else { return };
        if seen.cancelled_at.is_none() {
            seen.cancelled_at = Some((epoch, Instant::now()));
            self.token.cancel();
        } else {
            seen.later.push(epoch);
        }
    }
}

pub fn check(plugin: &LoadedPlugin, task: Task, table: &DataFrame, first_epoch: Option<Duration>, verdict: &mut Verdict) {
    let name = format!("{} cancel", task.as_str());
    let Some(epoch_time) = first_epoch else {
        return verdict
            .fail(format!("{name}: the plugin reported no epoch, so it never learns of a cancel; report each epoch and stop when `cancelled()` says so"));
    };
    let request = match super::raw_request(plugin, task, table) {
        Ok(request) => request,
        Err(err) => return verdict.fail(format!("{name}: cannot build the request: {err}")),
    };
    let grace = epoch_time + SLACK;
    let token = CancelToken::default();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let sink = CancelAtFirst { token: token.clone(), seen: seen.clone() };
    let (result, _) = plugin.train_with_cancel_grace(&request, token.clone(), grace, Box::new(sink));
    let after = token.cancelled_for().unwrap_or_default();
    let Ok(seen) = seen.lock() else { return verdict.fail(format!("{name}: internal error reading the epochs")) };
    let Some((at, _)) = &seen.cancelled_at else {
        return verdict.fail(format!("{name}: this time the plugin reported no epoch ({})", outcome(&result)));
    };
    let bound = format!("the bound is one epoch ({:.0} ms) + {} s", epoch_time.as_secs_f64() * 1000.0, SLACK.as_secs());
    let last = seen.later.last().map_or(String::new(), |e| format!(", and reported epochs up to {}/{}", e.epoch, e.total));
    verdict.record(match result {
        Ok(_) if at.epoch >= at.total && seen.later.is_empty() => {
            Ok(format!("{name}: trained in one epoch ({}/{}), so there was nothing left to cancel", at.epoch, at.total))
        }
        Ok(_) => Err(format!("{name}: ignores cancel: cancelled at epoch {}/{}, it kept training{last} and returned a model", at.epoch, at.total)),
        Err(RunError::Cancelled) if after >= grace => Err(format!(
            "{name}: ignores cancel: still training {:.1} s after a cancel at epoch {}/{}{last}; the host had to stop it ({bound})",
            after.as_secs_f64(),
            at.epoch,
            at.total
        )),
        Err(RunError::Cancelled) if seen.later.len() > 1 => Err(format!(
            "{name}: ignores cancel for {} epochs: cancelled at epoch {}/{}{last} before returning cancelled",
            seen.later.len(),
            at.epoch,
            at.total
        )),
        Err(RunError::Cancelled) => Ok(format!(
            "{name}: honoured: returned cancelled {:.0} ms after a cancel at epoch {}/{} ({bound})",
            after.as_secs_f64() * 1000.0,
            at.epoch,
            at.total
        )),
        Err(other) => Err(format!("{name}: after a cancel at epoch {}/{} train failed instead of returning cancelled: {other}", at.epoch, at.total)),
    });
}

fn outcome(result: &Result<contract::Trained, RunError>) -> String {
    match result {
        Ok(_) => "it returned a model".into(),
        Err(err) => err.to_string(),
    }
}
