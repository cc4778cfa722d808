//! A servable model: the forest plus what callers need to know about it.

use sha2::{Digest, Sha256};

use crate::card::ModelCard;
use crate::customer::{Customer, Features};
use crate::explain::{Explanation, Method, Reason};
use crate::levers::{self, Lever};
use crate::scoring::Prediction;
use crate::xgboost::{Forest, ModelError, ShapScratch, sigmoid};

/// The bundled model, compiled into every binary so it runs with no files beside it.
/// Reproduce it with `training/train.py`.
pub const BUNDLED_MODEL_JSON: &str = include_str!("../churn-xgb.json");
/// The bundled model's card: features, threshold, cross-validated quality, data hash.
pub const BUNDLED_MODEL_CARD: &str = include_str!("../model-card.json");

/// A loaded model with its identity and decision threshold.
#[derive(Debug, Clone)]
pub struct Model {
    forest: Forest,
    id: String,
    threshold: f64,
}

impl Model {
    /// The bundled model with the threshold from its card.
    pub fn bundled() -> Result<Model, ModelError> {
        let card = ModelCard::bundled()
            .map_err(|e| ModelError::Invalid(format!("bundled model card: {e}")))?;
        Model::from_bytes(BUNDLED_MODEL_JSON.as_bytes(), card.threshold)
    }

    /// Any XGBoost JSON/UBJSON model; "Will Exit" when the probability reaches `threshold`.
    pub fn from_bytes(bytes: &[u8], threshold: f64) -> Result<Model, ModelError> {
        check_threshold(threshold)?;
        let forest = Forest::from_bytes(bytes)?;
        let digest = Sha256::digest(bytes);
        let id = format!("churn-xgb-{}", hex::encode(&digest[..6]));
        Ok(Model {
            forest,
            id,
            threshold,
        })
    }

    /// The same model with another decision threshold.
    pub fn with_threshold(self, threshold: f64) -> Result<Model, ModelError> {
        check_threshold(threshold)?;
        Ok(Model { threshold, ..self })
    }

    /// Scores one feature vector (missing values as NaN). Allocation-free.
    pub fn probability(&self, features: &Features) -> f32 {
        self.forest.predict(features)
    }

    /// Scores many feature vectors: the same values as [`Model::probability`] row by row,
    /// computed several rows at a time (faster for batches of different customers).
    pub fn probabilities(&self, rows: &[Features]) -> Vec<f64> {
        // Margins go through a buffer on the stack: the answer is the only allocation.
        const CHUNK: usize = 64;
        let mut probabilities = Vec::with_capacity(rows.len());
        let mut buffer = [0.0f32; CHUNK];
        for chunk in rows.chunks(CHUNK) {
            let margins = &mut buffer[..chunk.len()];
            self.forest.margins_into(chunk, margins);
            probabilities.extend(margins.iter().map(|&margin| f64::from(sigmoid(margin))));
        }
        probabilities
    }

    pub fn predict_one(&self, customer: &Customer) -> Prediction {
        Prediction::new(
            f64::from(self.probability(&customer.features())),
            self.threshold,
        )
    }

    /// Each field's exact effect on this customer's prediction, strongest first (`None` if
    /// the model file lacks the statistics explanations need).
    pub fn explain(&self, customer: &Customer) -> Option<Vec<Reason>> {
        self.explanation(customer).map(|e| e.reasons())
    }

    /// Why the model scores this customer as it does: exact SHAP values per field and the
    /// baseline they add to (`None` if the model file cannot explain). Allocation-free for
    /// models whose trees all have tables, as the bundled one; for others see
    /// [`Model::explanation_with`].
    pub fn explanation(&self, customer: &Customer) -> Option<Explanation> {
        self.explanation_with(customer, &mut ShapScratch::new())
    }

    /// [`Model::explanation`] with a caller-kept scratch buffer, so that explaining many
    /// customers with a model of very deep trees allocates once.
    pub fn explanation_with(
        &self,
        customer: &Customer,
        scratch: &mut ShapScratch,
    ) -> Option<Explanation> {
        let values = self.forest.shap_values(&customer.features(), scratch)?;
        Some(Explanation::from_contributions(&values, Method::Exact))
    }

    /// XGBoost's approximate (Saabas) explanation, for `?explain=approx`.
    pub fn approx_explanation(&self, customer: &Customer) -> Option<Explanation> {
        let values = self.forest.approx_contributions(&customer.features())?;
        Some(Explanation::from_contributions(
            &values,
            Method::Approximate,
        ))
    }

    /// The changes the bank could make that would lower this customer's probability, best
    /// first (see [`crate::levers`]).
    pub fn levers(&self, customer: &Customer) -> Vec<Lever> {
        levers::levers(self, customer)
    }

    /// The margin (log-odds) behind this customer's probability.
    pub fn margin(&self, customer: &Customer) -> f32 {
        self.forest.margin(&customer.features())
    }

    /// `churn-xgb-` and the first 12 hex digits of the model file's SHA-256.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    pub fn forest(&self) -> &Forest {
        &self.forest
    }
}

fn check_threshold(threshold: f64) -> Result<(), ModelError> {
    if threshold > 0.0 && threshold < 1.0 {
        Ok(())
    } else {
        Err(ModelError::Invalid(format!(
            "threshold {threshold} must be strictly between 0 and 1"
        )))
    }
}
