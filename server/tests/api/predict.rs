//! Every accepted request shape answers, and the shapes agree with each other and with the model.

use crate::helpers::{sample_data_body, sample_named, sample_row, spawn_app};
use model::Model;
use serde_json::json;

fn expected_probability() -> f64 {
    let model = Model::bundled().unwrap();
    f64::from(model.probability(&model::Customer::sample().features()))
}

#[tokio::test]
async fn healthz_answers_200_with_the_model_id() {
    let app = spawn_app().await;
    let response = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert!(
        body["model"].as_str().unwrap().starts_with("churn-xgb-"),
        "{body}"
    );
}

#[tokio::test]
async fn the_original_contract_answers_result_probability_threshold_and_model() {
    let app = spawn_app().await;
    for path in ["/predict", "/"] {
        let (status, body) = app.post_json(path, &sample_data_body()).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["result"], "Will Not Exit", "{path}");
        assert_eq!(
            body["probability"].as_f64().unwrap(),
            expected_probability(),
            "{path}"
        );
        assert_eq!(body["threshold"], 0.5);
        assert!(body["model"].as_str().unwrap().starts_with("churn-xgb-"));
        let keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys.len(), 4, "only the documented keys: {keys:?}");
    }
}

#[tokio::test]
async fn the_named_form_gives_the_same_probability_as_the_vector_form() {
    let app = spawn_app().await;
    let (_, by_vector) = app.post_json("/predict", &sample_data_body()).await;
    let mut customer = sample_named();
    let (status, by_name) = app
        .post_json("/predict", &json!({ "customer": customer }).to_string())
        .await;
    assert_eq!(status, 200, "{by_name}");
    assert_eq!(by_name, by_vector);
    // Flags also take true/false.
    customer["has_cr_card"] = json!(true);
    customer["is_active_member"] = json!(true);
    let (_, by_bools) = app
        .post_json("/predict", &json!({ "customer": customer }).to_string())
        .await;
    assert_eq!(by_bools, by_vector);
}

#[tokio::test]
async fn a_customer_likely_to_leave_is_labelled_will_exit() {
    let app = spawn_app().await;
    // Older, inactive, German, three products: the data's classic leaver.
    let (status, body) = app
        .post_json(
            "/predict",
            r#"{"data": [500, 0, 62, 2, 120000.0, 3, 1, 0, 100000.0, 0, 1, 0]}"#,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], "Will Exit", "{body}");
    assert!(body["probability"].as_f64().unwrap() >= 0.5);
}

#[tokio::test]
async fn batches_answer_in_input_order_and_both_batch_shapes_agree() {
    let app = spawn_app().await;
    let rows = [
        sample_row(),
        json!([500, 0, 62, 2, 120000.0, 3, 1, 0, 100000.0, 0, 1, 0]),
        json!([720, 0, 45, 1, 95000.5, 1, 0, 1, 30000, 0, 0, 1]),
    ];
    let (status, by_vector) = app
        .post_json("/predict", &json!({ "instances": rows }).to_string())
        .await;
    assert_eq!(status, 200, "{by_vector}");
    let predictions = by_vector["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), 3);
    for (row, prediction) in rows.iter().zip(predictions) {
        let (_, single) = app
            .post_json("/predict", &json!({ "data": row }).to_string())
            .await;
        assert_eq!(
            prediction["probability"], single["probability"],
            "row {row}"
        );
        assert_eq!(prediction["result"], single["result"], "row {row}");
    }
    let named = [
        sample_named(),
        json!({"credit_score": 500, "geography": "Germany", "gender": "Female", "age": 62, "tenure": 2,
               "balance": 120000.0, "num_of_products": 3, "has_cr_card": true, "is_active_member": false,
               "estimated_salary": 100000.0}),
        json!({"credit_score": 720, "geography": "spain", "gender": "female", "age": 45, "tenure": 1,
               "balance": 95000.5, "num_of_products": 1, "has_cr_card": 0, "is_active_member": 1,
               "estimated_salary": 30000}),
    ];
    let (status, by_name) = app
        .post_json("/predict", &json!({ "customers": named }).to_string())
        .await;
    assert_eq!(status, 200, "{by_name}");
    assert_eq!(by_name, by_vector);
}

#[tokio::test]
async fn a_batch_of_the_documented_maximum_is_answered() {
    let app = spawn_app().await;
    let rows = vec![sample_row(); 1000];
    let (status, body) = app
        .post_json("/predict", &json!({ "instances": rows }).to_string())
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["predictions"].as_array().unwrap().len(), 1000);
}

#[tokio::test]
async fn content_type_parameters_are_accepted() {
    let app = spawn_app().await;
    let (status, _) = app
        .post(
            "/predict",
            "application/json; charset=utf-8",
            sample_data_body(),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_model_endpoint_describes_features_fields_and_card() {
    let app = spawn_app().await;
    let body: serde_json::Value = reqwest::get(app.url("/model"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["feature_names"][0], "CreditScore");
    assert_eq!(body["fields"].as_array().unwrap().len(), 10);
    assert!(
        body["card"]["cv"]["metrics"]["auc"]["mean"]
            .as_f64()
            .unwrap()
            >= 0.86
    );
}

#[tokio::test]
async fn explain_true_adds_every_fields_effect_strongest_first() {
    let app = spawn_app().await;
    let body = r#"{"data": [500, 0, 62, 2, 120000.0, 3, 1, 0, 100000.0, 0, 1, 0]}"#;
    let (_, plain) = app.post_json("/predict", body).await;
    assert!(
        plain.get("reasons").is_none(),
        "reasons are opt-in: {plain}"
    );

    let (status, explained) = app.post_json("/predict?explain=true", body).await;
    assert_eq!(status, 200, "{explained}");
    assert_eq!(explained["probability"], plain["probability"]);
    let reasons = explained["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 10, "one reason per field: {explained}");
    let effects: Vec<f64> = reasons
        .iter()
        .map(|r| r["effect"].as_f64().unwrap())
        .collect();
    assert!(
        effects.windows(2).all(|w| w[0].abs() >= w[1].abs()),
        "strongest first: {effects:?}"
    );
    assert!(
        reasons[0]["text"].as_str().unwrap().contains("the risk"),
        "{}",
        reasons[0]
    );
    // For this classic leaver the strongest reasons push towards leaving.
    assert!(effects[0] > 0.0, "{explained}");

    let (_, batch) = app
        .post_json(
            "/predict?explain=1",
            &json!({"instances": [sample_row()]}).to_string(),
        )
        .await;
    assert_eq!(
        batch["predictions"][0]["reasons"].as_array().unwrap().len(),
        10
    );
}
