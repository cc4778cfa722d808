//! `?explain` and `?whatif` over real HTTP: the answer shapes, the identity the numbers obey,
//! levers checked by predicting the changed customer again, the refusal when the server has no
//! model to explain with, and what an explained request costs an API key.

use std::collections::BTreeSet;
use std::sync::Arc;

use model::fields::{At, FIELDS, Input};
use model::scoring::FnScorer;
use model::{Backend, Customer, FEATURE_COUNT, Model};
use serde_json::{Value, json};
use server::testing::TestServer;

use crate::helpers::{
    TestApp, sample_data_body, sample_named, sample_row, spawn_app, spawn_app_with,
};

/// Older, inactive, German, three products: the data's classic leaver.
pub(crate) const LEAVER: &str =
    r#"{"data": [500, 0, 62, 2, 120000.0, 3, 1, 0, 100000.0, 0, 1, 0]}"#;

const ACTIONABLE: [&str; 3] = ["is_active_member", "has_cr_card", "num_of_products"];

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

fn set(names: &[&'static str]) -> BTreeSet<&'static str> {
    names.iter().copied().collect()
}

/// Ten reasons, one per field, strongest first, each with its text.
fn check_reasons(reasons: &Value) {
    let reasons = reasons.as_array().expect("reasons");
    assert_eq!(reasons.len(), FIELDS.len(), "{reasons:?}");
    let fields: BTreeSet<&str> = reasons
        .iter()
        .map(|r| r["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, FIELDS.iter().map(|f| f.name).collect());
    let effects: Vec<f64> = reasons
        .iter()
        .map(|r| r["effect"].as_f64().unwrap())
        .collect();
    assert!(
        effects.windows(2).all(|w| w[0].abs() >= w[1].abs()),
        "largest |effect| first: {effects:?}"
    );
    for reason in reasons {
        let effect = reason["effect"].as_f64().unwrap();
        let text = reason["text"].as_str().unwrap();
        let words = if effect.abs() < model::explain::NO_EFFECT_BELOW {
            "has no effect on the risk"
        } else if effect > 0.0 {
            "raises the risk"
        } else {
            "lowers the risk"
        };
        assert!(text.ends_with(words), "{reason}");
    }
}

fn sum_of(answer: &Value) -> f64 {
    answer["baseline"].as_f64().unwrap()
        + answer["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["effect"].as_f64().unwrap())
            .sum::<f64>()
}

#[tokio::test]
async fn each_option_adds_exactly_its_fields_to_single_and_batch_answers() {
    let app = spawn_app().await;
    let plain = set(&["result", "probability", "threshold", "model"]);
    let cases: [(&str, &[&'static str], Option<&str>); 6] = [
        ("", &[], None),
        (
            "?explain=true",
            &["method", "baseline", "margin", "reasons"],
            Some("exact"),
        ),
        (
            "?explain=1",
            &["method", "baseline", "margin", "reasons"],
            Some("exact"),
        ),
        (
            "?explain=approx",
            &["method", "baseline", "margin", "reasons"],
            Some("approx"),
        ),
        ("?whatif=true", &["levers"], None),
        (
            "?explain=true&whatif=true",
            &["method", "baseline", "margin", "reasons", "levers"],
            Some("exact"),
        ),
    ];
    let (_, reference) = app.post_json("/predict", LEAVER).await;
    for (query, added, method) in cases {
        let (status, one) = app.post_json(&format!("/predict{query}"), LEAVER).await;
        assert_eq!(status, 200, "{query}: {one}");
        let expected: BTreeSet<&str> = plain.iter().chain(added).copied().collect();
        assert_eq!(keys(&one), expected, "{query}: {one}");
        assert_eq!(one["probability"], reference["probability"], "{query}");
        assert_eq!(one["method"].as_str(), method, "{query}");
        if one.get("reasons").is_some() {
            check_reasons(&one["reasons"]);
        }

        let batch = json!({"instances": [sample_row(), serde_json::from_str::<Value>(LEAVER).unwrap()["data"]]});
        let (status, many) = app
            .post_json(&format!("/predict{query}"), &batch.to_string())
            .await;
        assert_eq!(status, 200, "{query}: {many}");
        let mut top = set(&["predictions", "threshold", "model"]);
        if method.is_some() {
            top.insert("method");
        }
        assert_eq!(keys(&many), top, "{query}: {many}");
        assert_eq!(many["method"].as_str(), method, "{query}");
        let row_keys: BTreeSet<&str> = set(&["result", "probability"])
            .into_iter()
            .chain(added.iter().copied().filter(|k| *k != "method"))
            .collect();
        for row in many["predictions"].as_array().unwrap() {
            assert_eq!(keys(row), row_keys, "{query}: {row}");
        }
        // A batch row says what the single answer says.
        let row = &many["predictions"][1];
        for key in row.as_object().unwrap().keys() {
            assert_eq!(row[key], one[key], "{query}: {key}");
        }
    }
}

#[tokio::test]
async fn exact_is_the_default_and_approx_is_a_different_method_that_also_adds_up() {
    let app = spawn_app().await;
    let (_, exact) = app.post_json("/predict?explain=true", LEAVER).await;
    let (_, approx) = app.post_json("/predict?explain=approx", LEAVER).await;
    assert_eq!(exact["method"], "exact");
    assert_eq!(approx["method"], "approx");
    assert_eq!(exact["baseline"], approx["baseline"], "the same bias");
    assert_eq!(exact["margin"], approx["margin"], "the same margin");
    assert_ne!(exact["reasons"], approx["reasons"], "different effects");
    for answer in [&exact, &approx] {
        let margin = answer["margin"].as_f64().unwrap();
        assert!((sum_of(answer) - margin).abs() < 1e-5, "{answer}");
    }
    // The exact values are XGBoost's pred_contribs, as the model computes them.
    let model = Model::bundled().unwrap();
    let customer = customer_of(&serde_json::from_str::<Value>(LEAVER).unwrap()["data"]);
    let expected = model.explanation(&customer).unwrap();
    assert_eq!(exact["baseline"].as_f64().unwrap(), expected.baseline);
    for (reason, effect) in exact["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&expected.effects)
    {
        assert_eq!(reason["field"], effect.field.name);
        assert_eq!(reason["effect"].as_f64().unwrap(), effect.effect);
    }
}

fn customer_of(vector: &Value) -> Customer {
    let values: Vec<Input> = vector
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Input::Number(v.as_f64().unwrap()))
        .collect();
    Customer::from_vector(&values, At::named("data")).unwrap()
}

/// The parity fixture's rows that are valid customers (no missing values, every value in its
/// domain): about 2,000 customers spread over the model's range, probabilities up to 0.994.
fn fixture_customers() -> Vec<Value> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests/fixtures/parity.csv");
    let text = std::fs::read_to_string(&path).expect("the committed parity fixture");
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let cells: Vec<&str> = line.split(',').take(FEATURE_COUNT).collect();
            let numbers: Option<Vec<f64>> = cells.iter().map(|c| c.parse().ok()).collect();
            let numbers = numbers?;
            let inputs: Vec<Input> = numbers.iter().map(|&n| Input::Number(n)).collect();
            Customer::from_vector(&inputs, At::named("data")).ok()?;
            Some(json!(numbers))
        })
        .collect()
}

/// `baseline + Σ effect = margin` within 1e-5 for every customer; `probability =
/// sigmoid(margin)` in `f32`, bit for bit; and so `baseline + Σ effect = logit(probability)`
/// within 1e-5 wherever the margin is at most 4.42 (p ≤ 0.988; model/tests/identity.rs sweeps
/// every f32 margin), and within 1e-5 + 5.6e-5 above.
#[tokio::test]
async fn the_effects_add_up_to_the_margin_and_the_margin_gives_the_probability() {
    let app = spawn_app().await;
    let customers = fixture_customers();
    assert!(
        customers.len() >= 1500,
        "{} valid customers",
        customers.len()
    );
    let (mut to_margin, mut to_logit, mut high) = (0.0f64, 0.0f64, 0);
    for chunk in customers.chunks(1000) {
        let (status, answer) = app
            .post_json(
                "/predict?explain=true",
                &json!({ "instances": chunk }).to_string(),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        for row in answer["predictions"].as_array().unwrap() {
            let p = row["probability"].as_f64().unwrap();
            let margin = row["margin"].as_f64().unwrap();
            let sum = sum_of(row);
            assert_eq!(
                p,
                f64::from(model::xgboost::sigmoid(margin as f32)),
                "probability = sigmoid(margin): {row}"
            );
            to_margin = to_margin.max((sum - margin).abs());
            let logit = (p / (1.0 - p)).ln();
            if margin <= 4.42 {
                to_logit = to_logit.max((sum - logit).abs());
            } else {
                high += 1;
                assert!((sum - logit).abs() < 1e-5 + 5.6e-5, "{row}");
            }
        }
    }
    println!(
        "{} customers: |Σ − margin| ≤ {to_margin:.2e}; |Σ − logit(p)| ≤ {to_logit:.2e} for \
         margins ≤ 4.42; {high} customers above",
        customers.len()
    );
    assert!(to_margin <= 1e-5, "{to_margin}");
    assert!(to_logit <= 1e-5, "{to_logit}");
    assert!(
        high > 0,
        "the fixture reaches where only the margin identity holds"
    );
}

/// Every lever, predicted again over HTTP with its change made, gets exactly its probability.
#[tokio::test]
async fn levers_are_what_predict_answers_for_the_changed_customer() {
    let app = spawn_app().await;
    let mut customers: Vec<Value> = fixture_customers().into_iter().step_by(40).collect();
    customers.push(serde_json::from_str::<Value>(LEAVER).unwrap()["data"].clone());
    customers.push(sample_row());
    let (status, answer) = app
        .post_json(
            "/predict?whatif=true&explain=true",
            &json!({ "instances": customers }).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let mut checked = 0;
    for (vector, row) in customers
        .iter()
        .zip(answer["predictions"].as_array().unwrap())
    {
        let before = row["probability"].as_f64().unwrap();
        let levers = row["levers"].as_array().unwrap();
        let probabilities: Vec<f64> = levers
            .iter()
            .map(|l| l["probability"].as_f64().unwrap())
            .collect();
        assert!(
            probabilities.windows(2).all(|w| w[0] <= w[1]),
            "lowest first: {levers:?}"
        );
        for lever in levers {
            let field = lever["field"].as_str().unwrap();
            assert!(ACTIONABLE.contains(&field), "{lever}");
            let (from, to) = (
                lever["from"].as_u64().unwrap(),
                lever["to"].as_u64().unwrap(),
            );
            assert_ne!(from, to);
            let mut named = named_of(vector);
            assert_eq!(named[field], json!(from), "{lever} for {named}");
            named[field] = json!(to);
            let (status, again) = app
                .post_json("/predict", &json!({ "customer": named }).to_string())
                .await;
            assert_eq!(status, 200, "{again}");
            assert_eq!(
                again["probability"].as_f64().unwrap(),
                lever["probability"].as_f64().unwrap(),
                "{lever}"
            );
            assert!(
                lever["probability"].as_f64().unwrap() < before,
                "{lever} lowers {before}"
            );
            assert!(
                lever["text"]
                    .as_str()
                    .unwrap()
                    .contains("would lower the risk"),
                "{lever}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked} levers checked");
}

/// The named form of a 12-number vector.
fn named_of(vector: &Value) -> Value {
    let customer = customer_of(vector);
    let mut named = serde_json::Map::new();
    for field in &FIELDS {
        let text = customer.value_of(field.name).unwrap();
        let value = text
            .parse::<f64>()
            .map_or_else(|_| json!(text), |n| json!(n));
        named.insert(field.name.to_owned(), value);
    }
    // Counts and flags as integers (`from`/`to` are integers).
    for name in ACTIONABLE {
        let n = named[name].as_f64().unwrap();
        named.insert(name.to_owned(), json!(n as u64));
    }
    Value::Object(named)
}

/// A SageMaker endpoint without ENDPOINT_MODEL_PATH: predictions, but no explanations from
/// any other model; the refusal says how to enable them.
#[tokio::test]
async fn without_a_model_to_explain_with_explain_and_whatif_are_refused_saying_how_to_enable_them()
{
    let remote = FnScorer::new("sagemaker:churn", 0.5, |rows| Ok(vec![0.42; rows.len()]));
    let server = TestServer::start_with_backend(Backend {
        scorer: Arc::new(remote),
        explainer: None,
    })
    .await;
    let app = TestApp {
        address: server.address,
        client: reqwest::Client::new(),
    };
    let (status, plain) = app.post_json("/predict", &sample_data_body()).await;
    assert_eq!(status, 200, "{plain}");
    assert_eq!(plain["probability"], 0.42);
    let batch = json!({"customers": [sample_named(), sample_named()]}).to_string();
    for query in [
        "explain=true",
        "explain=approx",
        "whatif=true",
        "explain=1&whatif=1",
    ] {
        for body in [sample_data_body(), batch.clone()] {
            let (status, refused) = app.post_json(&format!("/predict?{query}"), &body).await;
            assert_eq!(status, 400, "{query}: {refused}");
            assert_eq!(refused["kind"], "explanations_unavailable", "{refused}");
            let text = refused["error"].as_str().unwrap();
            assert!(text.contains("set ENDPOINT_MODEL_PATH"), "{text}");
            assert!(refused["request_id"].is_string(), "{refused}");
        }
    }
    // Explicitly off is not a request for explanations.
    let (status, _) = app
        .post_json("/predict?explain=false&whatif=0", &sample_data_body())
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn unknown_values_of_explain_and_whatif_are_refused_naming_the_allowed_ones() {
    let app = spawn_app().await;
    for (query, name) in [
        ("explain=yes", "explain"),
        ("explain=true&explain=approx", "explain"),
        ("whatif=2", "whatif"),
        ("explain=true&whatif=maybe", "whatif"),
    ] {
        let (status, refused) = app
            .post_json(&format!("/predict?{query}"), &sample_data_body())
            .await;
        assert_eq!(status, 400, "{query}: {refused}");
        assert_eq!(refused["kind"], "bad_parameter");
        let text = refused["error"].as_str().unwrap();
        assert!(
            text.starts_with(&format!("query parameter {name}")),
            "{text}"
        );
        assert!(text.contains("expected"), "{text}");
    }
    // Other parameters (a cache buster, say) are not ours to refuse; encoded values decode.
    let (status, answer) = app
        .post_json("/predict?v=3&explain=%61pprox", &sample_data_body())
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["method"], "approx");
}

/// An explained request costs the key one token per customer; a plain one, one token.
#[tokio::test]
async fn an_explained_request_costs_one_token_per_customer() {
    const KEY: &str = "explain-charge-key-0123456789";
    let app = spawn_app_with(|s| {
        s.api_keys = Some(server::config::ApiKeyList(vec![KEY.to_owned()]));
        s.rate_limit_per_second = 1;
        s.rate_limit_burst = 5;
    })
    .await;
    let send = |query: &'static str, rows: usize| {
        let client = app.client.clone();
        let url = app.url(&format!("/predict{query}"));
        async move {
            let body = json!({ "instances": vec![sample_row(); rows] });
            let response = client
                .post(url)
                .header("x-api-key", KEY)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let retry = response.headers().get("retry-after").cloned();
            let body: Value = response.json().await.unwrap();
            (status, retry, body)
        }
    };
    // A bucket of 5 (refilling 1 a second): 3 explained customers cost 3 tokens ...
    let (status, _, body) = send("?explain=true", 3).await;
    assert_eq!(status, 200, "{body}");
    // ... so 2 are left: the next 3 are refused (and nothing is predicted) ...
    let (status, retry, body) = send("?whatif=true", 3).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["kind"], "throttled");
    assert!(retry.is_some(), "Retry-After");
    // ... while plain batches of any size cost one token each.
    let (status, _, body) = send("", 3).await;
    assert_eq!(status, 200, "{body}");
}

/// A batch larger than the bucket is charged a full bucket, not refused for ever.
#[tokio::test]
async fn an_explained_batch_larger_than_the_bucket_is_charged_the_whole_bucket() {
    const KEY: &str = "explain-charge-key-0123456789";
    let app = spawn_app_with(|s| {
        s.api_keys = Some(server::config::ApiKeyList(vec![KEY.to_owned()]));
        s.rate_limit_per_second = 1;
        s.rate_limit_burst = 5;
    })
    .await;
    let post = |query: &'static str| {
        app.client
            .post(app.url(&format!("/predict{query}")))
            .header("x-api-key", KEY)
            .json(&json!({ "instances": vec![sample_row(); 20] }))
            .send()
    };
    let first = post("?explain=true").await.unwrap();
    assert_eq!(first.status(), 200);
    let second = post("").await.unwrap();
    assert_eq!(second.status(), 429, "the bucket was emptied");
}
