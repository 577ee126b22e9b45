//! The `trainhost` command line: train, predict, list and check plugins.
//!
//! Owns argument parsing and terminal output. It must not contain training
//! logic: every command calls `training`, `runtime` or `data`.

mod check;
mod new;
mod output;
mod users;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigSource};
use crate::contract::Task;
use crate::data::split::{FractionError, SplitFractions};
use crate::data::{ColumnChoices, ColumnKind};
use crate::runtime::{CancelToken, PluginRegistry, Runtime};
use crate::training::{self, ModelArtifact, TrainSpec};

#[derive(Parser)]
#[command(name = "trainhost", version, about = "Train models with sandboxed WebAssembly plugins")]
struct Cli {
    /// Config file (TOML). Default: ./trainhost.toml if present, else built-in defaults.
    #[arg(long, global = true, env = "TRAINHOST_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
// Parsed once per process: boxing the train arguments would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Train a model on a CSV or Parquet file, showing progress and holdout metrics.
    Train(TrainArgs),
    /// Predict with a model file on a CSV or Parquet file.
    Predict {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        data: PathBuf,
        /// Write predictions as CSV here instead of printing them.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List the enabled plugins with their parameter schemas.
    Plugins {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run the HTTP API and a worker pool (the embedded broker unless a Redis URL is configured).
    Serve {
        /// Serve the API only; jobs are run by `trainhost worker` processes.
        #[arg(long)]
        api_only: bool,
        /// Listen here instead of server.bind (e.g. 127.0.0.1:0 for any free port).
        #[arg(long)]
        bind: Option<String>,
    },
    /// Run workers only, taking jobs from the shared Redis broker.
    Worker,
    /// Manage the users of a running server (needs an admin's token in TRAINHOST_TOKEN).
    Users(users::UsersArgs),
    /// Plugin authoring tools.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Check that a file is a conforming plugin: one PASS or FAIL line per
    /// property (contract version, schema, train and predict on each task,
    /// determinism, predictions, parameter refusal, cancel, limits, estimates).
    Check { file: PathBuf },
    /// Write a new plugin project into the folder NAME, from a template.
    New {
        /// The plugin's name: lowercase letters, digits and underscores.
        name: String,
        /// The language of the template (see the error for the list).
        #[arg(long, default_value = "rust")]
        lang: String,
    },
}

#[derive(clap::Args)]
struct TrainArgs {
    #[arg(long)]
    plugin: String,
    #[arg(long)]
    data: PathBuf,
    /// Target column (not used for clustering).
    #[arg(long)]
    target: Option<String>,
    /// classification, regression or clustering.
    #[arg(long)]
    task: String,
    /// A hyperparameter, as name=value; repeat for several.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Share of rows held out for the final metrics, which the plugin never
    /// sees (default 0.2; 0: the metrics are on the training rows). `--validation`
    /// is its older name and means the same.
    #[arg(long = "test-fraction", visible_alias = "validation", value_name = "FRACTION")]
    test_fraction: Option<f64>,
    /// Share of rows handed to the plugin as its validation table, for early
    /// stopping and progress; never judged (default 0.1, or what --test-fraction
    /// leaves of 0.9; 0: no validation table).
    #[arg(long, value_name = "FRACTION")]
    plugin_validation_fraction: Option<f64>,
    /// Cross-validate first: K fits on stratified folds of the training part
    /// (the test rows stay outside every fold), their metrics printed as mean ±
    /// standard deviation, then the final fit; 0 (the default): none; else 2 to 20.
    #[arg(long, value_name = "K", default_value_t = 0)]
    folds: usize,
    /// For clustering: a label column used only to score the clusters (ARI, purity).
    #[arg(long)]
    evaluate: Option<String>,
    /// A column the model must not learn from; repeat for several.
    #[arg(long = "exclude", value_name = "COLUMN")]
    exclude_columns: Vec<String>,
    /// Read a column as numeric or categorical rather than as inferred (also
    /// brings back a column left out by default), as NAME=KIND; repeat for several.
    #[arg(long = "kind", value_name = "NAME=KIND")]
    column_kinds: Vec<String>,
    /// A name for the run, printed with its summary (in --json, as `name`).
    #[arg(long)]
    name: Option<String>,
    /// A tag for the run, printed with its summary (in --json, as `tags`); repeat for several.
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Instances of the plugin that train the job together, for a plugin
    /// that can (contract 0.4.0); default: the machine's cores. Capped by the
    /// plugin's own maximum and the config's `max_instances`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    instances: Option<u32>,
    /// Where to write the model file.
    #[arg(long, default_value = "model.trainhost")]
    out: PathBuf,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// The service logs its lifecycle; the CLI commands only warnings.
fn default_log_filter() -> &'static str {
    if std::env::args().any(|a| a == "serve" || a == "worker") {
        "info"
    } else {
        "warn"
    }
}

/// The log on stderr: plain lines, except the `audit` target's security
/// decisions, one JSON object a line (user, action, object, outcome).
fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRAINHOST_LOG").unwrap_or_else(|_| default_log_filter().into());
    let plain = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter)
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| meta.target() != "audit"));
    let audit = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_writer(std::io::stderr)
        .with_filter(tracing_subscriber::filter::Targets::new().with_target("audit", tracing::Level::INFO));
    tracing_subscriber::registry().with(plain).with(audit).init();
}

