//! The churn domain and its model, with no web or async runtime dependencies.
//!
//! - [`fields`]: the one table of input rules (drives API validation and the web form).
//! - [`Customer`]: a valid profile, made only by parsing.
//! - [`xgboost::Forest`]: a pure-Rust XGBoost evaluator; [`Model`] adds identity and threshold.
//! - [`explain`]: exact SHAP explanations per field; [`levers`]: retention levers.
//! - [`ModelCard`]: the model card, typed.
//! - [`scoring`]: the one seam every backend (embedded, SageMaker) implements ([`Scorer`]),
//!   and the rules every backend's answer follows ([`Scores`], [`Backend`]).

pub mod card;
pub mod customer;
pub mod explain;
pub mod fields;
pub mod levers;
mod model;
pub mod scoring;
pub mod xgboost;

pub use card::ModelCard;
pub use customer::{
    Customer, FEATURE_COUNT, FEATURE_NAMES, Features, Gender, Geography, InvalidCustomer,
    SAMPLE_VECTOR,
};
pub use explain::{Direction, Effect, Explanation};
pub use levers::Lever;
pub use model::{BUNDLED_MODEL_CARD, BUNDLED_MODEL_JSON, Model};
pub use scoring::{Backend, BackendInfo, Label, Prediction, ScoreError, Scorer, Scores};
