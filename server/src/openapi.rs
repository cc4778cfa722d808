//! `GET /openapi.json`: the API as an OpenAPI 3.1 document, generated from the code.
//!
//! - Answer and error shapes are the handlers' own types (`#[derive(ToSchema)]`), so a changed
//!   answer changes the document.
//! - The customer's fields are written from the field table (`model::fields::FIELDS`), the
//!   same table validation reads: names, bounds, choices and the 12-number order cannot drift.
//! - The API key is a security scheme; routes that need one say so.
//!
//! A test validates the document with `openapi-spec-validator` and real answers against its
//! schemas (`server/tests/api/openapi.rs`).

use std::sync::OnceLock;

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use model::fields::{FIELDS, Field, Rule};
use model::{FEATURE_COUNT, FEATURE_NAMES, customer::field_of_feature};
use serde_json::json;
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ArrayItems, ObjectBuilder, OneOfBuilder, Schema, Type,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem, Paths,
    RefOr, Required, ResponseBuilder,
};
use utoipa::{PartialSchema, ToSchema};

use crate::api::{Answer, BatchAnswer, Health};
use crate::error::ErrorBody;
use crate::middleware::auth::API_KEY_HEADER;

/// The name of the API-key security scheme.
const API_KEY_SCHEME: &str = "api_key";

/// `GET /openapi.json`. Built once; it depends on nothing that changes while serving.
pub async fn document() -> Response {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let json = DOCUMENT.get_or_init(|| {
        openapi()
            .to_json()
            .expect("the OpenAPI document serialises")
    });
    ([(CONTENT_TYPE, "application/json")], json.clone()).into_response()
}

/// The whole document.
pub fn openapi() -> OpenApi {
    let components = ComponentsBuilder::new()
        .schema("Customer", named_customer())
        .schema("CustomerVector", customer_vector())
        .schema("PredictRequest", predict_request())
        .schema(Answer::name(), Answer::schema())
        .schema(BatchAnswer::name(), BatchAnswer::schema())
        .schema(ErrorBody::name(), ErrorBody::schema())
        .schema(Health::name(), Health::schema())
        .schemas_from_iter(schemas_of::<Answer>())
        .schemas_from_iter(schemas_of::<BatchAnswer>())
        .schemas_from_iter(schemas_of::<ErrorBody>())
        .security_scheme(
            API_KEY_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                API_KEY_HEADER,
                "Needed on prediction routes when the server has API keys configured \
                 (API_KEYS / API_KEYS_FILE). 401 without it, 403 with a wrong one.",
            ))),
        )
        .build();
    let mut paths = Paths::new();
    paths.add_path_operation(
        "/predict",
        vec![HttpMethod::Post],
        predict_operation("predict"),
    );
    // The original contract's root: the same operation (JSON bodies only; forms go to /form).
    paths.add_path_operation(
        "/",
        vec![HttpMethod::Post],
        predict_operation("predict_at_root"),
    );
    paths.add_path_operation("/score", vec![HttpMethod::Post], score_operation());
    paths.add_path_operation("/", vec![HttpMethod::Get], page_operation());
    paths.add_path_operation("/healthz", vec![HttpMethod::Get], healthz_operation());
    paths.add_path_operation("/model", vec![HttpMethod::Get], model_operation());
    paths.add_path_operation("/metrics", vec![HttpMethod::Get], metrics_operation());
    paths.add_path_operation("/openapi.json", vec![HttpMethod::Get], openapi_operation());
    paths.add_path_operation("/ping", vec![HttpMethod::Get], ping_operation());
    paths.add_path_operation(
        "/invocations",
        vec![HttpMethod::Post],
        invocations_operation(false),
    );
    paths.paths.insert(
        "/endpoints/{name}/invocations".to_owned(),
        PathItem::new(HttpMethod::Post, invocations_operation(true)),
    );
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Churn Predict")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Predicts whether a bank customer will leave: \"Will Exit\" / \"Will Not \
                     Exit\", the probability, and the reasons. Every refusal is an `Error` \
                     naming what was wrong; quote its `request_id` to support.",
                ))
                .build(),
        )
        .paths(paths)
        .components(Some(components))
        .build()
}

/// The schemas a type refers to, for the components section.
fn schemas_of<T: ToSchema>() -> Vec<(String, RefOr<Schema>)> {
    let mut schemas = Vec::new();
    T::schemas(&mut schemas);
    schemas
}

