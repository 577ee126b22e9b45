//! The job state machine: every change of a job's state is decided here, once.
//!
//! Each function returns the `Transition` a broker makes: the status the job
//! must be in (and whether the change needs the job's current claim), the new
//! status, the record fields it writes, whether the claim is granted or
//! released, where the job joins the queue and the event it emits. Both
//! brokers apply these decisions: the embedded one on its in-memory record,
//! Redis by handing the writes and the serialised event to Lua scripts that
//! only check the guard and apply them, atomically.
//!
//! ```text
//! submit -> queued --claim--> running --finish--> completed | failed | cancelled
//! running --shutdown, reaper, restart--> queued      running --reaper--> failed
//! queued --cancel--> cancelled                       running --cancel--> running, flagged
//! ```
//!
//! Owns the transitions and their messages. It must not store anything or
//! know how a broker lays out jobs (keys, token values, queue structures).

use super::{Ending, Event, JobRecord, JobResults, JobSpec, JobStatus};

/// Message (event and record) of a job cancelled while still queued.
pub const CANCELLED_BEFORE_START: &str = "Training cancelled before it started";
/// Message of a job cancelled while it ran.
pub const CANCELLED_WHILE_RUNNING: &str = "Training cancelled";
/// Message of a queued job cancelled because its dataset was deleted.
pub const DATASET_DELETED_BEFORE_START: &str = "Training cancelled before it started: its dataset was deleted";
/// Message of a running job cancelled because its dataset was deleted.
pub const DATASET_DELETED_WHILE_RUNNING: &str = "Training cancelled: its dataset was deleted";
/// Message of a job its worker handed back while shutting down.
pub const REQUEUED_ON_SHUTDOWN: &str = "re-queued: its worker is shutting down";
/// Message of a job the embedded broker found running when it started again.
pub const REQUEUED_AFTER_RESTART: &str = "re-queued: the process restarted while it ran";

/// What the broker must check, besides the status, before making a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// The status alone.
    Status,
    /// The claim the change is made under must still be the job's current
    /// one: a worker presumed dead can never overwrite a newer attempt.
    CurrentClaim,
}

/// One field of the record a transition writes (the status and the claim
/// are apart). Progress is not among them: emitting an event that carries
/// progress records it on the job (`Event::progress_value`).
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// One more attempt: a claim.
    CountAttempt,
    /// The attempt handed back: a worker shutting down did not use it up.
    UncountAttempt,
    Worker(String),
    ForgetWorker,
    /// `started_at` is now (the broker's clock).
    StartedNow,
    /// `finished_at` is now (the broker's clock).
    FinishedNow,
    Error(String),
    Results(Box<JobResults>),
    CancelRequested,
}

/// What a transition does to the job's claim token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimChange {
    /// A fresh token (the broker makes it) for the worker taking the job.
    Grant,
    Keep,
    /// The token is dropped: no worker holds the job any more.
    Release,
}

/// Where a job that becomes queued joins the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueEnd {
    /// Taken next: a job that already ran once goes before the new ones.
    Front,
    /// After every job already waiting.
    Back,
}

/// One change of a job's state, as decided here and applied by a broker.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The only status it is allowed from.
    pub from: JobStatus,
    pub guard: Guard,
    pub to: JobStatus,
    pub writes: Vec<Write>,
    pub claim: ClaimChange,
    /// Set when the job joins the queue. A job leaves the queue whenever it
    /// leaves the queued status (`leaves_queue`).
    pub enqueue: Option<QueueEnd>,
    pub event: Option<Event>,
}

/// Why a broker must not make a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the job is {}, and this change is only made while it is {}", .actual.as_str(), .allowed.as_str())]
    Status { allowed: JobStatus, actual: JobStatus },
    #[error("the claim is no longer the job's current one")]
    StaleClaim,
}

impl Transition {
    /// Whether the transition may be made on a job in `status`, by a caller
    /// that holds (`holds_claim`) the job's current claim or not.
    pub fn permits(&self, status: JobStatus, holds_claim: bool) -> Result<(), Refused> {
        if self.guard == Guard::CurrentClaim && !holds_claim {
            return Err(Refused::StaleClaim);
        }
        if status != self.from {
            return Err(Refused::Status { allowed: self.from, actual: status });
        }
        Ok(())
    }

