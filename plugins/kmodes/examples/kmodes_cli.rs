//! Runs the kmodes plugin natively on a CSV, for the quality and benchmark
//! scripts while the host CLI is not available.
//!
//!   kmodes_cli --data F.csv [--exclude COL]... [--param name=value]... [--seed N] [--out ids.csv] [--progress]
//!
//! `--progress` prints every reported epoch (run, pass, cost, rows moved) to stderr.
//!
//! Prints one `key value` per line: cost, iterations, runs, gamma, seconds
//! (training only, CSV parsing excluded), seconds_per_init, sizes.

use std::time::Instant;

use kmodes::csvtable;
use trainhost_sdk::*;

fn main() {
    if let Err(e) = run() {
        eprintln!("kmodes_cli: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let (mut data, mut out, mut seed) = (None, None, 0u64);
    let (mut exclude, mut overrides, mut verbose) = (vec![], vec![], false);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--data" => data = Some(value()?),
            "--out" => out = Some(value()?),
            "--seed" => seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--exclude" => exclude.push(value()?),
            "--param" => overrides.push(value()?),
            "--progress" => verbose = true,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    let path = data.ok_or("--data is required")?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let csv = csvtable::parse(&text)?;
    let excluded: Vec<&str> = exclude.iter().map(String::as_str).collect();
    let features = csv.to_table(&excluded);
    let params = params_with(&overrides)?;
    let request = TrainRequest { task: Task::Clustering, train: LabelledTable { features: features.clone(), target: None }, validation: None, params, seed };
    let start = Instant::now();
    let mut report = |epoch: u32, total: u32, metrics: &[(&str, f64)]| {
        if verbose {
            let line: Vec<String> = metrics.iter().map(|(n, v)| format!("{n}={v}")).collect();
            eprintln!("epoch {epoch}/{total} {}", line.join(" "));
        }
        true
    };
    let trained = kmodes::train(&request, &mut report).map_err(|e| format!("training failed: {e:?}"))?;
    let seconds = start.elapsed().as_secs_f64();
    let metric = |name: &str| trained.metrics.iter().find(|m| m.name == name).map(|m| m.value);
    for m in &trained.metrics {
        println!("{} {}", m.name, m.value);
    }
    println!("seconds {seconds}");
    println!("seconds_per_init {}", seconds / metric("runs").unwrap_or(1.0));
    println!("model_bytes {}", trained.model.len());
    if let Some(sizes) = &trained.cluster_sizes {
        println!("sizes {}", sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(","));
    }
    if let Some(out) = out {
        // Through predict, as the host would, so the model bytes are exercised too.
        let ids = match kmodes::predict(&trained.model, &features).map_err(|e| format!("predict failed: {e:?}"))? {
            Predictions::Clusters(ids) => ids,
            other => return Err(format!("unexpected predictions {other:?}")),
        };
        let body: String = ids.iter().map(|id| format!("{id}\n")).collect();
        std::fs::write(&out, format!("cluster\n{body}")).map_err(|e| format!("{out}: {e}"))?;
    }
    Ok(())
}

/// Every declared parameter with its default, then the overrides (as the host fills them in).
fn params_with(overrides: &[String]) -> Result<Vec<Param>, String> {
    let mut params: Vec<Param> = kmodes::info().params.iter().map(|spec| Param { name: spec.name.clone(), value: default_value(&spec.kind) }).collect();
    for o in overrides {
        let (name, raw) = o.split_once('=').ok_or(format!("--param {o}: expected name=value"))?;
        let param = params.iter_mut().find(|p| p.name == name).ok_or(format!("unknown parameter {name}"))?;
        param.value = match param.value {
            ParamValue::Int(_) => ParamValue::Int(raw.parse().map_err(|e| format!("{name}: {e}"))?),
            ParamValue::Float(_) => ParamValue::Float(raw.parse().map_err(|e| format!("{name}: {e}"))?),
            ParamValue::Boolean(_) => ParamValue::Boolean(raw.parse().map_err(|e| format!("{name}: {e}"))?),
            ParamValue::Choice(_) => ParamValue::Choice(raw.to_lowercase()),
        };
    }
    Ok(params)
}

fn default_value(kind: &ParamKind) -> ParamValue {
    match kind {
        ParamKind::Int(s) => ParamValue::Int(s.default),
        ParamKind::Float(s) => ParamValue::Float(s.default),
        ParamKind::Boolean(b) => ParamValue::Boolean(*b),
        ParamKind::Choice(c) => ParamValue::Choice(c.default.clone()),
        ParamKind::ChoiceOrNumber(c) => ParamValue::Choice(c.default.clone()),
    }
}
