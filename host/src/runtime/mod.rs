//! The wasmtime side: one engine per process, plugins compiled once (and
//! cached on disk), a fresh store per call with limits on memory, wall time,
//! model size and log volume.
//!
//! Owns everything that touches wasmtime. It must not read datasets, talk to
//! the queue or know about HTTP: callers hand it WIT tables and get WIT
//! results or a `RunError` back.

mod cache;
mod collectives;
pub mod error;
pub mod limits;
pub mod parallel;
pub mod registry;
mod sandbox;
pub mod schema;
mod tables;
mod tuning;

pub use collectives::CollectiveCost;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{types::ComponentItem, Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store, UpdateDeadline};

use crate::contract::{self, v0_2, v0_3, Plugin, PluginPre, Version};
pub use error::{LoadError, RunError};
pub use limits::Limits;
use limits::MemoryBudget;
pub use registry::{PluginRegistry, SharedRegistry};
pub use sandbox::{CancelToken, Discard, Epoch, ProgressSink};
use sandbox::{Interrupt, PluginState, StopWhen};
pub use schema::{ParamError, ParamSchema, PluginSchema, Scale, Tunable};

/// How often the ticker advances the engine's epoch: the granularity of the
/// wall-time limit and of the hard stop on cancel.
const TICK: Duration = Duration::from_millis(20);

/// How a runaway plugin is stopped. `Epoch` is what the service uses; the
/// others exist so the benchmark can measure what enforcement costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interruption {
    /// Deadline checks at loop back-edges, driven by a 20 ms ticker, and waits in
    /// `wasi:io/poll` (sleeps) bounded by the same deadline: wall time and cancel enforced.
    Epoch,
    /// Fuel metering (an instruction budget); measured only, the budget is unbounded.
    Fuel,
    /// No checks at all: time limits and cancel are NOT enforced. Benchmarks only.
    Off,
}

/// Set to write what `perf` needs to name compiled plugin functions: `jitdump`
/// writes a `jit-<pid>.dump` with every function's code (for `perf inject --jit`
/// and `perf annotate` of the plugin's instructions); any other value writes
/// `/tmp/perf-<pid>.map` (names only). A diagnostic for profiling plugins; off by default.
pub const PERF_MAP_VAR: &str = "TRAINHOST_PERF_MAP";

/// CPU time this thread has used (zero where the clock cannot be read). A
/// plugin call runs on one thread from its store's creation to its end, so
/// the difference of two readings is the call's CPU.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a pointer to a live local.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec.max(0) as u64, now.tv_nsec.clamp(0, 999_999_999) as u32)
}

/// The process-wide engine with its epoch ticker and linker.
pub struct Runtime {
    engine: Engine,
    linker: Linker<PluginState>,
    cache: cache::CompileCache,
    interruption: Interruption,
}

impl Runtime {
    /// `cache_dir`: where compiled components are kept across restarts (None: no cache).
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Arc<Runtime>, wasmtime::Error> {
        Self::with_interruption(cache_dir, Interruption::Epoch)
    }

