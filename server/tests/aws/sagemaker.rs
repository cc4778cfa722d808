//! The SageMaker backend with the real SDK speaking real HTTP: against moto (a real AWS
//! protocol server), against a small SageMaker Runtime peer that misbehaves on purpose
//! (ModelError, throttling, slowness), and against a second churn-predict serving the
//! embedded model as the endpoint, end to end.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_sagemakerruntime::config::{Credentials, Region};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use model::{ScoreError, Scorer};
use server::backends::sagemaker::{Options, SageMaker};

use crate::helpers::{
    LEAVER, SAMPLE, churn_predict, csv_row, embedded_probability, run_to_exit, spawn_moto,
    spawn_served,
};

/// A SageMaker Runtime peer whose behaviour is chosen by the endpoint name.
#[derive(Clone, Default)]
struct Peer {
    calls: Arc<Mutex<HashMap<String, u32>>>,
}

impl Peer {
    fn calls(&self, name: &str) -> u32 {
        self.calls.lock().unwrap().get(name).copied().unwrap_or(0)
    }
}

fn aws_error(status: u16, kind: &'static str, body: serde_json::Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [
            ("x-amzn-ErrorType", kind),
            ("content-type", "application/json"),
        ],
        body.to_string(),
    )
        .into_response()
}

async fn invoke(State(peer): State<Peer>, Path(name): Path<String>) -> Response {
    let call = {
        let mut calls = peer.calls.lock().unwrap();
        let n = calls.entry(name.clone()).or_default();
        *n += 1;
        *n
    };
    match name.as_str() {
        "model-error" => aws_error(
            424,
            "ModelError",
            serde_json::json!({
            "ErrorCode": "CLIENT_ERROR_FROM_MODEL", "OriginalStatusCode": 415,
            "OriginalMessage": "Loading csv data failed with Exception",
            "message": "Received client error (415) from primary with message \"Loading csv data failed\"."}),
        ),
        "validation" => aws_error(
            400,
            "ValidationError",
            serde_json::json!({
            "message": "Endpoint validation of account 123456789012 not found."}),
        ),
        "throttled-twice" if call <= 2 => aws_error(
            429,
            "ThrottlingException",
            serde_json::json!({"message": "Rate exceeded"}),
        ),
        "throttled-twice" => "0.25\n".into_response(),
        "unavailable" => aws_error(
            503,
            "ServiceUnavailable",
            serde_json::json!({"message": "Service unavailable"}),
        ),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            "0.25\n".into_response()
        }
        "garbage" => "<html>oops</html>".into_response(),
        _ => aws_error(
            404,
            "ValidationError",
            serde_json::json!({"message": "no such endpoint"}),
        ),
    }
}

async fn spawn_peer() -> (SocketAddr, Peer) {
    let peer = Peer::default();
    let app = axum::Router::new()
        .route("/endpoints/{name}/invocations", axum::routing::post(invoke))
        .with_state(peer.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (address, peer)
}

/// Static test credentials and region, so the SDK never looks further (no instance metadata).
async fn sdk_config(endpoint_url: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .endpoint_url(endpoint_url)
        .load()
        .await
}

fn options(endpoint: &str, timeout_ms: u64) -> Options {
    Options {
        endpoint_name: endpoint.to_owned(),
        threshold: 0.5,
        timeout: Duration::from_millis(timeout_ms),
        max_attempts: 3,
    }
}

async fn backend(address: SocketAddr, endpoint: &str, timeout_ms: u64) -> SageMaker {
    let config = sdk_config(&format!("http://{address}")).await;
    SageMaker::connect(&config, options(endpoint, timeout_ms))
        .await
        .expect("the backend connects")
}

fn rows() -> Vec<model::Features> {
    vec![SAMPLE.map(|v| v as f32)]
}

#[tokio::test]
async fn a_model_error_is_a_backend_error_naming_the_endpoints_complaint() {
    let (address, _) = spawn_peer().await;
    let sagemaker = backend(address, "model-error", 2000).await;
    let err = sagemaker.score(&rows()).await.unwrap_err();
    let ScoreError::Backend(message) = &err else {
        panic!("expected a backend error, got {err:?}")
    };
    assert!(
        message.contains("endpoint model-error reported ModelError"),
        "{message}"
    );
    assert!(
        message.contains("the model answered 415: Loading csv data failed"),
        "{message}"
    );
}

#[tokio::test]
async fn a_validation_error_or_an_unreadable_answer_is_a_backend_error() {
    let (address, _) = spawn_peer().await;
    let err = backend(address, "validation", 2000)
        .await
        .score(&rows())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ScoreError::Backend(m) if m.contains("ValidationError") && m.contains("not found")),
        "{err:?}"
    );
    let err = backend(address, "garbage", 2000)
        .await
        .score(&rows())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ScoreError::Backend(m) if m.contains("unreadable") && m.contains("<html>oops</html>")),
        "{err:?}"
    );
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_and_then_answered() {
    let (address, peer) = spawn_peer().await;
    let sagemaker = backend(address, "throttled-twice", 5000).await;
    let scores = sagemaker
        .score(&rows())
        .await
        .expect("the third attempt answers");
    assert_eq!(scores.as_slice(), [0.25]);
    assert_eq!(
        peer.calls("throttled-twice"),
        3,
        "two throttled attempts, then success"
    );
}

