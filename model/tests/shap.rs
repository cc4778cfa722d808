//! Exact SHAP values equal XGBoost's `pred_contribs=True` (max |Δ| ≤ 1e-5) on the committed
//! fixtures that `training/parity_fixture.py` (XGBoost 3.2) and `training/legacy_fixture.py`
//! (XGBoost 1.7.6) wrote, for both of our methods: the precomputed tables (the default) and
//! the port of XGBoost's recursion.

use std::path::{Path, PathBuf};

mod common;

use model::xgboost::{Contributions, ShapScratch};
use model::{FEATURE_COUNT, Model};

const TOLERANCE: f64 = 1e-5;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn worst(ours: &Contributions, expected: &Contributions) -> f64 {
    ours.iter()
        .zip(expected)
        .map(|(a, b)| (f64::from(*a) - f64::from(*b)).abs())
        .fold(0.0, f64::max)
}

/// Max |Δ| of the tables and of the recursion against XGBoost over a fixture, after checking
/// that the fixture is big enough and has missing values.
fn compare(model: &Model, csv: &str) -> (f64, f64) {
    let rows = common::read_fixture_csv(&fixture(csv));
    assert!(rows.len() >= 2000, "{csv}: at least 2,000 rows");
    let with_nan = rows
        .iter()
        .filter(|r| r.features.iter().any(|v| v.is_nan()))
        .count();
    assert!(with_nan > 50, "{csv}: the fixture exercises missing values");
    let mut scratch = ShapScratch::new();
    let (mut tables, mut recursive) = (0.0f64, 0.0f64);
    for row in &rows {
        let expected = row.shap.expect("the fixture has SHAP columns");
        let fast = model
            .forest()
            .shap_values(&row.features, &mut scratch)
            .unwrap();
        let slow = model
            .forest()
            .shap_values_recursive(&row.features, &mut scratch)
            .unwrap();
        tables = tables.max(worst(&fast, &expected));
        recursive = recursive.max(worst(&slow, &expected));
        assert_eq!(
            fast[FEATURE_COUNT], expected[FEATURE_COUNT],
            "the bias is XGBoost's to the bit"
        );
    }
    println!(
        "{csv}: max |Δ| tables {tables:e}, recursion {recursive:e} over {} rows ({with_nan} with NaN)",
        rows.len()
    );
    (tables, recursive)
}

#[test]
fn exact_shap_values_of_the_bundled_model_match_xgboost() {
    let (tables, recursive) = compare(&Model::bundled().unwrap(), "parity.csv");
    assert!(tables <= TOLERANCE, "tables: max difference {tables}");
    assert!(
        recursive <= TOLERANCE,
        "recursion: max difference {recursive}"
    );
}

#[test]
fn exact_shap_values_of_the_ubjson_copy_match_xgboost() {
    let bytes = std::fs::read(fixture("churn-xgb.ubj")).unwrap();
    let (tables, recursive) = compare(&Model::from_bytes(&bytes, 0.5).unwrap(), "parity.csv");
    assert!(tables <= TOLERANCE, "tables: max difference {tables}");
    assert!(
        recursive <= TOLERANCE,
        "recursion: max difference {recursive}"
    );
}

#[test]
fn exact_shap_values_of_an_xgboost_1_7_model_match_xgboost_1_7() {
    let bytes = std::fs::read(fixture("legacy-1.7.json")).unwrap();
    let (tables, recursive) = compare(
        &Model::from_bytes(&bytes, 0.5).unwrap(),
        "legacy-1.7-parity.csv",
    );
    assert!(tables <= TOLERANCE, "tables: max difference {tables}");
    assert!(
        recursive <= TOLERANCE,
        "recursion: max difference {recursive}"
    );
}

#[test]
fn explanations_add_up_to_the_margin_and_name_every_field_once() {
    let model = Model::bundled().unwrap();
    let logit = |p: f64| (p / (1.0 - p)).ln();
    let (mut worst, mut worst_logit, mut highest) = (0.0f64, 0.0f64, 0.0f64);
    let mut worst_logit_all = (0.0f64, 0.0f64);
    for row in common::read_fixture_csv(&fixture("parity.csv")) {
        let Ok(customer) = customer_of(&row.features) else {
            continue; // rows with missing values or synthetic values outside the field table
        };
        let explanation = model.explanation(&customer).unwrap();
        let margin = f64::from(model.margin(&customer));
        worst = worst.max((explanation.margin() - margin).abs());
        // Against the reported probability (f32, widened), where its rounding allows it.
        let p = model.predict_one(&customer).probability;
        highest = highest.max(p);
        let off = (explanation.margin() - logit(p)).abs();
        if off > worst_logit_all.0 {
            worst_logit_all = (off, p);
        }
        if p < 0.98 {
            worst_logit = worst_logit.max((explanation.margin() - logit(p)).abs());
        }
        let mut names: Vec<_> = explanation.effects.iter().map(|e| e.field.name).collect();
        assert!(
            explanation
                .effects
                .windows(2)
                .all(|w| w[0].effect.abs() >= w[1].effect.abs()),
            "strongest first"
        );
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 10);
    }
    println!(
        "max |baseline + Σ effect − margin| = {worst:e}; − logit(p) for p < 0.98: \
         {worst_logit:e}; for all p (up to {highest}): {:e} at p = {}",
        worst_logit_all.0, worst_logit_all.1
    );
    assert!(worst <= TOLERANCE, "{worst}");
    assert!(worst_logit <= TOLERANCE, "{worst_logit}");
}

#[test]
fn approximate_explanations_stay_available_and_differ_from_exact_ones() {
    let model = Model::bundled().unwrap();
    let values = [
        600.0, 0.0, 52.0, 3.0, 120000.0, 1.0, 1.0, 0.0, 90000.0, 0.0, 1.0, 0.0,
    ]
    .map(model::fields::Input::Number);
    let customer = model::Customer::from_vector(&values, model::fields::At::named("data")).unwrap();
    let exact = model.explanation(&customer).unwrap();
    let approx = model.approx_explanation(&customer).unwrap();
    assert_eq!(exact.method, model::explain::Method::Exact);
    assert_eq!(approx.method, model::explain::Method::Approximate);
    assert!((exact.baseline - approx.baseline).abs() < 1e-6, "same bias");
    assert!(
        (exact.margin() - approx.margin()).abs() < 1e-5,
        "same total"
    );
    assert_ne!(exact.effects, approx.effects);
}

/// The customer behind a fixture row, if it is a valid one.
fn customer_of(x: &model::Features) -> Result<model::Customer, model::InvalidCustomer> {
    let values: Vec<_> = x
        .iter()
        .map(|&v| {
            if v.is_nan() {
                model::fields::Input::Null
            } else {
                model::fields::Input::Number(f64::from(v))
            }
        })
        .collect();
    model::Customer::from_vector(&values, model::fields::At::named("row"))
}
