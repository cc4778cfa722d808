//! The evaluator returns XGBoost's own probabilities (max |Δ| ≤ 1e-6), on fixtures that
//! `training/parity_fixture.py` and `training/legacy_fixture.py` generated with XGBoost.

use std::path::{Path, PathBuf};

mod common;

use model::{Features, Model};

const TOLERANCE: f64 = 1e-6;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Rows of a parity CSV: the features and XGBoost's probability.
fn read_parity_csv(path: &Path) -> Vec<(Features, f64)> {
    common::read_fixture_csv(path)
        .into_iter()
        .map(|row| (row.features, row.outputs[0]))
        .collect()
}

/// Largest |ours - XGBoost's| over the fixture.
pub fn max_difference(model: &Model, rows: &[(Features, f64)]) -> f64 {
    rows.iter()
        .map(|(x, expected)| (f64::from(model.probability(x)) - expected).abs())
        .fold(0.0, f64::max)
}

#[test]
fn the_bundled_model_matches_xgboost_on_2500_rows_with_missing_values() {
    let rows = read_parity_csv(&fixture("parity.csv"));
    assert!(
        rows.len() >= 2000,
        "at least 2,000 rows, got {}",
        rows.len()
    );
    assert!(
        rows.iter()
            .filter(|(x, _)| x.iter().any(|v| v.is_nan()))
            .count()
            > 50,
        "the fixture exercises missing values"
    );
    let model = Model::bundled().unwrap();
    let diff = max_difference(&model, &rows);
    println!(
        "bundled JSON model: max |Δ| = {diff:e} over {} rows",
        rows.len()
    );
    assert!(diff <= TOLERANCE, "max difference {diff} > {TOLERANCE}");
}

#[test]
fn the_same_model_saved_as_ubjson_gives_the_same_probabilities() {
    let rows = read_parity_csv(&fixture("parity.csv"));
    let bytes = std::fs::read(fixture("churn-xgb.ubj")).unwrap();
    let model = Model::from_bytes(&bytes, 0.5).unwrap();
    let diff = max_difference(&model, &rows);
    assert!(diff <= TOLERANCE, "UBJSON max difference {diff}");
    let json = Model::bundled().unwrap();
    for (x, _) in &rows {
        assert_eq!(
            model.probability(x),
            json.probability(x),
            "UBJSON and JSON agree bit for bit"
        );
    }
}

#[test]
fn a_model_saved_by_xgboost_1_7_matches_its_predictions() {
    let rows = read_parity_csv(&fixture("legacy-1.7-parity.csv"));
    let bytes = std::fs::read(fixture("legacy-1.7.json")).unwrap();
    let model = Model::from_bytes(&bytes, 0.5).unwrap();
    assert_eq!(model.forest().xgboost_version, "1.7.6");
    let diff = max_difference(&model, &rows);
    assert!(diff <= TOLERANCE, "1.7 layout max difference {diff}");
}

#[test]
fn dart_and_multiclass_models_are_refused_with_a_clear_error() {
    for (file, expected) in [
        ("dart.json", "booster \"dart\""),
        ("softprob.json", "objective \"multi:softprob\""),
    ] {
        let bytes = std::fs::read(fixture(file)).unwrap();
        let err = Model::from_bytes(&bytes, 0.5).unwrap_err().to_string();
        assert!(err.contains(expected), "{file}: {err}");
    }
}

#[test]
fn truncated_or_corrupted_model_files_are_errors_not_panics() {
    for file in ["churn-xgb.ubj", "legacy-1.7.json"] {
        let bytes = std::fs::read(fixture(file)).unwrap();
        for cut in (0..bytes.len()).step_by(bytes.len() / 97 + 1) {
            assert!(
                Model::from_bytes(&bytes[..cut], 0.5).is_err(),
                "{file} cut at {cut}"
            );
        }
        let mut flipped = bytes.clone();
        for i in (0..flipped.len()).step_by(61) {
            flipped[i] ^= 0x5a;
            // Either refused or still a valid model; never a panic.
            let _ = Model::from_bytes(&flipped, 0.5);
        }
    }
}

#[test]
fn the_bundled_model_uses_the_churn_features_in_order() {
    let card: serde_json::Value = serde_json::from_str(model::BUNDLED_MODEL_CARD).unwrap();
    let model_json: serde_json::Value = serde_json::from_str(model::BUNDLED_MODEL_JSON).unwrap();
    let names = |v: &serde_json::Value| -> Vec<String> {
        serde_json::from_value(v.clone()).expect("a list of names")
    };
    assert_eq!(names(&card["feature_names"]), model::FEATURE_NAMES);
    assert_eq!(
        names(&model_json["learner"]["feature_names"]),
        model::FEATURE_NAMES
    );
}

#[test]
fn explanations_match_xgboosts_approximate_contributions() {
    let model = Model::bundled().unwrap();
    let mut worst = 0.0f64;
    let mut rows = 0;
    for row in common::read_fixture_csv(&fixture("contribs.csv")) {
        let ours = model
            .forest()
            .approx_contributions(&row.features)
            .expect("the bundled model can explain");
        for (ours, expected) in ours.iter().zip(&row.outputs) {
            worst = worst.max((f64::from(*ours) - expected).abs());
        }
        // The contributions add up to the margin behind the probability.
        let margin: f32 = ours.iter().sum();
        let p = 1.0 / (1.0 + (-f64::from(margin)).exp());
        assert!(
            (p - f64::from(model.probability(&row.features))).abs() < 1e-5,
            "row {rows}"
        );
        rows += 1;
    }
    println!("contributions: max |Δ| = {worst:e} over {rows} rows");
    assert!(rows >= 500);
    assert!(worst <= 1e-5, "max difference {worst}");
}

/// `Model::probabilities` (many rows side by side, no branches) gives each row exactly what
/// `Model::probability` gives it, for every fixture model, every block remainder (batches of
/// 0 to 17 rows) and missing values.
#[test]
fn scoring_many_rows_at_once_gives_each_row_its_one_row_probability_bit_for_bit() {
    let models = [
        ("bundled", Model::bundled().unwrap()),
        (
            "legacy-1.7.json",
            Model::from_bytes(&std::fs::read(fixture("legacy-1.7.json")).unwrap(), 0.5).unwrap(),
        ),
    ];
    let mut rows: Vec<Features> = read_parity_csv(&fixture("parity.csv"))
        .into_iter()
        .chain(read_parity_csv(&fixture("legacy-1.7-parity.csv")))
        .map(|(x, _)| x)
        .collect();
    // Every field missing, and the original project's sample customer. (Values exactly on a
    // split, ±∞ and −0 are probed against a plain walk in `lockstep.rs`'s unit test.)
    rows.push([f32::NAN; model::FEATURE_COUNT]);
    rows.push(model::Customer::sample().features());
    for (name, model) in &models {
        let one_by_one: Vec<f64> = rows
            .iter()
            .map(|x| f64::from(model.probability(x)))
            .collect();
        assert_eq!(model.probabilities(&rows), one_by_one, "{name}: all rows");
        for len in 0..=17 {
            let start = len * 7;
            let slice = &rows[start..start + len];
            assert_eq!(
                model.probabilities(slice),
                one_by_one[start..start + len],
                "{name}: {len} rows"
            );
        }
    }
}
