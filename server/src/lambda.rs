//! AWS Lambda entry: the same router, served through `lambda_http` when
//! `AWS_LAMBDA_RUNTIME_API` is set.
//!
//! - API Gateway REST (v1), HTTP API (v2), Function URLs and ALB events become HTTP requests
//!   (base64 bodies decoded by `lambda_http`).
//! - **Malformed events.** `lambda_http` panics on some events instead of refusing them: a body
//!   marked `isBase64Encoded` that is not base64, a `Host` (or `domainName`) that is no host, an
//!   `X-Forwarded-Proto` that is no scheme, an HTTP API `rawQueryString` with characters a URL
//!   cannot hold. The invocation then fails and API Gateway answers 502. [`into_http`] checks
//!   those first and answers 400 `{"error": "..."}` (in the event's own response shape), and
//!   turns any other panic of the conversion into the same 400 rather than a failed invocation.
//!   This is why the runtime loop is ours (`lambda_runtime` with `lambda_http`'s event and
//!   response types) rather than `lambda_http::run`, which converts before our code runs.
//! - **Client.** The per-client limits and the cross-site guard get the caller's address from
//!   the request context (`sourceIp`, set by API Gateway; the ALB's `X-Forwarded-For` entry)
//!   and the scheme from the URL `lambda_http` built (https behind API Gateway).
//! - **Stage prefix.** For REST APIs `lambda_http` puts the stage into the path (`/prod/predict`)
//!   unless `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is set. The routes have no stage, so a
//!   leading `/{stage}` segment (the event's own `requestContext.stage`) is removed here,
//!   whether or not that variable is set.
//! - **Direct invocation.** Any other event (the original's `{"data": [...]}` from the Lambda
//!   console or SDK `Invoke`) arrives through `lambda_http`'s pass-through as a JSON body and is
//!   answered as `POST /predict` is, the JSON returned raw (no HTTP envelope): `{"result": ...}`
//!   or `{"error": ...}`. It skips the HTTP middleware: such calls are authorised by IAM
//!   (`lambda:InvokeFunction`), not by API keys.

use std::convert::Infallible;
use std::net::IpAddr;
use std::panic::AssertUnwindSafe;

use axum::Router;
use axum::http::uri::{Authority, PathAndQuery};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use lambda_http::lambda_runtime::{self, LambdaEvent};
use lambda_http::request::{LambdaRequest, RequestContext, RequestFuture};
use lambda_http::{Body, RequestExt, TransformResponse};
use tower::ServiceExt;

use crate::api::predict_body;
use crate::config::{Runtime, Settings};
use crate::error::ApiError;
use crate::metrics::Sink;
use crate::middleware::client::{Client, Scheme};
use crate::startup::{Hardening, router};
use crate::state::AppState;

/// Serves invocations until the runtime stops the process.
pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    let state = AppState::load(settings).await?;
    // Metrics go to stdout as CloudWatch EMF documents, which Lambda ships to CloudWatch.
    let sink = Sink::for_runtime(Runtime::Lambda).install();
    let hardening = Hardening::from_settings(settings, &sink)?;
    let app = router(state.clone(), &hardening);
    // What `lambda_http::run` does, with our check between the event and the conversion.
    let service = lambda_runtime::service_fn(move |event: LambdaEvent<LambdaRequest>| {
        let origin = event.payload.request_origin();
        // The invocation's id names a refused event, as the request id names a request.
        let invocation = event.context.request_id.clone();
        let answer: RequestFuture<'static, Response, Infallible> = match into_http(event) {
            Ok(request) => {
                let (app, state) = (app.clone(), state.clone());
                Box::pin(async move { Ok(handle(app, state, request).await) })
            }
            Err(refusal) => {
                tracing::warn!(
                    error = refusal.kind(),
                    request_id = %crate::telemetry::Escaped(&invocation),
                    "refused a malformed event"
                );
                Box::pin(async move { Ok(refused(refusal, &invocation).await) })
            }
        };
        // Turns our answer into the event's response shape (REST, HTTP API, ALB).
        TransformResponse::Request(origin, answer)
    });
    tracing::info!("serving Lambda invocations");
    lambda_runtime::run(service)
        .await
        .map_err(|e| anyhow::anyhow!("Lambda runtime: {e}"))
}

/// A malformed event's 400 as every answer is: the (invocation's) request id in the body and
/// `x-request-id`, and the security headers; the app's frame never saw the event.
async fn refused(refusal: ApiError, invocation: &str) -> Response {
    let id = HeaderValue::from_str(invocation)
        .ok()
        .filter(crate::middleware::request_id::acceptable)
        .unwrap_or(HeaderValue::from_static("malformed-event"));
    let mut response =
        crate::middleware::request_id::scoped(id.clone(), async { refusal.into_response() }).await;
    let headers = response.headers_mut();
    crate::middleware::browser::add_security_headers(headers);
    headers.insert(crate::middleware::request_id::X_REQUEST_ID, id);
    response
}

