//! The SageMaker **inference container contract** (`GET /ping`, `POST /invocations`,
//! `GET /execution-parameters`), answering byte for byte as the SageMaker XGBoost container
//! does for `binary:logistic`, so the bundled model can be deployed as a SageMaker endpoint
//! (bring-your-own-container, `churn-predict serve`).
//!
//! `text/csv` rows are the raw 12 features with no validation (as the container does: an
//! empty field is a missing value); `application/json` takes the JSON API's validated shapes.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use model::{FEATURE_COUNT, Features};
use serde_json::json;

use model::fields::{MAX_ECHO_CHARS, shorten};

use super::python_float::python_repr;
use crate::api::{essence, read_body, request};
use crate::error::ApiError;
use crate::middleware::auth::Bucket;
use crate::state::AppState;

/// SageMaker's payload limit for real-time endpoints (the container's `MAX_CONTENT_LENGTH`).
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// 200 with an empty body: the model is loaded before the server listens.
pub async fn ping() -> StatusCode {
    StatusCode::OK
}

/// What SageMaker Batch Transform asks a container for.
pub async fn execution_parameters() -> Json<serde_json::Value> {
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
    Err(InvocationError::Accept(shorten(&accept, 100).into_owned()))
}

/// `POST /invocations`: the container contract.
pub async fn invocations(State(state): State<AppState>, req: Request) -> Response {
    match invoke(&state, req).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn invoke(state: &AppState, req: Request) -> Result<Response, InvocationError> {
    let format = response_format(req.headers())?;
    // With API keys, CSV rows cost what the same rows cost as `POST /predict` batches.
    let bucket = req.extensions().get::<Bucket>().cloned();
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
            if let Some(bucket) = &bucket {
                bucket.charge_rows(rows.len() as u64, state.limits.max_batch)?;
            }
            let scores = state
                .backend
                .scorer
                .score(&rows)
                .await
                .map_err(ApiError::from)?;
            scores.as_slice().to_vec()
        }
        "application/json" => {
            let parsed = request::parse(&body, state.limits.max_batch)?;
            let predictions = state
                .backend
                .predict(parsed.customers())
                .await
                .map_err(ApiError::from)?;
            predictions.iter().map(|p| p.probability).collect()
        }
        _ => {
            return Err(InvocationError::ContentType(
                shorten(&content_type, 100).into_owned(),
            ));
        }
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
                    "line {line_no}, column {}: could not convert string to float: {:?}",
                    i + 1 + (cells.len() - features.len()),
                    // Echoed shortened: an error answer never grows with the request.
                    shorten(cell, MAX_ECHO_CHARS)
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

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
