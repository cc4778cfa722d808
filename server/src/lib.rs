//! The `churn-predict` service: configuration, HTTP routes and the model backends, wired into
//! one axum router. Where to change what: see ARCHITECTURE.md.

pub mod api;
pub mod backends;
pub mod config;
pub mod error;
pub mod lambda;
pub mod metrics;
pub mod middleware;
pub mod model_file;
pub mod openapi;
pub mod sagemaker;
pub mod score;
pub mod serve;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod testing;
pub mod web;
