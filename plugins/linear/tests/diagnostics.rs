//! Unpenalised fits on real tables against statsmodels: every figure below was
//! printed by statsmodels 0.15.0 (OLS, Logit with Newton at tol 1e-12) on the same
//! design (the same one-hot columns, reference levels, mean imputation and
//! missing indicators), and must agree to 1e-6 relative.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use linear::*;

/// (term, estimate, std error, statistic, p-value, ci low, ci high)
type Row = (&'static str, f64, f64, f64, f64, f64, f64);

fn check_rows(fitted: &Fitted, rows: &[Row]) {
    for &(term, est, se, stat, p, lo, hi) in rows {
        let c = coefficient(fitted, term);
        assert_close(&format!("{term} estimate"), c.estimate, est, 1e-6);
        assert_close(&format!("{term} std_error"), c.std_error, se, 1e-6);
        assert_close(&format!("{term} statistic"), c.statistic, stat, 1e-6);
        assert_close(&format!("{term} p_value"), c.p_value, p, 1e-6);
        assert_close(&format!("{term} ci_low"), c.ci_low, lo, 1e-6);
        assert_close(&format!("{term} ci_high"), c.ci_high, hi, 1e-6);
    }
}

#[test]
fn ols_on_diabetes_matches_statsmodels() {
    let fitted = fit_table(Task::Regression, load("diabetes", "progression", Task::Regression, &[]), &[]);
    check_rows(
        &fitted,
        &[
            ("(intercept)", -334.56713851878504, 67.45462110434146, -4.9598846311991505, 1.0166172920040532e-06, -467.14807117920543, -201.98620585836466),
            ("bmi", 5.602962091923725, 0.7171055005609119, 7.813302348874958, 4.296391419518213e-14, 4.193503191647371, 7.01242099220008),
            ("s5", 68.48312496478786, 15.669719238707183, 4.370411742644472, 1.5558990865394887e-05, 37.684553166702116, 99.28169676287361),
            ("s1", -1.089996334063235, 0.5733318585500622, -1.9011612869722618, 0.057947605369199115, -2.2168705390627674, 0.03687787093629735),
        ],
    );
    assert_close("r2", metric(&fitted, "r2"), 0.5177484222203499, 1e-9);
    assert_close("adj_r2", metric(&fitted, "adj_r2"), 0.5065592904853231, 1e-9);
    assert_close("llf", metric(&fitted, "log_likelihood"), -2385.9928621235194, 1e-9);
    assert_close("aic", metric(&fitted, "aic"), 4793.985724247039, 1e-9);
    assert_close("bic", metric(&fitted, "bic"), 4838.990132949893, 1e-9);
    assert!(fitted.warnings.is_empty(), "{:?}", fitted.warnings);
}

#[test]
fn logit_on_heart_disease_with_levels_and_missing_values_matches_statsmodels() {
    let table = load("heart_disease", "diameter narrowing", Task::Classification, &[]);
    let fitted = fit_table(Task::Classification, table, &[]);
    // The first level of each categorical column is the reference; missing values get indicators.
    let terms: Vec<&str> = fitted.coefficients.iter().map(|c| c.term.as_str()).collect();
    assert_eq!(terms[..4], ["(intercept)", "age", "gender[male]", "chest pain[atypical ang]"]);
    assert!(terms.contains(&"major vessels colored (missing)") && terms.contains(&"thal (missing)"), "{terms:?}");
    assert_eq!(terms.len(), 21);
    check_rows(
        &fitted,
        &[
            ("(intercept)", -2.661143630197241, 3.736731514638748, -0.7121581038862809, 0.47636687737858563, -9.985002820, 4.662715560),
            ("age", -0.015677484137084148, 0.024765501944580184, -0.6330372052287474, 0.5267093472293571, -0.06421698, 0.03286201),
            ("thal[reversable defect]", 1.4374430741412179, 0.7788461446268449, 1.8456059442008474, 0.06494944279436479, -0.08906732, 2.96395347),
            ("major vessels colored", 1.3155695255423285, 0.2805807549824894, 4.688737563716482, 2.748956584510769e-06, 0.76564135, 1.8654977),
            ("chest pain[typical ang]", -2.1446292893589933, 0.6673339664916355, -3.2137271546867603, 0.0013102411337976203, -3.45257983, -0.83667875),
        ],
    );
    assert_close("llf", metric(&fitted, "log_likelihood"), -96.72756420593464, 1e-9);
    assert_close("aic", metric(&fitted, "aic"), 235.45512841186928, 1e-9);
    assert_close("bic", metric(&fitted, "bic"), 313.44351732756604, 1e-9);
}
