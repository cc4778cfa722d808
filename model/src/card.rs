//! The model card (`model/model-card.json`, written by `training/train.py`), typed.
//!
//! Everything the model page shows comes from here. Only `model`, `feature_names` and
//! `threshold` are required; every other section is optional, so older cards (and cards of
//! models trained elsewhere) still load and the page can say what is not known.
//! The format is documented in `training/README.md`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A model's card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// Model name (`churn-xgb`).
    pub model: String,
    /// The model's inputs, in order.
    pub feature_names: Vec<String>,
    /// Probability at or above which the answer is "Will Exit".
    pub threshold: f64,
    #[serde(default)]
    pub objective: Option<String>,
    #[serde(default)]
    pub hyperparameters: Option<Hyperparameters>,
    #[serde(default)]
    pub num_trees: Option<u32>,
    /// Depth of the deepest tree (edges from root to leaf).
    #[serde(default)]
    pub tree_depth: Option<u32>,
    #[serde(default)]
    pub num_leaves: Option<u32>,
    #[serde(default)]
    pub cv: Option<CrossValidation>,
    #[serde(default)]
    pub training_data: Option<TrainingData>,
    #[serde(default)]
    pub xgboost_version: Option<String>,
    #[serde(default)]
    pub python_version: Option<String>,
    #[serde(default)]
    pub calibration: Option<Calibration>,
    #[serde(default)]
    pub importance: Option<Importance>,
    #[serde(default)]
    pub thresholds: Option<ThresholdTable>,
}

/// Training parameters; the ones a page shows are typed, the rest kept as given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hyperparameters {
    #[serde(default)]
    pub max_depth: Option<u32>,
    #[serde(default)]
    pub eta: Option<f64>,
    #[serde(default)]
    pub num_boost_round: Option<u32>,
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// Stratified k-fold cross-validation of the training recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossValidation {
    pub folds: u32,
    #[serde(default)]
    pub stratified: Option<bool>,
    #[serde(default)]
    pub seed: Option<u64>,
    pub metrics: Metrics,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub auc: MeanStd,
    /// At the card's threshold.
    pub accuracy: MeanStd,
    /// Brier score: mean squared error of the probabilities (lower is better).
    pub brier: MeanStd,
}

/// Mean and standard deviation over the folds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    pub mean: f64,
    pub std: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingData {
    /// SHA-256 of the training CSV file.
    pub sha256: String,
    pub rows: u64,
    /// Share of customers who left.
    pub positive_rate: f64,
}

/// Predicted against observed churn rate, by decile of the out-of-fold predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Where the predictions come from (out-of-fold, which folds).
    pub source: String,
    /// Ten bins of (nearly) equal count, lowest predictions first.
    pub bins: Vec<CalibrationBin>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// 1 to 10.
    pub decile: u32,
    pub count: u64,
    pub predicted_min: f64,
    pub predicted_max: f64,
    /// Mean predicted probability in the bin.
    pub predicted_mean: f64,
    /// Share of the bin's customers who actually left.
    pub observed_rate: f64,
}

/// Global importance: how strongly each field moves predictions on average.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Importance {
    /// How it was measured (mean |exact SHAP value| in log-odds over the training rows).
    pub method: String,
    /// All ten fields, largest first.
    pub fields: Vec<FieldImportance>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldImportance {
    /// The field's name in the field table (`age`, `geography`, …).
    pub field: String,
    pub mean_abs_shap: f64,
}

/// What flagging customers at various thresholds would mean (out-of-fold).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdTable {
    pub source: String,
    /// Thresholds 0.2, 0.3, …, 0.8.
    pub rows: Vec<ThresholdRow>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThresholdRow {
    pub threshold: f64,
    /// Share of customers whose probability reaches the threshold.
    pub flagged_share: f64,
    /// Of those flagged, the share who left; `None` when nobody is flagged.
    pub precision: Option<f64>,
    /// Of those who left, the share flagged.
    pub recall: f64,
}

impl ModelCard {
    pub fn from_json(text: &str) -> Result<ModelCard, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The bundled model's card.
    pub fn bundled() -> Result<ModelCard, serde_json::Error> {
        ModelCard::from_json(crate::BUNDLED_MODEL_CARD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_card_has_every_section() {
        let card = ModelCard::bundled().unwrap();
        assert_eq!(card.feature_names, crate::FEATURE_NAMES);
        assert!(card.cv.is_some() && card.training_data.is_some());
        let calibration = card.calibration.expect("a calibration table");
        assert_eq!(calibration.bins.len(), 10);
        let importance = card.importance.expect("global importance");
        let mut names: Vec<_> = importance.fields.iter().map(|f| f.field.as_str()).collect();
        names.sort_unstable();
        let mut fields: Vec<_> = crate::fields::FIELDS.iter().map(|f| f.name).collect();
        fields.sort_unstable();
        assert_eq!(names, fields, "one importance per field of the table");
        let thresholds = card.thresholds.expect("a threshold table");
        let cuts: Vec<f64> = thresholds.rows.iter().map(|r| r.threshold).collect();
        assert_eq!(cuts, [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]);
    }

    #[test]
    fn a_card_without_the_newer_sections_still_loads() {
        let card = ModelCard::from_json(
            r#"{"model": "m", "feature_names": ["a"], "threshold": 0.5, "extra": 1}"#,
        )
        .unwrap();
        assert_eq!(card.threshold, 0.5);
        assert!(card.calibration.is_none() && card.importance.is_none() && card.cv.is_none());
    }
}