    /// Writes the new status and fields on `record`, `now` being the broker's
    /// clock. The claim, the queue and the event are the broker's to apply.
    pub fn apply(&self, record: &mut JobRecord, now: i64) {
        record.status = self.to;
        for write in &self.writes {
            match write {
                Write::CountAttempt => record.attempts += 1,
                Write::UncountAttempt => record.attempts = record.attempts.saturating_sub(1),
                Write::Worker(worker) => record.worker = Some(worker.clone()),
                Write::ForgetWorker => record.worker = None,
                Write::StartedNow => record.started_at = Some(now),
                Write::FinishedNow => record.finished_at = Some(now),
                Write::Error(message) => record.error = Some(message.clone()),
                Write::Results(results) => record.results = Some((**results).clone()),
                Write::CancelRequested => record.cancel_requested = true,
            }
        }
    }

    /// Whether the job must be taken off the queue.
    pub fn leaves_queue(&self) -> bool {
        self.from == JobStatus::Queued && self.to != JobStatus::Queued
    }

    /// Whether the stored record changes (an event alone only moves the seq and progress).
    pub fn changes_record(&self) -> bool {
        self.from != self.to || !self.writes.is_empty()
    }
}

/// A new job: its first record and its first event (`status: queued`, seq 1);
/// it joins the queue at the back.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub record: JobRecord,
    pub event: Event,
    pub enqueue: QueueEnd,
}

pub fn submit(job_id: &str, spec: JobSpec) -> Submission {
    Submission { record: JobRecord::new(job_id.to_string(), spec), event: Event::status(job_id, JobStatus::Queued, None, None), enqueue: QueueEnd::Back }
}

/// `worker` takes the queued job for its `attempt`-th run (the count after this claim).
pub fn claim(job_id: &str, worker: &str, attempt: u32) -> Transition {
    Transition {
        from: JobStatus::Queued,
        guard: Guard::Status,
        to: JobStatus::Running,
        writes: vec![Write::CountAttempt, Write::Worker(worker.to_string()), Write::StartedNow],
        claim: ClaimChange::Grant,
        enqueue: None,
        event: Some(Event::status(job_id, JobStatus::Running, Some(attempt), None)),
    }
}

/// A non-terminal event of a running job (progress), sent by its worker.
pub fn emit(event: Event) -> Transition {
    Transition {
        from: JobStatus::Running,
        guard: Guard::CurrentClaim,
        to: JobStatus::Running,
        writes: vec![],
        claim: ClaimChange::Keep,
        enqueue: None,
        event: Some(event),
    }
}

/// The worker ends its run: record and terminal event together.
pub fn finish(job_id: &str, ending: &Ending) -> Transition {
    let outcome = match ending {
        Ending::Completed { results } => Write::Results(Box::new(results.clone())),
        Ending::Failed(message) | Ending::Cancelled(message) => Write::Error(message.clone()),
    };
    Transition {
        from: JobStatus::Running,
        guard: Guard::CurrentClaim,
        to: ending.status(),
        writes: vec![Write::FinishedNow, outcome],
        claim: ClaimChange::Release,
        enqueue: None,
        event: Some(ending.event(job_id)),
    }
}

/// A worker shutting down hands its running job back, without counting the attempt.
pub fn requeue_on_shutdown(job_id: &str) -> Transition {
    Transition {
        from: JobStatus::Running,
        guard: Guard::CurrentClaim,
        to: JobStatus::Queued,
        writes: vec![Write::ForgetWorker, Write::UncountAttempt],
        claim: ClaimChange::Release,
        enqueue: Some(QueueEnd::Front),
        event: Some(requeued(job_id, REQUEUED_ON_SHUTDOWN.into())),
    }
}

/// Why a job is cancelled: its messages say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelCause {
    /// A user asked (`POST /jobs/{id}/cancel`).
    Requested,
    /// The dataset it trains on was deleted.
    DatasetDeleted,
}

impl CancelCause {
    /// The message of a job cancelled for this cause before it started.
    pub fn before_start(self) -> &'static str {
        match self {
            CancelCause::Requested => CANCELLED_BEFORE_START,
            CancelCause::DatasetDeleted => DATASET_DELETED_BEFORE_START,
        }
    }

    /// The message its worker ends a running job with.
    pub fn while_running(self) -> &'static str {
        match self {
            CancelCause::Requested => CANCELLED_WHILE_RUNNING,
            CancelCause::DatasetDeleted => DATASET_DELETED_WHILE_RUNNING,
        }
    }
}

/// What cancelling a job in `status` does; `None` once it has ended.
pub fn cancel(job_id: &str, status: JobStatus) -> Option<Transition> {
    cancel_for(job_id, status, CancelCause::Requested)
}