    pub fn with_interruption(cache_dir: Option<PathBuf>, interruption: Interruption) -> Result<Arc<Runtime>, wasmtime::Error> {
        let mut config = Config::new();
        config.epoch_interruption(interruption == Interruption::Epoch);
        config.consume_fuel(interruption == Interruption::Fuel);
        config.wasm_backtrace_max_frames(std::num::NonZeroUsize::new(32));
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        if let Some(value) = std::env::var_os(PERF_MAP_VAR) {
            // `perf record` then names the plugin's functions (README, "Profiling a plugin").
            let strategy = if value == "jitdump" { wasmtime::ProfilingStrategy::JitDump } else { wasmtime::ProfilingStrategy::PerfMap };
            config.profiler(strategy);
        }
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        if interruption == Interruption::Epoch {
            // A plugin waiting in the host (a sleep) runs no wasm, so no epoch check:
            // its waits are bounded by the same deadline and cancel instead.
            linker.allow_shadowing(true);
            sandbox::add_bounded_poll(&mut linker)?;
            linker.allow_shadowing(false);
        }
        Plugin::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |state| state)?;
        contract::v0_4::trainhost::plugin0_4_0::collectives::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |state| state)?;
        let runtime = Arc::new(Runtime { engine, linker, cache: cache::CompileCache::new(cache_dir), interruption });
        start_ticker(Arc::downgrade(&runtime));
        Ok(runtime)
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Loads a plugin file: checks its pin and contract version, compiles it (or
    /// takes it from the cache), links it, and asks it to `describe()` itself.
    pub fn load(self: &Arc<Self>, path: &Path, pin: Option<&str>, limits: Limits) -> Result<LoadedPlugin, LoadError> {
        let wasm = std::fs::read(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => LoadError::Missing { path: path.to_path_buf() },
            _ => LoadError::Read { path: path.to_path_buf(), source },
        })?;
        let sha256 = hex::encode(Sha256::digest(&wasm));
        if let Some(expected) = pin.filter(|p| !p.eq_ignore_ascii_case(&sha256)) {
            return Err(LoadError::PinMismatch { path: path.to_path_buf(), expected: expected.to_string(), actual: sha256 });
        }
        check_is_component(path, &wasm)?;
        let started = Instant::now();
        let (component, from_cache) = self
            .cache
            .load_or_compile(&self.engine, &sha256, &wasm)
            .map_err(|e| LoadError::NotAComponent { path: path.to_path_buf(), reason: format!("{e:#}") })?;
        let compile_time = started.elapsed();
        let version = self.check_contract(&component)?;
        let instance_pre = self.linker.instantiate_pre(&component).map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let link = |e: wasmtime::Error| LoadError::Link(format!("{e:#}"));
        let pre = match version {
            Version::V0_1 => Pre::V0_1(PluginPre::new(instance_pre).map_err(link)?),
            Version::V0_2 => Pre::V0_2(v0_2::PluginPre::new(instance_pre).map_err(link)?),
            Version::V0_3 => Pre::V0_3(v0_3::PluginPre::new(instance_pre).map_err(link)?),
        };
        let mut plugin = LoadedPlugin {
            runtime: self.clone(),
            pre,
            contract: version,
            path: path.to_path_buf(),
            sha256,
            limits,
            schema: PluginSchema { name: String::new(), version: String::new(), description: String::new(), tasks: vec![], params: vec![] },
            parallelism: None,
            from_cache,
            compile_time,
        };
        let info = plugin.describe().map_err(|e| LoadError::Describe(e.to_string()))?;
        plugin.schema = PluginSchema::from_info(&info).map_err(LoadError::Schema)?;
        plugin.parallelism = parallel::ask(&plugin).map_err(|e| LoadError::Describe(format!("describe-parallel(): {e}")))?;
        plugin.ask_suggestions()?;
        Ok(plugin)
    }

    /// Finds the contract version the component was built against, naming
    /// the exact problem instead of a generic link error when there is none.
    fn check_contract(&self, component: &Component) -> Result<Version, LoadError> {
        let ty = component.component_type();
        let trainer = format!("{}/trainer@", contract::PACKAGE);
        let exports: Vec<String> = ty.exports(&self.engine).map(|(name, _)| name.to_string()).collect();
        let version = match exports.iter().find(|name| name.starts_with(&trainer)) {
            Some(name) => Version::parse(&name[trainer.len()..])
                .ok_or_else(|| LoadError::WrongVersion { found: name.clone(), accepted: contract::accepted_trainers() })?,
            None => {
                let exports = if exports.is_empty() { "none".into() } else { exports.join(", ") };
                return Err(LoadError::MissingExport { accepted: contract::accepted_trainers(), exports });
            }
        };
        for (name, item) in ty.imports(&self.engine) {
            let provided = name.starts_with("wasi:") || name.starts_with(&format!("{}/", contract::PACKAGE));
            // Its own package's interfaces at a released version (0.2.0 and 0.3.0 plugins import 0.1.0's host).
            let known_version = !name.starts_with(contract::PACKAGE) || own_versions().iter().any(|v| name.ends_with(&format!("@{v}")));
            if !provided || !known_version || !matches!(item.ty, ComponentItem::ComponentInstance(_)) {
                let provides = format!("{}/* at {}", contract::PACKAGE, own_versions().iter().map(|v| format!("@{v}")).collect::<Vec<_>>().join(", "));
                return Err(LoadError::UnknownImport { import: name.to_string(), provides });
            }
        }
        Ok(version)
    }
}

