//! The original project's Python Lambda (`deploy/original/lambda_function.py`, unmodified),
//! run with boto3 pointed at churn-predict through the standard endpoint override: its
//! answers must equal churn-predict's own.

use std::process::Command;

use crate::helpers::{LEAVER, SAMPLE, churn_predict, isolate_aws, python_with, spawn_served};

/// Imports the handler from its file (the environment is already set) and runs each event.
const DRIVER: &str = r#"
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("lambda_function", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
events = json.loads(sys.stdin.read())
print(json.dumps([module.lambda_handler(event, None) for event in events]))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_python_lambda_gets_churn_predicts_answers_through_boto3() {
    if python_with(&["boto3"]).is_none() {
        return;
    }
    // Arrange: churn-predict with the embedded model, and the original's customers.
    let served = spawn_served(churn_predict());
    let mut customers = vec![SAMPLE.to_vec(), LEAVER.to_vec()];
    let fixture = include_str!("../../../model/tests/fixtures/parity.csv");
    for line in fixture.lines().skip(1).take(40) {
        let row: Vec<f64> = line
            .split(',')
            .take(12)
            .map(|v| v.parse().unwrap_or(f64::NAN))
            .collect();
        if row.iter().all(|v| v.is_finite()) {
            customers.push(row);
        }
    }
    let mut events: Vec<serde_json::Value> = customers
        .iter()
        .map(|c| serde_json::json!({ "data": c }))
        .collect();
    events.push(serde_json::json!({ "data": [1, 2, 3] }));
    // A cell the container cannot read: boto3 must surface the runtime's ModelError.
    events.push(serde_json::json!({ "data": ["abc", 1, 38, 7, 0, 2, 1, 1, 1000, 1, 0, 0] }));

    // Act: the unmodified handler, boto3 configured only by the environment.
    let handler = format!(
        "{}/../deploy/original/lambda_function.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut cmd = Command::new("python3");
    isolate_aws(&mut cmd);
    cmd.args(["-c", DRIVER, &handler])
        .env("ENDPOINT_NAME", "churn-xgboost")
        .env(
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
            format!("http://{}", served.address),
        )
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("python3 starts");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(
                serde_json::Value::from(events.clone())
                    .to_string()
                    .as_bytes(),
            )
            .unwrap();
    }
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the driver ran: {stderr}");
    let answers: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("driver output is JSON ({e}): {stderr}"));

    // Assert: each label equals churn-predict's own /predict answer.
    let client = reqwest::Client::new();
    for (customer, answer) in customers.iter().zip(&answers) {
        let own: serde_json::Value = client
            .post(served.url("/predict"))
            .json(&serde_json::json!({ "data": customer }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            answer,
            &serde_json::json!({"result": own["result"]}),
            "customer {customer:?}"
        );
    }
    assert!(
        answers.iter().any(|a| a["result"] == "Will Exit"),
        "both labels are exercised"
    );
    assert!(answers.iter().any(|a| a["result"] == "Will Not Exit"));
    let n = customers.len();
    assert_eq!(
        answers[n],
        serde_json::json!({"error": "Input must contain exactly 12 numerical features."})
    );
    let error = answers[n + 1]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("ModelError")
            && error.contains("could not convert string to float: \"abc\""),
        "boto3 raised the runtime's ModelError: {error}"
    );
}
