//! Process-wide counters exported at `GET /metrics` in the Prometheus text format.
//!
//! Owns the counters and their exposition. It must not decide anything: other
//! modules only increment.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Counter(AtomicU64);

impl Counter {
    const fn new() -> Counter {
        Counter(AtomicU64::new(0))
    }
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn inc_by(&self, n: u64) {
        if n > 0 {
            self.0.fetch_add(n, Ordering::Relaxed);
        }
    }
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A float sum kept as bits.
pub struct Sum(AtomicU64);

impl Sum {
    const fn new() -> Sum {
        Sum(AtomicU64::new(0))
    }
    pub fn add(&self, v: f64) {
        let _ = self.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| Some((f64::from_bits(bits) + v).to_bits()));
    }
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

pub struct Counters {
    pub http_requests: Counter,
    pub http_client_errors: Counter,
    pub http_server_errors: Counter,
    pub jobs_submitted: Counter,
    pub jobs_started: Counter,
    pub jobs_completed: Counter,
    pub jobs_failed: Counter,
    pub jobs_cancelled: Counter,
    pub train_seconds: Sum,
    pub ws_open: Counter,
    pub ws_events_sent: Counter,
    pub ws_dropped_slow: Counter,
    pub datasets_uploaded: Counter,
}

pub static COUNTERS: Counters = Counters {
    http_requests: Counter::new(),
    http_client_errors: Counter::new(),
    http_server_errors: Counter::new(),
    jobs_submitted: Counter::new(),
    jobs_started: Counter::new(),
    jobs_completed: Counter::new(),
    jobs_failed: Counter::new(),
    jobs_cancelled: Counter::new(),
    train_seconds: Sum::new(),
    ws_open: Counter::new(),
    ws_events_sent: Counter::new(),
    ws_dropped_slow: Counter::new(),
    datasets_uploaded: Counter::new(),
};

/// The exposition text, with gauges the caller measured just now.
pub fn render(queue_depth: Option<u64>, plugins: usize) -> String {
    let m = &COUNTERS;
    let mut out = String::new();
    let mut line = |name: &str, kind: &str, help: &str, value: String| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    };
    line("trainhost_http_requests_total", "counter", "HTTP requests served.", m.http_requests.get().to_string());
    line("trainhost_http_client_errors_total", "counter", "HTTP responses with a 4xx status.", m.http_client_errors.get().to_string());
    line("trainhost_http_server_errors_total", "counter", "HTTP responses with a 5xx status.", m.http_server_errors.get().to_string());
    line("trainhost_jobs_submitted_total", "counter", "Jobs accepted by this API process.", m.jobs_submitted.get().to_string());
    line("trainhost_jobs_started_total", "counter", "Job attempts started by this process's workers.", m.jobs_started.get().to_string());
    line("trainhost_jobs_completed_total", "counter", "Jobs completed by this process's workers.", m.jobs_completed.get().to_string());
    line("trainhost_jobs_failed_total", "counter", "Jobs failed in this process's workers.", m.jobs_failed.get().to_string());
    line("trainhost_jobs_cancelled_total", "counter", "Jobs cancelled in this process's workers.", m.jobs_cancelled.get().to_string());
    line("trainhost_train_seconds_total", "counter", "Wall time spent in jobs by this process's workers.", format!("{:.6}", m.train_seconds.get()));
    line("trainhost_websockets_open", "gauge", "WebSocket connections open now.", m.ws_open.get().to_string());
    line("trainhost_websocket_events_sent_total", "counter", "Events sent over WebSockets.", m.ws_events_sent.get().to_string());
    line("trainhost_websocket_slow_dropped_total", "counter", "WebSockets closed because the client fell behind.", m.ws_dropped_slow.get().to_string());
    line("trainhost_datasets_uploaded_total", "counter", "Datasets uploaded to this API process.", m.datasets_uploaded.get().to_string());
    line("trainhost_plugins_enabled", "gauge", "Plugins loaded and serving.", plugins.to_string());
    if let Some(depth) = queue_depth {
        line("trainhost_queue_depth", "gauge", "Jobs waiting in the queue.", depth.to_string());
    }
    out
}