/// The versions of its own package whose interfaces a plugin may import
/// (0.2.0 and 0.3.0 plugins import 0.1.0's host and types; 0.4.0 ones `collectives`).
fn own_versions() -> Vec<&'static str> {
    contract::VERSIONS.iter().copied().chain([contract::PARALLEL_VERSION]).collect()
}

fn check_is_component(path: &Path, wasm: &[u8]) -> Result<(), LoadError> {
    let not = |reason: &str| LoadError::NotAComponent { path: path.to_path_buf(), reason: reason.to_string() };
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err(not("the file does not start with the WebAssembly magic bytes"));
    }
    // Bytes 4..8: version 1 with layer 0 is a core module; layer 1 a component.
    if wasm[6..8] == [0, 0] {
        return Err(not("it is a core WebAssembly module; build it as a component (target wasm32-wasip2, or `wasm-tools component new`)"));
    }
    Ok(())
}

/// Advances the epoch until the runtime is dropped.
fn start_ticker(runtime: Weak<Runtime>) {
    std::thread::Builder::new()
        .name("wasm-epoch-ticker".into())
        .spawn(move || loop {
            std::thread::sleep(TICK);
            match runtime.upgrade() {
                Some(runtime) => runtime.engine.increment_epoch(),
                None => return,
            }
        })
        .expect("spawning the epoch ticker thread");
}

/// A linked component of one of the accepted contract versions.
enum Pre {
    V0_1(PluginPre<PluginState>),
    V0_2(v0_2::PluginPre<PluginState>),
    V0_3(v0_3::PluginPre<PluginState>),
}

/// One instance of a plugin, of its contract version.
enum Instance {
    V0_1(Plugin),
    V0_2(v0_2::Plugin),
    V0_3(v0_3::Plugin),
}

/// A compiled, linked plugin ready to be instantiated once per call.
pub struct LoadedPlugin {
    runtime: Arc<Runtime>,
    pre: Pre,
    /// The contract version the plugin was built against.
    pub contract: Version,
    pub path: PathBuf,
    pub sha256: String,
    pub limits: Limits,
    pub schema: PluginSchema,
    /// How the plugin trains one job in several instances (contract 0.4.0's
    /// `parallel` export); None: as one instance.
    pub parallelism: Option<parallel::Parallelism>,
    pub from_cache: bool,
    pub compile_time: Duration,
}

/// What a call produced besides its result: the log and the memory peak.
#[derive(Debug, Default)]
pub struct CallReport {
    pub log: Vec<(String, String)>,
    pub dropped_log_lines: usize,
    pub peak_memory_bytes: usize,
    pub duration: Duration,
    /// CPU time of the threads that ran the call: every instance's together,
    /// their spinning waits in collectives included. Unlike `duration` it
    /// does not count time the machine gave to other work.
    pub cpu: Duration,
    /// How many instances trained the job (`train_on`); 1 alone.
    pub instances: usize,
    /// The job's collective calls, all instances together (None: one instance).
    pub collectives: Option<collectives::CollectiveCost>,
}

impl LoadedPlugin {
    pub fn name(&self) -> &str {
        &self.schema.name
    }

    pub fn describe(&self) -> Result<contract::PluginInfo, RunError> {
        self.call(CancelToken::default(), Box::new(Discard), |store, instance| match instance {
            Instance::V0_1(plugin) => plugin.trainhost_plugin_trainer().call_describe(store),
            Instance::V0_2(plugin) => plugin.trainhost_plugin0_2_0_trainer().call_describe(store),
            Instance::V0_3(plugin) => plugin.trainhost_plugin0_3_0_trainer().call_describe(store),
        })
        .0
    }

