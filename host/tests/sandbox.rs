//! The sandbox holds: each misbehaving test plugin fails only its own job,
//! with a reason naming what happened, and the next job succeeds.
//! Needs the plugins built by `scripts/build-plugins` (the test command does it).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use trainhost::contract::Task;
use trainhost::data::split::SplitFractions;
use trainhost::runtime::{CancelToken, Discard, Epoch, Limits, LoadError, LoadedPlugin, ProgressSink, RunError, Runtime};
use trainhost::training::{self, TrainFailure, TrainOutcome, TrainSpec};

use common::{plugin_file, temp_dir, testdata};

fn runtime() -> &'static Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compile-cache"))).expect("engine"))
}

const LIMITS: Limits = Limits { memory_mib: 64, time_secs: 1.0, model_mib: 8, log_kib: 64, max_instances: 0 };

fn load(name: &str, limits: Limits) -> LoadedPlugin {
    runtime().load(&plugin_file(name), None, limits).unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

fn iris() -> polars::prelude::DataFrame {
    trainhost::data::read_table(&testdata("iris.csv")).expect("iris")
}

fn spec(task: Task, target: Option<&str>) -> TrainSpec {
    TrainSpec {
        task,
        target: target.map(str::to_string),
        params: Default::default(),
        seed: 3,
        fractions: SplitFractions::test_only(0.2),
        evaluation_column: None,
        columns: Default::default(),
        folds: 0,
    }
}

fn train(plugin: &LoadedPlugin, cancel: CancelToken) -> Result<TrainOutcome, TrainFailure> {
    training::train(plugin, &iris(), &spec(Task::Classification, Some("species")), cancel, Box::new(Discard))
}

fn run_error(result: Result<TrainOutcome, TrainFailure>) -> RunError {
    match result {
        Err(TrainFailure::Run(err)) => err,
        Err(other) => panic!("expected a plugin run error, got {other}"),
        Ok(_) => panic!("expected the job to fail, but it succeeded"),
    }
}

/// The proof that the host goes on: a good job right after the bad one.
fn a_good_job_still_succeeds() {
    let baseline = load("baseline", LIMITS);
    let outcome = train(&baseline, CancelToken::default()).expect("baseline after a failed job");
    assert!(outcome.summary.metrics.headline > 0.2);
}

#[test]
fn endless_loop_stops_within_its_time_limit_plus_one_second() {
    let plugin = load("test_endless_loop", LIMITS);
    let started = Instant::now();
    let err = run_error(train(&plugin, CancelToken::default()));
    let elapsed = started.elapsed();
    assert!(matches!(err, RunError::TimeLimit { .. }), "{err}");
    assert!(err.to_string().contains("time limit of 1 s"), "{err}");
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    a_good_job_still_succeeds();
}

/// A plugin blocked in one hour-long `thread::sleep` (a host call: no wasm code
/// runs, so no epoch check) is stopped at its deadline all the same.
#[test]
fn sleep_stops_within_its_time_limit_plus_one_second() {
    let plugin = load("test_sleep", LIMITS);
    let started = Instant::now();
    let err = run_error(train(&plugin, CancelToken::default()));
    let elapsed = started.elapsed();
    assert!(matches!(err, RunError::TimeLimit { .. }), "{err}");
    assert!(err.to_string().contains("time limit of 1 s"), "{err}");
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    a_good_job_still_succeeds();
}

#[test]
fn memory_bomb_fails_with_the_memory_limit_named() {
    let plugin = load("test_memory_bomb", LIMITS);
    let err = run_error(train(&plugin, CancelToken::default()));
    assert!(matches!(err, RunError::MemoryLimit { mib: 64 }), "{err}");
    assert!(err.to_string().contains("memory limit of 64 MiB"), "{err}");
    a_good_job_still_succeeds();
}

#[test]
fn panic_reports_the_message_and_a_named_backtrace() {
    let plugin = load("test_panic", LIMITS);
    let err = run_error(train(&plugin, CancelToken::default()));
    let RunError::Trap { message, backtrace } = &err else { panic!("expected a trap, got {err}") };
    assert!(message.contains("index out of bounds"), "{message}");
    assert!(backtrace.contains("misbehave"), "backtrace without function names: {backtrace}");
    assert!(!backtrace.contains("<wasm function"), "{backtrace}");
    a_good_job_still_succeeds();
}

#[test]
fn file_and_socket_access_are_denied() {
    let plugin = load("test_escape", LIMITS);
    let err = run_error(train(&plugin, CancelToken::default()));
    let text = err.to_string();
    assert!(text.contains("file access denied") && text.contains("socket denied"), "{text}");
    a_good_job_still_succeeds();
}

#[test]
fn log_flood_is_capped() {
    let plugin = load("test_log_flood", Limits { time_secs: 30.0, ..LIMITS });
    let (result, report) = plugin.train(&request(), CancelToken::default(), Box::new(Discard));
    result.expect("a chatty plugin still finishes");
    let kept: usize = report.log.iter().map(|(_, line)| line.len()).sum();
    assert!(kept <= 64 * 1024, "kept {kept} bytes of log");
    assert!(report.dropped_log_lines > 20_000, "dropped only {}", report.dropped_log_lines);
    a_good_job_still_succeeds();
}

#[test]
fn oversized_model_is_refused() {
    let plugin = load("test_huge_model", Limits { memory_mib: 256, time_secs: 30.0, ..LIMITS });
    let err = run_error(train(&plugin, CancelToken::default()));
    assert!(matches!(err, RunError::ModelTooLarge { limit_mib: 8, .. }), "{err}");
    a_good_job_still_succeeds();
}

#[test]
fn wrong_contract_version_is_refused_at_load_with_the_accepted_versions_named() {
    let err = runtime().load(&plugin_file("test_wrong_version"), None, LIMITS).err().expect("must be refused");
    assert!(matches!(err, LoadError::WrongVersion { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("trainer@1.0.0") && text.contains("trainer@0.1.0 or @0.2.0 or @0.3.0"), "{text}");
    a_good_job_still_succeeds();
}

#[test]
fn a_core_module_and_a_bad_pin_are_refused() {
    let dir = temp_dir();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let err = runtime().load(&core, None, LIMITS).err().expect("core module");
    assert!(err.to_string().contains("core WebAssembly module"), "{err}");
    let err = runtime().load(&plugin_file("baseline"), Some("00ff"), LIMITS).err().expect("pin");
    assert!(matches!(err, LoadError::PinMismatch { .. }), "{err}");
}

/// Trains `plugin` (60 s limit) and cancels it from another thread after 200 ms:
/// the error and the time from the start of training to its end.
fn cancelled_after_200ms(plugin: &str) -> (RunError, Duration) {
    let plugin = load(plugin, Limits { time_secs: 60.0, ..LIMITS });
    let cancel = CancelToken::default();
    let trigger = cancel.clone();
    let started = Instant::now();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        trigger.cancel();
    });
    let err = run_error(train(&plugin, cancel));
    (err, started.elapsed())
}

#[test]
fn cancel_from_another_thread_stops_a_plugin_that_never_polls() {
    let (err, elapsed) = cancelled_after_200ms("test_endless_loop");
    assert!(matches!(err, RunError::Cancelled), "{err}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[test]
fn cancel_from_another_thread_stops_a_sleeping_plugin() {
    let (err, elapsed) = cancelled_after_200ms("test_sleep");
    assert!(matches!(err, RunError::Cancelled), "{err}");
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    a_good_job_still_succeeds();
}

/// Records when each epoch arrived.
struct EpochTimes(Arc<Mutex<Vec<Instant>>>);

impl ProgressSink for EpochTimes {
    fn epoch(&mut self, _: Epoch) {
        self.0.lock().unwrap().push(Instant::now());
    }
}

/// CPU time (user + system) of the calling thread so far, in clock ticks of 10 ms.
fn thread_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("/proc/thread-self/stat");
    // Fields after the command name (which is in parentheses): state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Short sleeps are not cut short: `test_slow` sleeps `epochMillis` per epoch, so
/// 10 x 50 ms takes about half a second and almost no CPU.
#[test]
fn short_sleeps_last_as_long_as_asked_and_burn_no_cpu() {
    use trainhost::contract::{Param, ParamValue};
    let plugin = load("test_slow", Limits { time_secs: 30.0, ..LIMITS });
    let mut request = request();
    request.params = vec![Param { name: "epochs".into(), value: ParamValue::Int(10) }, Param { name: "epochMillis".into(), value: ParamValue::Int(50) }];
    let times = Arc::new(Mutex::new(Vec::new()));
    let cpu_before = thread_cpu_ticks();
    let started = Instant::now();
    let (result, report) = plugin.train(&request, CancelToken::default(), Box::new(EpochTimes(times.clone())));
    let elapsed = started.elapsed();
    let cpu = Duration::from_millis(10 * (thread_cpu_ticks() - cpu_before));
    // The call's own CPU clock agrees (the kernel's ticks are 10 ms).
    assert!(report.cpu <= cpu + Duration::from_millis(20), "the call reports {:?} of CPU, the thread used {cpu:?}", report.cpu);
    result.expect("the slow plugin finishes");
    let times = times.lock().unwrap();
    assert_eq!(times.len(), 10);
    let mut previous = started;
    for (epoch, &at) in times.iter().enumerate() {
        assert!(at - previous >= Duration::from_millis(45), "epoch {} came after {:?}", epoch + 1, at - previous);
        previous = at;
    }
    assert!(elapsed >= Duration::from_millis(500) && elapsed < Duration::from_millis(1500), "took {elapsed:?}");
    assert!(cpu < Duration::from_millis(200), "{cpu:?} of CPU for {elapsed:?} of sleeping");
}

/// A plugin that computes the whole call long reports most of its wall time
/// as CPU (at least a fifth, should the machine be busy), and never more.
#[test]
fn a_busy_call_reports_its_cpu_time() {
    let looping = load("test_endless_loop", LIMITS);
    let (result, report) = looping.train(&request(), CancelToken::default(), Box::new(Discard));
    assert!(matches!(result, Err(RunError::TimeLimit { .. })), "{:?}", result.err());
    let (cpu, wall) = (report.cpu, report.duration);
    assert!(cpu >= wall / 5 && cpu <= wall + Duration::from_millis(20), "{cpu:?} of CPU in {wall:?}");
}

#[test]
fn a_runaway_job_does_not_stop_another_from_finishing() {
    let looping = load("test_endless_loop", Limits { time_secs: 5.0, ..LIMITS });
    let runaway = std::thread::spawn(move || train(&looping, CancelToken::default()).is_err());
    let started = Instant::now();
    a_good_job_still_succeeds();
    assert!(started.elapsed() < Duration::from_secs(4), "the good job waited for the bad one");
    assert!(runaway.join().unwrap());
}

#[test]
fn compiled_plugins_come_from_the_disk_cache_the_second_time() {
    let dir = temp_dir();
    let runtime = Runtime::new(Some(dir.path().to_path_buf())).unwrap();
    let first = runtime.load(&plugin_file("baseline"), None, LIMITS).unwrap();
    let second = runtime.load(&plugin_file("baseline"), None, LIMITS).unwrap();
    assert!(!first.from_cache);
    assert!(second.from_cache);
}

fn request() -> trainhost::contract::TrainRequest {
    use ::trainhost::contract::*;
    TrainRequest {
        task: Task::Clustering,
        train: LabelledTable {
            features: Table { rows: 2, columns: vec![Column { name: "x".into(), data: ColumnData::Numeric(vec![1.0, 2.0]) }] },
            target: None,
        },
        validation: None,
        params: vec![],
        seed: 0,
    }
}
