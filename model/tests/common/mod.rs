//! Reading the fixture CSVs that `training/` writes: the 12 features (an empty cell is a
//! missing value) followed by XGBoost's outputs.

#![allow(dead_code)] // each test binary uses its own part of these helpers

use std::path::Path;

use model::xgboost::Contributions;
use model::{FEATURE_COUNT, FEATURE_NAMES, Features};

/// One row: the features and the numbers XGBoost wrote after them.
pub struct Row {
    pub features: Features,
    pub outputs: Vec<f64>,
    /// XGBoost's exact SHAP values (the `shap_*` columns, parsed as the `f32`s they are),
    /// when the fixture has them.
    pub shap: Option<Contributions>,
}

pub fn read_fixture_csv(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    assert_eq!(
        &header[..FEATURE_COUNT],
        FEATURE_NAMES,
        "fixture columns start with the model's features"
    );
    // Where the SHAP columns are, in the model's feature order and then the bias.
    let shap_columns: Option<Vec<usize>> = FEATURE_NAMES
        .iter()
        .map(|n| format!("shap_{n}"))
        .chain(["shap_bias".to_owned()])
        .map(|name| header.iter().position(|h| *h == name))
        .collect();
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            let mut features = [f32::NAN; FEATURE_COUNT];
            for (slot, cell) in features.iter_mut().zip(&cells) {
                if !cell.is_empty() {
                    *slot = cell.parse().expect("a number");
                }
            }
            let outputs = cells[FEATURE_COUNT..]
                .iter()
                .map(|c| c.parse().expect("a number"))
                .collect();
            let shap = shap_columns.as_ref().map(|columns| {
                let mut values = [0.0f32; FEATURE_COUNT + 1];
                for (value, &column) in values.iter_mut().zip(columns) {
                    *value = cells[column].parse().expect("an f32");
                }
                values
            });
            Row {
                features,
                outputs,
                shap,
            }
        })
        .collect()
}
