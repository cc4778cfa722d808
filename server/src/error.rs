//! Every answer that is not a success, in one place: each kind's status and public wording.
//!
//! One policy for every kind: the client gets a fixed text for the kind (plus the details of
//! its *own* input when that input was refused), and the request id to quote to support. What
//! only the server should know (an endpoint's name, what it answered, an I/O error) goes to
//! the access log under the same request id, never to the client.

use std::borrow::Cow;
use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use model::fields::{FieldError, shorten};
use model::{InvalidCustomer, ScoreError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::middleware::request_id;

/// At most this many problems are listed in one answer (then "and N more"): an answer never
/// grows with the size of a hostile request.
pub const MAX_LISTED_PROBLEMS: usize = 20;

/// Every refused input of a request: the first [`MAX_LISTED_PROBLEMS`] and a count of the rest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Problems {
    listed: Vec<FieldError>,
    more: usize,
}

impl Problems {
    pub fn push(&mut self, problem: FieldError) {
        if self.listed.len() < MAX_LISTED_PROBLEMS {
            self.listed.push(problem);
        } else {
            self.more += 1;
        }
    }

    pub fn extend(&mut self, problems: impl IntoIterator<Item = FieldError>) {
        for p in problems {
            self.push(p);
        }
    }

    /// Counts a problem that is not worth describing (e.g. the 1,000th unknown key).
    pub fn count_more(&mut self, n: usize) {
        self.more += n;
    }

    pub fn is_empty(&self) -> bool {
        self.listed.is_empty() && self.more == 0
    }

    pub fn listed(&self) -> &[FieldError] {
        &self.listed
    }

    /// Problems not listed.
    pub fn more(&self) -> usize {
        self.more
    }
}

impl From<InvalidCustomer> for Problems {
    fn from(InvalidCustomer(errors): InvalidCustomer) -> Problems {
        let mut problems = Problems::default();
        problems.extend(errors);
        problems
    }
}

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.listed.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        if self.more > 0 {
            write!(f, "; and {} more", self.more)?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Content-Type {} is not supported; send {expected}", quoted(.got))]
    UnsupportedMediaType { got: String, expected: &'static str },
    #[error("the body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    /// The connection failed while the body was read (the cause is logged).
    #[error("the request body could not be read")]
    UnreadableBody(String),
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// A body that is JSON but not one of the accepted shapes (the message echoes only its
    /// structure, never its values).
    #[error("{0}")]
    BadShape(String),
    #[error("{at}: {got} customers; expected from 1 to {max}")]
    BatchSize { at: String, got: usize, max: usize },
    #[error("{0}")]
    Invalid(Problems),
    /// A query parameter the route knows, with a value it does not take (or given twice).
    #[error("query parameter {name}: got {got}; expected {allowed}")]
    BadParameter {
        name: &'static str,
        got: String,
        allowed: &'static str,
    },
    /// `?explain` or `?whatif` on a server that cannot explain its predictions: the fixed
    /// text says how to enable them.
    #[error("{}", .0.text())]
    ExplanationsUnavailable(Unexplained),
    /// The model backend failed: its kind decides the status and the public text; its own
    /// words (endpoint, message, excerpt) are only logged.
    #[error("{}", backend_text(.0))]
    Backend(#[from] ScoreError),
    #[error("no route for {method} {}", shorten(.path, 200))]
    NotFound { method: String, path: String },
    /// No `x-api-key` header on a route that needs one.
    #[error("missing API key: send it in the x-api-key header")]
    Unauthorized,
    /// A page route (a server function's endpoint) without a valid session, when API keys
    /// guard the pages (`crate::middleware::session`).
    #[error("sign in first: the pages need a person signed in with an API key (sign-in)")]
    SignInRequired,
    /// A key that matches none configured. Says nothing about which keys exist.
    #[error("invalid API key")]
    Forbidden,
    /// A state-changing request sent by a browser from another site (form CSRF).
    #[error("cross-site request refused")]
    CrossSite,
    /// The key's usage plan is spent for now; retry after the given number of seconds.
    #[error("too many requests: retry after {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    // ---- Batch scoring (`POST /score`, see `crate::api::score`) ----
    /// A CSV file that cannot be read as customers at all (no header, missing columns, …).
    #[error("{0}")]
    BadCsv(String),
    /// Rows the field table refuses (without `skip_invalid`): each listed with its line.
    #[error("{}", .0)]
    InvalidRows(Box<RowProblems>),
    /// A query parameter the route does not take, or a value it cannot use.
    #[error("{0}")]
    BadQuery(String),
    /// A file whose rows cost more of the key's allowance than its bucket can ever hold.
    #[error(
        "{rows} rows cost {tokens} requests of this API key's allowance (one per {per_token} \
         rows), more than it can ever hold; send at most {max_rows} rows at once"
    )]
    TooManyRows {
        rows: u64,
        tokens: u64,
        per_token: u64,
        max_rows: u64,
    },
    /// The request (reading the body included) took longer than REQUEST_TIMEOUT_MS.
    #[error("the request took longer than {0} ms")]
    RequestTimeout(u64),
    /// MAX_CONCURRENT_REQUESTS requests are already in flight.
    #[error("the server is at capacity; retry shortly")]
    Overloaded,
    /// The body fell behind MIN_UPLOAD_BYTES_PER_SECOND (`middleware::limits`).
    #[error("the body arrived slower than {0} bytes a second")]
    SlowUpload(u32),
    /// A health check while the instance cannot serve: `draining` or `saturated`.
    #[error("not ready: {0}")]
    Unready(&'static str),
    /// A fault of ours (a handler that panicked): the cause is only logged.
    #[error("the request failed because of an error on our side; quote the request id")]
    Internal(String),
}

/// Why a server cannot explain (`?explain`) or suggest levers (`?whatif`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unexplained {
    /// A SageMaker endpoint scores and no local copy of its model was given: explaining with
    /// any other model would be wrong.
    NoLocalModel,
    /// The model file lacks the statistics explanations need (XGBoost's `sum_hessian`).
    ModelCannotExplain,
}