pub fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve { .. } | Command::Worker) {
        end_quietly_on_a_closed_pipe();
    }
    match run(cli) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// A one-shot command whose output is cut short (`trainhost train ... | head`)
/// ends as `head`'s other writers do, by SIGPIPE, instead of panicking in a
/// print (Rust ignores SIGPIPE by default): with several instances, a progress
/// print panicking inside one left the others waiting in a collective. The
/// service keeps ignoring it, so a client that hangs up never kills it.
fn end_quietly_on_a_closed_pipe() {
    // SAFETY: called once at start, before any thread is spawned; it restores
    // the action every process starts with.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    let bind = match &cli.command {
        Command::Serve { bind, .. } => bind.clone(),
        _ => None,
    };
    let source = ConfigSource { file: cli.config.clone(), bind };
    let config = source.load().map_err(|e| e.to_string())?;
    match cli.command {
        Command::Serve { api_only, .. } => return run_service(crate::service::serve(Some(source), config, api_only)),
        Command::Worker => return run_service(crate::service::worker(Some(source), config)),
        Command::Users(args) => return users::run(args),
        Command::Plugin { command: PluginCommand::New { name, lang } } => return new_plugin(&name, &lang),
        _ => {}
    }
    let runtime = Runtime::new(Some(config.storage.compile_cache())).map_err(|e| format!("starting wasmtime: {e:#}"))?;
    match cli.command {
        Command::Plugin { command: PluginCommand::Check { file } } => Ok(check::check(&runtime, &file, &config)),
        Command::Plugins { json } => {
            let registry = load_registry(&runtime, &config, None)?;
            output::print_plugins(&registry, json);
            Ok(ExitCode::SUCCESS)
        }
        Command::Train(args) => train(&runtime, &config, args),
        Command::Predict { model, data, out } => predict(&runtime, &config, &model, &data, out.as_deref()),
        Command::Serve { .. } | Command::Worker | Command::Users(_) | Command::Plugin { command: PluginCommand::New { .. } } => unreachable!("handled above"),
    }
}

fn new_plugin(name: &str, lang: &str) -> Result<ExitCode, String> {
    let root = new::create(Path::new("."), name, lang).map_err(|e| e.to_string())?;
    println!("wrote a {lang} plugin project into {}", root.display());
    println!("build it:  cd {name} && ./build          (writes {name}.wasm)");
    println!("check it:  trainhost plugin check {name}/{name}.wasm");
    println!("enable it: copy {name}.wasm into the plugin_dir of trainhost.toml (see {name}/README.md)");
    Ok(ExitCode::SUCCESS)
}

fn run_service(service: impl std::future::Future<Output = anyhow::Result<()>>) -> Result<ExitCode, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(service).map_err(|e| format!("{e:#}"))?;
    Ok(ExitCode::SUCCESS)
}

/// The enabled plugins, or with `only` just that one: `train` and `predict` need one,
/// and loading the others would compile each on a fresh compile cache (tens of
/// CPU-seconds for a component with an interpreter inside, such as a Python one).
fn load_registry(runtime: &Arc<Runtime>, config: &Config, only: Option<&str>) -> Result<PluginRegistry, String> {
    let mut entries = config.plugin_entries().map_err(|e| e.to_string())?;
    if let Some(name) = only {
        if !entries.iter().any(|e| e.name == name) {
            let known: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
            return Err(format!("no enabled plugin `{name}`; enabled: {}", known.join(", ")));
        }
        entries.retain(|e| e.name == name);
    }
    let registry = PluginRegistry::load(runtime, &entries);
    for (name, why) in registry.failures() {
        eprintln!("warning: plugin `{name}` left out: {why}");
    }
    Ok(registry)
}

fn parse_params(pairs: &[String]) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    pairs
        .iter()
        .map(|pair| {
            let (name, value) = pair.split_once('=').ok_or_else(|| format!("--param {pair}: write it as name=value"))?;
            Ok((name.trim().to_string(), serde_json::Value::String(value.trim().to_string())))
        })
        .collect()
}

/// The split the flags ask for, or what is wrong with it in the flags' names.
fn fractions(test: Option<f64>, plugin_validation: Option<f64>) -> Result<SplitFractions, String> {
    SplitFractions::requested(test, plugin_validation).check().map_err(|e| match e {
        FractionError::Test => "--test-fraction (or --validation) must be a number from 0 to 0.9".to_string(),
        FractionError::PluginValidation => "--plugin-validation-fraction must be a number from 0 to 0.9".to_string(),
        FractionError::TooMuchHeldOut(sum) => {
            format!("--test-fraction and --plugin-validation-fraction add up to {sum}; together they may hold out at most 0.9 of the rows")
        }
    })
}

