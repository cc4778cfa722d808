//! The JSON prediction API: `POST /predict` (and `POST /` with a JSON body), `GET /healthz`,
//! `GET /model`. Prediction routes and information routes are separate groups so that only the
//! former are put behind API keys.

pub mod request;

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequest, RawQuery, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get, routing::post};
use model::{Label, Prediction};
use serde::Serialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::startup::AppState;
use request::PredictRequest;

/// Routes that predict: behind API keys when keys are configured.
pub fn prediction_routes() -> Router<AppState> {
    Router::new()
        .route("/predict", post(predict))
        .route("/", post(predict))
}

/// Routes that describe the service: always open.
pub fn info_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/model", get(model_info))
}

/// A JSON body: checked for its content type and size, then parsed, with every failure in
/// our error shape (axum's own `Json` rejections are plain text).
pub struct JsonBody(pub Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        if !is_json(&content_type) {
            return Err(ApiError::UnsupportedMediaType(content_type));
        }
        let bytes = read_body(req.into_body(), state.limits.max_body_bytes).await?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::MalformedJson(e.to_string()))
    }
}

/// `application/json`, with or without parameters such as `; charset=utf-8`.
pub fn is_json(content_type: &str) -> bool {
    essence(content_type) == "application/json"
}

/// A media type without its parameters, lower-cased: `Text/CSV; label_size=1` → `text/csv`.
/// For Content-Type and each range of an Accept list.
pub fn essence(media_type: &str) -> String {
    media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Reads a body up to `limit` bytes; larger bodies are refused without being buffered whole.
pub async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    to_bytes(body, limit).await.map_err(|e| {
        // http-body-util reports an exceeded limit as a `LengthLimitError` source.
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::PayloadTooLarge(limit)
        } else {
            ApiError::UnreadableBody(e.to_string())
        }
    })
}

/// One answer, in the original contract's words (`result` is what existing scripts read).
#[derive(Debug, Serialize)]
pub struct Answer<'a> {
    pub result: Label,
    pub probability: f64,
    pub threshold: f64,
    pub model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<ReasonOut>>,
}

/// One field's effect on a prediction, for `?explain=true`.
#[derive(Debug, Serialize)]
pub struct ReasonOut {
    pub field: &'static str,
    /// Change in the log-odds of leaving; positive raises the risk.
    pub effect: f32,
    pub text: String,
}

/// `?explain=true` asks for reasons (when the backend can give them).
fn wants_reasons(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&')
            .any(|pair| matches!(pair, "explain=true" | "explain=1"))
    })
}

fn reasons(state: &AppState, customer: &model::Customer) -> Option<Vec<ReasonOut>> {
    let reasons = state.predictor.explain(customer)?;
    Some(
        reasons
            .iter()
            .map(|r| ReasonOut {
                field: r.field.name,
                effect: r.effect,
                text: model::explain::describe(r, customer),
            })
            .collect(),
    )
}

#[derive(Debug, Serialize)]
pub struct BatchAnswer<'a> {
    pub predictions: Vec<Row>,
    pub threshold: f64,
    pub model: &'a str,
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub result: Label,
    pub probability: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<ReasonOut>>,
}

pub async fn predict(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let request = request::parse(&body, state.limits.max_batch)?;
    let predictions = state.predictor.predict(request.customers()).await?;
    Ok(answer(
        &state,
        &request,
        &predictions,
        wants_reasons(query.as_deref()),
    ))
}

/// Shapes predictions as the request asked: one answer, or a batch in input order.
pub fn answer(
    state: &AppState,
    request: &PredictRequest,
    predictions: &[Prediction],
    explain: bool,
) -> Response {
    let model = state.predictor.model_id();
    let threshold = state.predictor.threshold();
    let reasons_for = |customer| {
        if explain {
            reasons(state, customer)
        } else {
            None
        }
    };
    match (request, predictions) {
        (PredictRequest::One(customer), [p]) => Json(Answer {
            result: p.label,
            probability: p.probability,
            threshold,
            model,
            reasons: reasons_for(customer),
        })
        .into_response(),
        _ => Json(BatchAnswer {
            predictions: predictions
                .iter()
                .zip(request.customers())
                .map(|(p, customer)| Row {
                    result: p.label,
                    probability: p.probability,
                    reasons: reasons_for(customer),
                })
                .collect(),
            threshold,
            model,
        })
        .into_response(),
    }
}

async fn healthz(State(state): State<AppState>) -> Json<Value> {
    Json(serde_json::json!({
        "status": "ok",
        "model": state.predictor.model_id(),
        "backend": state.predictor.backend(),
    }))
}

/// What the model expects and how it was judged, for people and scripts.
async fn model_info(State(state): State<AppState>) -> Json<Value> {
    let fields: Vec<Value> = model::fields::FIELDS
        .iter()
        .map(|f| serde_json::json!({"name": f.name, "label": f.label, "allowed": f.rule.allowed()}))
        .collect();
    Json(serde_json::json!({
        "model": state.predictor.model_id(),
        "backend": state.predictor.backend(),
        "threshold": state.predictor.threshold(),
        "feature_names": model::FEATURE_NAMES,
        "fields": fields,
        "max_batch": state.limits.max_batch,
        "max_body_bytes": state.limits.max_body_bytes,
        "card": state.model_card.as_deref(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_media_types_essence_drops_parameters_and_case() {
        assert_eq!(essence("Text/CSV; label_size=1"), "text/csv");
        assert_eq!(
            essence(" application/json ;charset=utf-8"),
            "application/json"
        );
        assert_eq!(essence(""), "");
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(!is_json("application/jsonx"));
        assert!(!is_json("text/plain"));
    }
}