fn reference(name: &str) -> RefOr<Schema> {
    RefOr::Ref(utoipa::openapi::Ref::from_schema_name(name))
}

/// A field's value in the named form, from its rule.
fn named_field(field: &Field) -> Schema {
    let described = |b: ObjectBuilder| {
        b.description(Some(format!("{} ({})", field.label, field.rule.allowed())))
    };
    match field.rule {
        Rule::Whole { min, max } => described(ObjectBuilder::new().schema_type(Type::Integer))
            .minimum(Some(min as f64))
            .maximum(Some(max as f64))
            .examples([json!(field.example.parse::<f64>().unwrap_or_default())])
            .into(),
        Rule::Amount { min, max } => described(ObjectBuilder::new().schema_type(Type::Number))
            .minimum(Some(min))
            .maximum(Some(max))
            .examples([json!(field.example.parse::<f64>().unwrap_or_default())])
            .into(),
        Rule::Flag => OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .enum_values(Some([0, 1])),
            )
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .description(Some(format!("{} ({})", field.label, field.rule.allowed())))
            .into(),
        Rule::OneOf(names) => described(ObjectBuilder::new().schema_type(Type::String))
            .enum_values(Some(names.iter().copied()))
            .into(),
    }
}

/// `{"credit_score": 670, "geography": "France", …}`: every field of the table, nothing else.
fn named_customer() -> Schema {
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "A customer by field name (names match case-sensitively; \
            choices case-insensitively).",
        ))
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    for field in &FIELDS {
        object = object
            .property(field.name, named_field(field))
            .required(field.name);
    }
    let example: serde_json::Map<String, serde_json::Value> = FIELDS
        .iter()
        .map(|f| {
            let value = f
                .example
                .parse::<f64>()
                .map_or_else(|_| json!(f.example), |n| json!(n));
            (f.name.to_owned(), value)
        })
        .collect();
    object.examples([serde_json::Value::Object(example)]).into()
}

/// The original contract's 12 numbers, in the model's order.
fn customer_vector() -> Schema {
    let columns = (0..FEATURE_COUNT).map(|i| {
        let field = field_of_feature(i);
        let number = match field.rule {
            Rule::Whole { min, max } => ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(min as f64))
                .maximum(Some(max as f64)),
            Rule::Amount { min, max } => ObjectBuilder::new()
                .schema_type(Type::Number)
                .minimum(Some(min))
                .maximum(Some(max)),
            // Flags, gender (0 Female, 1 Male) and the one-hot geography columns.
            Rule::Flag | Rule::OneOf(_) => ObjectBuilder::new()
                .schema_type(Type::Integer)
                .enum_values(Some([0, 1])),
        };
        Schema::from(number.title(Some(FEATURE_NAMES[i])))
    });
    ArrayBuilder::new()
        .description(Some(format!(
            "Exactly {FEATURE_COUNT} numbers: {}. Exactly one geography column is 1.",
            FEATURE_NAMES.join(", ")
        )))
        .prefix_items(columns)
        .items(ArrayItems::False)
        .min_items(Some(FEATURE_COUNT))
        .max_items(Some(FEATURE_COUNT))
        .examples([json!(model::SAMPLE_VECTOR)])
        .into()
}

/// The four request shapes, each an object with exactly one key.
fn predict_request() -> Schema {
    let shape = |key: &str, value: RefOr<Schema>, description: &str| {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .title(Some(key))
            .description(Some(description))
            .property(key, value)
            .required(key)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
    };
    let batch = |item: &str| {
        ArrayBuilder::new()
            .items(reference(item))
            .min_items(Some(1))
            .description(Some(
                "1 to MAX_BATCH (default 1,000) customers, answered in order",
            ))
    };
    OneOfBuilder::new()
        .item(shape(
            "data",
            reference("CustomerVector"),
            "One customer, the original contract",
        ))
        .item(shape(
            "customer",
            reference("Customer"),
            "One customer by field name",
        ))
        .item(shape(
            "instances",
            batch("CustomerVector").into(),
            "A batch of vectors",
        ))
        .item(shape(
            "customers",
            batch("Customer").into(),
            "A batch of named customers",
        ))
        .into()
}

fn json_response(description: &str, schema: RefOr<Schema>) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(schema)).build(),
        )
        .build()
}

fn error(description: &str) -> utoipa::openapi::Response {
    json_response(description, reference(ErrorBody::name().as_ref()))
}

