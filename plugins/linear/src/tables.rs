//! The result tables the plugin hands back with a model (contract 0.2.0): the
//! coefficient table, one row per term (and class, for a multinomial fit).
//!
//! Only formats; the figures come from `diagnostics`.

use crate::diagnostics::Coefficient;
use trainhost_sdk::{Cell, ResultTable};

const COLUMNS: [&str; 8] = ["term", "estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high", "estimate_standardised"];

pub fn coefficients(rows: &[Coefficient], penalised: bool) -> ResultTable {
    let multinomial = rows.iter().any(|c| c.class.is_some());
    let mut columns: Vec<&str> = COLUMNS.to_vec();
    if multinomial {
        columns.insert(0, "class");
    }
    let title = if penalised {
        "Coefficients (original scale; a penalised fit has no standard errors)"
    } else {
        "Coefficients (original scale) with standard errors, tests and 95% intervals"
    };
    let mut table = ResultTable::new("coefficients", title, &columns);
    for c in rows {
        let mut row: Vec<Cell> = Vec::with_capacity(columns.len());
        if multinomial {
            row.push(c.class.clone().unwrap_or_default().into());
        }
        row.push(c.term.as_str().into());
        row.extend([c.estimate, c.std_error, c.statistic, c.p_value, c.ci_low, c.ci_high, c.standardised].map(Cell::from));
        table.push(row);
    }
    table
}
