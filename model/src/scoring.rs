//! The one seam between "customers" and "probabilities".
//!
//! A backend (the in-process model, a SageMaker endpoint, …) implements [`Scorer`]: feature
//! rows in, one probability per row out, plus a description of itself. Everything else is
//! decided once, here, for every backend:
//! - [`Scores::for_rows`]: a backend's answer is only usable with exactly one probability in
//!   `[0, 1]` per row asked (a `Scores` value is the proof);
//! - [`Scores::predictions`]: the threshold and the label;
//! - [`Backend`]: what the service predicts and explains with, chosen once at start-up.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::customer::{Customer, Features};
use crate::levers::{self, Lever};
use crate::model::Model;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Scores feature rows. Implementations: the embedded model and SageMaker (both in `server`),
/// and a few lines in tests.
pub trait Scorer: Send + Sync {
    /// One probability of leaving per row (NaN = a missing value), in the same order.
    fn score<'a>(&'a self, rows: &'a [Features]) -> BoxFuture<'a, Result<Scores, ScoreError>>;

    /// Which backend and model answer, and the decision threshold.
    fn describe(&self) -> &BackendInfo;
}

/// What a scorer says about itself (`/healthz`, `/model`, answers, logs).
#[derive(Debug, Clone, PartialEq)]
pub struct BackendInfo {
    /// Short backend name: `embedded`, `sagemaker`.
    pub kind: &'static str,
    /// The model that answers (`"model"` in answers).
    pub model_id: String,
    /// "Will Exit" when the probability reaches this.
    pub threshold: f64,
}

/// One probability in `[0, 1]` per row asked, in order: the only way a backend's answer
/// reaches a caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores(Vec<f64>);

impl Scores {
    /// Accepts a backend's answer for `rows` rows, or says why it cannot be used: answers that
    /// cannot be matched to the rows, or that are not probabilities, are a backend failure.
    pub fn for_rows(values: Vec<f64>, rows: usize) -> Result<Scores, ScoreError> {
        if values.len() != rows {
            return Err(ScoreError::Backend(format!(
                "the model backend returned {} scores for {rows} rows",
                values.len()
            )));
        }
        if let Some(bad) = values.iter().find(|p| !(0.0..=1.0).contains(*p)) {
            return Err(ScoreError::Backend(format!(
                "the model backend returned {bad}, which is not a probability"
            )));
        }
        Ok(Scores(values))
    }

    pub fn as_slice(&self) -> &[f64] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Labels each probability with the threshold: the one rule for every backend.
    pub fn predictions(&self, threshold: f64) -> Vec<Prediction> {
        self.0
            .iter()
            .map(|&p| Prediction::new(p, threshold))
            .collect()
    }
}

/// The decision, worded as the original API answered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    WillExit,
    WillNotExit,
}

impl Label {
    pub fn as_str(self) -> &'static str {
        match self {
            Label::WillExit => "Will Exit",
            Label::WillNotExit => "Will Not Exit",
        }
    }
}

/// Serialised as the original API's words.
impl serde::Serialize for Label {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One customer's answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// Probability that the customer leaves.
    pub probability: f64,
    pub label: Label,
}

impl Prediction {
    /// "Will Exit" when the probability reaches the threshold.
    pub fn new(probability: f64, threshold: f64) -> Prediction {
        let label = if probability >= threshold {
            Label::WillExit
        } else {
            Label::WillNotExit
        };
        Prediction { probability, label }
    }
}

/// Why a backend could not answer. Each kind has its own HTTP status and public wording (in
/// `server`); the text here is for the log only: it may name endpoints and quote their answers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScoreError {
    /// The backend did not answer within the deadline.
    #[error("the model backend did not answer within {0:?}")]
    Timeout(Duration),
    /// The backend is throttled or down, even after retries.
    #[error("the model backend is unavailable: {0}")]
    Unavailable(String),
    /// The backend answered with an error or with something that cannot be used.
    #[error("the model backend failed: {0}")]
    Backend(String),
}

