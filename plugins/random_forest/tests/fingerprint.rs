//! The exact output of a set of fits, pinned by hash: the model bytes, the
//! feature importances and the metrics. The fits cover every path a tree is
//! grown along (histogram subtraction and presorted nodes in regression,
//! packed two-class histograms, the general class histograms, small nodes
//! sorting their bytes), with missing values and categorical columns.
//!
//! A change meant to leave the models alone (a refactor, a speed-up) must
//! leave every hash as it is. A change meant to alter the models updates the
//! table: the failure message prints every case's hash as measured. The ln
//! of the entropy cases comes from the platform's libm; the figures are those
//! of x86_64 Linux.
#![allow(clippy::unwrap_used)]

mod support;

use random_forest::*;
use support::*;

fn data(name: &str) -> Csv {
    read_csv(&format!("{}/testdata/{name}.csv", env!("CARGO_MANIFEST_DIR"))).expect("test data")
}

/// A small xorshift stream, so the synthetic tables need nothing outside the test.
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u32) -> u32 {
        (self.next() * n as f64) as u32
    }
}

fn numeric(name: &str, values: Vec<f64>) -> Column {
    Column { name: name.into(), data: ColumnData::Numeric(values) }
}

fn categorical(name: &str, codes: Vec<u32>, n_levels: usize) -> Column {
    let levels = (0..n_levels).map(|l| format!("{name}_{l}")).collect();
    Column { name: name.into(), data: ColumnData::Categorical(Categorical { codes, levels }) }
}

/// Seven features: a clean numeric one, one with a tenth missing, one of
/// eight values with missing ones, noise, a 12-level categorical with missing
/// codes, a 3-level one and a numeric one with many ties. Returns the
/// features and a noisy signal of them (a few of its values missing).
fn synthetic(rows: usize) -> (Table, Vec<f64>) {
    let mut s = Stream(0x9E37_79B9_7F4A_7C15);
    let mut cols: Vec<Vec<f64>> = vec![Vec::new(); 5];
    let (mut city, mut colour) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    let mut signal = Vec::with_capacity(rows);
    for i in 0..rows {
        let x0 = s.next();
        let x1 = if s.next() < 0.1 { f64::NAN } else { s.next() * 4.0 - 2.0 };
        let x2 = if s.next() < 0.05 { f64::NAN } else { s.below(8) as f64 };
        let noise = s.next();
        let ties = (s.below(30) as f64 / 3.0).floor();
        let c = if s.next() < 0.07 { MISSING_CODE } else { s.below(12) };
        let k = s.below(3);
        let city_effect = if c == MISSING_CODE { 1.5 } else { [0.0, 2.0, -1.0, 0.5, 3.0, -2.0, 1.0, 0.0, -0.5, 2.5, -1.5, 0.2][c as usize] };
        let x1_effect = if x1.is_nan() { 2.0 } else { x1 * x1 };
        let x2_effect = if x2.is_nan() { -1.0 } else { (x2 - 3.5).abs() };
        let y = 3.0 * x0 + x1_effect + x2_effect + city_effect + [0.0, 1.0, -1.0][k as usize] + 0.1 * ties + 0.8 * (s.next() - 0.5);
        signal.push(if i % 97 == 13 { f64::NAN } else { y });
        for (col, v) in cols.iter_mut().zip([x0, x1, x2, noise, ties]) {
            col.push(v);
        }
        city.push(c);
        colour.push(k);
    }
    let [x0, x1, x2, noise, ties] = <[Vec<f64>; 5]>::try_from(cols).expect("five columns");
    let columns = vec![
        numeric("x0", x0),
        numeric("x1", x1),
        numeric("x2", x2),
        numeric("noise", noise),
        categorical("city", city, 12),
        categorical("colour", colour, 3),
        numeric("ties", ties),
    ];
    (Table { rows: rows as u32, columns }, signal)
}

fn synthetic_regression() -> LabelledTable {
    let (features, y) = synthetic(4000);
    LabelledTable { features, target: Some(ColumnData::Numeric(y)) }
}

/// The synthetic signal cut into `n_classes` bands (missing signal: missing class).
fn synthetic_classes(n_classes: u32) -> LabelledTable {
    let (features, y) = synthetic(4000);
    let cuts: &[f64] = if n_classes == 2 { &[4.5] } else { &[3.5, 5.5] };
    let codes = y.iter().map(|&v| if v.is_nan() { MISSING_CODE } else { cuts.iter().filter(|&&c| v > c).count() as u32 }).collect();
    let levels = (0..n_classes).map(|c| format!("class{c}")).collect();
    LabelledTable { features, target: Some(ColumnData::Categorical(Categorical { codes, levels })) }
}

struct Case {
    name: &'static str,
    task: Task,
    table: fn() -> LabelledTable,
    params: &'static [(&'static str, &'static str)],
    seed: u64,
    pinned: u64,
}

