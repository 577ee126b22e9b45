//! Runs the plugin natively, for the quality and benchmark scripts:
//!
//!   linear_cli fit --data F.csv --target COL --task classification|regression
//!                  [--categorical a,b] [--keep a,b] [--param name=value]...
//!   linear_cli fit --raw X.f64 --rows N --cols P --task ... [--param name=value]...
//!
//! A CSV is typed as the tests type it (numbers, else sorted levels; `--categorical`
//! forces columns to levels, `--keep` keeps only these features). A raw file is
//! N × (P + 1) little-endian f64, row-major, the target last (class codes 0..K for
//! classification). Prints one JSON object: fit seconds (the fit only, reading
//! excluded), the plugin's metrics, the coefficient table, and the predictions on
//! the training rows (class probabilities, or values).

#[path = "../tests/common/mod.rs"]
mod common;

use linear::*;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("linear_cli: {e}");
        std::process::exit(2);
    }
}

fn options<'a>(args: &'a [String], name: &str) -> Vec<&'a str> {
    args.windows(2).filter(|w| w[0] == name).map(|w| w[1].as_str()).collect()
}

fn option<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    options(args, name).last().copied()
}

fn run(args: &[String]) -> Result<(), String> {
    if args.first().map(String::as_str) != Some("fit") {
        return Err("usage: linear_cli fit [options] (see the source header)".into());
    }
    let task = match option(args, "--task") {
        Some("classification") => Task::Classification,
        Some("regression") => Task::Regression,
        other => return Err(format!("--task classification|regression, not {other:?}")),
    };
    let table = match option(args, "--raw") {
        Some(path) => raw_table(path, args, task)?,
        None => csv_table(args, task)?,
    };
    let overrides: Vec<(&str, &str)> =
        options(args, "--param").iter().map(|p| p.split_once('=').ok_or(format!("--param {p}: name=value"))).collect::<Result<_, _>>()?;
    let features = table.features.clone();
    let request = TrainRequest { task, train: table, validation: None, params: common::params(&overrides)?, seed: 0 };
    let (start, cpu_start) = (Instant::now(), cpu_seconds());
    let fitted = fit(&request, &mut NoProgress).map_err(|e| format!("{e:?}"))?;
    let seconds = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_start;
    let predictions = if args.iter().any(|a| a == "--no-predictions") { String::from("null") } else { predictions(&fitted, &features)? };
    let metrics: Vec<String> = fitted.model.metrics.iter().map(|m| format!("\"{}\":{}", m.name, num(m.value))).collect();
    let coefficients: Vec<String> = fitted.coefficients.iter().map(coefficient_json).collect();
    let warnings: Vec<String> = fitted.warnings.iter().map(|w| format!("{w:?}")).collect();
    println!(
        "{{\"fit_seconds\":{seconds},\"fit_cpu_seconds\":{cpu},\"metrics\":{{{}}},\"warnings\":[{}],\"coefficients\":[{}],\"predictions\":{predictions}}}",
        metrics.join(","),
        warnings.join(","),
        coefficients.join(",")
    );
    Ok(())
}

fn csv_table(args: &[String], task: Task) -> Result<LabelledTable, String> {
    let csv = common::read_csv(option(args, "--data").ok_or("--data or --raw is required")?)?;
    let target = option(args, "--target").ok_or("--target is required")?;
    let list = |name: &str| option(args, name).map(|v| v.split(',').map(str::to_string).collect::<Vec<_>>()).unwrap_or_default();
    let (categorical, keep) = (list("--categorical"), list("--keep"));
    let cat: Vec<&str> = categorical.iter().map(String::as_str).collect();
    let mut table = csv.table(target, task, &cat);
    if !keep.is_empty() {
        table.features.columns.retain(|c| keep.contains(&c.name));
    }
    Ok(table)
}

fn raw_table(path: &str, args: &[String], task: Task) -> Result<LabelledTable, String> {
    let parse = |name: &str| option(args, name).and_then(|v| v.parse::<usize>().ok()).ok_or(format!("{name} N is required with --raw"));
    let (rows, cols) = (parse("--rows")?, parse("--cols")?);
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    if bytes.len() != rows * (cols + 1) * 8 {
        return Err(format!("{path} has {} bytes, not {rows} × {} f64", bytes.len(), cols + 1));
    }
    let value = |i: usize, j: usize| {
        let at = (i * (cols + 1) + j) * 8;
        f64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]))
    };
    let columns = (0..cols).map(|j| Column { name: format!("x{j}"), data: ColumnData::Numeric((0..rows).map(|i| value(i, j)).collect()) }).collect();
    let y: Vec<f64> = (0..rows).map(|i| value(i, cols)).collect();
    let target = match task {
        Task::Classification => {
            let k = y.iter().fold(0.0f64, |a, &b| a.max(b)) as usize + 1;
            ColumnData::Categorical(Categorical { codes: y.iter().map(|&v| v as u32).collect(), levels: (0..k).map(|c| c.to_string()).collect() })
        }
        _ => ColumnData::Numeric(y),
    };
    Ok(LabelledTable { features: Table { rows: rows as u32, columns }, target: Some(target) })
}

fn predictions(fitted: &Fitted, features: &Table) -> Result<String, String> {
    Ok(match predict(&fitted.model.model, features).map_err(|e| format!("{e:?}"))? {
        Predictions::Classes(p) => {
            let probs: Vec<String> = p.probabilities.unwrap_or_default().iter().map(|&v| num(v as f64)).collect();
            format!("{{\"n_classes\":{},\"probabilities\":[{}]}}", p.n_classes, probs.join(","))
        }
        Predictions::Values(v) => format!("{{\"values\":[{}]}}", v.iter().map(|&x| num(x)).collect::<Vec<_>>().join(",")),
        Predictions::Clusters(_) => return Err("linear does not cluster".into()),
    })
}

fn coefficient_json(c: &Coefficient) -> String {
    let class = c.class.as_ref().map_or("null".to_string(), |s| format!("{s:?}"));
    format!(
        "{{\"class\":{class},\"term\":{:?},\"estimate\":{},\"std_error\":{},\"statistic\":{},\"p_value\":{},\"ci_low\":{},\"ci_high\":{},\"standardised\":{}}}",
        c.term,
        num(c.estimate),
        num(c.std_error),
        num(c.statistic),
        num(c.p_value),
        num(c.ci_low),
        num(c.ci_high),
        num(c.standardised)
    )
}

/// User + system CPU time of this process, to the nanosecond (POSIX
/// `clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`): on a shared machine the wall
/// time also counts the time other processes held the cores.
fn cpu_seconds() -> f64 {
    #[repr(C)]
    struct Timespec {
        seconds: i64,
        nanoseconds: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, out: *mut Timespec) -> i32;
    }
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
    let mut t = Timespec { seconds: 0, nanoseconds: 0 };
    // SAFETY: clock_gettime writes one timespec (two 64-bit fields on the 64-bit
    // Unix targets this example runs on) into the valid, exclusive `t`.
    let ok = unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut t) } == 0;
    if ok {
        t.seconds as f64 + t.nanoseconds as f64 * 1e-9
    } else {
        f64::NAN
    }
}

/// JSON has no NaN: null.
fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:e}")
    } else {
        "null".into()
    }
}