impl Unexplained {
    pub fn text(self) -> &'static str {
        match self {
            Unexplained::NoLocalModel => {
                "explanations and levers are not available: this server scores with a SageMaker \
                 endpoint and has no local copy of its model. To enable ?explain and ?whatif, \
                 set ENDPOINT_MODEL_PATH to the endpoint's model (its model.tar.gz or model \
                 file); it is checked against the endpoint at start"
            }
            Unexplained::ModelCannotExplain => {
                "explanations are not available: the model file lacks the statistics they need \
                 (XGBoost's sum_hessian). Save the model with a current XGBoost's save_model \
                 (JSON or UBJSON) to enable ?explain; ?whatif works without them"
            }
        }
    }
}

fn quoted(text: &str) -> String {
    format!("{:?}", shorten(text, 100))
}

/// The public words for a backend failure, by kind.
pub fn backend_text(error: &ScoreError) -> &'static str {
    match error {
        ScoreError::Timeout(_) => "the model backend did not answer in time; retry shortly",
        ScoreError::Unavailable(_) => "the model backend is busy or unavailable; retry shortly",
        ScoreError::Backend(_) => "the model backend failed to answer",
    }
}

impl From<InvalidCustomer> for ApiError {
    fn from(invalid: InvalidCustomer) -> ApiError {
        ApiError::Invalid(invalid.into())
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnreadableBody(_)
            | ApiError::MalformedJson(_)
            | ApiError::BadShape(_)
            | ApiError::BadParameter { .. }
            | ApiError::ExplanationsUnavailable(_) => StatusCode::BAD_REQUEST,
            ApiError::BatchSize { .. } | ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadCsv(_) | ApiError::BadQuery(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidRows(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRows { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Backend(ScoreError::Timeout(_)) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Backend(ScoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Backend(ScoreError::Backend(_)) => StatusCode::BAD_GATEWAY,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Unauthorized | ApiError::SignInRequired => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden | ApiError::CrossSite => StatusCode::FORBIDDEN,
            ApiError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::RequestTimeout(_) | ApiError::SlowUpload(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Overloaded | ApiError::Unready(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short, stable name for logs, metrics and the answer's `"kind"`.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::UnsupportedMediaType { .. } => "unsupported_media_type",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnreadableBody(_) => "unreadable_body",
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::BadShape(_) => "bad_shape",
            ApiError::BatchSize { .. } => "batch_size",
            ApiError::Invalid(_) => "invalid_input",
            ApiError::BadCsv(_) => "bad_csv",
            ApiError::InvalidRows(_) => "invalid_rows",
            ApiError::BadQuery(_) => "bad_query",
            ApiError::TooManyRows { .. } => "too_many_rows",
            ApiError::BadParameter { .. } => "bad_parameter",
            ApiError::ExplanationsUnavailable(_) => "explanations_unavailable",
            ApiError::Backend(e) => e.kind(),
            ApiError::NotFound { .. } => "not_found",
            ApiError::Unauthorized => "missing_api_key",
            ApiError::SignInRequired => "sign_in_required",
            ApiError::Forbidden => "invalid_api_key",
            ApiError::CrossSite => "cross_site",
            ApiError::Throttled { .. } => "throttled",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::Overloaded => "overloaded",
            ApiError::SlowUpload(_) => "slow_upload",
            ApiError::Unready(_) => "unready",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// What only the log may hold: the cause behind a fixed public text.
    pub fn detail(&self) -> Option<String> {
        match self {
            ApiError::Backend(e) => Some(e.to_string()),
            ApiError::UnreadableBody(cause) | ApiError::Internal(cause) => Some(cause.clone()),
            _ => None,
        }
    }

    /// Seconds a client should wait before retrying, sent as `Retry-After`.
    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Throttled { retry_after_secs } => Some(*retry_after_secs),
            ApiError::Overloaded | ApiError::Backend(ScoreError::Unavailable(_)) => Some(1),
            _ => None,
        }
    }
}

/// The wire shape: `{"error", "kind", "request_id"}`, plus each refused field for invalid
/// input (at most [`MAX_LISTED_PROBLEMS`], then `"more"`).
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody<'a> {
    /// What was wrong, for people: the kind's fixed text, or the refused input's details.
    #[schema(value_type = String)]
    pub error: Cow<'a, str>,
    /// A short, stable name for programs: `invalid_input`, `missing_api_key`, `backend_error`, …
    pub kind: &'static str,
    /// The request's id (also in `x-request-id`): quote it to support.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub request_id: Option<Arc<str>>,
    /// For invalid input: each refused value.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub fields: Vec<FieldProblem<'a>>,
    /// Refused rows of a CSV file, each with its line (at most [`MAX_LISTED_ROWS`]).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub lines: Vec<LineProblem<'a>>,
    /// Rows of a CSV file: read, and refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<u64>,
    /// Problems not listed.
    #[serde(skip_serializing_if = "is_zero")]
    pub more: usize,
}

/// At most this many refused rows of a CSV file are listed in one answer (then "more").
pub const MAX_LISTED_ROWS: usize = 100;

/// The refused rows of a CSV file: how many rows there were, how many were refused, and the
/// first [`MAX_LISTED_ROWS`] of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowProblems {
    pub rows: u64,
    pub rejected: u64,
    pub listed: Vec<batch::Rejection>,
}

impl RowProblems {
    /// Keeps the rejection if fewer than [`MAX_LISTED_ROWS`] are listed (the caller counts).
    pub fn list(&mut self, rejection: &batch::Rejection) {
        if self.listed.len() < MAX_LISTED_ROWS {
            self.listed.push(batch::Rejection {
                // The answer never quotes whole rows: the values refused are enough.
                record: Vec::new(),
                ..rejection.clone()
            });
        }
    }
}

impl std::fmt::Display for RowProblems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} rows are invalid (first on line {}); fix them, or send skip_invalid=true \
             to score the others",
            self.rejected,
            self.rows,
            self.listed.first().map_or(0, |r| r.line)
        )
    }
}