#[tokio::test]
async fn unavailability_outlasting_the_attempts_is_unavailable() {
    let (address, peer) = spawn_peer().await;
    let sagemaker = backend(address, "unavailable", 5000).await;
    let err = sagemaker.score(&rows()).await.unwrap_err();
    assert!(
        matches!(&err, ScoreError::Unavailable(m) if m.contains("ServiceUnavailable")),
        "{err:?}"
    );
    assert_eq!(
        peer.calls("unavailable"),
        3,
        "SAGEMAKER_MAX_ATTEMPTS attempts"
    );
}

#[tokio::test]
async fn a_slow_endpoint_is_a_timeout_at_the_deadline_not_a_hang() {
    let (address, _) = spawn_peer().await;
    let sagemaker = backend(address, "slow", 300).await;
    let err = sagemaker.score(&rows()).await.unwrap_err();
    // The deadline's own error, not the peer's late answer: it did not wait for the 10 s.
    assert_eq!(err, ScoreError::Timeout(Duration::from_millis(300)));
}

#[tokio::test]
async fn start_up_refuses_a_configuration_without_region_or_credentials() {
    // No region: built by hand, nothing read from the environment.
    let config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(
            aws_sdk_sagemakerruntime::config::SharedCredentialsProvider::new(Credentials::new(
                "testing", "testing", None, None, "tests",
            )),
        )
        .build();
    let err = SageMaker::connect(&config, options("churn", 1000))
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("no AWS region"), "{err}");
    // No credentials provider at all.
    let config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .build();
    let err = SageMaker::connect(&config, options("churn", 1000))
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("no AWS credentials"), "{err}");
}

#[test]
fn the_binary_exits_with_a_clear_error_when_endpoint_name_has_no_credentials() {
    let mut cmd = churn_predict();
    cmd.env("ENDPOINT_NAME", "churn")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        // No profile directory either.
        .env("HOME", std::env::temp_dir().join("churn-predict-no-home"));
    let (code, output) = run_to_exit(cmd);
    assert_ne!(code, Some(0), "{output}");
    assert!(
        output.contains("ENDPOINT_NAME=churn is set but no AWS credentials were found"),
        "{output}"
    );
    assert!(
        !output.contains("panicked"),
        "a clear error, not a panic: {output}"
    );

    let mut cmd = churn_predict();
    cmd.env("ENDPOINT_NAME", "churn").env_remove("AWS_REGION");
    let (code, output) = run_to_exit(cmd);
    assert_ne!(code, Some(0), "{output}");
    assert!(output.contains("no AWS region is configured"), "{output}");
}

/// `churn-predict` scoring through SageMaker at `endpoint_url` (configured by environment only).
fn spawn_remote(endpoint: &str, endpoint_url: &str, timeout_ms: u64) -> crate::helpers::Served {
    let mut cmd = churn_predict();
    cmd.env("ENDPOINT_NAME", endpoint)
        .env("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", endpoint_url)
        .env("SAGEMAKER_TIMEOUT_MS", timeout_ms.to_string());
    spawn_served(cmd)
}

