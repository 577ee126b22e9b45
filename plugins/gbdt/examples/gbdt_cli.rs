//! Runs the plugin natively on CSV files, so the benchmark can time the same
//! Rust code outside WASM:
//!
//!   gbdt_cli train --data F.csv --target COL --task classification|regression
//!                  [--param name=value]... [--seed N] [--out model.bin]
//!                  [--test T.csv --predictions P.txt]
//!
//! Prints one JSON line: fit seconds (training alone; reading the CSV is
//! excluded), model bytes, the plugin's metrics, the peak heap bytes training
//! needed beyond the request, and the process's peak RSS. With `--test`, the
//! predictions on it (class-1 probability or value, one a line) are written.
//! The CSV reader goes straight into columns, so a million rows stay cheap.

#[path = "../tests/support/mod.rs"]
mod support;

use gbdt::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

/// Counts live heap bytes and their peak: what a WASM instance's linear
/// memory must hold while training.
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
        _ => Err("usage: gbdt_cli train|predict [options] (see the source header)".into()),
    };
    if let Err(e) = result {
        eprintln!("gbdt_cli: {e}");
        std::process::exit(2);
    }
}

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
    let target = option(args, "--target")?;
    let (features, target_data) = read_columns(option(args, "--data")?, target, task)?;
    let overrides: Vec<(&str, &str)> =
        options(args, "--param").iter().map(|p| p.split_once('=').ok_or(format!("--param {p}: expected name=value"))).collect::<Result<_, _>>()?;
    let seed = options(args, "--seed").last().map_or(Ok(0), |s| s.parse().map_err(|_| format!("bad seed {s}")))?;
    let train = LabelledTable { features, target: Some(target_data) };
    let request = TrainRequest { task, train, validation: None, params: support::params(&overrides)?, seed };
    let request_bytes = LIVE.load(Relaxed);
    PEAK.store(request_bytes, Relaxed);
    let (start, cpu_start) = (Instant::now(), cpu_seconds());
    let model = gbdt::train(&request, &mut NoProgress).map_err(|e| format!("{e:?}"))?;
    let fit_seconds = start.elapsed().as_secs_f64();
    let fit_cpu_seconds = cpu_seconds() - cpu_start;
    let heap_peak = PEAK.load(Relaxed) - request_bytes;
    drop(request);
    if let Some(path) = options(args, "--out").last() {
        std::fs::write(path, &model.model).map_err(|e| e.to_string())?;
    }
    let mut predict_seconds = (0.0, 0.0);
    if let Some(test) = options(args, "--test").last() {
        let (table, _) = read_columns(test, target, task)?;
        predict_seconds = write_predictions(&model.model, &table, option(args, "--predictions")?)?;
    }
    let metrics: Vec<String> = model.metrics.iter().map(|m| format!("\"{}\":{}", m.name, m.value)).collect();
    println!(
        "{{\"fit_seconds\":{fit_seconds:.4},\"fit_cpu_seconds\":{fit_cpu_seconds:.3},\"predict_seconds\":{:.4},\"predict_cpu_seconds\":{:.3},\"model_bytes\":{},\"heap_train_bytes\":{heap_peak},\"heap_request_bytes\":{request_bytes},\"peak_rss_bytes\":{},\"metrics\":{{{}}}}}",
        predict_seconds.0,
        predict_seconds.1,
        model.model.len(),
        peak_rss(),
        metrics.join(",")
    );
    Ok(())
}

/// `predict --model M --data F.csv --predictions P`: a saved model on a CSV of
/// features (every column read as the training CSV would be); prints the
/// predict call's wall and CPU seconds (reading and writing excluded).
fn predict_command(args: &[String]) -> Result<(), String> {
    let model = std::fs::read(option(args, "--model")?).map_err(|e| e.to_string())?;
    let (table, _) = read_columns(option(args, "--data")?, "", Task::Regression)?;
    let (wall, cpu) = write_predictions(&model, &table, option(args, "--predictions")?)?;
    println!("{{\"predict_seconds\":{wall:.4},\"predict_cpu_seconds\":{cpu:.3},\"rows\":{}}}", table.rows);
    Ok(())
}

