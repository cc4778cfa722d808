//! Every class of bad input answers 4xx with `{"error": ...}` naming the field, the value and
//! what is allowed: never a 5xx, never a silently clamped value.

use crate::helpers::{sample_named, spawn_app, spawn_app_with};
use serde_json::{Value, json};

const GOOD: [f64; 12] = model::SAMPLE_VECTOR;

/// The sample vector with position `i` replaced by `value`.
fn vector_with(i: usize, value: Value) -> String {
    let mut row: Vec<Value> = GOOD.iter().map(|&v| json!(v)).collect();
    row[i] = value;
    json!({ "data": row }).to_string()
}

/// The sample named customer with `field` replaced (or removed, for `None`).
fn named_with(field: &str, value: Option<Value>) -> String {
    let mut customer = sample_named();
    match value {
        Some(v) => customer[field] = v,
        None => {
            customer.as_object_mut().unwrap().remove(field);
        }
    }
    json!({ "customer": customer }).to_string()
}

#[tokio::test]
async fn bad_json_bodies_are_refused_with_a_message_naming_the_problem() {
    let app = spawn_app().await;
    let one_hot = |g: [u8; 3]| {
        let mut row = GOOD.to_vec();
        row[9..].copy_from_slice(&g.map(f64::from));
        json!({ "data": row }).to_string()
    };
    #[rustfmt::skip]
    let cases: Vec<(&str, String, u16, &[&str])> = vec![
        ("too few numbers", r#"{"data": [670, 1, 38]}"#.into(), 422, &["data", "3 values", "exactly 12"]),
        ("too many numbers", json!({"data": vec![0; 13]}).to_string(), 422, &["13 values"]),
        ("a string", vector_with(0, json!("670")), 422, &["data[0] (CreditScore)", "\"670\""]),
        ("a boolean", vector_with(6, json!(true)), 422, &["data[6] (HasCrCard)", "true", "a number"]),
        ("null", vector_with(2, Value::Null), 422, &["data[2] (Age)", "null"]),
        ("a nested array", vector_with(4, json!([1])), 422, &["data[4] (Balance)", "an array or object"]),
        ("no geography", one_hot([0, 0, 0]), 422, &["Geography_France", "0 ones", "exactly one"]),
        ("two geographies", one_hot([1, 1, 0]), 422, &["2 ones", "exactly one"]),
        ("gender 2", vector_with(1, json!(2)), 422, &["data[1] (Gender)", "got 2", "0 (Female) or 1 (Male)"]),
        ("flag 2", vector_with(7, json!(2)), 422, &["data[7] (IsActiveMember)", "0 or 1"]),
        ("fractional age", vector_with(2, json!(38.5)), 422, &["data[2] (Age)", "38.5", "whole number from 18 to 120"]),
        ("fractional products", vector_with(5, json!(1.5)), 422, &["NumOfProducts", "whole number from 1 to 10"]),
        ("fractional credit score", vector_with(0, json!(670.2)), 422, &["CreditScore", "whole number from 300 to 900"]),
        ("fractional tenure", vector_with(3, json!(2.5)), 422, &["Tenure", "whole number"]),
        ("age too low", vector_with(2, json!(17)), 422, &["got 17", "from 18 to 120"]),
        ("age too high", vector_with(2, json!(121)), 422, &["got 121", "from 18 to 120"]),
        ("credit score too low", vector_with(0, json!(299)), 422, &["got 299", "from 300 to 900"]),
        ("credit score too high", vector_with(0, json!(901)), 422, &["got 901"]),
        ("no products", vector_with(5, json!(0)), 422, &["from 1 to 10"]),
        ("too many products", vector_with(5, json!(11)), 422, &["got 11"]),
        ("negative balance", vector_with(4, json!(-0.01)), 422, &["data[4] (Balance)", "-0.01", "from 0"]),
        ("negative salary", vector_with(8, json!(-5)), 422, &["EstimatedSalary", "-5"]),
        ("absurd salary", vector_with(8, json!(1e300)), 422, &["EstimatedSalary", "1e12"]),
        ("a number too large for JSON", r#"{"data": [670, 1, 38, 7, 1e999, 2, 1, 1, 1, 1, 0, 0]}"#.into(), 400, &["malformed JSON", "number out of range"]),
        ("NaN literal", r#"{"data": [670, 1, 38, 7, NaN, 2, 1, 1, 1, 1, 0, 0]}"#.into(), 400, &["malformed JSON"]),
        ("Infinity literal", r#"{"data": [670, 1, 38, 7, Infinity, 2, 1, 1, 1, 1, 0, 0]}"#.into(), 400, &["malformed JSON"]),
        ("unknown geography", named_with("geography", Some(json!("Italy"))), 422, &["customer.geography", "\"Italy\"", "France, Germany, Spain"]),
        ("unknown gender", named_with("gender", Some(json!("X"))), 422, &["customer.gender", "Female, Male"]),
        ("gender as a number in the named form", named_with("gender", Some(json!(1))), 422, &["customer.gender"]),
        ("missing field", named_with("age", None), 422, &["customer.age", "got nothing"]),
        ("flag as text", named_with("has_cr_card", Some(json!("yes"))), 422, &["customer.has_cr_card", "\"yes\""]),
        ("string number in the named form", named_with("age", Some(json!("38"))), 422, &["customer.age", "\"38\""]),
        ("unknown field", json!({"customer": {"agee": 38}}).to_string(), 422, &["customer.agee", "unknown field"]),
        ("customer not an object", r#"{"customer": [1, 2]}"#.into(), 400, &["customer", "an array", "expected an object"]),
        ("data not an array", r#"{"data": {"a": 1}}"#.into(), 400, &["data", "expected an array of 12 numbers"]),
        ("unknown shape", r#"{"inputs": [[1]]}"#.into(), 400, &["unknown top-level key \"inputs\""]),
        ("two shapes at once", format!(r#"{{"data": {}, "customer": {{}}}}"#, json!(GOOD)), 400, &["exactly one top-level key"]),
        ("an empty object", "{}".into(), 400, &["exactly one top-level key"]),
        ("a bare array", "[1, 2, 3]".into(), 400, &["an array", "expected an object"]),
        ("a bare string", r#""hello""#.into(), 400, &["a string"]),
        ("empty batch", r#"{"instances": []}"#.into(), 422, &["instances: 0 customers", "from 1 to 1000"]),
        ("empty named batch", r#"{"customers": []}"#.into(), 422, &["customers: 0 customers"]),
        ("batch over the maximum", json!({"instances": vec![json!(GOOD); 1001]}).to_string(), 422, &["1001 customers", "from 1 to 1000"]),
        ("one bad row in a batch", json!({"instances": [json!(GOOD), json!(GOOD), json!([670, 1, 200, 7, 0, 2, 1, 1, 1, 1, 0, 0])]}).to_string(), 422, &["instances[2][2] (Age)", "got 200"]),
        ("one bad named row in a batch", json!({"customers": [sample_named(), {"age": 38}]}).to_string(), 422, &["customers[1].credit_score", "customers[1].geography"]),
        ("malformed JSON", r#"{"data": [670, 1,"#.into(), 400, &["malformed JSON", "EOF"]),
        ("trailing garbage", format!(r#"{{"data": {}}} x"#, json!(GOOD)), 400, &["malformed JSON", "trailing characters"]),
        ("an empty body", String::new(), 400, &["malformed JSON"]),
        ("data as a string", "{\"data\": \"\u{FFFD}\"}".into(), 400, &["data", "a string"]),
        // A nested value where a number belongs is skipped without recursion, however deep.
        ("deep nesting in a value", format!("{{\"data\": {}{}}}", "[".repeat(10_000), "]".repeat(10_000)), 422, &["data", "1 values"]),
        ("deep nesting in a field", format!("{{\"customer\": {{\"age\": {}{}}}}}", "[".repeat(10_000), "]".repeat(10_000)), 422, &["customer.age", "an array or object"]),
    ];
    for (reason, body, status, expected) in cases {
        let (got, answer) = app.post_json("/predict", &body).await;
        assert_eq!(
            got, status,
            "{reason}: expected {status}, got {got}: {answer}"
        );
        let error = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{reason}: no error message in {answer}"));
        for needle in expected {
            assert!(
                error.contains(needle),
                "{reason}: {error:?} should mention {needle:?}"
            );
        }
    }
}

#[tokio::test]
async fn field_errors_are_also_listed_one_by_one_for_programs() {
    let app = spawn_app().await;
    let mut customer = sample_named();
    customer["age"] = json!(12);
    customer["geography"] = json!("Mars");
    let (status, body) = app
        .post_json("/predict", &json!({ "customer": customer }).to_string())
        .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["geography", "age"], "in the table's order: {body}");
    assert_eq!(body["fields"][1]["value"], "12");
    assert_eq!(body["fields"][1]["problem"], "out_of_range");
    assert_eq!(
        body["fields"][1]["allowed"],
        "a whole number from 18 to 120"
    );
    assert_eq!(body["fields"][0]["problem"], "not_one_of");
}

#[tokio::test]
async fn wrong_content_types_are_refused_with_415() {
    let app = spawn_app().await;
    let body = json!({ "data": GOOD }).to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "text/csv",
        "",
    ] {
        let (status, answer) = app.post("/predict", content_type, body.clone()).await;
        assert_eq!(status, 415, "{content_type:?}: {answer}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap()
                .contains("application/json"),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413() {
    let app = spawn_app_with(|s| s.max_body_bytes = 4096).await;
    let body = format!(r#"{{"data": [{}]}}"#, "1,".repeat(5000) + "1");
    let (status, answer) = app.post_json("/predict", &body).await;
    assert_eq!(status, 413, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("4096 bytes"),
        "{answer}"
    );
}

#[tokio::test]
async fn unknown_routes_answer_404_in_json() {
    let app = spawn_app().await;
    let (status, answer) = app.post_json("/nope", "{}").await;
    assert_eq!(status, 404);
    assert!(answer["error"].as_str().unwrap().contains("/nope"));
}

#[tokio::test]
async fn the_server_stays_healthy_after_every_kind_of_bad_input() {
    let app = spawn_app().await;
    for body in ["", "{", "null", "[]", r#"{"data": null}"#, "\u{0}\u{1}"] {
        let (status, _) = app.post_json("/predict", body).await;
        assert!((400..500).contains(&status), "{body:?} gave {status}");
    }
    let health = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
}