fn text(description: &str, media_type: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            media_type,
            ContentBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build(),
        )
        .build()
}

/// Open when the server has no keys; a key when it has.
fn key_when_configured(operation: OperationBuilder) -> OperationBuilder {
    operation
        .security(SecurityRequirement::default())
        .security(SecurityRequirement::new::<_, [&str; 0], &str>(
            API_KEY_SCHEME,
            [],
        ))
}

fn refusals(operation: OperationBuilder) -> OperationBuilder {
    operation
        .response("400", error("Malformed JSON or not one of the request shapes"))
        .response("401", error("No x-api-key header (keys configured)"))
        .response("403", error("A key that matches none"))
        .response("413", error("Body over MAX_BODY_BYTES"))
        .response("415", error("Content-Type is not application/json"))
        .response("422", error("A field out of its domain, a wrong count, a bad batch size; each problem listed in `fields`"))
        .response("429", error("The key's rate is spent; see Retry-After"))
        .response("502", error("The model backend failed"))
        .response("503", error("Overloaded, or the model backend is busy or unavailable"))
        .response("504", error("The model backend did not answer in time"))
}

fn predict_operation(id: &str) -> Operation {
    let answers = OneOfBuilder::new()
        .item(reference(Answer::name().as_ref()))
        .item(reference(BatchAnswer::name().as_ref()));
    let explain = ParameterBuilder::new()
        .name("explain")
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(
            "Add why: `reasons` (all ten fields' effects in log-odds, largest |effect| first), \
             `baseline`, `margin` (`baseline + Σ effect = margin`, `probability = \
             sigmoid(margin)`) and `method`. `true`, `1` or `exact`: exact SHAP values (XGBoost's \
             `pred_contribs`); `approx`: XGBoost's approximate (Saabas) contributions. With a \
             SageMaker endpoint it needs ENDPOINT_MODEL_PATH (else 400 \
             `explanations_unavailable`). An explained request costs the API key one token \
             per customer.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["true", "1", "exact", "approx", "false", "0"])),
        ))
        .build();
    let whatif = ParameterBuilder::new()
        .name("whatif")
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(
            "`true` or `1`: add `levers`, the changes the bank can act on (active membership, \
             credit card, number of products) that would lower the probability, lowest \
             resulting probability first; each `probability` is what this route answers for \
             the changed customer. Combines with `explain`; same conditions and cost.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["true", "1", "false", "0"])),
        ))
        .build();
    let operation = OperationBuilder::new()
        .operation_id(Some(id))
        .summary(Some("Predict whether customers will leave"))
        .parameter(explain)
        .parameter(whatif)
        .request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(reference("PredictRequest")))
                        .example(Some(json!({ "data": model::SAMPLE_VECTOR })))
                        .build(),
                )
                .build(),
        ))
        .response(
            "200",
            json_response(
                "One answer, or a batch's answers in input order",
                answers.into(),
            ),
        );
    refusals(key_when_configured(operation))
        .response(
            "400",
            error(
                "Malformed JSON, not one of the request shapes, a query parameter with a value \
                 it does not take (`bad_parameter`), or `explain`/`whatif` on a server that \
                 cannot explain (`explanations_unavailable`: the error says how to enable them)",
            ),
        )
        .build()
}