    /// Trains under the plugin's limits. Progress and log lines go to `sink` as
    /// they happen. A 0.1.0 plugin's model comes back without tables.
    pub fn train(
        &self,
        request: &contract::TrainRequest,
        cancel: CancelToken,
        sink: Box<dyn ProgressSink>,
    ) -> (Result<contract::Trained, RunError>, CallReport) {
        let (result, report) = self.call(cancel, sink, |store, instance| call_train(store, instance, request));
        (result.and_then(|outcome| self.accept(outcome)), report)
    }

    /// What `train` returned, once the model's size and tables pass.
    fn accept(&self, outcome: Result<contract::Trained, contract::TrainError>) -> Result<contract::Trained, RunError> {
        match outcome {
            Ok(trained) => self.check_model_size(trained).and_then(|t| tables::check(t).map_err(RunError::Failed)),
            Err(err) => Err(train_error(err)),
        }
    }

    /// `train`, but on a cancel the host stops the plugin itself only `grace`
    /// later: `plugin check` sees whether the plugin stops on its own once
    /// `host::cancelled` says so. Jobs use `train` (stopped at once).
    pub fn train_with_cancel_grace(
        &self,
        request: &contract::TrainRequest,
        cancel: CancelToken,
        grace: Duration,
        sink: Box<dyn ProgressSink>,
    ) -> (Result<contract::Trained, RunError>, CallReport) {
        let started = Instant::now();
        let stop = StopWhen::new(started, self.limits.time_secs, cancel).with_cancel_grace(grace);
        let state = PluginState::new(&self.limits, stop, sink);
        let (result, report) = self.run_in(state, started, |store| self.instantiate(store).and_then(|instance| call_train(store, &instance, request)));
        (result.and_then(|outcome| self.accept(outcome)), report)
    }

    /// `train` within `time_secs` instead of the plugin's own time limit: the
    /// host's check of a request's parameters before it is queued, on a table
    /// without rows (`training::precheck_params`), which must not hold a submit.
    pub fn train_within(&self, request: &contract::TrainRequest, time_secs: f64) -> Result<contract::Trained, RunError> {
        let time_secs = time_secs.min(self.limits.time_secs);
        let (result, _) = self.call_for(time_secs, CancelToken::default(), Box::new(Discard), |store, instance| call_train(store, instance, request));
        result?.map_err(train_error)
    }

    /// The plugin's estimate of what `train` with `params` costs on a table
    /// of `shape` (contract 0.3.0), within `time_secs`: it must not hold a
    /// submit. `None`: the plugin declares no estimate (every 0.1.0 and 0.2.0
    /// plugin, and a 0.3.0 one that makes none for these parameters).
    pub fn estimate(
        &self,
        task: contract::Task,
        params: &[contract::Param],
        shape: &contract::TableShape,
        time_secs: f64,
    ) -> Result<Option<contract::Cost>, RunError> {
        if !matches!(self.pre, Pre::V0_3(_)) {
            return Ok(None);
        }
        let time_secs = time_secs.min(self.limits.time_secs);
        let (result, _) = self.call_for(time_secs, CancelToken::default(), Box::new(Discard), |store, instance| match instance {
            Instance::V0_3(plugin) => plugin.trainhost_plugin0_3_0_trainer().call_estimate(store, task, params, shape),
            Instance::V0_1(_) | Instance::V0_2(_) => Ok(Ok(None)),
        });
        result?.map_err(train_error)
    }

    pub fn predict(&self, model: &[u8], features: &contract::Table) -> Result<contract::Predictions, RunError> {
        self.predict_within(model, features, MemoryBudget::new(self.limits.memory_bytes()))
    }

    /// `predict` in a store whose memory counts against `memory`.
    fn predict_within(&self, model: &[u8], features: &contract::Table, memory: MemoryBudget) -> Result<contract::Predictions, RunError> {
        let (result, _) = self.call_within(self.limits.time_secs, CancelToken::default(), Box::new(Discard), memory, |store, instance| match instance {
            Instance::V0_1(plugin) => plugin.trainhost_plugin_trainer().call_predict(store, model, features),
            Instance::V0_2(plugin) => plugin.trainhost_plugin0_2_0_trainer().call_predict(store, model, features),
            Instance::V0_3(plugin) => plugin.trainhost_plugin0_3_0_trainer().call_predict(store, model, features),
        });
        result?.map_err(|err| match err {
            contract::PredictError::InvalidModel(why) => RunError::InvalidModel(why),
            contract::PredictError::InvalidData(why) => RunError::InvalidData(why),
            contract::PredictError::Failed(why) => RunError::Failed(why),
        })
    }

