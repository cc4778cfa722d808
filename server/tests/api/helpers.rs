//! The API suite's requests. The server itself starts the one way every suite starts it:
//! `server::testing::TestServer`.

use std::net::SocketAddr;

use server::config::Settings;
use server::testing::TestServer;
pub use server::testing::{sample_data_body, sample_named};

/// The sample customer's 12 numbers (`model::SAMPLE_VECTOR`) as JSON values.
pub fn sample_row() -> serde_json::Value {
    serde_json::json!(model::SAMPLE_VECTOR)
}

pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// POSTs a raw body with a content type; returns the status and the JSON answer.
    pub async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, serde_json::Value) {
        let response = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("the server answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{status} answer is not JSON ({e}): {text}"));
        (status, json)
    }

    pub async fn post_json(&self, path: &str, body: &str) -> (u16, serde_json::Value) {
        self.post(path, "application/json", body.to_owned()).await
    }
}

/// The real server with `configure`d settings.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let server = TestServer::start_with(configure).await;
    TestApp {
        address: server.address,
        client: reqwest::Client::new(),
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// An answer's header as text (the test fails if it is missing or not text).
pub fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response.headers()[name]
        .to_str()
        .unwrap_or_else(|_| panic!("{name} is not text"))
}

/// The text between `start` and the next `end` after it (a page's part, found by its markup).
pub fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {text}"))
        + start.len();
    &text[from..from + text[from..].find(end).unwrap()]
}
