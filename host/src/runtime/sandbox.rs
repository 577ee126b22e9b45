//! The per-job store state: a WASI context that grants nothing but clocks and
//! random, the memory budget, the capped job log, when the call must stop, and
//! the host side of the `host` interface.
//!
//! Owns what one plugin instance can see and touch. It must not know about
//! jobs, queues or HTTP: progress leaves through the `ProgressSink` callback.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::Notify;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::bindings::{io::poll as wasi_poll, sync::io::poll as sync_poll};
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamError};
use wasmtime_wasi::runtime::in_tokio;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::limits::{Limits, MemoryBudget};
use crate::contract::{self, LogLevel, Metric};

/// Longest single log message kept; longer ones are cut with a marker.
const MAX_LINE: usize = 2048;
/// How much of stderr is kept aside for crash reports (a Rust panic message lands there).
const STDERR_TAIL: usize = 4096;

/// One progress report from a plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct Epoch {
    pub epoch: u32,
    pub total: u32,
    pub metrics: Vec<(String, f64)>,
}

/// Receives progress and log lines as the plugin emits them.
pub trait ProgressSink: Send {
    fn epoch(&mut self, epoch: Epoch);
    fn log(&mut self, _level: &str, _message: &str) {}
    /// A run of several plugin calls (cross-validation) starts call `step` of
    /// `steps` (from 1), named by `label`; the epochs that follow are that call's.
    fn phase(&mut self, _step: u32, _steps: u32, _label: &str) {}
}

/// A sink that drops everything (describe, predict).
pub struct Discard;

impl ProgressSink for Discard {
    fn epoch(&mut self, _: Epoch) {}
}

/// Shared flag to stop a job from another thread. Setting it also wakes a
/// plugin that is blocked in a WASI wait (see `StopWhen::reached`).
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<CancelFlag>);

#[derive(Debug, Default)]
struct CancelFlag {
    cancelled: AtomicBool,
    /// When `cancel` was first called: a stop with a grace counts from here.
    at: std::sync::OnceLock<Instant>,
    wake: Notify,
}

impl CancelToken {
    pub fn cancel(&self) {
        let _ = self.0.at.set(Instant::now());
        self.0.cancelled.store(true, Ordering::SeqCst);
        self.0.wake.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    /// How long ago the token was cancelled; None while it is not.
    pub fn cancelled_for(&self) -> Option<Duration> {
        self.0.at.get().map(Instant::elapsed)
    }

    /// Resolves once the token is cancelled.
    pub async fn wait(&self) {
        // Registered before the flag is read, so a cancel in between still wakes it.
        let woken = self.0.wake.notified();
        if self.is_cancelled() {
            return;
        }
        woken.await;
    }
}

/// Why the host stopped a plugin from outside.
#[derive(Debug, thiserror::Error)]
pub enum Interrupt {
    #[error("time limit")]
    TimeLimit,
    #[error("cancelled")]
    Cancelled,
}

/// When one call into a plugin must stop: the wall-clock deadline of its time
/// limit, and its job's cancel flag. The one place asked both by the epoch
/// deadline callback (while wasm code runs) and by `wasi:io/poll` (while the
/// plugin waits in the host, e.g. in a sleep).
#[derive(Debug, Clone)]
pub struct StopWhen {
    /// None: a limit too large to represent, i.e. never.
    deadline: Option<Instant>,
    cancel: CancelToken,
    /// The group's abort token when the call is one instance of several
    /// (`runtime::collectives`): another instance failed, so this one stops.
    abort: Option<CancelToken>,
    /// How long after a cancel the host stops the plugin itself: zero for
    /// jobs; `plugin check` gives a plugin time to stop on its own, to see
    /// whether it does (`host::cancelled` answers true at once either way).
    cancel_grace: Duration,
}

impl StopWhen {
    pub fn new(started: Instant, time_secs: f64, cancel: CancelToken) -> Self {
        let deadline = Duration::try_from_secs_f64(time_secs.max(0.0)).ok().and_then(|limit| started.checked_add(limit));
        StopWhen { deadline, cancel, abort: None, cancel_grace: Duration::ZERO }
    }

    /// Stops the plugin only `grace` after a cancel instead of at once.
    pub fn with_cancel_grace(self, grace: Duration) -> Self {
        StopWhen { cancel_grace: grace, ..self }
    }

    /// Whether the host stops the call now for a cancel: at once, or once its grace has passed.
    fn cancel_stops(&self) -> bool {
        let own = self.cancel.cancelled_for().is_some_and(|ago| ago >= self.cancel_grace);
        own || self.abort.as_ref().is_some_and(CancelToken::is_cancelled)
    }

    /// Also stops once `abort` is cancelled (reported as a cancel: the group
    /// reports its own first cause, not this consequence).
    pub fn with_abort(self, abort: CancelToken) -> Self {
        StopWhen { abort: Some(abort), ..self }
    }

