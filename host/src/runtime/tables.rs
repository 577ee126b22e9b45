//! Bounds on the result tables a plugin returns with its model (contract
//! 0.2.0), checked when `train` returns: they are stored with the job record
//! and sent to browsers, so a plugin must not be able to make them huge.
//!
//! Owns those bounds. A malformed table (ragged rows, no name, a repeated
//! name) fails the run, as a plugin bug would; an oversized one is cut to its
//! first rows and says so in its title, because the model itself is fine.

use crate::contract::{Cell, ResultTable, Trained};

/// Tables per model.
const MAX_TABLES: usize = 16;
/// Cells over all tables of one model (a few MiB of JSON at most).
const MAX_CELLS: usize = 100_000;
/// Bytes of one text cell, a title or a column name.
const MAX_TEXT: usize = 1024;
/// Columns of one table.
const MAX_COLUMNS: usize = 256;

pub fn check(mut trained: Trained) -> Result<Trained, String> {
    if trained.tables.len() > MAX_TABLES {
        return Err(format!("the plugin returned {} result tables; at most {MAX_TABLES} are kept", trained.tables.len()));
    }
    let mut budget = MAX_CELLS;
    let mut names: Vec<String> = Vec::new();
    for table in &mut trained.tables {
        check_shape(table, &names)?;
        names.push(table.name.clone());
        let width = table.columns.len().max(1);
        let keep = (budget / width).min(table.rows.len());
        if keep < table.rows.len() {
            table.title = format!("{} (first {keep} of {} rows)", table.title, table.rows.len());
            table.rows.truncate(keep);
        }
        budget -= keep * width;
        table.title = clip(&table.title);
        for cell in table.rows.iter_mut().flatten() {
            if let Cell::Text(text) = cell {
                *text = clip(text);
            }
        }
    }
    Ok(trained)
}

fn check_shape(table: &ResultTable, earlier: &[String]) -> Result<(), String> {
    if table.name.is_empty() || table.name.len() > 64 {
        return Err(format!("a result table's name must have 1 to 64 bytes, not {}", table.name.len()));
    }
    if earlier.contains(&table.name) {
        return Err(format!("two result tables are named {:?}", table.name));
    }
    if table.columns.is_empty() || table.columns.len() > MAX_COLUMNS {
        return Err(format!("result table {:?} has {} columns; it needs 1 to {MAX_COLUMNS}", table.name, table.columns.len()));
    }
    if table.columns.iter().any(|c| c.len() > MAX_TEXT) {
        return Err(format!("result table {:?} has a column name over {MAX_TEXT} bytes", table.name));
    }
    if let Some(i) = table.rows.iter().position(|r| r.len() != table.columns.len()) {
        return Err(format!("row {} of result table {:?} has {} cells for {} columns", i + 1, table.name, table.rows[i].len(), table.columns.len()));
    }
    Ok(())
}

/// At most `MAX_TEXT` bytes, cut at a character boundary.
fn clip(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.to_string();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::TrainedModel;

    fn trained(tables: Vec<ResultTable>) -> Trained {
        Trained { model: TrainedModel { model: vec![], metrics: vec![], feature_importances: None, cluster_sizes: None }, tables }
    }

    fn table(name: &str, rows: usize, width: usize) -> ResultTable {
        ResultTable {
            name: name.into(),
            title: "T".into(),
            columns: (0..width).map(|c| format!("c{c}")).collect(),
            rows: (0..rows).map(|r| (0..width).map(|_| Cell::Number(r as f64)).collect()).collect(),
        }
    }

    #[test]
    fn a_huge_table_is_cut_and_says_so() {
        let out = check(trained(vec![table("big", 60_000, 2), table("after", 10, 2)])).unwrap();
        assert_eq!(out.tables[0].rows.len(), 50_000);
        assert_eq!(out.tables[0].title, "T (first 50000 of 60000 rows)");
        assert_eq!(out.tables[1].rows.len(), 0, "the budget is shared");
    }

    #[test]
    fn ragged_rows_and_repeated_names_are_refused() {
        let mut ragged = table("t", 2, 3);
        ragged.rows[1].pop();
        assert!(check(trained(vec![ragged])).unwrap_err().contains("row 2 of result table \"t\" has 2 cells for 3 columns"));
        assert!(check(trained(vec![table("t", 1, 1), table("t", 1, 1)])).unwrap_err().contains("two result tables"));
    }

    #[test]
    fn long_text_is_clipped_at_a_character_boundary() {
        let mut t = table("t", 1, 1);
        t.rows[0][0] = Cell::Text("é".repeat(600));
        let out = check(trained(vec![t])).unwrap();
        let Cell::Text(text) = &out.tables[0].rows[0][0] else { panic!() };
        assert!(text.len() <= MAX_TEXT + 3 && text.ends_with('…'));
    }
}