/// `cancel`, for `cause`.
pub fn cancel_for(job_id: &str, status: JobStatus, cause: CancelCause) -> Option<Transition> {
    match status {
        JobStatus::Queued => Some(cancel_queued_for(job_id, cause)),
        JobStatus::Running => Some(request_cancel()),
        JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled => None,
    }
}

/// A queued job is cancelled at once: it never starts.
pub fn cancel_queued(job_id: &str) -> Transition {
    cancel_queued_for(job_id, CancelCause::Requested)
}

/// `cancel_queued`, with the message of `cause`.
pub fn cancel_queued_for(job_id: &str, cause: CancelCause) -> Transition {
    let message = cause.before_start();
    Transition {
        from: JobStatus::Queued,
        guard: Guard::Status,
        to: JobStatus::Cancelled,
        writes: vec![Write::CancelRequested, Write::FinishedNow, Write::Error(message.into())],
        claim: ClaimChange::Keep,
        enqueue: None,
        event: Some(Event::Cancelled { seq: 0, job_id: job_id.into(), message: message.into() }),
    }
}

/// A running job only gets the flag: its worker sees it and stops the run.
pub fn request_cancel() -> Transition {
    Transition {
        from: JobStatus::Running,
        guard: Guard::Status,
        to: JobStatus::Running,
        writes: vec![Write::CancelRequested],
        claim: ClaimChange::Keep,
        enqueue: None,
        event: None,
    }
}

/// The reaper found the job's worker silent: the job is queued again, or
/// fails once it has used up its attempts. `attempts` and `worker` are the
/// record's (the claim the reaper acts under).
pub fn reap(job_id: &str, attempts: u32, worker: Option<&str>, max_attempts: u32) -> Transition {
    let worker = worker.unwrap_or("?");
    if attempts >= max_attempts {
        let message = format!("the job failed after {attempts} attempts: each time its worker stopped responding while training (last worker: {worker})");
        return Transition {
            from: JobStatus::Running,
            guard: Guard::CurrentClaim,
            to: JobStatus::Failed,
            writes: vec![Write::ForgetWorker, Write::FinishedNow, Write::Error(message.clone())],
            claim: ClaimChange::Release,
            enqueue: None,
            event: Some(Event::Error { seq: 0, job_id: job_id.into(), message }),
        };
    }
    Transition {
        from: JobStatus::Running,
        guard: Guard::CurrentClaim,
        to: JobStatus::Queued,
        writes: vec![Write::ForgetWorker],
        claim: ClaimChange::Release,
        enqueue: Some(QueueEnd::Front),
        event: Some(requeued(job_id, format!("re-queued: worker {worker} stopped responding (attempt {attempts} of {max_attempts})"))),
    }
}

/// The embedded broker starts and finds the job running: nobody runs it now.
/// `enqueue` is `None` because the broker rebuilds its whole queue at start,
/// in submission order.
pub fn recover_after_restart(job_id: &str) -> Transition {
    Transition {
        from: JobStatus::Running,
        guard: Guard::Status,
        to: JobStatus::Queued,
        writes: vec![Write::ForgetWorker],
        claim: ClaimChange::Release,
        enqueue: None,
        event: Some(requeued(job_id, REQUEUED_AFTER_RESTART.into())),
    }
}

