//! What the instances of one job (contract 0.4.0) agree on so that each
//! boosts its own shard of the rows into the model one instance would grow
//! from all of them: where each shard's rows sit, the bin edges and level
//! counts, the initial scores and class weights, the bag of each round, the
//! losses reported, and the refitted leaves of the L1 and quantile losses.
//! Exchanges are exact (integer sums) or go through rank 0, which computes
//! from every row in table order exactly what one instance computes, and
//! broadcasts the answer. Alone, nothing is exchanged.
//!
//! Owns the exchange formats (never stored). Must not grow trees (`tree`
//! adds its own histograms up) nor decide what is computed.

use crate::data::numeric_edges;
use trainhost_sdk::team::Team;

/// This instance's training rows (those with a target) among the job's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowShard {
    /// The job-wide index of this instance's first row.
    pub offset: usize,
    /// Rows over every instance.
    pub total: usize,
    /// Rows left out for a missing target, over every instance.
    pub dropped: usize,
}

fn failed(what: &str, why: String) -> String {
    format!("the job's instances could not agree on {what}: {why}")
}

/// Where this instance's `rows` sit: every rank's count, exchanged.
pub fn locate(team: &dyn Team, rows: usize, dropped: usize) -> Result<RowShard, String> {
    let (k, rank) = (team.size(), team.rank());
    if k == 1 {
        return Ok(RowShard { offset: 0, total: rows, dropped });
    }
    let mut counts = vec![0i64; k + 1];
    counts[rank] = rows as i64;
    counts[k] = dropped as i64;
    let (_, counts) = team.sum(&[], &counts).map_err(|e| failed("the row counts", e))?;
    let offset = counts[..rank].iter().sum::<i64>() as usize;
    Ok(RowShard { offset, total: counts[..k].iter().sum::<i64>() as usize, dropped: counts[k] as usize })
}

/// What one instance knows of a column before binning.
pub enum Sketch {
    /// Sampled values of a numeric column, in row order.
    Sample(Vec<f32>),
    /// Rows per level of a categorical column.
    Counts(Vec<i64>),
}

/// What every instance bins a column with.
pub enum Agreed {
    Edges(Vec<f32>),
    Counts(Vec<i64>),
}

/// The bins of every column: level counts added up; samples gathered to
/// rank 0 in rank order (the job's row order), cut there, broadcast.
pub fn agree(team: &dyn Team, sketches: Vec<Sketch>, max_bins: usize) -> Result<Vec<Agreed>, String> {
    if team.size() == 1 {
        return Ok(sketches
            .into_iter()
            .map(|s| match s {
                Sketch::Sample(v) => Agreed::Edges(numeric_edges(v, max_bins)),
                Sketch::Counts(c) => Agreed::Counts(c),
            })
            .collect());
    }
    let counts: Vec<i64> = sketches.iter().flat_map(|s| if let Sketch::Counts(c) = s { c.as_slice() } else { &[] }).copied().collect();
    let (_, mut counts) = team.sum(&[], &counts).map_err(|e| failed("the level counts", e))?;
    let samples: Vec<&[f32]> = sketches.iter().filter_map(|s| if let Sketch::Sample(v) = s { Some(v.as_slice()) } else { None }).collect();
    let gathered = team.gather(&encode_f32_lists(&samples)).map_err(|e| failed("the bin edges", e))?;
    let mut edges_bytes = Vec::new();
    if team.rank() == 0 {
        let parts = gathered.iter().map(|b| decode_f32_lists(b)).collect::<Result<Vec<_>, _>>().map_err(|e| failed("the bin edges", e))?;
        let edges: Vec<Vec<f32>> = (0..samples.len()).map(|c| numeric_edges(parts.iter().flat_map(|p| p[c].iter().copied()).collect(), max_bins)).collect();
        edges_bytes = encode_f32_lists(&edges.iter().map(Vec::as_slice).collect::<Vec<_>>());
    }
    let edges = decode_f32_lists(&team.broadcast(&edges_bytes).map_err(|e| failed("the bin edges", e))?).map_err(|e| failed("the bin edges", e))?;
    let mut edges = edges.into_iter();
    let mut out = Vec::with_capacity(sketches.len());
    for s in &sketches {
        out.push(match s {
            Sketch::Sample(_) => Agreed::Edges(edges.next().ok_or_else(|| failed("the bin edges", "too few lists".into()))?),
            Sketch::Counts(c) => Agreed::Counts(counts.drain(..c.len()).collect()),
        });
    }
    Ok(out)
}

/// `f(every row's values)` computed on rank 0 from all instances' rows in
/// job order, its answer on every rank.
pub fn on_all_rows(team: &dyn Team, what: &str, mine: Vec<f64>, f: impl FnOnce(Vec<f64>) -> Vec<f64>) -> Result<Vec<f64>, String> {
    if team.size() == 1 {
        return Ok(f(mine));
    }
    let gathered = team.gather(&encode_f64(&mine)).map_err(|e| failed(what, e))?;
    let answer = if team.rank() == 0 { f(gathered.iter().flat_map(|b| decode_f64(b)).collect()) } else { Vec::new() };
    Ok(decode_f64(&team.broadcast(&encode_f64(&answer)).map_err(|e| failed(what, e))?))
}

/// Element-wise integer sums over the instances.
pub fn add_up(team: &dyn Team, what: &str, values: Vec<i64>) -> Result<Vec<i64>, String> {
    if team.size() == 1 {
        return Ok(values);
    }
    team.sum(&[], &values).map(|(_, v)| v).map_err(|e| failed(what, e))
}

/// The mean of a per-row figure over every instance's rows, from each's own mean.
pub fn mean(team: &dyn Team, local_mean: f64, rows: usize, total: usize) -> f64 {
    if team.size() == 1 {
        return local_mean;
    }
    // Only reported, never part of the model: a failed exchange shows as NaN
    // and the next collective call fails the job.
    team.sum(&[local_mean * rows as f64], &[]).map_or(f64::NAN, |(s, _)| s[0] / total.max(1) as f64)
}

fn encode_f64(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn decode_f64(bytes: &[u8]) -> Vec<f64> {
    bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect()
}

/// Lists of f32 as (length u32, values) one after another.
fn encode_f32_lists(lists: &[&[f32]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(lists.iter().map(|l| 4 + 4 * l.len()).sum());
    for l in lists {
        out.extend((l.len() as u32).to_le_bytes());
        l.iter().for_each(|v| out.extend(v.to_le_bytes()));
    }
    out
}

fn decode_f32_lists(mut bytes: &[u8]) -> Result<Vec<Vec<f32>>, String> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes.split_first_chunk::<4>().ok_or("a truncated list")?;
        let n = u32::from_le_bytes(*len) as usize;
        let body = rest.get(..4 * n).ok_or("a truncated list")?;
        out.push(body.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect());
        bytes = &rest[4 * n..];
    }
    Ok(out)
}
