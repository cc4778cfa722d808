//! The `churn-predict` service: configuration, HTTP routes and the model backend,
//! wired into one axum router.

pub mod api;
pub mod config;
pub mod error;
pub mod startup;
pub mod telemetry;
pub mod web;