/// One refused row of a CSV file, for programs: its line and what is wrong in it.
#[derive(Serialize, ToSchema)]
pub struct LineProblem<'a> {
    pub line: u64,
    pub problems: Vec<RowProblem<'a>>,
}

/// One thing wrong in a row: a refused value (`column`, `field`, `value`), or the row itself
/// (`column_count`, `unclosed_quote`).
#[derive(Serialize, ToSchema)]
pub struct RowProblem<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    pub column: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub field: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub value: &'a str,
    pub problem: &'static str,
    pub allowed: String,
}

impl<'a> LineProblem<'a> {
    pub fn new(rejection: &'a batch::Rejection) -> LineProblem<'a> {
        LineProblem {
            line: rejection.line,
            problems: rejection
                .defects
                .iter()
                .map(|d| {
                    let (field, value) = match d {
                        batch::Defect::Value(e) => (e.field_name(), e.value.as_str()),
                        _ => ("", ""),
                    };
                    RowProblem {
                        column: d.column(),
                        field,
                        value,
                        problem: d.code(),
                        allowed: d.allowed(),
                    }
                })
                .collect(),
        }
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One refused value, for programs.
#[derive(Serialize, ToSchema)]
pub struct FieldProblem<'a> {
    pub location: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub field: &'a str,
    pub value: &'a str,
    /// [`model::fields::Problem::code`]: `missing`, `out_of_range`, `unknown_field`, …
    pub problem: &'static str,
    pub allowed: String,
}

impl<'a> FieldProblem<'a> {
    pub fn new(e: &'a FieldError) -> FieldProblem<'a> {
        FieldProblem {
            location: &e.location,
            field: e.field_name(),
            value: &e.value,
            problem: e.problem.code(),
            allowed: e.expected.to_string(),
        }
    }
}

/// The answer for a handler that panicked (caught in `middleware::limits::guard`, inside
/// `middleware::frame`): a 500 with the fixed public text; the panic's message goes to the log.
pub fn panicked(cause: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = cause
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| cause.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    ApiError::Internal(format!("handler panicked: {}", shorten(&message, 500))).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (fields, more) = match &self {
            ApiError::Invalid(problems) => (
                problems.listed().iter().map(FieldProblem::new).collect(),
                problems.more(),
            ),
            _ => (Vec::new(), 0),
        };
        let (lines, rows, rejected, more) = match &self {
            ApiError::InvalidRows(problems) => (
                problems.listed.iter().map(LineProblem::new).collect(),
                Some(problems.rows),
                Some(problems.rejected),
                (problems.rejected as usize).saturating_sub(problems.listed.len()),
            ),
            _ => (Vec::new(), None, None, more),
        };
        let body = ErrorBody {
            error: self.to_string().into(),
            kind: self.kind(),
            request_id: request_id::current(),
            fields,
            lines,
            rows,
            rejected,
            more,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (
            self.status(),
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response();
        if let Some(secs) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, secs.into());
        }
        if matches!(self, ApiError::Unauthorized) {
            // RFC 9110: a 401 names how to authenticate.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("ApiKey header=\"x-api-key\""),
            );
        }
        if matches!(self, ApiError::SignInRequired) {
            // RFC 9110: a 401 names how to authenticate: here, a session cookie from the
            // sign-in page (the scheme of the expired cookie-auth draft, for want of a standard).
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Cookie realm=\"pages\", form-action=\"sign-in\", cookie-name=\"churn_session\"",
                ),
            );
        }
        response.extensions_mut().insert(Refusal {
            kind: self.kind(),
            detail: self.detail().map(Into::into),
        });
        response
    }
}

