//! Malformed events under the Lambda Runtime API harness (`lambda.rs`): each is answered (the
//! invocation never fails, which API Gateway would turn into a 502), HTTP-shaped events with a
//! 400 `{"error": ...}` in their own response shape, direct invocations with a raw
//! `{"error": ...}`. Then a good event is still answered: the function survived them all.

use std::process::Stdio;

use serde_json::{Value, json};

use crate::lambda::{Outcome, Runtime, event, http, json, spawn_function};

/// `name`'s fixture with `edit` applied.
fn edited(name: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut value: Value = serde_json::from_str(&event(name)).unwrap();
    edit(&mut value);
    value.to_string()
}

/// An ALB target-group event (multi-value headers off).
fn alb(body: &str, base64: bool) -> String {
    json!({
        "requestContext": {"elb": {"targetGroupArn":
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/churn/0123456789abcdef"}},
        "httpMethod": "POST", "path": "/predict", "queryStringParameters": {},
        "headers": {"host": "churn.example.com", "content-type": "application/json",
                    "x-forwarded-for": "198.51.100.7", "x-forwarded-proto": "https"},
        "body": body, "isBase64Encoded": base64
    })
    .to_string()
}

const NOT_BASE64: &str = "!!!not base64!!!";

/// A 400 in our error shape whose message contains `says`.
fn assert_refused(outcome: Outcome, name: &str, says: &str) -> Value {
    let (status, body, response) = http(outcome, name);
    assert_eq!(status, 400, "{name}: {body}");
    let answer = json(&body, name);
    let error = answer["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: {answer}"));
    assert!(error.contains(says), "{name}: {error}");
    // As every answer: the request id (the invocation's) in the body and the header, and the
    // security headers, though the app never saw the event.
    let id = answer["request_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: no request_id in {answer}"));
    assert!(!id.is_empty(), "{name}");
    let header = |name_: &str| -> Option<String> {
        let single = response["headers"][name_].as_str().map(str::to_owned);
        single.or_else(|| {
            response["multiValueHeaders"][name_][0]
                .as_str()
                .map(str::to_owned)
        })
    };
    assert_eq!(
        header("x-request-id").as_deref(),
        Some(id),
        "{name}: {response}"
    );
    assert_eq!(
        header("x-content-type-options").as_deref(),
        Some("nosniff"),
        "{name}: {response}"
    );
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_malformed_event_is_answered_and_never_fails_the_invocation() {
    let mut runtime = Runtime::start().await;
    let _function = spawn_function(&runtime, false, Stdio::null());

    // The issue's event, in each HTTP shape: a body marked base64 that is not.
    let cases = [
        (
            "REST API (v1)",
            edited("rest-v1-prod-predict.json", |e| {
                e["isBase64Encoded"] = json!(true);
                e["body"] = json!(NOT_BASE64);
            }),
        ),
        (
            "HTTP API (v2)",
            edited("http-v2-predict.json", |e| {
                e["isBase64Encoded"] = json!(true);
                e["body"] = json!(NOT_BASE64);
            }),
        ),
        (
            "Function URL",
            edited("function-url-base64-batch.json", |e| {
                e["body"] = json!("eyJpbnN0YW5jZXMiOi@@@");
            }),
        ),
        ("ALB", alb(NOT_BASE64, true)),
    ];
    for (name, event) in cases {
        let response = assert_refused(runtime.invoke(&event).await, name, "not valid base64");
        // The answer has the event's own shape: the ALB's has a status line.
        if name == "ALB" {
            assert_eq!(
                response["statusDescription"], "400 Bad Request",
                "{response}"
            );
        }
    }

    // Other parts lambda_http cannot turn into a URL (it panicked on each).
    let cases = [
        (
            "a Host that is no host",
            edited("rest-v1-prod-predict.json", |e| {
                e["headers"]["Host"] = json!("bad host");
            }),
            "Host",
        ),
        (
            "an HTTP API Host that is no host",
            edited("http-v2-predict.json", |e| {
                e["headers"]["host"] = json!("bad host");
            }),
            "Host",
        ),
        (
            "an X-Forwarded-Proto that is no scheme",
            edited("rest-v1-prod-predict.json", |e| {
                e["headers"]["X-Forwarded-Proto"] = json!("1 2");
            }),
            "X-Forwarded-Proto",
        ),
        (
            "a raw query a URL cannot hold",
            edited("http-v2-predict.json", |e| {
                e["rawQueryString"] = json!("a b=\"<>\"");
            }),
            "query",
        ),
        (
            "a path without its /",
            edited("rest-v1-prod-predict.json", |e| {
                e["path"] = json!("predict");
            }),
            "path",
        ),
    ];
    for (name, event, says) in cases {
        assert_refused(runtime.invoke(&event).await, name, says);
    }

    // Events that are no HTTP event reach the direct invocation, which refuses them itself.
    let cases = [
        ("an array", "[1, 2, 3]", "expected an object"),
        ("a string", "\"predict\"", "expected an object"),
        ("an empty object", "{}", "exactly one top-level key"),
        (
            "an HTTP event without its request context",
            r#"{"httpMethod": "POST", "path": "/predict"}"#,
            "unknown top-level key \"httpMethod\"",
        ),
        ("a wrong shape", r#"{"data": "670,1,38"}"#, "data"),
    ];
    for (name, event, says) in cases {
        let answer = runtime.invoke(event).await.response(name);
        let error = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: {answer}"));
        assert!(error.contains(says), "{name}: {error}");
    }

    // Still serving, the ALB shape included.
    let (status, body, _) = http(
        runtime.invoke(&event("rest-v1-prod-predict.json")).await,
        "after",
    );
    assert_eq!(status, 200, "{body}");
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD
        .encode(r#"{"data": [670, 1, 38, 7, 0.0, 2, 1, 1, 77864.41, 1, 0, 0]}"#);
    let (status, body, response) = http(runtime.invoke(&alb(&encoded, true)).await, "ALB");
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body, "ALB")["result"], "Will Not Exit");
    assert_eq!(response["statusDescription"], "200 OK", "{response}");
}