    fn check_model_size(&self, trained: contract::Trained) -> Result<contract::Trained, RunError> {
        let limit = (self.limits.model_mib as usize).saturating_mul(1 << 20);
        if trained.model.model.len() > limit {
            return Err(RunError::ModelTooLarge { bytes: trained.model.model.len(), limit_mib: self.limits.model_mib });
        }
        Ok(trained)
    }

    /// Runs `f` against a fresh instance in a fresh store, so nothing leaks between calls.
    fn call<R>(
        &self,
        cancel: CancelToken,
        sink: Box<dyn ProgressSink>,
        f: impl FnOnce(&mut Store<PluginState>, &Instance) -> wasmtime::Result<R>,
    ) -> (Result<R, RunError>, CallReport) {
        self.call_for(self.limits.time_secs, cancel, sink, f)
    }

    /// `call` with a time limit of its own.
    fn call_for<R>(
        &self,
        time_secs: f64,
        cancel: CancelToken,
        sink: Box<dyn ProgressSink>,
        f: impl FnOnce(&mut Store<PluginState>, &Instance) -> wasmtime::Result<R>,
    ) -> (Result<R, RunError>, CallReport) {
        self.call_within(time_secs, cancel, sink, MemoryBudget::new(self.limits.memory_bytes()), f)
    }

    /// `call_for` in a store whose memory counts against `memory`.
    fn call_within<R>(
        &self,
        time_secs: f64,
        cancel: CancelToken,
        sink: Box<dyn ProgressSink>,
        memory: MemoryBudget,
        f: impl FnOnce(&mut Store<PluginState>, &Instance) -> wasmtime::Result<R>,
    ) -> (Result<R, RunError>, CallReport) {
        let started = Instant::now();
        let mut state = PluginState::new(&self.limits, StopWhen::new(started, time_secs, cancel), sink);
        state.memory = memory;
        self.run_in(state, started, |store| self.instantiate(store).and_then(|instance| f(store, &instance)))
    }

    /// A fresh instance in `store`, of the plugin's contract version.
    fn instantiate(&self, store: &mut Store<PluginState>) -> wasmtime::Result<Instance> {
        match &self.pre {
            Pre::V0_1(pre) => pre.instantiate(store).map(Instance::V0_1),
            Pre::V0_2(pre) => pre.instantiate(store).map(Instance::V0_2),
            Pre::V0_3(pre) => pre.instantiate(store).map(Instance::V0_3),
        }
    }

    /// The linked component, whichever contract version it speaks.
    fn instance_pre(&self) -> &wasmtime::component::InstancePre<PluginState> {
        match &self.pre {
            Pre::V0_1(pre) => pre.instance_pre(),
            Pre::V0_2(pre) => pre.instance_pre(),
            Pre::V0_3(pre) => pre.instance_pre(),
        }
    }

    /// Runs `f` in a fresh store of `state` (which holds the call's limits and
    /// stop), turning a failure into the limit, cancel or crash that caused it.
    fn run_in<R>(
        &self,
        state: PluginState,
        started: Instant,
        f: impl FnOnce(&mut Store<PluginState>) -> wasmtime::Result<R>,
    ) -> (Result<R, RunError>, CallReport) {
        let cpu_at_start = thread_cpu_time();
        let mut store = Store::new(&self.runtime.engine, state);
        store.limiter(|state| &mut state.memory);
        self.arm_interruption(&mut store);
        let result = f(&mut store).map_err(|err| self.classify(err, store.data()));
        let state = store.data();
        let report = match state.log.lock() {
            Ok(log) => CallReport {
                log: log.lines.clone(),
                dropped_log_lines: log.dropped_lines,
                peak_memory_bytes: state.memory.peak_bytes(),
                duration: started.elapsed(),
                cpu: thread_cpu_time().saturating_sub(cpu_at_start),
                instances: state.team.as_ref().map_or(1, |member| member.size()),
                collectives: state.team.as_ref().map(|member| member.cost()),
            },
            Err(_) => CallReport::default(),
        };
        (result, report)
    }

