//! The `churn-predict` service: configuration, HTTP routes and the model backend,
//! wired into one axum router.

pub mod api;
pub mod backends;
pub mod config;
pub mod error;
pub mod lambda;
pub mod metrics;
pub mod middleware;
pub mod model_file;
pub mod sagemaker_compat;
pub mod serve;
pub mod startup;
pub mod telemetry;
pub mod web;
