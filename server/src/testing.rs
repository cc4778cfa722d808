//! Starting the application for tests: the one way every suite (API, AWS, browser) does it.
//! The real [`Application`] (the same router, protections and accept loop as the binary) on
//! 127.0.0.1 and a port the OS picks, so tests run in parallel without clashing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::Request;
use axum::middleware::{self, Next};
use model::{Backend, Customer, SAMPLE_VECTOR};

use crate::config::{Runtime, Secret, Settings};
use crate::startup::Application;
use crate::state::{AppState, Limits, Shared};

/// A running server, with a count of the HTTP requests that reached it.
pub struct TestServer {
    pub address: SocketAddr,
    requests: Arc<AtomicUsize>,
}

impl TestServer {
    /// The embedded model with default settings.
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// Default settings changed by `configure`. The environment of the test process never
    /// chooses the backend: no `ENDPOINT_NAME` or `MODEL_PATH` unless `configure` sets them.
    pub async fn start_with(configure: impl FnOnce(&mut Settings)) -> TestServer {
        let mut settings = test_settings();
        configure(&mut settings);
        let app = Application::build(&settings, Runtime::Server)
            .await
            .expect("the app builds");
        TestServer::serve(app, None)
    }

    /// Default settings, scoring with `backend` (a stub, say `model::scoring::FnScorer`).
    pub async fn start_with_backend(backend: Backend) -> TestServer {
        let settings = test_settings();
        let state = AppState::new(Shared {
            backend,
            limits: Limits::from_settings(&settings),
            model_card: None,
        });
        let app = Application::from_state(&settings, Runtime::Server, state)
            .await
            .expect("the app builds");
        TestServer::serve(app, None)
    }

    /// Default settings, as a client sees the app behind a path prefix such as API Gateway's
    /// stage (`/prod`): what the Lambda entry passes on as `app::BasePath`.
    pub async fn start_behind_prefix(prefix: &str) -> TestServer {
        TestServer::start_behind_prefix_with(prefix, |_| {}).await
    }

    /// [`TestServer::start_behind_prefix`] with settings changed by `configure`.
    pub async fn start_behind_prefix_with(
        prefix: &str,
        configure: impl FnOnce(&mut Settings),
    ) -> TestServer {
        let mut settings = test_settings();
        configure(&mut settings);
        let app = Application::build(&settings, Runtime::Server)
            .await
            .expect("the app builds");
        TestServer::serve(app, Some(app::BasePath(prefix.to_owned())))
    }

    fn serve(app: Application, prefix: Option<app::BasePath>) -> TestServer {
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        let app = app.map_router(|router| {
            router.layer(middleware::from_fn(
                move |mut request: Request, next: Next| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    if let Some(prefix) = &prefix {
                        request.extensions_mut().insert(prefix.clone());
                    }
                    next.run(request)
                },
            ))
        });
        let address = app.local_addr();
        tokio::spawn(app.run_until_stopped());
        TestServer { address, requests }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Requests received so far (pages, stylesheet, API calls).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Defaults, on 127.0.0.1 and a free port, with no backend chosen by the environment.
pub fn test_settings() -> Settings {
    let mut settings = Settings::from_env().expect("default settings");
    settings.host = "127.0.0.1".to_owned();
    settings.port = 0;
    settings.endpoint_name = None;
    settings.endpoint_model_path = None;
    settings.model_path = None;
    // A test that configures API keys gets signed-in pages (`middleware::session`), which need a
    // secret; a test of the refusal to start without one clears it.
    settings.session_secret = Some(Secret(TEST_SESSION_SECRET.to_owned()));
    settings
}

/// The session secret [`test_settings`] configures (tests may sign cookies with it).
pub const TEST_SESSION_SECRET: &str = "test-session-secret-0123456789abcdef";

/// The original project's sample customer as the original contract's body.
pub fn sample_data_body() -> String {
    format!("{{\"data\": {}}}", sample_vector_json())
}

/// The sample customer's 12 numbers as a JSON array.
pub fn sample_vector_json() -> String {
    serde_json::to_string(&SAMPLE_VECTOR).expect("numbers serialise")
}

/// The same customer in the named form, from the field table.
pub fn sample_named() -> serde_json::Value {
    let customer = Customer::sample();
    let fields = model::fields::FIELDS.iter().map(|field| {
        let text = customer
            .value_of(field.name)
            .expect("every field has a value");
        let value = text
            .parse::<f64>()
            .map_or_else(|_| serde_json::Value::from(text), serde_json::Value::from);
        (field.name.to_owned(), value)
    });
    serde_json::Value::Object(fields.collect())
}

/// Python with the given modules, or `None` after a loud skip notice. Under CI a missing
/// interpreter or module fails the test instead: CI must run everything.
pub fn python_with(modules: &[&str]) -> Option<()> {
    let check = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!("import {}", modules.join(", ")))
        .output();
    if check.as_ref().is_ok_and(|o| o.status.success()) {
        return Some(());
    }
    let why = match check {
        Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
        Err(e) => e.to_string(),
    };
    skip(&format!("python3 with {modules:?}"), &why)
}

/// A command-line tool (`hadolint`, `cfn-lint`, `bash`) that answers `--version`, or `None`
/// after a loud skip notice; under CI its absence fails the test.
pub fn tool(program: &str) -> Option<()> {
    match std::process::Command::new(program)
        .arg("--version")
        .output()
    {
        Ok(o) if o.status.success() => Some(()),
        Ok(o) => skip(program, &String::from_utf8_lossy(&o.stderr)),
        Err(e) => skip(program, &e.to_string()),
    }
}

/// True in CI (`CI` set, not empty, `0` or `false`), where a skipped test must fail instead.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

fn skip(what: &str, why: &str) -> Option<()> {
    if in_ci() {
        panic!("in CI, but {what} is missing (run scripts/setup.sh --test): {why}");
    }
    eprintln!(
        "\n*** SKIPPED: {what} is not available ({}); run scripts/setup.sh --test ***\n",
        why.trim()
    );
    None
}