/// Carried in a refused answer's extensions, for the access log (`kind`, and the `detail`
/// that the client is not told) and the rejection metrics.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub kind: &'static str,
    pub detail: Option<Arc<str>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_failure_has_one_name_and_a_public_text_without_its_details() {
        for (error, kind, status) in [
            (
                ScoreError::Timeout(std::time::Duration::from_secs(1)),
                "backend_timeout",
                504,
            ),
            (
                ScoreError::Unavailable("endpoint internal-7 throttled".into()),
                "backend_unavailable",
                503,
            ),
            (
                ScoreError::Backend("endpoint internal-7 said \"boom\"".into()),
                "backend_error",
                502,
            ),
        ] {
            let api = ApiError::Backend(error);
            assert_eq!(api.kind(), kind);
            assert_eq!(api.status().as_u16(), status);
            let detail = api.detail().expect("the details go to the log");
            assert!(detail.starts_with("the model backend"), "{detail}");
            assert!(!api.to_string().contains("internal-7"), "{api}");
            assert!(!api.to_string().contains(&detail), "{api}");
        }
    }

    #[test]
    fn a_long_list_of_problems_is_cut_with_a_count() {
        let mut problems = Problems::default();
        for i in 0..1000 {
            problems.push(model::customer::wrong_count(
                i,
                model::fields::At::named("data"),
            ));
        }
        assert_eq!(problems.listed().len(), MAX_LISTED_PROBLEMS);
        assert_eq!(problems.more(), 1000 - MAX_LISTED_PROBLEMS);
        assert!(problems.to_string().ends_with("; and 980 more"));
    }
}
