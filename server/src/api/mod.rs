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
use axum::{Extension, Json, Router, routing::get, routing::post};
use model::explain::Method;
use model::fields::shorten;
use model::xgboost::ShapScratch;
use model::{Backend, Customer, Explanation, Label, Lever, Prediction};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{ApiError, Unexplained};
use crate::middleware::auth::Bucket;
use crate::state::AppState;
use request::PredictRequest;

/// Routes that predict: behind API keys when keys are configured.
pub fn prediction_routes() -> Router<AppState> {
    Router::new()
        .route("/predict", post(predict))
        .route("/", post(predict))
        .merge(score::routes())
}

/// Routes that describe the service: always open. (`GET /model`, also open, is answered by
/// `crate::web`: a page to browsers, [`model_json`] to scripts.)
pub fn info_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
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
        .map_or(&b""[..], HeaderValue::as_bytes);
    // Compared in place, not through `essence`'s lower-cased copy: this runs on every prediction.
    if without_parameters(content_type).eq_ignore_ascii_case(expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType {
            got: String::from_utf8_lossy(content_type).into_owned(),
            expected,
        })
    }
}

/// A media type's bytes up to its parameters, trimmed: `Text/CSV; label_size=1` → `Text/CSV`.
fn without_parameters(media_type: &[u8]) -> &[u8] {
    media_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii()
}

/// A media type without its parameters, lower-cased: `Text/CSV; label_size=1` → `text/csv`.
/// For Content-Type and each range of an Accept list.
pub fn essence(media_type: &str) -> String {
    String::from_utf8_lossy(without_parameters(media_type.as_bytes())).to_ascii_lowercase()
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
    /// Probability that the customer leaves: `sigmoid(margin)`, computed in `f32` as XGBoost
    /// computes it.
    pub probability: f64,
    pub threshold: f64,
    /// The model that answered.
    pub model: &'a str,
    /// With `?explain`: how the effects were computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub method: Option<MethodOut>,
    #[serde(flatten)]
    #[schema(inline)]
    pub explained: Explained,
}

/// What `?explain` and `?whatif` add to one customer's answer (nothing without them).
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Explained {
    /// With `?explain`: the model's expected log-odds over its training data (XGBoost's bias),
    /// where every customer's effects start from.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub baseline: Option<f64>,
    /// With `?explain`: the model's log-odds of leaving for this customer (XGBoost's
    /// `output_margin`): `baseline + Σ effect = margin` (within 1e-5) and `probability =
    /// sigmoid(margin)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub margin: Option<f64>,
    /// With `?explain`: all ten fields' effects, largest |effect| first.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub reasons: Option<Vec<ReasonOut>>,
    /// With `?whatif`: changes the bank can make that would lower the probability, lowest
    /// resulting probability first (possibly none).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub levers: Option<Vec<LeverOut>>,
}

/// How effects are computed: `exact` SHAP values (path-dependent TreeSHAP, XGBoost's
/// `pred_contribs`), or XGBoost's `approx` (Saabas) contributions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = Method)]
pub enum MethodOut {
    Exact,
    Approx,
}

impl From<Method> for MethodOut {
    fn from(method: Method) -> MethodOut {
        match method {
            Method::Exact => MethodOut::Exact,
            Method::Approximate => MethodOut::Approx,
        }
    }
}

/// One field's effect on a prediction, for `?explain`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Reason)]
pub struct ReasonOut {
    /// The field's name, as in the named form (`geography`: its three one-hot columns summed).
    pub field: &'static str,
    /// Change in the log-odds of leaving; positive raises the risk.
    pub effect: f64,
    /// The effect in plain words; below 1e-6 either way it reads "has no effect on the risk".
    pub text: String,
}

/// One retention lever, for `?whatif`: a change of a field the bank can act on.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Lever)]
pub struct LeverOut {
    /// `is_active_member`, `has_cr_card` or `num_of_products`; never age, gender, geography,
    /// tenure, credit score, balance or salary.
    pub field: &'static str,
    /// The customer's value (flags as 0/1).
    pub from: u8,
    /// The suggested value.
    pub to: u8,
    /// What `POST /predict` answers for the customer with this change.
    pub probability: f64,
    /// The lever in plain words.
    pub text: String,
}