/// `--folds`, checked as the API checks `folds`.
fn folds(k: usize, task: Task) -> Result<usize, String> {
    use crate::data::split::{folds_in_range, MAX_FOLDS, MIN_FOLDS};
    if !folds_in_range(k) {
        return Err(format!("--folds {k}: use 0 (no cross-validation) or a whole number from {MIN_FOLDS} to {MAX_FOLDS}"));
    }
    if k > 0 && task == Task::Clustering {
        return Err("--folds cross-validates classification and regression; clustering is not split: leave it out".into());
    }
    Ok(k)
}

fn column_choices(exclude_columns: Vec<String>, kinds: &[String]) -> Result<ColumnChoices, String> {
    let mut column_kinds = std::collections::BTreeMap::new();
    for pair in kinds {
        let (name, kind) = pair.split_once('=').ok_or_else(|| format!("--kind {pair}: use NAME=numeric or NAME=categorical"))?;
        let kind = match kind.trim() {
            "numeric" => ColumnKind::Numeric,
            "categorical" => ColumnKind::Categorical,
            other => return Err(format!("--kind {pair}: `{other}` is not a kind; use numeric or categorical")),
        };
        column_kinds.insert(name.trim().to_string(), kind);
    }
    Ok(ColumnChoices { exclude_columns, column_kinds })
}

fn train(runtime: &Arc<Runtime>, config: &Config, args: TrainArgs) -> Result<ExitCode, String> {
    let registry = load_registry(runtime, config, Some(&args.plugin))?;
    let plugin = registry.get(&args.plugin).ok_or_else(|| format!("plugin `{}` could not be loaded (see the warning above)", args.plugin))?;
    let task = Task::parse(&args.task).ok_or_else(|| format!("--task {}: use classification, regression or clustering", args.task))?;
    let labels = crate::jobs::RunLabels::checked(args.name.as_deref(), &args.tags).map_err(|e| format!("--name/--tag: {e}"))?;
    let spec = TrainSpec {
        task,
        target: args.target,
        params: parse_params(&args.params)?,
        seed: args.seed,
        fractions: fractions(args.test_fraction, args.plugin_validation_fraction)?,
        evaluation_column: args.evaluate,
        columns: column_choices(args.exclude_columns, &args.column_kinds)?,
        folds: folds(args.folds, task)?,
    };
    training::validate(plugin, &spec).map_err(|e| e.to_string())?;
    let reading = std::time::Instant::now();
    let table = crate::data::read_table_within(&args.data, &config.limits).map_err(|e| format!("{}: {e}", args.data.display()))?;
    let read = reading.elapsed();
    let sink = output::TerminalProgress::new(args.json);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let instances = args.instances.map_or(cores, |n| n as usize);
    let outcome = training::train_owned(plugin, table, &spec, instances, CancelToken::default(), Box::new(sink)).map_err(|e| e.to_string())?;
    let writing = std::time::Instant::now();
    crate::files::write_atomically(&args.out, &outcome.artifact.to_bytes()).map_err(|e| format!("writing {}: {e}", args.out.display()))?;
    let written = writing.elapsed();
    output::print_summary(&outcome, &args.out, args.json, &labels);
    if !args.json {
        output::print_host_times(read, &outcome, written);
    }
    Ok(ExitCode::SUCCESS)
}

fn predict(runtime: &Arc<Runtime>, config: &Config, model: &Path, data: &Path, out: Option<&Path>) -> Result<ExitCode, String> {
    let bytes = std::fs::read(model).map_err(|e| format!("{}: {e}", model.display()))?;
    let artifact = ModelArtifact::from_bytes(&bytes).map_err(|e| format!("{}: {e}", model.display()))?;
    let wanted = &artifact.header.plugin;
    let registry = load_registry(runtime, config, Some(wanted)).map_err(|_| format!("the model needs plugin `{wanted}`, which is not enabled"))?;
    let plugin = registry.get(wanted).ok_or_else(|| format!("the model needs plugin `{wanted}`, which could not be loaded (see the warning above)"))?;
    let table = crate::data::read_table_within(data, &config.limits).map_err(|e| format!("{}: {e}", data.display()))?;
    let predictions = training::predict(plugin, &artifact, &table).map_err(|e| e.to_string())?;
    let csv = output::predictions_csv(&predictions);
    match out {
        Some(path) => crate::files::write_atomically(path, csv.as_bytes()).map_err(|e| format!("writing {}: {e}", path.display()))?,
        None => print!("{csv}"),
    }
    Ok(ExitCode::SUCCESS)
}
