//! Penalised fits against scikit-learn on real tables (standardised numeric
//! columns, one-hot levels, the same penalty in scikit-learn's units), and
//! unpenalised Poisson against statsmodels. Every expected figure was printed by
//! scikit-learn 1.9.1 (its newton-cholesky solver at tol 1e-14 for smooth
//! penalties, which lands on the optimum to ~1e-13; lbfgs stops ~1e-6 short
//! here; coordinate descent or liblinear for L1) or statsmodels 0.15.0; where the
//! optimum is unique the plugin must land within 1e-9 relative (1e-6 for L1).
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use linear::*;

const DIABETES_TERMS: [&str; 10] = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"];

fn diabetes(overrides: &[(&str, &str)]) -> Fitted {
    fit_table(Task::Regression, load("diabetes", "progression", Task::Regression, &[]), overrides)
}

/// Standardised slopes against scikit-learn's; zeros must be exact zeros (L1).
fn check_standardised(fitted: &Fitted, terms: &[&str], expected: &[f64], rel: f64) {
    for (term, &want) in terms.iter().zip(expected) {
        let got = coefficient(fitted, term).standardised;
        if want == 0.0 {
            assert_eq!(got, 0.0, "{term}: an L1 zero");
        } else {
            assert_close(term, got, want, rel);
        }
    }
}

#[test]
fn ridge_lasso_and_elastic_net_on_diabetes_match_scikit_learn() {
    let ridge = diabetes(&[("penalty", "l2"), ("alpha", "10")]);
    let want = [
        -0.2579490012114524,
        -10.936356673897697,
        24.60009446481721,
        15.094382577753889,
        -11.295618269483377,
        1.80876776411525,
        -6.561805154981227,
        5.600400298780846,
        25.33209609204642,
        3.522912117793492,
    ];
    check_standardised(&ridge, &DIABETES_TERMS, &want, 1e-9);
    assert_close("ridge intercept", coefficient(&ridge, "(intercept)").standardised, 152.1334841628959, 1e-12);
    // Penalised fits report estimates only.
    assert!(coefficient(&ridge, "bmi").std_error.is_nan());

    let lasso = diabetes(&[("penalty", "l1"), ("alpha", "1")]);
    let want = [
        0.0,
        -9.319329544910675,
        24.831503728185925,
        14.088985512287879,
        -4.838946192436295,
        0.0,
        -10.622756297300432,
        0.0,
        24.42093339818946,
        2.5618755134433675,
    ];
    check_standardised(&lasso, &DIABETES_TERMS, &want, 1e-6);

    let enet = diabetes(&[("penalty", "elasticnet"), ("alpha", "0.5"), ("l1Ratio", "0.3")]);
    let want = [
        0.6012026512124271,
        -7.127507969821061,
        19.772280852784586,
        12.419559283214149,
        -1.1223792058081346,
        -3.1796495447060287,
        -8.679276679369222,
        5.598877919804804,
        17.018750609508935,
        4.993721770888487,
    ];
    check_standardised(&enet, &DIABETES_TERMS, &want, 1e-6);
}

#[test]
fn multinomial_l2_on_wine_matches_scikit_learn() {
    let table = load("wine", "cultivar", Task::Classification, &[]);
    let fitted = fit_table(Task::Classification, table.clone(), &[("penalty", "l2"), ("c", "0.5")]);
    // One predictor per class (scikit-learn's symmetric multinomial), intercepts summing to 0.
    let per_class = |class: &str, term: &str| fitted.coefficients.iter().find(|c| c.class.as_deref() == Some(class) && c.term == term).unwrap().standardised;
    let want = [
        ("class_0", [0.6895268808294217, 0.1483108628972245, 0.3956630973933227], 0.298672896861627),
        ("class_1", [-0.8724474983320627, -0.3831632954204817, -0.6793123244072995], 0.6446662659847127),
        ("class_2", [0.18292061750263952, 0.23485243252325802, 0.28364922701397594], -0.9433391628463399),
    ];
    for (class, slopes, intercept) in want {
        for (term, w) in ["alcohol", "malic_acid", "ash"].iter().zip(slopes) {
            assert_close(&format!("{class} {term}"), per_class(class, term), w, 1e-9);
        }
        assert_close(&format!("{class} intercept"), per_class(class, "(intercept)"), intercept, 1e-9);
    }
    let Predictions::Classes(p) = predict(&fitted.model.model, &table.features).unwrap() else { panic!("classes expected") };
    let row0 = &p.probabilities.unwrap()[..3];
    for (got, want) in row0.iter().zip([0.9990701630760996, 0.0008071632737999856, 0.00012267365010056876]) {
        assert_close("row 0 probability", *got as f64, want, 1e-5);
    }
}

