use std::net::SocketAddr;

use server::config::Settings;
use server::startup::Application;

/// The original project's sample customer, in both forms.
pub const SAMPLE_VECTOR: &str = "[670, 1, 38, 7, 0.0, 2, 1, 1, 77864.41, 1, 0, 0]";
pub fn sample_named() -> serde_json::Value {
    serde_json::json!({
        "credit_score": 670, "geography": "France", "gender": "Male", "age": 38, "tenure": 7,
        "balance": 0.0, "num_of_products": 2, "has_cr_card": 1, "is_active_member": 1,
        "estimated_salary": 77864.41
    })
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

/// Starts the real server on a free port with the embedded model and `configure`d settings.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = Settings::from_env().expect("default settings");
    settings.host = "127.0.0.1".to_owned();
    // Port 0: the OS picks a free port, so tests run in parallel without clashing.
    settings.port = 0;
    configure(&mut settings);
    let app = Application::build(&settings).await.expect("the app builds");
    let address = app.local_addr();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}