    fn cancelled(&self) -> bool {
        self.cancel.is_cancelled() || self.abort.as_ref().is_some_and(CancelToken::is_cancelled)
    }

    /// An error once the call must stop; a cancel is reported before the time limit.
    pub fn check(&self) -> Result<(), Interrupt> {
        if self.cancel_stops() {
            return Err(Interrupt::Cancelled);
        }
        if self.deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Err(Interrupt::TimeLimit);
        }
        Ok(())
    }

    /// Resolves as soon as `check` would fail: at the deadline, or at once on cancel.
    async fn reached(&self) -> Interrupt {
        let deadline = async {
            match self.deadline {
                Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
                None => std::future::pending().await,
            }
        };
        let aborted = async {
            match &self.abort {
                Some(abort) => abort.wait().await,
                None => std::future::pending().await,
            }
        };
        let cancelled = async {
            self.cancel.wait().await;
            tokio::time::sleep(self.cancel_grace.saturating_sub(self.cancel.cancelled_for().unwrap_or_default())).await;
        };
        tokio::select! {
            biased;
            () = cancelled => Interrupt::Cancelled,
            () = aborted => Interrupt::Cancelled,
            () = deadline => Interrupt::TimeLimit,
        }
    }

    /// Runs a blocking WASI wait, cut short by this call's deadline or cancel:
    /// the wait then fails with the `Interrupt`, which traps the plugin.
    fn bound<R>(&self, wait: impl Future<Output = wasmtime::Result<R>>) -> wasmtime::Result<R> {
        self.check()?;
        in_tokio(async {
            tokio::select! {
                biased;
                why = self.reached() => Err(wasmtime::Error::new(why)),
                done = wait => done,
            }
        })
    }
}

/// The job's log as the plugin wrote it, capped in bytes.
#[derive(Debug, Default)]
pub struct JobLog {
    pub lines: Vec<(String, String)>,
    bytes: usize,
    limit: usize,
    pub dropped_lines: usize,
    stderr_tail: String,
}

impl JobLog {
    fn new(limit: usize) -> Self {
        JobLog { limit, ..Default::default() }
    }

    /// Keeps the line if it fits the budget; returns whether it was kept.
    fn push(&mut self, level: &str, message: &str) -> bool {
        let message = truncate(message, MAX_LINE);
        if self.bytes + message.len() > self.limit {
            self.dropped_lines += 1;
            return false;
        }
        self.bytes += message.len();
        self.lines.push((level.to_string(), message));
        true
    }

    fn remember_stderr(&mut self, text: &str) {
        self.stderr_tail.push_str(text);
        if self.stderr_tail.len() > STDERR_TAIL {
            let cut = self.stderr_tail.len() - STDERR_TAIL;
            let cut = (cut..self.stderr_tail.len()).find(|&i| self.stderr_tail.is_char_boundary(i)).unwrap_or(0);
            self.stderr_tail.drain(..cut);
        }
    }

    pub fn stderr_tail(&self) -> &str {
        &self.stderr_tail
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let end = (0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    format!("{}… [cut at {max} bytes]", &text[..end])
}

/// The data of one job's `Store`.
pub struct PluginState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub memory: MemoryBudget,
    pub log: Arc<Mutex<JobLog>>,
    pub stop: StopWhen,
    sink: Box<dyn ProgressSink>,
    /// This instance's place in a job of several instances (None: alone).
    pub team: Option<super::collectives::Member>,
}

impl PluginState {
    pub fn new(limits: &Limits, stop: StopWhen, sink: Box<dyn ProgressSink>) -> Self {
        let log = Arc::new(Mutex::new(JobLog::new(limits.log_bytes())));
        // The builder's defaults grant no preopened directory, no environment, no
        // arguments and no socket address; only clocks and random remain. A wait
        // on a clock (a sleep) is bounded by the call's deadline and cancel: see
        // `add_bounded_poll`.
        let wasi = WasiCtxBuilder::new()
            .stdout(CapturedOutput { log: log.clone(), stream: "stdout" })
            .stderr(CapturedOutput { log: log.clone(), stream: "stderr" })
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false)
            .build();
        PluginState { wasi, table: ResourceTable::new(), memory: MemoryBudget::new(limits.memory_bytes()), log, stop, sink, team: None }
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl contract::trainhost::plugin::types::Host for PluginState {}

impl contract::trainhost::plugin::host::Host for PluginState {
    fn report_epoch(&mut self, epoch: u32, total: u32, metrics: Vec<Metric>) {
        let metrics = metrics.into_iter().filter(|m| m.value.is_finite()).map(|m| (m.name, m.value)).collect();
        self.sink.epoch(Epoch { epoch, total, metrics });
    }

