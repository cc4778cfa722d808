//! API keys, throttling, security headers, request ids, CORS, metrics and the cross-site
//! guard, over real HTTP.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use server::config::{ApiKeyList, Settings};
use server::middleware::auth::sha256;
use server::startup::Application;

use crate::helpers::{header, sample_data_body, sample_row, spawn_app, spawn_app_with};

const KEY: &str = "test-key-0123456789abcdef";

fn predict_body() -> String {
    sample_data_body()
}

async fn post_predict(
    client: &reqwest::Client,
    url: &str,
    key: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .body(predict_body());
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap())
}

#[tokio::test]
async fn with_no_keys_configured_predictions_are_open() {
    let app = spawn_app().await;
    let (status, _, body) = post_predict(&app.client, &app.url("/predict"), None).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_missing_key_is_401_and_a_wrong_key_403_without_hints() {
    let app = spawn_app_with(|s| s.api_keys = Some(ApiKeyList(vec![KEY.into()]))).await;
    for path in ["/predict", "/"] {
        let (status, headers, body) = post_predict(&app.client, &app.url(path), None).await;
        assert_eq!(status, 401, "{path}");
        assert_eq!(
            body["error"], "missing API key: send it in the x-api-key header",
            "{body}"
        );
        assert_eq!(body["kind"], "missing_api_key", "{body}");
        assert_eq!(
            body.as_object().unwrap().len(),
            3,
            "error, kind and request id only: {body}"
        );
        assert!(headers.contains_key("www-authenticate"));
        for wrong in ["nope", &KEY[..KEY.len() - 1], &format!("{KEY}x")] {
            let (status, _, body) = post_predict(&app.client, &app.url(path), Some(wrong)).await;
            assert_eq!(status, 403, "{path} {wrong}");
            assert_eq!(body["error"], "invalid API key", "{body}");
            assert_eq!(body["kind"], "invalid_api_key", "{body}");
            assert_eq!(body.as_object().unwrap().len(), 3, "no hints: {body}");
        }
        let (status, _, body) = post_predict(&app.client, &app.url(path), Some(KEY)).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["result"], "Will Not Exit");
    }
}