/// `POST /score`: a CSV file in, the same file scored out (the `batch` crate's core).
fn score_operation() -> Operation {
    let csv = |description: &str| {
        ContentBuilder::new()
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some(description)),
            ))
            .build()
    };
    let query = |name: &str, description: &str| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some(description))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .build()
    };
    let operation = OperationBuilder::new()
        .operation_id(Some("score"))
        .summary(Some("Score a whole CSV file of customers"))
        .parameter(query(
            "skip_invalid",
            "`true`: answer the valid rows even when some are refused",
        ))
        .parameter(query(
            "threshold",
            "Decision threshold for this file, in (0, 1)",
        ))
        .parameter(query(
            "explain",
            "`true`: add `reason_1`, `reason_2`, `reason_3`, each row's three fields with the \
             largest |exact SHAP value| (the API's field names, ranked as `/predict?explain=true` \
             ranks its `reasons`). As `--explain`. With a SageMaker endpoint it needs \
             ENDPOINT_MODEL_PATH (else 400 `explanations_unavailable`).",
        ))
        .parameter(query(
            "levers",
            "`true`: add the best retention lever, `lever_field`, `lever_to` and \
             `lever_probability` (the first of `/predict?whatif=true`'s `levers`; its \
             probability is what `/predict` answers for the changed customer), three empty \
             cells when no change lowers the risk. As `--levers`. Needs a model to explain \
             with, as `explain`.",
        ))
        .request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content(
                    "text/csv",
                    csv(
                        "A header row (the public Churn_Modelling names or our field names, any \
                         case; `,` or `;`), then one customer a row; other columns pass through. \
                         At most MAX_SCORE_BYTES.",
                    ),
                )
                .build(),
        ))
        .response(
            "200",
            ResponseBuilder::new()
                .description(
                    "The input's columns, then `probability` and `result` (then the reasons and \
                     the lever, when asked), in input order",
                )
                .content("text/csv", csv("The scored file"))
                .build(),
        );
    refusals(key_when_configured(operation))
        .response(
            "400",
            error(
                "A file without a header or the needed columns (`bad_csv`), a query parameter \
                 /score does not take or a value it cannot use (`bad_query`), or `explain`/`levers` \
                 on a server that cannot explain (`explanations_unavailable`)",
            ),
        )
        .build()
}

fn page_operation() -> Operation {
    OperationBuilder::new()
        .operation_id(Some("form_page"))
        .summary(Some("The web form (HTML, no JavaScript needed)"))
        .response("200", text("The form page", "text/html"))
        .build()
}

fn healthz_operation() -> Operation {
    OperationBuilder::new()
        .operation_id(Some("healthz"))
        .summary(Some("Ready to serve, with the model and backend"))
        .response(
            "200",
            json_response("Ready", reference(Health::name().as_ref())),
        )
        .build()
}

fn model_operation() -> Operation {
    let card = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "model id, backend, threshold, feature order, field rules, limits and the model card",
        ))
        .property("model", ObjectBuilder::new().schema_type(Type::String))
        .required("model")
        .property("threshold", ObjectBuilder::new().schema_type(Type::Number))
        .required("threshold");
    let answer = ResponseBuilder::new()
        .description(
            "The model's description: JSON, unless `Accept` prefers `text/html` (a browser), \
             which gets the model page (calibration and importance charts, threshold table). \
             `Vary: Accept`.",
        )
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(card)).build(),
        )
        .content(
            "text/html",
            ContentBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build(),
        )
        .build();
    OperationBuilder::new()
        .operation_id(Some("model"))
        .summary(Some("What the model expects and how it was judged"))
        .response("200", answer)
        .build()
}

fn metrics_operation() -> Operation {
    OperationBuilder::new()
        .operation_id(Some("metrics"))
        .summary(Some(
            "Prometheus metrics (not on Lambda, not with METRICS_ENABLED=false)",
        ))
        .response("200", text("Prometheus text format", "text/plain"))
        .response("404", error("Metrics are off"))
        .build()
}

fn openapi_operation() -> Operation {
    OperationBuilder::new()
        .operation_id(Some("openapi"))
        .summary(Some("This document"))
        .response(
            "200",
            json_response(
                "OpenAPI 3.1",
                ObjectBuilder::new().schema_type(Type::Object).into(),
            ),
        )
        .build()
}

fn ping_operation() -> Operation {
    OperationBuilder::new()
        .operation_id(Some("ping"))
        .summary(Some("SageMaker's health check: 200 with an empty body"))
        .response("200", ResponseBuilder::new().description("Healthy").build())
        .build()
}

