//! The one seam between "a customer" and "a probability": every backend implements
//! [`Predictor`], and every entry point (JSON API, web form, SageMaker-compatible routes)
//! goes through it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::customer::{Customer, Features};
use crate::explain::Reason;
use crate::model::Model;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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
    /// "Will Exit" when the probability reaches the threshold (the same rule for every backend).
    pub fn new(probability: f64, threshold: f64) -> Prediction {
        let label = if probability >= threshold {
            Label::WillExit
        } else {
            Label::WillNotExit
        };
        Prediction { probability, label }
    }
}

/// Why a backend could not answer. The kinds map to distinct HTTP statuses.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PredictError {
    /// The backend did not answer within the deadline.
    #[error("the model backend did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The backend is throttled or down, even after retries.
    #[error("the model backend is unavailable: {0}")]
    Unavailable(String),
    /// The backend answered with an error or with something we cannot read.
    #[error("the model backend failed: {0}")]
    Backend(String),
}

/// Scores customers. Implementations: the embedded model (here) and SageMaker (in `server`).
pub trait Predictor: Send + Sync {
    /// One prediction per customer, in the same order.
    fn predict<'a>(
        &'a self,
        customers: &'a [Customer],
    ) -> BoxFuture<'a, Result<Vec<Prediction>, PredictError>>;

    /// Probabilities for raw feature rows (NaN = missing), unvalidated, as the SageMaker
    /// inference container contract scores them (`POST /invocations` with `text/csv`).
    fn score_features<'a>(
        &'a self,
        rows: &'a [Features],
    ) -> BoxFuture<'a, Result<Vec<f64>, PredictError>>;

    /// Identifies the model that answers (`"model"` in responses).
    fn model_id(&self) -> &str;

    /// The probability at or above which the label is "Will Exit".
    fn threshold(&self) -> f64;

    /// Short backend name for logs and `/healthz` (`embedded`, `sagemaker`).
    fn backend(&self) -> &'static str;

    /// Why the model scores this customer as it does, strongest reason first, when the
    /// backend can tell (a remote endpoint cannot).
    fn explain(&self, _customer: &Customer) -> Option<Vec<Reason>> {
        None
    }
}

/// The embedded model answers in-process in microseconds, so it runs inline on the caller's task.
impl Predictor for Model {
    fn predict<'a>(
        &'a self,
        customers: &'a [Customer],
    ) -> BoxFuture<'a, Result<Vec<Prediction>, PredictError>> {
        let predictions = customers.iter().map(|c| self.predict_one(c)).collect();
        Box::pin(std::future::ready(Ok(predictions)))
    }

    fn score_features<'a>(
        &'a self,
        rows: &'a [Features],
    ) -> BoxFuture<'a, Result<Vec<f64>, PredictError>> {
        let scores = rows
            .iter()
            .map(|r| f64::from(self.probability(r)))
            .collect();
        Box::pin(std::future::ready(Ok(scores)))
    }

    fn model_id(&self) -> &str {
        self.id()
    }

    fn threshold(&self) -> f64 {
        Model::threshold(self)
    }

    fn backend(&self) -> &'static str {
        "embedded"
    }

    fn explain(&self, customer: &Customer) -> Option<Vec<Reason>> {
        Model::explain(self, customer)
    }
}
