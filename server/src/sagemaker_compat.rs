//! The SageMaker side of the house, served by this binary:
//!
//! - the **inference container contract** (`GET /ping`, `POST /invocations`,
//!   `GET /execution-parameters`), answering byte for byte as the SageMaker XGBoost container
//!   does for `binary:logistic`, so the bundled model can be deployed as a SageMaker endpoint
//!   (bring-your-own-container, `churn-predict serve`);
//! - the **SageMaker Runtime `InvokeEndpoint` API** (`POST /endpoints/{name}/invocations`), so
//!   unmodified boto3/aws-sdk clients pointed at this server (`endpoint_url`) work.
//!
//! The runtime route accepts any endpoint name and ignores the SigV4 signature: it is a
//! protocol adapter for local use and tests, **not** an authentication mechanism.
//!
//! `text/csv` rows are the raw 12 features with no validation (as the container does: an
//! empty field is a missing value); `application/json` takes the JSON API's validated shapes.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use model::{FEATURE_COUNT, Features};
use serde_json::json;

use crate::api::{essence, read_body, request};
use crate::error::ApiError;
use crate::startup::AppState;

/// SageMaker's payload limit for real-time endpoints (the container's `MAX_CONTENT_LENGTH`).
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// Health and capacity routes, open like `/healthz`.
pub fn health_routes() -> Router<AppState> {
    Router::new()
        .route("/ping", get(ping))
        .route("/execution-parameters", get(execution_parameters))
}

/// The prediction routes (API keys apply to them when configured; SageMaker sends none, so
/// leave API_KEYS unset in a SageMaker container).
pub fn invocation_routes() -> Router<AppState> {
    Router::new()
        .route("/invocations", post(invocations))
        .route("/endpoints/{name}/invocations", post(invoke_endpoint))
}

/// 200 with an empty body: the model is loaded before the server listens.
async fn ping() -> StatusCode {
    StatusCode::OK
}

/// What SageMaker Batch Transform asks a container for.
async fn execution_parameters() -> Json<serde_json::Value> {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    Json(json!({
        "MaxConcurrentTransforms": cpus,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": MAX_PAYLOAD_BYTES / (1024 * 1024),
    }))
}

