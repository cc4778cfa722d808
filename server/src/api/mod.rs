//! The JSON prediction API: `POST /predict` (and `POST /` with a JSON body), `GET /healthz`,
//! `GET /model`; and `POST /score`, a CSV file scored (`score`). Prediction routes and information routes are separate groups so that only the
//! former are put behind API keys.

pub mod request;
pub mod score;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{FromRequest, RawQuery, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get, routing::post};
use model::{Customer, Label, Prediction};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::state::AppState;
use request::PredictRequest;

/// Routes that predict: behind API keys when keys are configured.
pub fn prediction_routes() -> Router<AppState> {
    Router::new()
        .route("/predict", post(predict))
        .route("/", post(predict))
        .merge(score::routes())
}

/// Routes that describe the service: always open.
pub fn info_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/model", get(model_info))
        .route("/openapi.json", get(crate::openapi::document))
}

/// A JSON body's bytes: checked for its content type and size, with every failure in our error
/// shape (axum's own `Json` rejections are plain text). Parsing is the handler's: the request
/// shapes are read straight from the bytes.
pub struct JsonBody(pub Bytes);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        require_content_type(req.headers(), "application/json")?;
        read_body(req.into_body(), state.limits.max_body_bytes)
            .await
            .map(JsonBody)
    }
}

/// Refuses a request whose `Content-Type` is not `expected` (parameters such as
/// `; charset=utf-8` allowed).
pub fn require_content_type(headers: &HeaderMap, expected: &'static str) -> Result<(), ApiError> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()))
        .unwrap_or_default();
    if essence(&content_type) == expected {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType {
            got: content_type.into_owned(),
            expected,
        })
    }
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
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
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
#[derive(Debug, Serialize, ToSchema)]
pub struct Answer<'a> {
    /// "Will Exit" when the probability reaches the threshold.
    #[schema(schema_with = label_schema)]
    pub result: Label,
    /// Probability that the customer leaves.
    pub probability: f64,
    pub threshold: f64,
    /// The model that answered.
    pub model: &'a str,
    /// With `?explain=true`: each field's effect, strongest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<ReasonOut>>,
}

/// One field's effect on a prediction, for `?explain=true`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Reason)]
pub struct ReasonOut {
    /// The field's name, as in the named form.
    pub field: &'static str,
    /// Change in the log-odds of leaving; positive raises the risk.
    pub effect: f32,
    /// The effect in plain words.
    pub text: String,
}

/// A batch's answers, in input order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchAnswer<'a> {
    pub predictions: Vec<Row>,
    pub threshold: f64,
    pub model: &'a str,
}

/// One customer's answer in a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct Row {
    #[schema(schema_with = label_schema)]
    pub result: Label,
    pub probability: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<ReasonOut>>,
}

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health<'a> {
    /// `ok`.
    pub status: &'static str,
    pub model: &'a str,
    /// `embedded` or `sagemaker`.
    pub backend: &'static str,
}

/// The original API's two words.
fn label_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some([
            Label::WillExit.as_str(),
            Label::WillNotExit.as_str(),
        ]))
        .build()
}

/// What the query string asks for besides the prediction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extras {
    /// `?explain=true`: each field's effect on the prediction.
    pub explain: bool,
}

impl Extras {
    pub fn from_query(query: Option<&str>) -> Extras {
        let explain = query.is_some_and(|q| {
            q.split('&')
                .any(|pair| matches!(pair, "explain=true" | "explain=1"))
        });
        Extras { explain }
    }
}

pub async fn predict(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    predict_body(&state, &body, query.as_deref()).await
}

/// Parses a JSON request body, predicts and answers: `POST /predict`, and Lambda's direct
/// invocation (whose event is such a body).
pub async fn predict_body(
    state: &AppState,
    body: &[u8],
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let request = request::parse(body, state.limits.max_batch)?;
    let predictions = state.backend.predict(request.customers()).await?;
    Ok(answer(
        state,
        &request,
        &predictions,
        Extras::from_query(query),
    ))
}

fn reasons(state: &AppState, customer: &Customer) -> Option<Vec<ReasonOut>> {
    let reasons = state.backend.explainer.as_ref()?.explain(customer)?;
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

/// Shapes predictions as the request asked: one answer, or a batch in input order.
pub fn answer(
    state: &AppState,
    request: &PredictRequest,
    predictions: &[Prediction],
    extras: Extras,
) -> Response {
    let info = state.backend.info();
    let reasons_for = |customer| {
        if extras.explain {
            reasons(state, customer)
        } else {
            None
        }
    };
    let body = match (request, predictions) {
        (PredictRequest::One(customer), [p]) => serde_json::to_vec(&Answer {
            result: p.label,
            probability: p.probability,
            threshold: info.threshold,
            model: &info.model_id,
            reasons: reasons_for(customer),
        }),
        _ => serde_json::to_vec(&BatchAnswer {
            predictions: predictions
                .iter()
                .zip(request.customers())
                .map(|(p, customer)| Row {
                    result: p.label,
                    probability: p.probability,
                    reasons: reasons_for(customer),
                })
                .collect(),
            threshold: info.threshold,
            model: &info.model_id,
        }),
    };
    json_response(body.expect("answers always serialise"))
}

/// A JSON answer from bytes written once.
pub fn json_response(bytes: Vec<u8>) -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        bytes,
    )
        .into_response()
}

async fn healthz(State(state): State<AppState>) -> Response {
    let info = state.backend.info();
    Json(Health {
        status: "ok",
        model: &info.model_id,
        backend: info.kind,
    })
    .into_response()
}

/// What the model expects and how it was judged, for people and scripts.
async fn model_info(State(state): State<AppState>) -> Json<Value> {
    let info = state.backend.info();
    let fields: Vec<Value> = model::fields::FIELDS
        .iter()
        .map(|f| serde_json::json!({"name": f.name, "label": f.label, "allowed": f.rule.allowed()}))
        .collect();
    Json(serde_json::json!({
        "model": info.model_id,
        "backend": info.kind,
        "threshold": info.threshold,
        "explains": state.backend.explainer.is_some(),
        "feature_names": model::FEATURE_NAMES,
        "fields": fields,
        "max_batch": state.limits.max_batch,
        "max_body_bytes": state.limits.max_body_bytes,
        "max_score_bytes": state.limits.max_score_bytes,
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
    }

    #[test]
    fn only_the_expected_content_type_passes() {
        let with = |v: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(v));
            require_content_type(&headers, "application/json")
        };
        assert!(with("Application/JSON; charset=utf-8").is_ok());
        assert!(with("application/jsonx").is_err());
        assert!(with("text/plain").is_err());
        assert!(require_content_type(&HeaderMap::new(), "application/json").is_err());
    }
}