/// The event as an HTTP request, or a 400 for one `lambda_http` cannot convert.
fn into_http(event: LambdaEvent<LambdaRequest>) -> Result<lambda_http::Request, ApiError> {
    let LambdaEvent { payload, context } = event;
    refuse_malformed(&payload)?;
    // Our checks cover every panic of the conversion we know of; should another appear, it
    // is still the event's fault, not a reason to fail the invocation (502).
    let mut request =
        std::panic::catch_unwind(AssertUnwindSafe(|| lambda_http::Request::from(payload)))
            .map_err(|_| {
                ApiError::BadShape("the event could not be read as an HTTP request".into())
            })?;
    // As `lambda_http::run` does: the trace id becomes a header (our request id, if none).
    if let Some(trace) = context.xray_trace_id.as_deref()
        && let Ok(value) = HeaderValue::from_str(trace)
    {
        request
            .headers_mut()
            .insert(crate::middleware::request_id::X_AMZN_TRACE_ID, value);
    }
    Ok(request.with_lambda_context(context))
}

/// The parts of an HTTP event that make `lambda_http`'s conversion panic, checked.
fn refuse_malformed(payload: &LambdaRequest) -> Result<(), ApiError> {
    let (headers, domain, path, query, body) = match payload {
        LambdaRequest::ApiGatewayV1(ag) => (
            &ag.headers,
            ag.request_context.domain_name.as_deref(),
            ag.path.as_deref(),
            None,
            ag.is_base64_encoded.then_some(ag.body.as_deref()).flatten(),
        ),
        LambdaRequest::ApiGatewayV2(ag) => (
            &ag.headers,
            ag.request_context.domain_name.as_deref(),
            ag.raw_path.as_deref(),
            ag.raw_query_string.as_deref(),
            ag.is_base64_encoded.then_some(ag.body.as_deref()).flatten(),
        ),
        LambdaRequest::Alb(alb) => (
            &alb.headers,
            None,
            alb.path.as_deref(),
            None,
            alb.is_base64_encoded
                .then_some(alb.body.as_deref())
                .flatten(),
        ),
        // A direct invocation: its JSON is our own to read (`direct_invocation`).
        _ => return Ok(()),
    };
    if let Some(body) = body
        && base64::engine::general_purpose::STANDARD
            .decode(body)
            .is_err()
    {
        return Err(ApiError::BadShape(
            "the event marks the body base64 (isBase64Encoded) but it is not valid base64".into(),
        ));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or(domain);
    if let Some(host) = host {
        let valid = !host.contains(['@', '/', '?', '#', '\\']) && host.parse::<Authority>().is_ok();
        if !valid {
            return Err(ApiError::BadShape(
                "the Host header is not a host name".into(),
            ));
        }
        let scheme = headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok());
        if scheme.is_some_and(|s| Scheme::parse(s).is_none()) {
            return Err(ApiError::BadShape(
                "X-Forwarded-Proto is neither http nor https".into(),
            ));
        }
    }
    if path.is_some_and(|p| !p.is_empty() && !p.starts_with('/')) {
        return Err(ApiError::BadShape("the path does not start with /".into()));
    }
    if let Some(query) = query.filter(|q| !q.is_empty())
        && format!("/?{query}").parse::<PathAndQuery>().is_err()
    {
        return Err(ApiError::BadShape(
            "the query string holds characters a URL cannot".into(),
        ));
    }
    Ok(())
}

/// The caller, from what AWS put in the event (never from what the client could write).
fn client_of(request: &lambda_http::Request) -> Client {
    let address = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.identity.source_ip.clone(),
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        // The ALB appends the address it was connected from.
        Some(RequestContext::Alb(_)) => forwarded_for_last(request.headers()),
        _ => None,
    };
    let scheme = request
        .uri()
        .scheme_str()
        .and_then(Scheme::parse)
        .unwrap_or(Scheme::Https);
    match address.and_then(|a| a.parse::<IpAddr>().ok()) {
        Some(ip) => Client { ip, scheme },
        None => Client {
            scheme,
            ..Client::unknown()
        },
    }
}

fn forwarded_for_last(headers: &HeaderMap) -> Option<String> {
    let last = headers.get_all("x-forwarded-for").iter().next_back()?;
    Some(last.to_str().ok()?.rsplit(',').next()?.trim().to_owned())
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
    let client = client_of(&request);
    request.extensions_mut().insert(client);
    match app.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// The original function's contract: the event is the JSON body of `/predict`.
async fn direct_invocation(state: AppState, event: &Body) -> Response {
    match predict_body(&state, event.as_ref(), crate::api::Extras::default(), None).await {
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