const CASES: &[Case] = &[
    Case {
        name: "regression, defaults",
        task: Task::Regression,
        table: synthetic_regression,
        params: &[("nEstimators", "8")],
        seed: 1,
        pinned: 0x1754_F815_EB4E_F475,
    },
    Case {
        name: "regression, sqrt features, leaves of 3",
        task: Task::Regression,
        table: synthetic_regression,
        params: &[("nEstimators", "8"), ("maxFeatures", "sqrt"), ("minSamplesLeaf", "3")],
        seed: 2,
        pinned: 0x6B1B_5367_72F5_B777,
    },
    Case {
        name: "regression, depth 6, no bootstrap, 32 bins",
        task: Task::Regression,
        table: synthetic_regression,
        params: &[("nEstimators", "4"), ("maxDepth", "6"), ("bootstrap", "false"), ("maxBins", "32")],
        seed: 3,
        pinned: 0xE732_B473_BFFA_ABFD,
    },
    Case {
        name: "regression, half the features, half samples",
        task: Task::Regression,
        table: synthetic_regression,
        params: &[("nEstimators", "6"), ("maxFeatures", "0.5"), ("maxSamples", "0.5"), ("minSamplesSplit", "5")],
        seed: 4,
        pinned: 0xB9A1_39B1_92C6_2D28,
    },
    Case {
        name: "three classes, gini",
        task: Task::Classification,
        table: || synthetic_classes(3),
        params: &[("nEstimators", "8")],
        seed: 5,
        pinned: 0x154F_4713_3DEB_B112,
    },
    Case {
        name: "three classes, entropy, all features",
        task: Task::Classification,
        table: || synthetic_classes(3),
        params: &[("nEstimators", "6"), ("criterion", "entropy"), ("maxFeatures", "all")],
        seed: 6,
        pinned: 0x8840_BE26_D0B4_E2BE,
    },
    Case {
        name: "two classes, gini",
        task: Task::Classification,
        table: || synthetic_classes(2),
        params: &[("nEstimators", "8")],
        seed: 7,
        pinned: 0xF6E2_6865_A4AA_E28D,
    },
    Case {
        name: "two classes, entropy, 16 bins, splits of 10",
        task: Task::Classification,
        table: || synthetic_classes(2),
        params: &[("nEstimators", "6"), ("criterion", "entropy"), ("maxBins", "16"), ("minSamplesSplit", "10")],
        seed: 8,
        pinned: 0x3D04_EEE4_F007_9684,
    },
    Case {
        name: "penguins species",
        task: Task::Classification,
        table: || data("penguins").labelled("species", Task::Classification).expect("species"),
        params: &[("nEstimators", "10")],
        seed: 9,
        pinned: 0xD7A3_B510_BDE7_B34F,
    },
    Case {
        name: "penguins body mass",
        task: Task::Regression,
        table: || data("penguins").labelled("body_mass_g", Task::Regression).expect("body mass"),
        params: &[("nEstimators", "10")],
        seed: 10,
        pinned: 0x20F9_A95B_E541_B668,
    },
    Case {
        name: "titanic, two classes, all categorical",
        task: Task::Classification,
        table: || data("titanic").labelled("Survived", Task::Classification).expect("Survived"),
        params: &[("nEstimators", "10")],
        seed: 11,
        pinned: 0x5FD4_0CDD_7CCE_5C6B,
    },
    Case {
        name: "diabetes",
        task: Task::Regression,
        table: || data("diabetes").labelled("progression", Task::Regression).expect("progression"),
        params: &[("nEstimators", "10")],
        seed: 12,
        pinned: 0x20B2_2D76_E21D_2857,
    },
];

/// FNV-1a over the model bytes, then the importances' and metrics' bits.
fn fingerprint(m: &TrainedModel) -> u64 {
    let mut h = 0xCBF2_9CE4_8422_2325u64;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01B3);
        }
    };
    eat(&m.model);
    for v in m.feature_importances.iter().flatten() {
        eat(&v.to_bits().to_le_bytes());
    }
    for metric in &m.metrics {
        eat(metric.name.as_bytes());
        eat(&metric.value.to_bits().to_le_bytes());
    }
    h
}

#[test]
fn fits_are_deterministic_and_match_their_pinned_hashes() {
    let mut report = Vec::new();
    let mut changed = Vec::new();
    for case in CASES {
        let fit = || train(&request(case.task, (case.table)(), case.params, case.seed), &mut NoProgress).expect("training succeeds");
        let (first, second) = (fit(), fit());
        assert_eq!(first.model, second.model, "{}: two fits of the same request differ", case.name);
        assert_eq!(fingerprint(&first), fingerprint(&second), "{}: importances or metrics differ between two fits", case.name);
        let hash = fingerprint(&first);
        report.push(format!("{:>50}: {hash:#018x} ({} model bytes)", case.name, first.model.len()));
        if hash != case.pinned {
            changed.push(case.name);
        }
    }
    assert!(changed.is_empty(), "these fits no longer give their pinned output: {changed:?}\nmeasured:\n{}", report.join("\n"));
}
