//! Runs the plugin natively on CSV files, with the command line the
//! `trainhost` CLI offers, so benchmark and quality scripts can run the
//! algorithm before (and alongside) the host:
//!
//!   rf_cli train --data F.csv --target COL --task classification|regression
//!                [--param name=value]... [--seed N] --out model.bin
//!   rf_cli predict --model model.bin --data F.csv [--out preds.csv]
//!
//! `train` prints one JSON line: fit seconds (training only, CSV parsing
//! excluded), model bytes, the plugin's metrics and the process's peak RSS.

#[path = "../tests/support/mod.rs"]
mod support;

use random_forest::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

/// Counts live heap bytes and their peak, so `train` can report the memory
/// the plugin itself needs (the request's table plus what training allocates),
/// which is what a WASM instance's linear memory must hold; the process's RSS
/// also counts this CLI's CSV parsing.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(live, Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("train") => train_command(&args[1..]),
        Some("predict") => predict_command(&args[1..]),
        _ => Err("usage: rf_cli train|predict [options] (see the source header)".into()),
    };
    if let Err(e) = result {
        eprintln!("rf_cli: {e}");
        std::process::exit(2);
    }
}

/// Values of `--name value` options, in order (repeatable).
fn options<'a>(args: &'a [String], name: &str) -> Vec<&'a str> {
    args.windows(2).filter(|w| w[0] == name).map(|w| w[1].as_str()).collect()
}

fn option<'a>(args: &'a [String], name: &str) -> Result<&'a str, String> {
    options(args, name).last().copied().ok_or(format!("{name} is required"))
}

fn train_command(args: &[String]) -> Result<(), String> {
    let task = match option(args, "--task")? {
        "classification" => Task::Classification,
        "regression" => Task::Regression,
        other => return Err(format!("unknown task {other}")),
    };
    let csv = support::read_csv(option(args, "--data")?)?;
    let table = csv.labelled(option(args, "--target")?, task)?;
    drop(csv);
    let overrides: Vec<(&str, &str)> =
        options(args, "--param").iter().map(|p| p.split_once('=').ok_or(format!("--param {p}: expected name=value"))).collect::<Result<_, _>>()?;
    let seed = options(args, "--seed").last().map_or(Ok(0), |s| s.parse().map_err(|_| format!("bad seed {s}")))?;
    let request = TrainRequest { task, train: table, validation: None, params: support::params(&overrides)?, seed };
    let request_bytes = LIVE.load(Relaxed);
    PEAK.store(request_bytes, Relaxed);
    let (start, cpu_start) = (Instant::now(), cpu_seconds());
    let model = train(&request, &mut NoProgress).map_err(|e| format!("{e:?}"))?;
    let fit_seconds = start.elapsed().as_secs_f64();
    let fit_cpu_seconds = cpu_seconds() - cpu_start;
    let heap_peak = PEAK.load(Relaxed);
    std::fs::write(option(args, "--out")?, &model.model).map_err(|e| e.to_string())?;
    let metrics: Vec<String> = model.metrics.iter().map(|m| format!("\"{}\":{}", m.name, m.value)).collect();
    println!(
        "{{\"fit_seconds\":{fit_seconds:.4},\"fit_cpu_seconds\":{fit_cpu_seconds:.3},\"model_bytes\":{},\"peak_rss_bytes\":{},\"heap_request_bytes\":{request_bytes},\"heap_peak_train_bytes\":{heap_peak},\"metrics\":{{{}}}}}",
        model.model.len(),
        peak_rss(),
        metrics.join(",")
    );
    Ok(())
}

fn predict_command(args: &[String]) -> Result<(), String> {
    let model = std::fs::read(option(args, "--model")?).map_err(|e| e.to_string())?;
    let csv = support::read_csv(option(args, "--data")?)?;
    let table = csv.features(None);
    let start = Instant::now();
    let predictions = predict(&model, &table).map_err(|e| format!("{e:?}"))?;
    let predict_seconds = start.elapsed().as_secs_f64();
    let mut out = String::from("prediction\n");
    match predictions {
        Predictions::Classes(p) => {
            let labels = class_labels(&model)?;
            p.labels.iter().for_each(|&l| {
                out.push_str(&labels[l as usize]);
                out.push('\n');
            });
        }
        Predictions::Values(v) => v.iter().for_each(|x| out.push_str(&format!("{x}\n"))),
        Predictions::Clusters(c) => c.iter().for_each(|x| out.push_str(&format!("{x}\n"))),
    }
    match options(args, "--out").last() {
        Some(path) => std::fs::write(path, out).map_err(|e| e.to_string())?,
        None => print!("{out}"),
    }
    eprintln!("{{\"predict_seconds\":{predict_seconds:.4}}}");
    Ok(())
}

/// CPU time of this process (user + system, Linux), to time fairly on a busy machine.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident memory of this process (Linux), 0 where unknown.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()).map_or(0, |kb| kb * 1024)
}