/// `/invocations` (the container contract) and `/endpoints/{name}/invocations` (SageMaker
/// Runtime's InvokeEndpoint).
fn invocations_operation(runtime: bool) -> Operation {
    let scores = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "predictions",
            ArrayBuilder::new().items(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property("score", ObjectBuilder::new().schema_type(Type::Number))
                    .required("score"),
            ),
        )
        .required("predictions");
    let body = RequestBodyBuilder::new()
        .required(Some(Required::True))
        .content(
            "text/csv",
            ContentBuilder::new()
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .description(Some(
                            "Rows of the 12 features (or a label and the 12), comma-separated, no \
                     header; an empty field is a missing value. Not validated, as SageMaker's \
                     XGBoost container does not.",
                        )),
                ))
                .example(Some(json!("670,1,38,7,0.0,2,1,1,77864.41,1,0,0\n")))
                .build(),
        )
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(reference("PredictRequest")))
                .build(),
        )
        .build();
    let mut operation = OperationBuilder::new()
        .request_body(Some(body))
        .response(
            "200",
            ResponseBuilder::new()
                .description("One probability per row, as the XGBoost container writes them (Accept: text/csv or application/json)")
                .content(
                    "text/csv",
                    ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                        .build(),
                )
                .content("application/json", ContentBuilder::new().schema(Some(scores)).build())
                .build(),
        )
        .response("406", text("An Accept type other than CSV or JSON", "text/plain"))
        .response("415", text("Another Content-Type, or CSV that cannot be read", "text/plain"));
    if runtime {
        let name = ParameterBuilder::new()
            .name("name")
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .description(Some("Any endpoint name (this server is the endpoint)"))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .build();
        operation = operation
            .operation_id(Some("invoke_endpoint"))
            .summary(Some(
                "SageMaker Runtime InvokeEndpoint, for boto3 clients pointed here",
            ))
            .parameter(name)
            .response(
                "424",
                json_response(
                    "ModelError: the container refused the payload",
                    ObjectBuilder::new().schema_type(Type::Object).into(),
                ),
            );
    } else {
        operation = operation
            .operation_id(Some("invocations"))
            .summary(Some("The SageMaker inference container contract"))
            .response(
                "204",
                ResponseBuilder::new().description("An empty body").build(),
            );
    }
    refusals(key_when_configured(operation)).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_the_field_tables_rules() {
        let doc: serde_json::Value = serde_json::from_str(&openapi().to_json().unwrap()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
        let customer = &doc["components"]["schemas"]["Customer"];
        assert_eq!(customer["properties"]["age"]["minimum"], 18.0);
        assert_eq!(customer["properties"]["age"]["maximum"], 120.0);
        assert_eq!(
            customer["properties"]["geography"]["enum"],
            json!(["France", "Germany", "Spain"])
        );
        assert_eq!(customer["required"].as_array().unwrap().len(), FIELDS.len());
        let vector = &doc["components"]["schemas"]["CustomerVector"];
        assert_eq!(vector["prefixItems"][2]["title"], "Age");
        assert_eq!(vector["minItems"], FEATURE_COUNT);
        assert!(doc["paths"]["/predict"]["post"]["security"].is_array());
    }

    /// The explained answer's fields are documented from the answer types themselves.
    #[test]
    fn answers_carry_reasons_levers_baseline_margin_and_method() {
        let doc: serde_json::Value = serde_json::from_str(&openapi().to_json().unwrap()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let properties = |name: &str| -> Vec<String> {
            schemas[name]["allOf"]
                .as_array()
                .unwrap_or_else(|| panic!("{name}: {}", schemas[name]))
                .iter()
                .flat_map(|part| part["properties"].as_object().unwrap().keys().cloned())
                .collect()
        };
        for name in ["Answer", "Row"] {
            let props = properties(name);
            for key in [
                "baseline",
                "margin",
                "reasons",
                "levers",
                "result",
                "probability",
            ] {
                assert!(
                    props.iter().any(|p| p == key),
                    "{name} lacks {key}: {props:?}"
                );
            }
        }
        assert!(properties("Answer").contains(&"method".to_owned()));
        assert!(schemas["BatchAnswer"]["properties"]["method"].is_object());
        assert_eq!(schemas["Method"]["enum"], json!(["exact", "approx"]));
        for key in ["field", "from", "to", "probability", "text"] {
            assert!(
                schemas["Lever"]["properties"][key].is_object(),
                "Lever.{key}"
            );
        }
        for key in ["field", "effect", "text"] {
            assert!(
                schemas["Reason"]["properties"][key].is_object(),
                "Reason.{key}"
            );
        }
        let parameters = doc["paths"]["/predict"]["post"]["parameters"]
            .as_array()
            .unwrap();
        let values = |name: &str| {
            parameters.iter().find(|p| p["name"] == name).unwrap()["schema"]["enum"].clone()
        };
        assert_eq!(
            values("explain"),
            json!(["true", "1", "exact", "approx", "false", "0"])
        );
        assert_eq!(values("whatif"), json!(["true", "1", "false", "0"]));
        let bad_request = doc["paths"]["/predict"]["post"]["responses"]["400"]["description"]
            .as_str()
            .unwrap();
        assert!(
            bad_request.contains("explanations_unavailable"),
            "{bad_request}"
        );
    }
}