    fn log(&mut self, level: LogLevel, message: String) {
        let level = match level {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        };
        let kept = self.log.lock().map(|mut log| log.push(level, &message)).unwrap_or(false);
        if kept {
            self.sink.log(level, &message);
        }
    }

    fn cancelled(&mut self) -> bool {
        self.stop.cancelled()
    }
}

/// Replaces `wasi:io/poll` (`poll` and `pollable.block`, where a sleep waits)
/// with the stock implementation bounded by the call's `StopWhen`. Epoch
/// interruption only fires while wasm code runs, so without this a plugin
/// sleeping in the host would outlast its time limit and ignore cancel. The
/// blocking stream calls of `wasi:io/streams` never wait here: stdin is closed,
/// stdout and stderr are always ready, and there are no files or sockets.
/// The linker must allow shadowing.
pub fn add_bounded_poll(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    sync_poll::add_to_linker::<PluginState, BoundedPoll>(linker, |state| BoundedPollView { table: &mut state.table, stop: &state.stop })
}

struct BoundedPoll;

impl HasData for BoundedPoll {
    type Data<'a> = BoundedPollView<'a>;
}

struct BoundedPollView<'a> {
    table: &'a mut ResourceTable,
    stop: &'a StopWhen,
}

impl sync_poll::Host for BoundedPollView<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        self.stop.bound(wasi_poll::Host::poll(self.table, pollables))
    }
}

impl sync_poll::HostPollable for BoundedPollView<'_> {
    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        self.stop.bound(wasi_poll::HostPollable::block(self.table, pollable))
    }

    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        sync_poll::HostPollable::ready(self.table, pollable)
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        sync_poll::HostPollable::drop(self.table, pollable)
    }
}

/// stdout/stderr of the plugin: appended to the job log, silently capped.
/// Writes past the cap succeed and are dropped, so a chatty plugin is never
/// killed by its own `println!` failing.
#[derive(Clone)]
struct CapturedOutput {
    log: Arc<Mutex<JobLog>>,
    stream: &'static str,
}

impl CapturedOutput {
    fn record(&self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        if let Ok(mut log) = self.log.lock() {
            if self.stream == "stderr" {
                log.remember_stderr(&text);
            }
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                log.push(self.stream, line);
            }
        }
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.record(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.record(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_is_capped_in_bytes_and_counts_what_it_dropped() {
        let mut log = JobLog::new(100);
        for _ in 0..20 {
            log.push("info", "0123456789");
        }
        assert_eq!(log.lines.len(), 10);
        assert_eq!(log.dropped_lines, 10);
    }

    #[test]
    fn long_lines_are_cut_on_a_char_boundary() {
        let long = "é".repeat(MAX_LINE);
        let cut = truncate(&long, MAX_LINE);
        assert!(cut.contains("cut at"));
        assert!(cut.len() < long.len());
    }

    fn interrupt(err: wasmtime::Error) -> String {
        err.downcast_ref::<Interrupt>().map(|why| why.to_string()).unwrap_or_else(|| format!("not an interrupt: {err}"))
    }

    #[test]
    fn a_bounded_wait_ends_at_the_deadline() {
        let stop = StopWhen::new(Instant::now(), 0.05, CancelToken::default());
        let started = Instant::now();
        let err = stop.bound(std::future::pending::<wasmtime::Result<()>>()).unwrap_err();
        assert_eq!(interrupt(err), "time limit");
        assert!(started.elapsed() >= Duration::from_millis(50) && started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        // Past the deadline, a wait fails before it starts, even one that is ready.
        assert_eq!(interrupt(stop.bound(async { Ok(()) }).unwrap_err()), "time limit");
    }

    #[test]
    fn a_bounded_wait_ends_at_once_on_cancel_and_a_finished_one_is_untouched() {
        let cancel = CancelToken::default();
        let stop = StopWhen::new(Instant::now(), 3600.0, cancel.clone());
        assert_eq!(stop.bound(async { Ok(7) }).unwrap(), 7);
        let trigger = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            trigger.cancel();
        });
        let started = Instant::now();
        let err = stop.bound(std::future::pending::<wasmtime::Result<()>>()).unwrap_err();
        assert_eq!(interrupt(err), "cancelled");
        assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
    }

    #[test]
    fn a_limit_too_large_for_a_deadline_never_expires() {
        let stop = StopWhen::new(Instant::now(), f64::INFINITY, CancelToken::default());
        assert!(stop.check().is_ok());
        let stop = StopWhen::new(Instant::now(), 1e30, CancelToken::default());
        assert!(stop.check().is_ok());
    }

    #[test]
    fn stderr_tail_keeps_the_end() {
        let mut log = JobLog::new(10);
        log.remember_stderr(&"a".repeat(STDERR_TAIL));
        log.remember_stderr("panicked at here");
        assert!(log.stderr_tail().ends_with("panicked at here"));
        assert!(log.stderr_tail().len() <= STDERR_TAIL);
    }
}