#[test]
fn l1_and_balanced_logistic_on_breast_cancer_match_scikit_learn() {
    let table = || load("breast_cancer", "diagnosis", Task::Classification, &[]);
    let l1 = fit_table(Task::Classification, table(), &[("penalty", "l1"), ("c", "0.2")]);
    let names: Vec<String> = table().features.columns.iter().map(|c| c.name.clone()).collect();
    let want = [
        0.0,
        0.06434590429940461,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.48580754954497185,
        0.0,
        0.0,
        0.8974156568652042,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        -0.05724730397514188,
        2.9700605019884088,
        0.9280513715548369,
        0.0,
        0.0,
        0.3938517657794453,
        0.0,
        0.20156142716532494,
        1.0827398630310887,
        0.2610539881644318,
        0.0,
    ];
    let terms: Vec<&str> = names.iter().map(String::as_str).collect();
    // liblinear penalises a huge-scaled intercept column, i.e. barely: agreement is to 1e-5.
    check_standardised(&l1, &terms, &want, 1e-5);
    assert_close("l1 intercept", coefficient(&l1, "(intercept)").standardised, -0.5889621104989136, 1e-5);

    let balanced = fit_table(Task::Classification, table(), &[("penalty", "l2"), ("c", "1"), ("classWeight", "balanced")]);
    check_standardised(&balanced, &terms[..3], &[0.30144035557795434, 0.33530558747552436, 0.2946102343028523], 1e-9);
    assert_close("balanced intercept", coefficient(&balanced, "(intercept)").standardised, 0.22771240648650082, 1e-9);
}

fn flares() -> LabelledTable {
    let categorical = ["largest-spot-size", "spot-distribution", "activity", "evolution", "area"];
    let mut t = load("solar_flare", "c-class-flares", Task::Regression, &categorical);
    t.features.columns.retain(|c| categorical.contains(&c.name.as_str()));
    t
}

#[test]
fn poisson_on_solar_flares_matches_statsmodels_and_scikit_learn() {
    let fitted = fit_table(Task::Regression, flares(), &[("model", "poisson")]);
    let rows = [
        ("(intercept)", -0.500866081213418, 0.3793925517644172, -1.3201790042637143, 0.18677526016301105, -1.244461818674424, 0.2427296562475879),
        ("largest-spot-size[K]", 0.47903500085813616, 0.19711782512216813, 2.4301962572955724, 0.015090648927897911, 0.09269116290782192, 0.8653788388084505),
        ("area[2]", -0.3276802774859151, 0.28008526324913546, -1.1699304479095136, 0.2420289596259495, -0.8766373060546406, 0.22127675108281042),
        ("evolution[3]", 0.15649359285219627, 0.3157688210320612, 0.49559545600706056, 0.6201798593912544, -0.46240192381131767, 0.7753891095157102),
    ];
    for (term, est, se, z, p, lo, hi) in rows {
        let c = coefficient(&fitted, term);
        for (what, got, want) in
            [("estimate", c.estimate, est), ("se", c.std_error, se), ("z", c.statistic, z), ("p", c.p_value, p), ("lo", c.ci_low, lo), ("hi", c.ci_high, hi)]
        {
            assert_close(&format!("{term} {what}"), got, want, 1e-6);
        }
    }
    assert_close("llf", metric(&fitted, "log_likelihood"), -682.6170879749079, 1e-9);
    assert_close("bic", metric(&fitted, "bic"), 1455.865867811251, 1e-9);

    let l2 = fit_table(Task::Regression, flares(), &[("model", "poisson"), ("penalty", "l2"), ("alpha", "0.01")]);
    let terms = ["largest-spot-size[A]", "largest-spot-size[H]", "largest-spot-size[K]"];
    check_standardised(&l2, &terms, &[0.36671403631636773, 0.034550169324093875, 0.6481745471921797], 1e-9);
    assert_close("poisson l2 intercept", coefficient(&l2, "(intercept)").standardised, -1.188277987209007, 1e-9);
}
