//! Reading the fixture CSVs that `training/` writes: the 12 features (an empty cell is a
//! missing value) followed by XGBoost's outputs.

use std::path::Path;

use model::{FEATURE_COUNT, FEATURE_NAMES, Features};

/// One row: the features and the numbers XGBoost wrote after them.
pub struct Row {
    pub features: Features,
    pub outputs: Vec<f64>,
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
            Row { features, outputs }
        })
        .collect()
}