async fn predict(
    served: &crate::helpers::Served,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(served.url("/predict"))
        .json(&body)
        .send()
        .await
        .expect("churn-predict answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

/// POSTs to `/predict`; the status, the JSON answer and the `x-request-id` header.
async fn predict_with_id(
    served: &crate::helpers::Served,
    body: serde_json::Value,
) -> (u16, serde_json::Value, String) {
    let response = reqwest::Client::new()
        .post(served.url("/predict"))
        .json(&body)
        .send()
        .await
        .expect("churn-predict answers");
    let status = response.status().as_u16();
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    (status, response.json().await.expect("a JSON answer"), id)
}

/// The client hears the kind of failure and the request id; the endpoint's own words (its
/// name, its message) are only in the log, on the line of that request id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_sagemaker_failures_are_502_503_504_with_the_details_only_in_the_log() {
    let (address, _) = spawn_peer().await;
    let url = format!("http://{address}");
    let cases = [
        ("model-error", 502, "backend_error", "reported ModelError"),
        (
            "unavailable",
            503,
            "backend_unavailable",
            "ServiceUnavailable",
        ),
        (
            "slow",
            504,
            "backend_timeout",
            "did not answer within 300ms",
        ),
    ];
    for (endpoint, status, kind, detail) in cases {
        let served = spawn_remote(endpoint, &url, 300);
        let (got, body, id) = predict_with_id(&served, serde_json::json!({ "data": SAMPLE })).await;
        assert_eq!(got, status, "{endpoint}: {body}");
        assert_eq!(body["kind"], kind, "{endpoint}: {body}");
        assert_eq!(body["request_id"], id.as_str(), "{endpoint}: {body}");
        let text = body.to_string();
        assert!(
            !text.contains(&format!("endpoint {endpoint}")) && !text.contains(detail),
            "{endpoint}: the answer must not carry the backend's words: {text}"
        );
        let logged = served.log_line_of(&id);
        assert_eq!(logged["error"], kind, "{endpoint}: {logged}");
        assert!(
            logged["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(detail),
            "{endpoint}: the log names the failure: {logged}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_moto_newline_comma_and_json_answers_come_back_in_order() {
    let Some(moto) = spawn_moto().await else {
        return;
    };
    let served = spawn_remote("churn-moto", &moto.url, 5000);
    let batch = |rows: &[[f64; 12]]| serde_json::json!({ "instances": rows });
    // moto answers each distinct request body with the next queued result.
    moto.queue_results(&[
        "0.25\n0.75\n",
        "0.125,0.875",
        "{\"predictions\": [{\"score\": 0.5}]}",
    ])
    .await;

    let (status, body) = predict(&served, batch(&[SAMPLE, LEAVER])).await;
    assert_eq!(status, 200, "newline-separated: {body}");
    assert_eq!(body["model"], "sagemaker:churn-moto");
    assert_eq!(body["predictions"][0]["probability"], 0.25);
    assert_eq!(body["predictions"][0]["result"], "Will Not Exit");
    assert_eq!(body["predictions"][1]["probability"], 0.75);
    assert_eq!(body["predictions"][1]["result"], "Will Exit");

    let (status, body) = predict(&served, batch(&[LEAVER, SAMPLE])).await;
    assert_eq!(status, 200, "comma-separated (pre-2022 container): {body}");
    assert_eq!(body["predictions"][0]["probability"], 0.125);
    assert_eq!(body["predictions"][1]["probability"], 0.875);

    let (status, body) = predict(&served, serde_json::json!({ "data": SAMPLE })).await;
    assert_eq!(status, 200, "JSON answer: {body}");
    assert_eq!(
        (body["probability"].as_f64(), body["result"].as_str()),
        (Some(0.5), Some("Will Exit")),
        "the threshold rule: >= 0.5 exits"
    );

    // Nothing queued: moto's static "body" is not a probability. The client hears a backend
    // error; what moto answered is in the log.
    let (status, body, id) = predict_with_id(&served, serde_json::json!({ "data": LEAVER })).await;
    assert_eq!(status, 502, "{body}");
    assert!(!body.to_string().contains("\"body\""), "{body}");
    let logged = served.log_line_of(&id);
    assert!(
        logged["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("\"body\""),
        "{logged}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_second_churn_predict_as_the_endpoint_the_probabilities_are_exactly_embedded() {
    // Arrange: B serves the embedded model (its /endpoints/{name}/invocations is the runtime
    // API); A is configured like the Lambda: ENDPOINT_NAME plus the endpoint URL override.
    let b = spawn_served(churn_predict());
    let a = spawn_remote("churn-embedded", &format!("http://{}", b.address), 5000);
    let mut customers = vec![SAMPLE, LEAVER];
    let fixture = include_str!("../../../model/tests/fixtures/parity.csv");
    for line in fixture.lines().skip(1).take(30) {
        let values: Vec<f64> = line
            .split(',')
            .take(12)
            .map(|v| v.parse().unwrap_or(f64::NAN))
            .collect();
        let row: [f64; 12] = values.try_into().unwrap();
        // The validated JSON API takes complete customers (the CSV route takes the rest).
        if row.iter().all(|v| v.is_finite()) {
            customers.push(row);
        }
    }
    // Act
    let (status_a, through_sagemaker) =
        predict(&a, serde_json::json!({ "instances": customers })).await;
    let (status_b, embedded) = predict(&b, serde_json::json!({ "instances": customers })).await;
    // Assert
    assert_eq!(
        (status_a, status_b),
        (200, 200),
        "{through_sagemaker} {embedded}"
    );
    assert_eq!(through_sagemaker["model"], "sagemaker:churn-embedded");
    assert_eq!(
        through_sagemaker["predictions"], embedded["predictions"],
        "exactly the same probabilities and labels"
    );
    assert_eq!(
        through_sagemaker["predictions"][0]["probability"]
            .as_f64()
            .unwrap(),
        embedded_probability(&SAMPLE)
    );

    // Raw CSV rows with missing values go through the same seam.
    let csv = format!(
        "{}\n{}\n",
        csv_row(&SAMPLE).replacen(",0,2,", ",,2,", 1),
        csv_row(&LEAVER)
    );
    let ask = |served: &crate::helpers::Served| {
        reqwest::Client::new()
            .post(served.url("/invocations"))
            .header("content-type", "text/csv")
            .body(csv.clone())
            .send()
    };
    let via_a = ask(&a).await.unwrap().text().await.unwrap();
    let via_b = ask(&b).await.unwrap().text().await.unwrap();
    assert_eq!(via_a, via_b);
    assert_eq!(via_a.lines().count(), 2, "{via_a}");
}