/// A batch's answers, in input order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchAnswer<'a> {
    pub predictions: Vec<Row>,
    pub threshold: f64,
    pub model: &'a str,
    /// With `?explain`: how every row's effects were computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub method: Option<MethodOut>,
}

/// One customer's answer in a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct Row {
    #[schema(schema_with = label_schema)]
    pub result: Label,
    pub probability: f64,
    #[serde(flatten)]
    #[schema(inline)]
    pub explained: Explained,
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

/// What the query string asks for besides the prediction: `explain=true|1|exact|approx`
/// (`false`/`0`: no), `whatif=true|1` (`false`/`0`: no). Other parameters are ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extras {
    /// Each field's effect on the prediction, by this method.
    pub explain: Option<Method>,
    /// Retention levers.
    pub whatif: bool,
}

impl Extras {
    /// The query's wishes; a known parameter with another value, or given twice, is refused.
    pub fn from_query(query: Option<&str>) -> Result<Extras, ApiError> {
        let mut extras = Extras::default();
        let mut seen = [false; 2];
        for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let (index, name, allowed) = match name.as_ref() {
                "explain" => (0, "explain", EXPLAIN_VALUES),
                "whatif" => (1, "whatif", WHATIF_VALUES),
                _ => continue,
            };
            let refused = |got: String| ApiError::BadParameter { name, got, allowed };
            if std::mem::replace(&mut seen[index], true) {
                return Err(refused("it twice".to_owned()));
            }
            match (name, value.as_ref()) {
                ("explain", "true" | "1" | "exact") => extras.explain = Some(Method::Exact),
                ("explain", "approx") => extras.explain = Some(Method::Approximate),
                ("explain", "false" | "0") => extras.explain = None,
                ("whatif", "true" | "1") => extras.whatif = true,
                ("whatif", "false" | "0") => extras.whatif = false,
                _ => return Err(refused(format!("{:?}", shorten(&value, 40)))),
            }
        }
        Ok(extras)
    }

    /// Whether anything beyond the prediction is asked for.
    pub fn any(&self) -> bool {
        self.explain.is_some() || self.whatif
    }
}

/// The values `explain` takes, for answers and the OpenAPI document.
pub const EXPLAIN_VALUES: &str =
    "true, 1 or exact (exact SHAP values), approx (Saabas), false or 0";
/// The values `whatif` takes.
pub const WHATIF_VALUES: &str = "true or 1, false or 0";

pub async fn predict(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    bucket: Option<Extension<Bucket>>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let extras = Extras::from_query(query.as_deref())?;
    predict_body(&state, &body, extras, bucket.as_deref()).await
}

/// Parses a JSON request body, predicts and answers: `POST /predict`, and Lambda's direct
/// invocation (whose event is such a body). `bucket`: the API key's, when keys are configured.
///
/// With `extras`, the explanations are made (and refused, when the server cannot explain)
/// before the backend is asked, and an explained request costs the key one token per customer
/// (see [`Bucket::charge_per_customer`]).
pub async fn predict_body(
    state: &AppState,
    body: &[u8],
    extras: Extras,
    bucket: Option<&Bucket>,
) -> Result<Response, ApiError> {
    let request = request::parse(body, state.limits.max_batch)?;
    let customers = request.customers();
    let explanations = explain_all(&state.backend, customers, extras)?;
    if extras.any()
        && let Some(bucket) = bucket
    {
        bucket.charge_per_customer(customers.len())?;
    }
    let predictions = state.backend.predict(customers).await?;
    let levers = if extras.whatif {
        Some(state.backend.levers(customers, &predictions).await?)
    } else {
        None
    };
    Ok(answer(
        state,
        &request,
        &predictions,
        Extra {
            method: extras.explain,
            explanations,
            levers,
        },
    ))
}