impl ScoreError {
    /// A short, stable name for logs, metrics and answers.
    pub fn kind(&self) -> &'static str {
        match self {
            ScoreError::Timeout(_) => "backend_timeout",
            ScoreError::Unavailable(_) => "backend_unavailable",
            ScoreError::Backend(_) => "backend_error",
        }
    }
}

/// What the service predicts and explains with, chosen once at start-up and shared by every
/// entry point (JSON API, web pages, SageMaker-compatible routes).
#[derive(Clone)]
pub struct Backend {
    pub scorer: Arc<dyn Scorer>,
    /// The in-process model that scores (embedded), or a checked local copy of the endpoint's
    /// model (SageMaker with `ENDPOINT_MODEL_PATH`): what explanations and levers are computed
    /// with. `None` when no such copy exists: then nothing is explained, rather than explained
    /// with a model other than the one that scored.
    pub explainer: Option<Arc<Model>>,
}

impl Backend {
    pub fn info(&self) -> &BackendInfo {
        self.scorer.describe()
    }

    /// One prediction per customer, in order.
    pub async fn predict(&self, customers: &[Customer]) -> Result<Vec<Prediction>, ScoreError> {
        let rows: Vec<Features> = customers.iter().map(Customer::features).collect();
        let scores = self.scorer.score(&rows).await?;
        Ok(scores.predictions(self.info().threshold))
    }

    /// Whether the explainer is the model that scores (the embedded backend): a scorer whose
    /// `model_id` is the explainer's id is taken to be it (ids are the model file's digest).
    pub fn explainer_scores(&self) -> bool {
        self.explainer
            .as_ref()
            .is_some_and(|model| model.id() == self.info().model_id)
    }

    /// Retention levers ([`crate::levers`]) for each customer, given what the scorer answered
    /// for them (`predictions`, in order). Each lever's `probability` is what the scorer answers
    /// for the changed customer, so re-predicting the change gives exactly that number: the
    /// explainer's own probability when it is the scorer ([`Backend::explainer_scores`]);
    /// otherwise the changed customers are scored by the scorer, all in one call, and a change
    /// is kept only if the scorer's answer is lower. Empty lists without an explainer.
    pub async fn levers(
        &self,
        customers: &[Customer],
        predictions: &[Prediction],
    ) -> Result<Vec<Vec<Lever>>, ScoreError> {
        let Some(model) = &self.explainer else {
            return Ok(vec![Vec::new(); customers.len()]);
        };
        let mut all: Vec<Vec<Lever>> = customers.iter().map(|c| model.levers(c)).collect();
        if !self.explainer_scores() {
            let changed = levers::changed_rows(&all, customers);
            if !changed.is_empty() {
                let scores = self.scorer.score(&changed).await?;
                levers::rescore(&mut all, customers, scores.as_slice());
            }
        }
        for (levers, prediction) in all.iter_mut().zip(predictions) {
            levers::settle(levers, prediction.probability);
        }
        Ok(all)
    }
}

/// A scorer made of a function: test stubs and adapters in a few lines.
///
/// ```
/// use model::scoring::{FnScorer, ScoreError};
/// let down = FnScorer::new("down", 0.5, |_| Err(ScoreError::Unavailable("throttled".into())));
/// ```
pub struct FnScorer<F> {
    info: BackendInfo,
    score: F,
}

impl<F> FnScorer<F>
where
    F: Fn(&[Features]) -> Result<Vec<f64>, ScoreError> + Send + Sync,
{
    /// A scorer named `model_id` (backend kind `test`) answering `score(rows)`.
    pub fn new(model_id: &str, threshold: f64, score: F) -> FnScorer<F> {
        FnScorer {
            info: BackendInfo {
                kind: "test",
                model_id: model_id.to_owned(),
                threshold,
            },
            score,
        }
    }
}

