//! The churn domain and its model, with no web or async runtime dependencies.
//!
//! - [`fields`]: the one table of input rules (drives API validation and the web form).
//! - [`Customer`]: a valid profile, made only by parsing.
//! - [`xgboost::Forest`]: a pure-Rust XGBoost evaluator; [`Model`] adds identity and threshold.
//! - [`scoring`]: the one seam every backend (embedded, SageMaker) implements ([`Scorer`]),
//!   and the rules every backend's answer follows ([`Scores`], [`Backend`]).

pub mod customer;
pub mod explain;
pub mod fields;
mod model;
pub mod scoring;
pub mod xgboost;

pub use customer::{
    Customer, FEATURE_COUNT, FEATURE_NAMES, Features, Gender, Geography, InvalidCustomer,
    SAMPLE_VECTOR,
};
pub use model::{BUNDLED_MODEL_CARD, BUNDLED_MODEL_JSON, Model};
pub use scoring::{Backend, BackendInfo, Label, Prediction, ScoreError, Scorer, Scores};