fn requeued(job_id: &str, message: String) -> Event {
    Event::status(job_id, JobStatus::Queued, None, Some(message))
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::jobs::events::fill_seq;

    const ALL: [JobStatus; 5] = [JobStatus::Queued, JobStatus::Running, JobStatus::Completed, JobStatus::Failed, JobStatus::Cancelled];

    fn spec() -> JobSpec {
        JobSpec {
            dataset_id: "d".into(),
            target_column: None,
            task_type: "classification".into(),
            model_config: Default::default(),
            plugin: "baseline".into(),
            params: Default::default(),
            seed: 1,
            test_fraction: 0.2,
            plugin_validation_fraction: 0.1,
            folds: 0,
            columns: Default::default(),
            owner: None,
            labels: Default::default(),
            max_instances: None,
        }
    }

    fn completed() -> Ending {
        Ending::Completed { results: crate::jobs::results::sample("j", 0.5) }
    }

    /// Every transition: its name, the one status it is allowed from, and
    /// whether it needs the job's current claim.
    fn every_transition() -> Vec<(&'static str, JobStatus, bool, Transition)> {
        use JobStatus::{Queued, Running};
        vec![
            ("claim", Queued, false, claim("j", "w", 1)),
            ("cancel queued", Queued, false, cancel_queued("j")),
            ("emit", Running, true, emit(Event::progress("j", 1, 2, Default::default()))),
            ("finish completed", Running, true, finish("j", &completed())),
            ("finish failed", Running, true, finish("j", &Ending::Failed("boom".into()))),
            ("finish cancelled", Running, true, finish("j", &Ending::Cancelled("stop".into()))),
            ("requeue on shutdown", Running, true, requeue_on_shutdown("j")),
            ("reap requeue", Running, true, reap("j", 1, Some("w"), 3)),
            ("reap fail", Running, true, reap("j", 3, Some("w"), 3)),
            ("request cancel", Running, false, request_cancel()),
            ("recover after restart", Running, false, recover_after_restart("j")),
        ]
    }

    #[test]
    fn each_transition_is_allowed_from_one_status_only() {
        for (name, from, _, transition) in every_transition() {
            for status in ALL {
                let verdict = transition.permits(status, true);
                if status == from {
                    assert_eq!(verdict, Ok(()), "{name} from {status:?}");
                } else {
                    assert_eq!(verdict, Err(Refused::Status { allowed: from, actual: status }), "{name} from {status:?}");
                }
            }
        }
    }

    #[test]
    fn a_worker_change_needs_the_current_claim() {
        for (name, from, needs_claim, transition) in every_transition() {
            let expected = if needs_claim { Err(Refused::StaleClaim) } else { Ok(()) };
            assert_eq!(transition.permits(from, false), expected, "{name}");
            assert_eq!(transition.guard == Guard::CurrentClaim, needs_claim, "{name}");
        }
    }

    #[test]
    fn only_cancelling_a_running_job_emits_nothing() {
        for (name, _, _, transition) in every_transition() {
            assert_eq!(transition.event.is_none(), name == "request cancel", "{name}");
        }
    }

    #[test]
    fn cancel_depends_on_the_status() {
        assert_eq!(cancel("j", JobStatus::Queued), Some(cancel_queued("j")));
        assert_eq!(cancel("j", JobStatus::Running), Some(request_cancel()));
        for ended in [JobStatus::Completed, JobStatus::Failed, JobStatus::Cancelled] {
            assert_eq!(cancel("j", ended), None);
        }
    }

    #[test]
    fn a_submitted_job_is_queued_with_seq_one_to_come() {
        let submission = submit("j", spec());
        assert_eq!((submission.record.status, submission.record.attempts, submission.record.last_seq), (JobStatus::Queued, 0, 0));
        assert_eq!(submission.enqueue, QueueEnd::Back);
        assert_eq!(fill_seq(&submission.event.template(), 1), r#"{"type":"status","seq":1,"jobId":"j","status":"queued"}"#);
    }

    #[test]
    fn claim_then_finish_writes_the_record() {
        let mut record = submit("j", spec()).record;
        let claimed = claim("j", "w1", 1);
        assert_eq!((claimed.claim, claimed.enqueue, claimed.leaves_queue()), (ClaimChange::Grant, None, true));
        claimed.apply(&mut record, 10);
        assert_eq!((record.status, record.attempts, record.worker.as_deref(), record.started_at), (JobStatus::Running, 1, Some("w1"), Some(10)));
        assert_eq!(event_text(&claimed), r#"{"type":"status","seq":5,"jobId":"j","status":"running","attempt":1}"#);

        let finished = finish("j", &completed());
        assert_eq!(finished.claim, ClaimChange::Release);
        finished.apply(&mut record, 20);
        assert_eq!((record.status, record.finished_at, record.results.clone()), (JobStatus::Completed, Some(20), Some(crate::jobs::results::sample("j", 0.5))));
        assert!(finished.event.as_ref().is_some_and(Event::is_terminal));

        let mut failed = submit("j", spec()).record;
        finish("j", &Ending::Failed("boom".into())).apply(&mut failed, 30);
        assert_eq!((failed.status, failed.error.as_deref()), (JobStatus::Failed, Some("boom")));
        assert_eq!(event_text(&finish("j", &Ending::Cancelled("stop".into()))), r#"{"type":"cancelled","seq":5,"jobId":"j","message":"stop"}"#);
    }

    #[test]
    fn an_event_alone_does_not_change_the_record() {
        let emitted = emit(Event::progress("j", 1, 2, Default::default()));
        assert!(!emitted.changes_record());
        assert_eq!(emitted.claim, ClaimChange::Keep);
        assert!(request_cancel().changes_record());
        assert!(request_cancel().event.is_none());
    }

    #[test]
    fn shutdown_hands_the_attempt_back_and_goes_first() {
        let mut record = submit("j", spec()).record;
        claim("j", "w", 1).apply(&mut record, 1);
        let requeued = requeue_on_shutdown("j");
        requeued.apply(&mut record, 2);
        assert_eq!((record.status, record.attempts, record.worker.clone()), (JobStatus::Queued, 0, None));
        assert_eq!((requeued.enqueue, requeued.claim), (Some(QueueEnd::Front), ClaimChange::Release));
        assert_eq!(event_text(&requeued), r#"{"type":"status","seq":5,"jobId":"j","status":"queued","message":"re-queued: its worker is shutting down"}"#);
    }

    #[test]
    fn cancelling_a_queued_job_ends_it_with_the_message() {
        let mut record = submit("j", spec()).record;
        let cancelled = cancel_queued("j");
        cancelled.apply(&mut record, 7);
        assert_eq!((record.status, record.cancel_requested, record.finished_at), (JobStatus::Cancelled, true, Some(7)));
        assert_eq!(record.error.as_deref(), Some(CANCELLED_BEFORE_START));
        assert!(cancelled.leaves_queue());
        assert_eq!(event_text(&cancelled), r#"{"type":"cancelled","seq":5,"jobId":"j","message":"Training cancelled before it started"}"#);
        let mut running = submit("j", spec()).record;
        claim("j", "w", 1).apply(&mut running, 1);
        request_cancel().apply(&mut running, 2);
        assert_eq!((running.status, running.cancel_requested, running.finished_at), (JobStatus::Running, true, None));
    }

    #[test]
    fn a_deleted_dataset_says_why_its_jobs_were_cancelled() {
        let mut record = submit("j", spec()).record;
        let cancelled = cancel_for("j", JobStatus::Queued, CancelCause::DatasetDeleted).expect("a queued job is cancelled");
        cancelled.apply(&mut record, 7);
        assert_eq!((record.status, record.error.as_deref()), (JobStatus::Cancelled, Some(DATASET_DELETED_BEFORE_START)));
        assert!(event_text(&cancelled).contains("its dataset was deleted"));
        assert_eq!(cancel_for("j", JobStatus::Running, CancelCause::DatasetDeleted), Some(request_cancel()));
        assert!(CancelCause::DatasetDeleted.while_running().contains("its dataset was deleted"));
        assert_eq!(CancelCause::Requested.while_running(), CANCELLED_WHILE_RUNNING);
    }

    #[test]
    fn the_reaper_requeues_then_fails_with_its_messages() {
        let mut record = submit("j", spec()).record;
        claim("j", "w7", 1).apply(&mut record, 1);
        let requeued = reap("j", record.attempts, record.worker.as_deref(), 2);
        requeued.apply(&mut record, 2);
        assert_eq!((record.status, record.worker.clone(), record.attempts), (JobStatus::Queued, None, 1));
        assert_eq!(requeued.enqueue, Some(QueueEnd::Front));
        assert_eq!(
            event_text(&requeued),
            r#"{"type":"status","seq":5,"jobId":"j","status":"queued","message":"re-queued: worker w7 stopped responding (attempt 1 of 2)"}"#
        );

        claim("j", "w8", 2).apply(&mut record, 3);
        let failed = reap("j", record.attempts, record.worker.as_deref(), 2);
        failed.apply(&mut record, 4);
        let message = "the job failed after 2 attempts: each time its worker stopped responding while training (last worker: w8)";
        assert_eq!((record.status, record.error.as_deref(), record.finished_at, record.worker.clone()), (JobStatus::Failed, Some(message), Some(4), None));
        assert_eq!(failed.enqueue, None);
        assert_eq!(event_text(&failed), format!(r#"{{"type":"error","seq":5,"jobId":"j","message":"{message}"}}"#));
        assert!(reap("j", 1, None, 3).event.is_some_and(|e| e.template().contains("worker ? stopped")));
    }

    #[test]
    fn a_restart_requeues_what_was_running() {
        let mut record = submit("j", spec()).record;
        claim("j", "w", 1).apply(&mut record, 1);
        let recovered = recover_after_restart("j");
        recovered.apply(&mut record, 2);
        assert_eq!((record.status, record.worker.clone(), record.attempts), (JobStatus::Queued, None, 1));
        assert_eq!(
            event_text(&recovered),
            r#"{"type":"status","seq":5,"jobId":"j","status":"queued","message":"re-queued: the process restarted while it ran"}"#
        );
    }

    fn event_text(transition: &Transition) -> String {
        fill_seq(&transition.event.as_ref().expect("an event").template(), 5)
    }
}
