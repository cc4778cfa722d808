//! What the access log says: request id, method, route, status, latency, backend and label,
//! and never an API key or the customer's data (unless LOG_PAYLOADS=true).

use std::io::Write;
use std::sync::{Arc, Mutex};

use server::config::ApiKeyList;
use tracing_subscriber::fmt::MakeWriter;

use crate::helpers::spawn_app_with;

const KEY: &str = "log-test-key-0123456789abcdef";
/// A salary no other test sends, to find the customer in the logs.
const BODY: &str = r#"{"data": [670, 1, 38, 7, 0.0, 2, 1, 1, 77864.4321, 1, 0, 0]}"#;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Runs one keyed prediction on a single-threaded runtime with a JSON subscriber capturing
/// everything the server logs, and returns the lines.
async fn logged_lines(log_payloads: bool) -> Vec<serde_json::Value> {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let app = spawn_app_with(|s| {
        s.api_keys = Some(ApiKeyList(vec![KEY.into()]));
        s.log_payloads = log_payloads;
    })
    .await;
    let response = app
        .client
        .post(app.url("/predict"))
        .header("content-type", "application/json")
        .header("x-api-key", KEY)
        .header("x-request-id", "log-test-1")
        .body(BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn the_access_log_has_the_request_facts_and_no_key_or_customer_data() {
    let lines = logged_lines(false).await;
    let finished = lines
        .iter()
        .find(|l| l["message"] == "request finished" && l["span"]["request_id"] == "log-test-1")
        .unwrap_or_else(|| panic!("no access log line in {lines:#?}"));
    assert_eq!(finished["status"], 200);
    assert!(finished["latency_ms"].is_number(), "{finished}");
    let span = &finished["span"];
    assert_eq!(span["method"], "POST");
    assert_eq!(span["route"], "/predict");
    // What was learnt while serving is written once, in the final line.
    assert_eq!(finished["backend"], "embedded");
    assert_eq!(finished["label"], "Will Not Exit");
    assert!(finished["probability"].is_number(), "{finished}");
    assert_eq!(finished["api_key"], "key1", "the key's name, not the key");
    let all = serde_json::to_string(&lines).unwrap();
    assert!(!all.contains(KEY), "the API key was logged");
    assert!(!all.contains("77864.43"), "customer data was logged");
}

#[tokio::test(flavor = "current_thread")]
async fn log_payloads_true_logs_the_customer() {
    let all = serde_json::to_string(&logged_lines(true).await).unwrap();
    assert!(all.contains("77864.43"), "{all}");
    assert!(!all.contains(KEY), "the API key was logged");
}
