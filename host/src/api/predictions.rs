//! What `POST /jobs/{id}/predict` answers besides the predictions: their
//! score when the table holds the model's target column (the host's metrics
//! on those rows, as for the test rows), and the CSV download (`?format=csv`):
//! a row id, the input columns as given, the prediction and the class
//! probabilities rounded to four decimals.
//!
//! Owns these two shapes. It must not predict (`training::predict` does) nor
//! compute a metric itself (`data::metrics` does).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use polars::prelude::{DataFrame, DataType};
use serde::Serialize;

use crate::data::{metrics, EncodedColumn, Encoding};
use crate::training::PredictionSet;

/// The predictions scored against the target column the table holds.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PredictionScore {
    /// The target column the model was trained to predict.
    pub target: String,
    /// Rows with a target value the model knows (a class it was trained on, or a number).
    pub rows_scored: usize,
    /// Rows left out of the score: the target is missing, or a class the model never saw.
    pub rows_without_target: usize,
    /// `accuracy` or `r2`.
    pub headline_metric: String,
    /// A NaN is null.
    #[schema(value_type = BTreeMap<String, Option<f64>>)]
    pub metrics: BTreeMap<String, f64>,
}

/// The score of `predictions` on `table`, when it holds the model's target
/// column (classification and regression; clustering has no target).
pub fn score(encoding: &Encoding, table: &DataFrame, predictions: &PredictionSet) -> Option<PredictionScore> {
    let target = encoding.target.as_ref()?;
    if table.column(&target.name).is_err() {
        return None;
    }
    let (metrics, scored) = match (encoding.encode_target(table).ok()?, predictions) {
        (EncodedColumn::Codes(truth), PredictionSet { labels: Some(labels), classes: Some(classes), probabilities, .. }) => {
            let code = |label: &String| classes.iter().position(|c| c == label).unwrap_or(classes.len()) as u32;
            let known: Vec<usize> = (0..truth.len()).filter(|&i| (truth[i] as usize) < classes.len()).collect();
            let predicted: Vec<u32> = known.iter().map(|&i| code(&labels[i])).collect();
            let flat: Option<Vec<f32>> = probabilities.as_ref().map(|p| known.iter().flat_map(|&i| p[i].iter().copied()).collect());
            let truth: Vec<u32> = known.iter().map(|&i| truth[i]).collect();
            (metrics::classification(&truth, &predicted, flat.as_deref(), classes.len()), known.len())
        }
        (EncodedColumn::Numeric(truth), PredictionSet { values: Some(values), .. }) => {
            let known: Vec<usize> = (0..truth.len()).filter(|&i| truth[i].is_finite() && values[i].is_finite()).collect();
            let t: Vec<f64> = known.iter().map(|&i| truth[i]).collect();
            let p: Vec<f64> = known.iter().map(|&i| values[i]).collect();
            (metrics::regression(&t, &p), known.len())
        }
        _ => return None,
    };
    if scored == 0 {
        return None;
    }
    Some(PredictionScore {
        target: target.name.clone(),
        rows_scored: scored,
        rows_without_target: predictions.rows - scored,
        headline_metric: metrics.headline_name,
        metrics: metrics.values,
    })
}

/// The CSV download: `row` (1 for the first row of the table), every input
/// column as given, then `prediction` (or `cluster`) and `p(<class>)` for
/// each class, rounded to four decimals.
pub fn csv(table: &DataFrame, predictions: &PredictionSet) -> String {
    let inputs: Vec<(String, Vec<Option<String>>)> = table.columns().iter().map(|c| (c.name().to_string(), text_of(c))).collect();
    let mut header: Vec<String> = vec!["row".into()];
    header.extend(inputs.iter().map(|(name, _)| name.clone()));
    header.push(if predictions.clusters.is_some() { "cluster".into() } else { "prediction".into() });
    if predictions.probabilities.is_some() {
        header.extend(predictions.classes.iter().flatten().map(|c| format!("p({c})")));
    }
    let mut out = String::new();
    push_line(&mut out, header.iter().map(String::as_str));
    for row in 0..predictions.rows {
        let mut cells: Vec<String> = vec![(row + 1).to_string()];
        cells.extend(inputs.iter().map(|(_, values)| values.get(row).cloned().flatten().unwrap_or_default()));
        cells.push(prediction_cell(predictions, row));
        if let Some(probabilities) = predictions.probabilities.as_ref().and_then(|p| p.get(row)) {
            cells.extend(probabilities.iter().map(|&p| rounded(f64::from(p))));
        }
        push_line(&mut out, cells.iter().map(String::as_str));
    }
    out
}

/// A column's cells as text (missing: empty).
fn text_of(column: &polars::prelude::Column) -> Vec<Option<String>> {
    match column.as_materialized_series().cast(&DataType::String) {
        Ok(text) => match text.str() {
            Ok(ca) => ca.iter().map(|v| v.map(str::to_string)).collect(),
            Err(_) => vec![None; column.len()],
        },
        Err(_) => vec![None; column.len()],
    }
}

fn prediction_cell(p: &PredictionSet, row: usize) -> String {
    if let Some(labels) = &p.labels {
        return labels.get(row).cloned().unwrap_or_default();
    }
    if let Some(values) = &p.values {
        return values.get(row).filter(|v| v.is_finite()).map(|v| v.to_string()).unwrap_or_default();
    }
    p.clusters.as_ref().and_then(|c| c.get(row)).map(u32::to_string).unwrap_or_default()
}

/// At most four decimals, trailing zeros dropped: a float32's noise
/// (0.4399999976158142) is not a digit the model knows.
fn rounded(value: f64) -> String {
    if !value.is_finite() {
        return String::new();
    }
    let text = format!("{value:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.to_string()
    }
}

fn push_line<'a>(out: &mut String, cells: impl Iterator<Item = &'a str>) {
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            out.push(',');
        }
        if cell.contains([',', '"', '\n', '\r']) {
            let _ = write!(out, "\"{}\"", cell.replace('"', "\"\""));
        } else {
            out.push_str(cell);
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_lose_their_float32_noise() {
        assert_eq!(rounded(f64::from(0.44_f32)), "0.44");
        assert_eq!(rounded(f64::from(1.0_f32)), "1");
        assert_eq!(rounded(0.000_04), "0");
        assert_eq!(rounded(0.123_456), "0.1235");
    }

    #[test]
    fn cells_with_commas_or_quotes_are_quoted() {
        let mut out = String::new();
        push_line(&mut out, ["a,b", "say \"hi\"", "plain"].into_iter());
        assert_eq!(out, "\"a,b\",\"say \"\"hi\"\"\",plain\n");
    }
}