/// Why an invocation was refused, worded (and coded) as the XGBoost container words it.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error("{0} is not an accepted ContentType: text/csv, csv, application/json.")]
    ContentType(String),
    #[error("Loading csv data failed with Exception, please ensure data is in csv format: {0}")]
    Csv(String),
    #[error("Accept type {0} is not supported: use text/csv or application/json.")]
    Accept(String),
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl IntoResponse for InvocationError {
    fn into_response(self) -> Response {
        let status = match self {
            // Prediction and JSON-shape errors keep the JSON API's one error shape and table.
            InvocationError::Api(e) => return e.into_response(),
            InvocationError::ContentType(_) | InvocationError::Csv(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            InvocationError::Accept(_) => StatusCode::NOT_ACCEPTABLE,
        };
        (
            status,
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.to_string(),
        )
            .into_response()
    }
}

/// The response format chosen from `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

/// Absent, `*/*`, `text/*` and `text/csv` give CSV (the container's default); `application/json`
/// gives JSON. In a list, the first supported type wins.
pub fn response_format(headers: &HeaderMap) -> Result<Format, InvocationError> {
    let Some(accept) = headers.get(ACCEPT) else {
        return Ok(Format::Csv);
    };
    let accept = String::from_utf8_lossy(accept.as_bytes()).into_owned();
    if accept.trim().is_empty() {
        return Ok(Format::Csv);
    }
    for range in accept.split(',') {
        match essence(range).as_str() {
            "*/*" | "text/*" | "text/csv" => return Ok(Format::Csv),
            "application/json" => return Ok(Format::Json),
            _ => {}
        }
    }
    Err(InvocationError::Accept(accept))
}

/// `POST /invocations`: the container contract.
async fn invocations(State(state): State<AppState>, req: Request) -> Response {
    match invoke(&state, req).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn invoke(state: &AppState, req: Request) -> Result<Response, InvocationError> {
    let format = response_format(req.headers())?;
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let body = read_body(req.into_body(), MAX_PAYLOAD_BYTES).await?;
    if body.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let scores = match essence(&content_type).as_str() {
        // No Content-Type at all is read as CSV: that is what every SageMaker client sends.
        "" | "text/csv" | "csv" => {
            let rows = parse_csv(&body)?;
            state
                .predictor
                .score_features(&rows)
                .await
                .map_err(ApiError::from)?
        }
        "application/json" => {
            let value: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
            let parsed = request::parse(&value, state.limits.max_batch)?;
            let predictions = state
                .predictor
                .predict(parsed.customers())
                .await
                .map_err(ApiError::from)?;
            predictions.iter().map(|p| p.probability).collect()
        }
        _ => return Err(InvocationError::ContentType(content_type)),
    };
    Ok(encode(&scores, format))
}

/// The container's answer: one probability a line, or `{"predictions": [{"score": p}, ...]}`.
pub fn encode(scores: &[f64], format: Format) -> Response {
    match format {
        Format::Csv => {
            let mut text = String::with_capacity(scores.len() * 20);
            for &p in scores {
                text.push_str(&python_repr(p));
                text.push('\n');
            }
            ([(CONTENT_TYPE, "text/csv; charset=utf-8")], text).into_response()
        }
        Format::Json => {
            let predictions: Vec<_> = scores.iter().map(|p| json!({"score": p})).collect();
            Json(json!({ "predictions": predictions })).into_response()
        }
    }
}

/// Parses CSV rows of raw features: no header, `,` (or tab) separated, an empty field is a
/// missing value. 13 columns are accepted with the first taken as a label (the container
/// tolerates a label column), anything else is refused.
pub fn parse_csv(body: &[u8]) -> Result<Vec<Features>, InvocationError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| InvocationError::Csv(format!("the body is not UTF-8 text ({e})")))?;
    let lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let delimiter = if text
        .lines()
        .next()
        .is_some_and(|l| !l.contains(',') && l.contains('\t'))
    {
        '\t'
    } else {
        ','
    };
    let mut rows = Vec::new();
    for (index, line) in lines {
        let line_no = index + 1;
        let cells: Vec<&str> = line.split(delimiter).collect();
        let features = match cells.len() {
            FEATURE_COUNT => &cells[..],
            n if n == FEATURE_COUNT + 1 => &cells[1..],
            n => {
                return Err(InvocationError::Csv(format!(
                    "line {line_no}: Feature size of csv inference data {n} is not consistent \
                     with feature size of trained model {FEATURE_COUNT}"
                )));
            }
        };
        let mut row = [f32::NAN; FEATURE_COUNT];
        for (i, cell) in features.iter().enumerate() {
            let cell = cell.trim();
            if cell.is_empty() {
                continue;
            }
            // Parsed as f64 and narrowed, as pandas then XGBoost's DMatrix do.
            let value: f64 = cell.parse().map_err(|_| {
                InvocationError::Csv(format!(
                    "line {line_no}, column {}: could not convert string to float: {cell:?}",
                    i + 1 + (cells.len() - features.len())
                ))
            })?;
            row[i] = value as f32;
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(InvocationError::Csv("no rows".to_owned()));
    }
    Ok(rows)
}

/// Prints a float as Python's `repr` does (shortest round-trip digits, `1e-05` style
/// exponents, `.0` on whole numbers): the container writes `repr(float(f32_score))`.
pub fn python_repr(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "nan".to_owned()
        } else if x > 0.0 {
            "inf".to_owned()
        } else {
            "-inf".to_owned()
        };
    }
    let magnitude = x.abs();
    if magnitude != 0.0 && !(1e-4..1e16).contains(&magnitude) {
        // Rust writes `1.5e-5`; Python writes `1.5e-05`.
        let text = format!("{x:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let (sign, digits) = match exponent.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exponent),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    let text = x.to_string();
    if text.contains('.') {
        ties_to_even(text, x)
    } else {
        format!("{text}.0")
    }
}

/// Rust and Python both print the shortest digits that round-trip, but when the value lies
/// exactly halfway between two such strings Rust rounds the last digit up and Python to even
/// (`0.85953521728515625` is `…563` in Rust, `…562` in Python). Redo that one case.
fn ties_to_even(shortest: String, x: f64) -> String {
    let Some(dot) = shortest.find('.') else {
        return shortest;
    };
    let decimals = shortest.len() - dot - 1;
    let is_tie = |expansion: &str| {
        let tail = &expansion[expansion.find('.').map_or(0, |d| d + 1 + decimals)..];
        tail.starts_with('5') && tail[1..].bytes().all(|b| b == b'0')
    };
    // Cheap probe first; the exact expansion (finite for every f64) only to confirm.
    if !is_tie(&format!("{:.*}", decimals + 25, x)) || !is_tie(&format!("{x:.1100}")) {
        return shortest;
    }
    let exact = format!("{x:.1100}");
    let down = &exact[..exact.find('.').map_or(exact.len(), |d| d + 1 + decimals)];
    let last = down.bytes().last().unwrap_or(b'0');
    if (last - b'0').is_multiple_of(2) {
        return down.to_owned();
    }
    // Round the odd last digit up, carrying as needed.
    let mut digits = down.as_bytes().to_vec();
    let mut i = digits.len();
    loop {
        if i == 0 {
            digits.insert(usize::from(digits.first() == Some(&b'-')), b'1');
            break;
        }
        i -= 1;
        match digits[i] {
            b'9' => digits[i] = b'0',
            b'.' | b'-' => continue,
            d => {
                digits[i] = d + 1;
                break;
            }
        }
    }
    String::from_utf8(digits).unwrap_or(shortest)
}

/// `POST /endpoints/{name}/invocations`: SageMaker Runtime's `InvokeEndpoint`. Success is the
/// container's answer plus the runtime's headers; a container error becomes a `ModelError`
/// (424) carrying the container's status and message, as SageMaker reports it.
async fn invoke_endpoint(
    State(state): State<AppState>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    // A plain `&str` field: quoted and escaped in text logs (the name comes from the URL).
    tracing::debug!(endpoint = name.as_str(), "InvokeEndpoint");
    let response = invocations(State(state), req).await;
    let status = response.status();
    if status == StatusCode::NO_CONTENT {
        return runtime_error(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            json!({"message": "1 validation error detected: Value at 'body' failed to satisfy constraint: Member must not be empty"}),
        );
    }
    if status.is_success() {
        let mut response = response;
        response.headers_mut().insert(
            "x-Amzn-Invoked-Production-Variant",
            HeaderValue::from_static("AllTraffic"),
        );
        return response;
    }
    let message = match axum::body::to_bytes(response.into_body(), MAX_PAYLOAD_BYTES).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("(unreadable container answer: {e})"),
    };
    let kind = if status.is_client_error() {
        "client"
    } else {
        "server"
    };
    runtime_error(
        StatusCode::FAILED_DEPENDENCY,
        "ModelError",
        json!({
            "ErrorCode": format!("{}_ERROR_FROM_MODEL", kind.to_ascii_uppercase()),
            "message": format!(
                "Received {kind} error ({}) from primary with message \"{message}\".",
                status.as_u16()
            ),
            "OriginalStatusCode": status.as_u16(),
            "OriginalMessage": message,
        }),
    )
}

