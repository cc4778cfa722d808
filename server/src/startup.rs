//! Builds the application: state, the one router, and the listener.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::Request;
use model::{Model, Predictor};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::config::Settings;
use crate::error::ApiError;

/// Request limits, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_batch: usize,
}

/// Shared by every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub predictor: Arc<dyn Predictor>,
    pub limits: Limits,
    /// The bundled model's card (features, threshold, cross-validated quality), if serving it.
    pub model_card: Option<Arc<serde_json::Value>>,
}

impl AppState {
    /// Loads the configured model backend. Fails at start-up, never later.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<AppState> {
        let (model, model_card) = match &settings.model_path {
            Some(path) => {
                let bytes = std::fs::read(path)
                    .with_context(|| format!("reading MODEL_PATH {}", path.display()))?;
                let model = Model::from_bytes(&bytes, settings.model_threshold)
                    .with_context(|| format!("loading MODEL_PATH {}", path.display()))?;
                (model, None)
            }
            None => {
                let model = Model::bundled().context("loading the bundled model")?;
                let card = serde_json::from_str(model::BUNDLED_MODEL_CARD)
                    .context("reading the bundled model card")?;
                (model, Some(Arc::new(card)))
            }
        };
        tracing::info!(
            model = model.id(),
            trees = model.forest().num_trees(),
            threshold = model.threshold(),
            "model loaded"
        );
        Ok(AppState {
            predictor: Arc::new(model),
            limits: Limits {
                max_body_bytes: settings.max_body_bytes,
                max_batch: settings.max_batch,
            },
            model_card,
        })
    }
}

/// The only app builder: every route, for the plain server, tests and (later) Lambda.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(crate::web::routes(&state))
        .merge(crate::api::routes())
        .route("/", axum::routing::post(crate::api::predict))
        .fallback(not_found)
        .with_state(state)
        .layer(TraceLayer::new_for_http())
}

async fn not_found(req: Request) -> ApiError {
    ApiError::NotFound(format!("{} {}", req.method(), req.uri().path()))
}

/// A bound, ready-to-run server. Binding happens in `build`, so the port is known
/// (and taken) before anything runs: tests bind port 0 and read the real one back.
pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    pub async fn build(settings: &Settings) -> anyhow::Result<Application> {
        let state = AppState::from_settings(settings)?;
        let address = format!("{}:{}", settings.host, settings.port);
        let listener = TcpListener::bind(&address)
            .await
            .with_context(|| format!("binding {address}"))?;
        Ok(Application {
            listener,
            router: router(state),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until SIGTERM or Ctrl-C, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        tracing::info!(address = %self.local_addr(), "listening");
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("serving HTTP")
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
