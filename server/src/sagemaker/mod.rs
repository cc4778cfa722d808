//! The SageMaker side of the house, served by this binary (the SageMaker *backend*, which
//! calls an endpoint, is `crate::backends::sagemaker`):
//!
//! - [`container`]: the inference container contract (`/ping`, `/invocations`);
//! - [`runtime`]: SageMaker Runtime's `InvokeEndpoint`, for boto3 clients pointed here;
//! - [`python_float`]: the container's float printing, for byte-compatible answers.

pub mod container;
pub mod python_float;
pub mod runtime;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

/// Health and capacity routes, open like `/healthz`.
pub fn health_routes() -> Router<AppState> {
    Router::new().route("/ping", get(container::ping)).route(
        "/execution-parameters",
        get(container::execution_parameters),
    )
}

/// The prediction routes (API keys apply to them when configured; SageMaker sends none, so
/// leave API_KEYS unset in a SageMaker container).
pub fn invocation_routes() -> Router<AppState> {
    Router::new()
        .route("/invocations", post(container::invocations))
        .route(
            "/endpoints/{name}/invocations",
            post(runtime::invoke_endpoint),
        )
}
