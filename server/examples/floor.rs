//! The floor for `scripts/bench-http.sh`: the least a Rust server can do to answer our request.
//! Bare axum + serde + tokio, no model, no middleware, no logging: `POST /predict` parses
//! `{"data": [12 numbers]}` into a struct (axum's `Json`, which also checks the content type)
//! and answers a small JSON object. `GET /healthz` answers `ok` so scripts can wait for it.
//!
//! It lives in the `server` package so it links the very same axum, hyper, tokio and serde
//! builds (versions and features) as `churn-predict`: the difference measured is our stack.
//!
//! With `--frame`, the same floor wrapped in our `middleware::frame` (request id, the request's
//! log span and access line through our log writer, metrics, security headers), with logging
//! and metrics set up as `churn-predict` sets them up: what that production framing alone costs
//! over bare axum:
//! `OURS_BIN=target/release/examples/floor OURS_ARGS=--frame scripts/bench-http.sh`.
//!
//! ```sh
//! cargo build --release -p server --example floor
//! target/release/examples/floor --port 3900   # or PORT=3900; binds 127.0.0.1
//! target/release/examples/floor --port 3900 --frame > access.log
//! ```

use axum::middleware::from_fn;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use server::config::{Runtime, Settings};
use server::metrics::Sink;

#[derive(Deserialize)]
struct Request {
    data: [f64; 12],
}

#[derive(Serialize)]
struct Answer {
    result: &'static str,
    probability: f64,
}

async fn predict(Json(request): Json<Request>) -> Json<Answer> {
    // Something that depends on every input, so the parse cannot be optimised away.
    let sum: f64 = request.data.iter().sum();
    let probability = 1.0 / (1.0 + (-sum * 1e-6).exp());
    Json(Answer {
        result: if probability >= 0.5 {
            "Will Exit"
        } else {
            "Will Not Exit"
        },
        probability,
    })
}

fn port() -> u16 {
    let mut args = std::env::args().skip(1);
    let from_flag = std::iter::from_fn(|| args.next())
        .collect::<Vec<_>>()
        .windows(2)
        .find(|w| w[0] == "--port")
        .map(|w| w[1].clone());
    from_flag
        .or_else(|| std::env::var("PORT").ok())
        .map_or(3900, |p| p.parse().expect("--port/PORT: a port number"))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let app = Router::new()
        .route("/predict", post(predict))
        .route("/healthz", get(|| async { "ok" }));
    let framed = std::env::args().any(|a| a == "--frame");
    // Kept to the end of `main`: the log lines still waiting are written when it drops.
    // LOG_FORMAT as `churn-predict` reads it (its documented default, its allowed values).
    let format = Settings::from_env()
        .expect("LOG_FORMAT: text or json")
        .log_format;
    let _flush = framed.then(|| server::telemetry::init(&format, Runtime::Server));
    let app = if framed {
        Sink::for_runtime(Runtime::Server).install();
        app.layer(from_fn(server::middleware::frame::frame))
    } else {
        app
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port())).await?;
    eprintln!("floor listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}
