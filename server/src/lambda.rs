//! AWS Lambda entry: the same router, served through `lambda_http` when
//! `AWS_LAMBDA_RUNTIME_API` is set.
//!
//! - API Gateway REST (v1), HTTP API (v2), Function URLs and ALB events become HTTP requests
//!   (base64 bodies decoded by `lambda_http`).
//! - **Stage prefix.** For REST APIs `lambda_http` puts the stage into the path (`/prod/predict`)
//!   unless `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is set. The routes have no stage, so a
//!   leading `/{stage}` segment (the event's own `requestContext.stage`) is removed here,
//!   whether or not that variable is set.
//! - **Direct invocation.** Any other event (the original's `{"data": [...]}` from the Lambda
//!   console or SDK `Invoke`) arrives through `lambda_http`'s pass-through as a JSON body and is
//!   answered as `POST /predict` is, the JSON returned raw (no HTTP envelope): `{"result": ...}`
//!   or `{"error": ...}`. It skips the HTTP middleware: such calls are authorised by IAM
//!   (`lambda:InvokeFunction`), not by API keys.

use axum::Router;
use axum::response::{IntoResponse, Response};
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use tower::ServiceExt;

use crate::api::predict_body;
use crate::config::{Runtime, Settings};
use crate::metrics::Sink;
use crate::startup::{Hardening, router};
use crate::state::AppState;

/// Serves invocations until the runtime stops the process.
pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    let state = AppState::load(settings).await?;
    // Metrics go to stdout as CloudWatch EMF documents, which Lambda ships to CloudWatch.
    let sink = Sink::for_runtime(Runtime::Lambda).install();
    let hardening = Hardening::from_settings(settings, &sink)?;
    let app = router(state.clone(), &hardening);
    let service = tower::service_fn(move |request: lambda_http::Request| {
        let app = app.clone();
        let state = state.clone();
        async move { Ok::<Response, std::convert::Infallible>(handle(app, state, request).await) }
    });
    tracing::info!("serving Lambda invocations");
    lambda_http::run(service)
        .await
        .map_err(|e| anyhow::anyhow!("Lambda runtime: {e}"))
}

async fn handle(app: Router, state: AppState, request: lambda_http::Request) -> Response {
    if matches!(
        request.request_context_ref(),
        Some(RequestContext::PassThrough)
    ) {
        return direct_invocation(state, request.body()).await;
    }
    let mut request = without_stage(request);
    if let Some(prefix) = public_prefix(&request) {
        request.extensions_mut().insert(app::BasePath(prefix));
    }
    match app.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// The original function's contract: the event is the JSON body of `/predict`.
async fn direct_invocation(state: AppState, event: &Body) -> Response {
    match predict_body(&state, event.as_ref(), None).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// The path the client used in front of the route we serve: `/prod` on an execute-api URL
/// (REST stage or named HTTP API stage), a base-path mapping on a custom domain, or nothing.
/// Pages need it to link back through API Gateway (see `app::BasePath`).
fn public_prefix(request: &lambda_http::Request) -> Option<String> {
    let public_path = match request.request_context_ref()? {
        RequestContext::ApiGatewayV1(ctx) => ctx.path.clone()?,
        RequestContext::ApiGatewayV2(ctx) => ctx.http.path.clone()?,
        _ => return None,
    };
    let routed = request.uri().path().trim_end_matches('/');
    let prefix = public_path.trim_end_matches('/').strip_suffix(routed)?;
    (prefix.starts_with('/') && prefix.len() > 1).then(|| prefix.to_owned())
}

/// Removes a leading `/{stage}` segment (not `$default`) from the path.
fn without_stage(mut request: lambda_http::Request) -> lambda_http::Request {
    let stage = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.stage.clone(),
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.stage.clone(),
        _ => None,
    };
    let Some(stage) = stage.filter(|s| !s.is_empty() && s != "$default") else {
        return request;
    };
    let path = request.uri().path();
    let Some(rest) = path
        .strip_prefix('/')
        .and_then(|p| p.strip_prefix(stage.as_str()))
    else {
        return request;
    };
    if !(rest.is_empty() || rest.starts_with('/')) {
        return request;
    }
    let new_path = if rest.is_empty() { "/" } else { rest };
    let path_and_query = match request.uri().query() {
        Some(q) => format!("{new_path}?{q}"),
        None => new_path.to_owned(),
    };
    let mut parts = request.uri().clone().into_parts();
    match path_and_query.parse() {
        Ok(pq) => parts.path_and_query = Some(pq),
        Err(_) => return request,
    }
    if let Ok(uri) = axum::http::Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The path the router sees for a REST (v1) event with stage `prod`.
    fn routed_path(path: &str) -> String {
        let event = serde_json::json!({
            "resource": "/{proxy+}", "path": path, "httpMethod": "GET", "headers": {},
            "requestContext": {"stage": "prod", "path": format!("/prod{path}"), "httpMethod": "GET",
                               "accountId": "123456789012", "resourcePath": "/{proxy+}"},
            "body": null, "isBase64Encoded": false
        });
        let request = lambda_http::request::from_str(&event.to_string()).expect("a v1 event");
        without_stage(request).uri().path().to_owned()
    }

    #[test]
    fn only_a_whole_leading_stage_segment_is_removed() {
        assert_eq!(routed_path("/predict"), "/predict");
        assert_eq!(routed_path("/prod/predict"), "/predict");
        assert_eq!(routed_path("/"), "/");
        assert_eq!(routed_path("/production/x"), "/production/x");
    }
}