/// An AWS restJson1 error: the type in `x-amzn-ErrorType`, details in the JSON body.
fn runtime_error(
    status: StatusCode,
    error_type: &'static str,
    body: serde_json::Value,
) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert("x-amzn-ErrorType", HeaderValue::from_static(error_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_repr_matches_python_for_the_shapes_it_takes() {
        let cases = [
            (0.43861907720565796, "0.43861907720565796"),
            (0.5, "0.5"),
            (1.0, "1.0"),
            (0.0, "0.0"),
            (1e-5, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            // Exactly halfway between two shortest strings: Python rounds to even.
            // (0.85953521728515625 exactly: the f32 0.8595352 widened.)
            (f64::from(0.8595352_f32), "0.8595352172851562"),
        ];
        for (value, python) in cases {
            assert_eq!(python_repr(value), python, "repr of {value:e}");
        }
    }

    #[test]
    fn csv_rows_take_12_columns_or_a_label_and_12_and_empty_fields_are_missing() {
        let rows =
            parse_csv(b"670,1,38,7,0.0,2,1,1,77864.41,1,0,0\n1,670,1,38,,0,2,1,1,77864.41,1,0,0\n")
                .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][8], 77864.41f32);
        assert_eq!(rows[1][0], 670.0, "the label column is dropped");
        assert!(rows[1][3].is_nan(), "an empty field is missing");
    }

    #[test]
    fn csv_with_the_wrong_width_or_a_word_is_refused_with_the_line() {
        let err = parse_csv(b"670,1,38\n").unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("data 3"), "{err}");
        let err = parse_csv(b"670,1,38,7,0.0,2,1,1,77864.41,1,0,0\n670,1,old,7,0.0,2,1,1,1,1,0,0")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2, column 3") && err.contains("\"old\""),
            "{err}"
        );
    }

    #[test]
    fn accept_picks_csv_by_default_json_on_request_and_refuses_the_rest() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(ACCEPT, HeaderValue::from_static(v));
            response_format(&h)
        };
        assert_eq!(response_format(&HeaderMap::new()).unwrap(), Format::Csv);
        assert_eq!(with("*/*").unwrap(), Format::Csv);
        assert_eq!(with("text/csv; charset=utf-8").unwrap(), Format::Csv);
        assert_eq!(with("application/json").unwrap(), Format::Json);
        assert_eq!(
            with("application/xml, application/json").unwrap(),
            Format::Json
        );
        assert!(with("application/x-recordio-protobuf").is_err());
    }
}