#[tokio::test]
async fn health_model_and_metrics_stay_open_when_keys_are_required() {
    let app = spawn_app_with(|s| s.api_keys = Some(ApiKeyList(vec![KEY.into()]))).await;
    for path in ["/healthz", "/model", "/metrics"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn keys_from_a_file_of_digests_are_accepted() {
    let dir = std::env::temp_dir().join(format!("churn-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("keys");
    std::fs::write(
        &file,
        format!(
            "# name:sha256\nci:{}\n",
            hex::encode(sha256(KEY.as_bytes()))
        ),
    )
    .unwrap();
    let app = spawn_app_with(|s| s.api_keys_file = Some(file.clone())).await;
    let (status, _, _) = post_predict(&app.client, &app.url("/predict"), Some(KEY)).await;
    assert_eq!(status, 200);
    let (status, _, _) = post_predict(&app.client, &app.url("/predict"), Some("other")).await;
    assert_eq!(status, 403);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_key_over_its_burst_gets_429_with_retry_after() {
    let app = spawn_app_with(|s| {
        s.api_keys = Some(ApiKeyList(vec![KEY.into()]));
        s.rate_limit_per_second = 1;
        s.rate_limit_burst = 3;
    })
    .await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..5 {
        let (status, headers, body) =
            post_predict(&app.client, &app.url("/predict"), Some(KEY)).await;
        if status == 429 {
            retry_after = headers.get("retry-after").cloned();
            assert!(body["error"].as_str().unwrap().contains("retry after"));
        }
        statuses.push(status);
    }
    assert_eq!(&statuses[..3], [200, 200, 200], "{statuses:?}");
    assert_eq!(&statuses[3..], [429, 429], "{statuses:?}");
    let secs: u64 = retry_after.unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&secs));
    // A wrong key is refused before it can spend anyone's tokens.
    let (status, _, _) = post_predict(&app.client, &app.url("/predict"), Some("x")).await;
    assert_eq!(status, 403);
}

/// CSV rows on `/invocations` cost what the same rows cost as `POST /predict` batches: one
/// token per MAX_BATCH rows, so a key cannot score 100,000 rows for the price of one request.
#[tokio::test]
async fn csv_invocations_are_charged_per_rows_to_the_keys_bucket() {
    let app = spawn_app_with(|s| {
        s.api_keys = Some(ApiKeyList(vec![KEY.into()]));
        s.rate_limit_per_second = 1;
        s.rate_limit_burst = 4;
        s.max_batch = 10;
    })
    .await;
    let row = model::SAMPLE_VECTOR.map(|v| v.to_string()).join(",");
    let csv = |rows: usize| format!("{row}\n").repeat(rows);
    let invoke = |rows: usize| {
        app.client
            .post(app.url("/invocations"))
            .header("content-type", "text/csv")
            .header("x-api-key", KEY)
            .body(csv(rows))
            .send()
    };
    // More rows than the bucket can ever pay for (10 tokens, burst 4): refused at once, saying
    // so (the door's token is spent).
    let response = invoke(100).await.unwrap();
    assert_eq!(response.status(), 413);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["kind"], "too_many_rows", "{body}");
    // 25 rows: three tokens, all that is left.
    let scored = invoke(25).await.unwrap();
    assert_eq!(scored.status(), 200);
    assert_eq!(scored.text().await.unwrap().lines().count(), 25);
    // The bucket is empty now: even one row waits.
    let throttled = invoke(1).await.unwrap();
    assert_eq!(throttled.status(), 429);
    assert!(throttled.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn every_response_carries_security_headers_and_a_request_id() {
    let app = spawn_app().await;
    for path in ["/healthz", "/nope"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["x-request-id"].len(), 36, "a generated UUID");
    }
}

#[tokio::test]
async fn an_incoming_request_id_or_amazon_trace_id_is_echoed() {
    let app = spawn_app().await;
    let get = |name: &'static str, value: &'static str| {
        app.client
            .get(app.url("/healthz"))
            .header(name, value)
            .send()
    };
    let response = get("x-request-id", "abc-123").await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    let trace = "Root=1-5759e988-bd862e3fe1be46a994272793";
    let response = get("x-amzn-trace-id", trace).await.unwrap();
    assert_eq!(response.headers()["x-request-id"], trace);
    // An id that would pollute logs is replaced.
    let response = get("x-request-id", "two words").await.unwrap();
    assert_eq!(response.headers()["x-request-id"].len(), 36);
}

#[tokio::test]
async fn cors_is_off_by_default_and_allows_only_configured_origins() {
    let app = spawn_app().await;
    let preflight = |app_url: String, origin: &'static str| {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, app_url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,x-api-key")
            .send()
    };
    let response = preflight(app.url("/predict"), "https://app.example")
        .await
        .unwrap();
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin")
    );

    let app = spawn_app_with(|s| {
        s.cors_allowed_origins = vec!["https://app.example".into()];
        s.api_keys = Some(ApiKeyList(vec![KEY.into()]));
    })
    .await;
    let response = preflight(app.url("/predict"), "https://app.example")
        .await
        .unwrap();
    assert!(response.status().is_success(), "preflight needs no key");
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let allowed = header(&response, "access-control-allow-headers").to_owned();
    assert!(allowed.contains("x-api-key"), "{allowed}");
    let response = preflight(app.url("/predict"), "https://evil.example")
        .await
        .unwrap();
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

#[tokio::test]
async fn metrics_count_requests_predictions_and_rejections() {
    let app = spawn_app().await;
    let (status, _, _) = post_predict(&app.client, &app.url("/predict"), None).await;
    assert_eq!(status, 200);
    let (status, _) = app.post_json("/predict", r#"{"data": [1]}"#).await;
    assert_eq!(status, 422);
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(header(&response, "content-type").starts_with("text/plain"));
    let text = response.text().await.unwrap();
    for needle in [
        r#"http_requests_total{route="/predict",status="200"}"#,
        r#"http_requests_total{route="/predict",status="422"}"#,
        r#"http_request_duration_seconds_bucket{route="/predict",le="0.005"}"#,
        r#"predictions_total{label="Will Not Exit",backend="embedded"}"#,
        r#"prediction_probability_bucket{backend="embedded",le="0.5"}"#,
        r#"rejected_inputs_total{reason="invalid_input"}"#,
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
}

/// The counters by label move with what was answered. The recorder is the process's, shared
/// with tests running alongside, so the counts can only be checked to have grown by at least
/// this batch's labels.
#[tokio::test]
async fn predictions_are_counted_by_their_label() {
    let app = spawn_app().await;
    let count = |text: &str, label: &str| -> u64 {
        let series = format!(r#"predictions_total{{label="{label}",backend="embedded"}} "#);
        text.lines()
            .find_map(|line| line.strip_prefix(series.as_str()))
            .map_or(0, |n| n.trim().parse().unwrap())
    };
    let metrics = || async {
        let response = app.client.get(app.url("/metrics")).send().await.unwrap();
        response.text().await.unwrap()
    };
    let before = metrics().await;
    let leaver: serde_json::Value = serde_json::from_str(crate::explain::LEAVER).unwrap();
    let (leaver, sample) = (&leaver["data"], sample_row());
    let body = serde_json::json!({"instances": [leaver, leaver, leaver, sample, sample]});
    let (status, answer) = app.post_json("/predict", &body.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    let labels: Vec<&str> = answer["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["result"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "Will Exit",
            "Will Exit",
            "Will Exit",
            "Will Not Exit",
            "Will Not Exit"
        ]
    );
    let after = metrics().await;
    for (label, answered) in [("Will Exit", 3), ("Will Not Exit", 2)] {
        let grown = count(&after, label) - count(&before, label);
        assert!(
            grown >= answered,
            "{label}: grew by {grown}, {answered} answered"
        );
    }
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let app = spawn_app_with(|s| s.metrics_enabled = false).await;
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 404);
}

/// The form's fields as its server function takes them (`submitted[name]=value`).
const FORM_BODY: &str = "submitted[credit_score]=670&submitted[geography]=France\
    &submitted[gender]=Male&submitted[age]=38&submitted[tenure]=7&submitted[balance]=0.00\
    &submitted[num_of_products]=2&submitted[has_cr_card]=1&submitted[is_active_member]=1\
    &submitted[estimated_salary]=77864.41";

/// The real form: its page keeps its own (stricter) CSP, and its server function refuses
/// cross-site posts while same-origin and non-browser ones pass.
#[tokio::test]
async fn the_real_form_refuses_cross_site_posts_and_keeps_its_own_csp() {
    let app = spawn_app().await;

    let page = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(
        page.headers()["content-security-policy"],
        server::middleware::browser::PAGE_CONTENT_SECURITY_POLICY,
        "the page's own CSP wins"
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");

    let same_origin = format!("http://{}", app.address);
    #[rustfmt::skip]
    let cases: [(&[(&str, &str)], u16); 6] = [
        (&[("sec-fetch-site", "same-origin")], 200),
        (&[("sec-fetch-site", "same-origin"), ("origin", same_origin.as_str())], 200),
        (&[("origin", same_origin.as_str())], 200),
        (&[], 200),
        (&[("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")], 403),
        (&[("origin", "https://evil.example")], 403),
    ];
    for (headers, expected) in cases {
        let mut request = app
            .client
            .post(app.url("/api/predict-form"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(FORM_BODY);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), expected, "{headers:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        if expected == 403 {
            assert_eq!(body["error"], "cross-site request refused");
        } else {
            assert_eq!(body["Predicted"]["will_exit"], false, "{body}");
        }
    }
}

/// The SageMaker-compatible prediction routes are behind the keys; its health check is not.
#[tokio::test]
async fn sagemaker_invocations_need_a_key_and_its_health_checks_stay_open() {
    let app = spawn_app_with(|s| s.api_keys = Some(ApiKeyList(vec![KEY.into()]))).await;
    let csv = "670,1,38,7,0.0,2,1,1,77864.41,1,0,0";
    for path in ["/invocations", "/endpoints/x/invocations"] {
        for (key, expected) in [(None, 401), (Some("nope"), 403), (Some(KEY), 200)] {
            let mut request = app
                .client
                .post(app.url(path))
                .header("content-type", "text/csv")
                .body(csv);
            if let Some(key) = key {
                request = request.header("x-api-key", key);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            assert_eq!(status, expected, "{path} {key:?}: {text}");
        }
    }
    for path in ["/ping", "/healthz"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_request_finish() {
    // Arrange: a server whose shutdown we trigger, and a request whose body is still arriving.
    let mut settings = Settings::from_env().unwrap();
    settings.port = 0;
    // No drain: stop accepting at once (the drain has its own test, `resilience`).
    settings.drain_seconds = 0;
    let app = Application::build(&settings, server::config::Runtime::Server)
        .await
        .unwrap();
    let address = app.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let body = predict_body();
    let (head, tail) = body.split_at(10);
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    // `Expect: 100-continue`: hyper answers `100 Continue` once the handler reads the body,
    // so the request is observably in flight before the shutdown starts.
    let request = format!(
        "POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         expect: 100-continue\r\ncontent-length: {}\r\n\r\n{head}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut continued = Vec::new();
    let mut byte = [0u8; 1];
    while !continued.ends_with(b"\r\n\r\n") {
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte))
            .await
            .expect("100 Continue in time")
            .unwrap();
        assert_eq!(read, 1, "closed before 100 Continue");
        continued.push(byte[0]);
    }
    assert!(
        continued.starts_with(b"HTTP/1.1 100"),
        "{}",
        String::from_utf8_lossy(&continued)
    );

    // Act: shut down mid-request; once the listener is closed, finish the body.
    stop.send(()).unwrap();
    let mut closed = false;
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(address).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(closed, "the server kept accepting after shutdown");
    stream.write_all(tail.as_bytes()).await.unwrap();

    // Assert: the request is answered, then the server stops.
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("answered in time")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("Will Not Exit"), "{answer}");
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops once idle")
        .unwrap()
        .unwrap();
}