/// Each customer's explanation and margin, by the asked method; `None` when not asked.
/// Refused when the backend has no model to explain with, or its model cannot explain.
fn explain_all(
    backend: &Backend,
    customers: &[Customer],
    extras: Extras,
) -> Result<Option<Vec<(Explanation, f64)>>, ApiError> {
    if !extras.any() {
        return Ok(None);
    }
    let model = backend
        .explainer
        .as_deref()
        .ok_or(ApiError::ExplanationsUnavailable(Unexplained::NoLocalModel))?;
    let Some(method) = extras.explain else {
        return Ok(None);
    };
    // One scratch buffer for the request (only trees too large for tables touch it).
    let mut scratch = ShapScratch::new();
    customers
        .iter()
        .map(|customer| {
            let explanation = match method {
                Method::Exact => model.explanation_with(customer, &mut scratch),
                Method::Approximate => model.approx_explanation(customer),
            };
            explanation
                .map(|e| (e, f64::from(model.margin(customer))))
                .ok_or(ApiError::ExplanationsUnavailable(
                    Unexplained::ModelCannotExplain,
                ))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// What a request asked for besides the predictions, made.
#[derive(Debug, Default)]
pub struct Extra {
    pub method: Option<Method>,
    /// One explanation and margin per customer, with `?explain`.
    pub explanations: Option<Vec<(Explanation, f64)>>,
    /// One list per customer, with `?whatif`.
    pub levers: Option<Vec<Vec<Lever>>>,
}

fn explained(extra: &Extra, i: usize, customer: &Customer) -> Explained {
    let explanation = extra.explanations.as_ref().map(|all| &all[i]);
    Explained {
        baseline: explanation.map(|(e, _)| e.baseline),
        margin: explanation.map(|(_, margin)| *margin),
        reasons: explanation.map(|(e, _)| {
            e.effects
                .iter()
                .map(|effect| ReasonOut {
                    field: effect.field.name,
                    effect: effect.effect,
                    text: effect.describe(customer),
                })
                .collect()
        }),
        levers: extra.levers.as_ref().map(|all| {
            all[i]
                .iter()
                .map(|lever| LeverOut {
                    field: lever.field.name,
                    from: lever.from,
                    to: lever.to,
                    probability: lever.probability,
                    text: lever.text(),
                })
                .collect()
        }),
    }
}

/// Shapes predictions as the request asked: one answer, or a batch in input order.
pub fn answer(
    state: &AppState,
    request: &PredictRequest,
    predictions: &[Prediction],
    extra: Extra,
) -> Response {
    let info = state.backend.info();
    let method = extra.method.map(MethodOut::from);
    let body = match (request, predictions) {
        (PredictRequest::One(customer), [p]) => to_json(
            &Answer {
                result: p.label,
                probability: p.probability,
                threshold: info.threshold,
                model: &info.model_id,
                method,
                explained: explained(&extra, 0, customer),
            },
            1,
        ),
        _ => to_json(
            &BatchAnswer {
                predictions: predictions
                    .iter()
                    .zip(request.customers())
                    .enumerate()
                    .map(|(i, (p, customer))| Row {
                        result: p.label,
                        probability: p.probability,
                        explained: explained(&extra, i, customer),
                    })
                    .collect(),
                threshold: info.threshold,
                model: &info.model_id,
                method,
            },
            predictions.len(),
        ),
    };
    json_response(body.expect("answers always serialise"))
}

/// `serde_json::to_vec` into a buffer sized for the answer (a 1,000-row answer would otherwise
/// grow, and be copied, about ten times).
fn to_json(answer: &impl Serialize, rows: usize) -> serde_json::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(128 + 64 * rows);
    serde_json::to_writer(&mut bytes, answer)?;
    Ok(bytes)
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

/// `GET /model` for scripts: what the model expects and how it was judged (the model card,
/// when there is one: `null` otherwise).
pub fn model_json(state: &AppState) -> Response {
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
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_asks_for_explanations_by_method_and_for_levers() {
        let extras = |q: &str| Extras::from_query(Some(q));
        assert_eq!(extras("").unwrap(), Extras::default());
        assert_eq!(Extras::from_query(None).unwrap(), Extras::default());
        for q in [
            "explain=true",
            "explain=1",
            "explain=exact",
            "a=b&explain=true",
        ] {
            assert_eq!(extras(q).unwrap().explain, Some(Method::Exact), "{q}");
        }
        assert_eq!(
            extras("explain=approx&whatif=1").unwrap(),
            Extras {
                explain: Some(Method::Approximate),
                whatif: true
            }
        );
        assert!(!extras("explain=false&whatif=0").unwrap().any());
        for q in [
            "explain=",
            "explain=TRUE",
            "whatif=yes",
            "whatif=1&whatif=1",
        ] {
            let refused = extras(q).unwrap_err();
            assert_eq!(refused.kind(), "bad_parameter", "{q}");
            assert!(refused.to_string().contains("expected"), "{refused}");
        }
    }

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