/// Writes the predictions; returns the predict call's (wall, CPU) seconds.
fn write_predictions(model: &[u8], table: &Table, path: &str) -> Result<(f64, f64), String> {
    let mut out = String::new();
    let (start, cpu_start) = (Instant::now(), cpu_seconds());
    let predictions = gbdt::predict(model, table).map_err(|e| format!("{e:?}"))?;
    let seconds = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu_start);
    match predictions {
        Predictions::Classes(p) => {
            let k = p.n_classes as usize;
            let probs = p.probabilities.unwrap_or_default();
            probs.chunks_exact(k).for_each(|row| out.push_str(&format!("{}\n", row[k - 1])));
        }
        Predictions::Values(v) => v.iter().for_each(|x| out.push_str(&format!("{x}\n"))),
        Predictions::Clusters(_) => return Err("unexpected clusters".into()),
    }
    std::fs::write(path, out).map_err(|e| e.to_string())?;
    Ok(seconds)
}

/// The feature table and the target column of a CSV file. A column is
/// numeric when every cell parses (empty = missing), else categorical with
/// levels sorted by name; the target is categorical for classification.
fn read_columns(path: &str, target: &str, task: Task) -> Result<(Table, ColumnData), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut lines = text.lines().filter(|l| !l.is_empty());
    let header: Vec<&str> = lines.next().ok_or("empty file")?.split(',').collect();
    // No target (predict): no column is left out.
    let t = if target.is_empty() { usize::MAX } else { header.iter().position(|h| *h == target).ok_or(format!("no column {target}"))? };
    let mut numeric: Vec<bool> = (0..header.len()).map(|i| !(i == t && task == Task::Classification)).collect();
    let rows: Vec<&str> = lines.collect();
    for line in &rows {
        for (i, cell) in line.split(',').enumerate() {
            if numeric[i] && !cell.is_empty() && cell.parse::<f64>().is_err() {
                numeric[i] = false;
            }
        }
    }
    let mut nums: Vec<Vec<f64>> = numeric.iter().map(|&n| if n { Vec::with_capacity(rows.len()) } else { Vec::new() }).collect();
    let mut cats: Vec<Vec<&str>> = numeric.iter().map(|&n| if n { Vec::new() } else { Vec::with_capacity(rows.len()) }).collect();
    for line in &rows {
        for (i, cell) in line.split(',').enumerate() {
            if numeric[i] {
                nums[i].push(cell.parse().unwrap_or(f64::NAN));
            } else {
                cats[i].push(cell);
            }
        }
    }
    let mut columns: Vec<Column> = Vec::new();
    let mut target_data = None;
    for i in 0..header.len() {
        let data = if numeric[i] { ColumnData::Numeric(std::mem::take(&mut nums[i])) } else { categorical(&cats[i]) };
        if i == t {
            target_data = Some(data);
        } else {
            columns.push(Column { name: header[i].to_string(), data });
        }
    }
    let target_data = if target.is_empty() { ColumnData::Numeric(Vec::new()) } else { target_data.ok_or("no target")? };
    Ok((Table { rows: rows.len() as u32, columns }, target_data))
}

fn categorical(cells: &[&str]) -> ColumnData {
    let mut levels: Vec<String> =
        cells.iter().filter(|c| !c.is_empty()).map(|c| c.to_string()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    levels.shrink_to_fit();
    let index: HashMap<&str, u32> = levels.iter().enumerate().map(|(i, l)| (l.as_str(), i as u32)).collect();
    let codes = cells.iter().map(|c| index.get(c).copied().unwrap_or(MISSING_CODE)).collect();
    ColumnData::Categorical(Categorical { codes, levels })
}

/// CPU time of this process (user + system, Linux): fairer than wall time on a busy machine.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()).map_or(0, |kb| kb * 1024)
}