impl<F> Scorer for FnScorer<F>
where
    F: Fn(&[Features]) -> Result<Vec<f64>, ScoreError> + Send + Sync,
{
    fn score<'a>(&'a self, rows: &'a [Features]) -> BoxFuture<'a, Result<Scores, ScoreError>> {
        let scores = (self.score)(rows).and_then(|values| Scores::for_rows(values, rows.len()));
        Box::pin(std::future::ready(scores))
    }

    fn describe(&self) -> &BackendInfo {
        &self.info
    }
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backend")
            .field("info", self.info())
            .field("explains", &self.explainer.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a future that is ready at once (every `FnScorer`'s is).
    fn now<T>(future: impl Future<Output = T>) -> T {
        let mut future = std::pin::pin!(future);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut context) {
            std::task::Poll::Ready(value) => value,
            std::task::Poll::Pending => panic!("a stub scorer answers at once"),
        }
    }

    fn leaver() -> Customer {
        let values = [
            500.0, 0.0, 62.0, 2.0, 120000.0, 3.0, 0.0, 0.0, 100000.0, 0.0, 1.0, 0.0,
        ]
        .map(crate::fields::Input::Number);
        Customer::from_vector(&values, crate::fields::At::named("data")).unwrap()
    }

    #[test]
    fn levers_carry_the_scorers_own_answers_for_the_changed_customers() {
        let model = Arc::new(Model::bundled().unwrap());
        let local = Arc::clone(&model);
        // A remote scorer of the same model that answers a little lower: what it says wins.
        let remote = FnScorer::new("sagemaker:churn", 0.5, move |rows| {
            Ok(rows
                .iter()
                .map(|row| f64::from(local.probability(row)) - 1e-3)
                .collect())
        });
        let backend = Backend {
            scorer: Arc::new(remote),
            explainer: Some(Arc::clone(&model)),
        };
        assert!(!backend.explainer_scores());
        let customers = [leaver(), Customer::sample()];
        let predictions = now(backend.predict(&customers)).unwrap();
        let levers = now(backend.levers(&customers, &predictions)).unwrap();
        assert!(!levers[0].is_empty(), "the leaver has levers");
        for ((levers, customer), prediction) in levers.iter().zip(&customers).zip(&predictions) {
            for lever in levers {
                let changed = lever.apply(customer).unwrap();
                let again = now(backend.predict(&[changed])).unwrap();
                assert_eq!(lever.probability, again[0].probability, "{lever:?}");
                assert_eq!(lever.probability_before, prediction.probability);
                assert!(lever.probability < prediction.probability);
            }
        }
        // The embedded arrangement: the explainer is the scorer, and its answers are used as is.
        let embedded = FnScorer::new(model.id(), 0.5, {
            let model = Arc::clone(&model);
            move |rows| {
                Ok(rows
                    .iter()
                    .map(|r| f64::from(model.probability(r)))
                    .collect())
            }
        });
        let backend = Backend {
            scorer: Arc::new(embedded),
            explainer: Some(Arc::clone(&model)),
        };
        assert!(backend.explainer_scores());
        let predictions = now(backend.predict(&customers)).unwrap();
        let levers = now(backend.levers(&customers, &predictions)).unwrap();
        assert_eq!(levers[0], model.levers(&customers[0]));
        let none = Backend {
            explainer: None,
            ..backend
        };
        assert_eq!(
            now(none.levers(&customers, &predictions)).unwrap(),
            [vec![], vec![]]
        );
    }

    #[test]
    fn scores_are_one_probability_per_row_or_a_backend_error() {
        assert_eq!(
            Scores::for_rows(vec![0.1, 0.9], 1).unwrap_err(),
            ScoreError::Backend("the model backend returned 2 scores for 1 rows".into())
        );
        assert!(matches!(
            Scores::for_rows(vec![1.5], 1),
            Err(ScoreError::Backend(m)) if m.contains("1.5")
        ));
        assert!(Scores::for_rows(vec![f64::NAN], 1).is_err());
        let scores = Scores::for_rows(vec![0.2, 0.5], 2).unwrap();
        let labels: Vec<Label> = scores.predictions(0.5).iter().map(|p| p.label).collect();
        assert_eq!(
            labels,
            [Label::WillNotExit, Label::WillExit],
            "at the threshold is Will Exit"
        );
    }
}