    /// Every store's deadline is set: the callback runs on each tick and stops
    /// the plugin once the wall-clock limit passes or the job is cancelled (the
    /// store's `StopWhen`, which also bounds its waits in `wasi:io/poll`).
    fn arm_interruption(&self, store: &mut Store<PluginState>) {
        match self.runtime.interruption {
            Interruption::Epoch => {
                store.set_epoch_deadline(1);
                store.epoch_deadline_callback(|ctx| {
                    ctx.data().stop.check().map_err(wasmtime::Error::new)?;
                    Ok(UpdateDeadline::Continue(1))
                });
            }
            Interruption::Fuel => {
                let _ = store.set_fuel(u64::MAX);
            }
            Interruption::Off => {}
        }
    }

    /// Turns a wasmtime error into the limit, cancel or crash that caused it.
    fn classify(&self, err: wasmtime::Error, state: &PluginState) -> RunError {
        if err.downcast_ref::<limits::MemoryLimitHit>().is_some() || state.memory.exceeded() {
            return RunError::MemoryLimit { mib: self.limits.memory_mib };
        }
        match err.downcast_ref::<Interrupt>() {
            Some(Interrupt::TimeLimit) => return RunError::TimeLimit { seconds: self.limits.time_secs },
            Some(Interrupt::Cancelled) => return RunError::Cancelled,
            None => {}
        }
        let Some(trap) = err.downcast_ref::<wasmtime::Trap>() else {
            return RunError::Internal(format!("{err:#}"));
        };
        let panic = state.log.lock().ok().and_then(|log| panic_message(log.stderr_tail()));
        let message = match panic {
            Some(panic) => format!("{panic} ({trap})"),
            None => trap.to_string(),
        };
        RunError::Trap { message, backtrace: backtrace(&err) }
    }
}

/// The panic line a Rust guest printed to stderr before trapping, if any.
fn panic_message(stderr: &str) -> Option<String> {
    let start = stderr.rfind("panicked at")?;
    let text: Vec<&str> = stderr[start..].lines().take(2).collect();
    Some(text.join(": ").replace(":\n", ": "))
}

/// A short backtrace with function names, innermost first.
fn backtrace(err: &wasmtime::Error) -> String {
    let Some(trace) = err.downcast_ref::<wasmtime::WasmBacktrace>() else {
        return String::new();
    };
    let frames: Vec<String> = trace
        .frames()
        .iter()
        .filter_map(|frame| frame.func_name().map(str::to_string))
        .filter(|name| !name.starts_with("__rust") && !name.contains("panic"))
        .take(6)
        .collect();
    if frames.is_empty() {
        return String::new();
    }
    format!("\n  in {}", frames.join("\n  in "))
}

/// `train` on whichever contract version the instance speaks; 0.1.0 results carry no tables.
fn call_train(
    store: &mut Store<PluginState>,
    instance: &Instance,
    request: &contract::TrainRequest,
) -> wasmtime::Result<Result<contract::Trained, contract::TrainError>> {
    match instance {
        Instance::V0_1(plugin) => {
            let trained = plugin.trainhost_plugin_trainer().call_train(&mut *store, request)?;
            Ok(trained.map(|model| contract::Trained { model, tables: Vec::new() }))
        }
        Instance::V0_2(plugin) => plugin.trainhost_plugin0_2_0_trainer().call_train(store, request),
        Instance::V0_3(plugin) => {
            let trained = plugin.trainhost_plugin0_3_0_trainer().call_train(store, request)?;
            Ok(trained.map(|t| contract::Trained { model: t.model, tables: t.tables }))
        }
    }
}

fn train_error(err: contract::TrainError) -> RunError {
    match err {
        contract::TrainError::InvalidParameter(p) => RunError::InvalidParameter { name: p.name, reason: p.reason },
        contract::TrainError::InvalidData(why) => RunError::InvalidData(why),
        contract::TrainError::Cancelled => RunError::Cancelled,
        contract::TrainError::Failed(why) => RunError::Failed(why),
    }
}
