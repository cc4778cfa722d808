//! Builds the application: state, the one router, and the listener.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::Request;
use axum::middleware::{from_fn, from_fn_with_state};
use model::{Model, Predictor};
use tokio::net::TcpListener;
use tower::util::option_layer;
use tower_http::cors::CorsLayer;

use crate::config::Settings;
use crate::error::ApiError;
use crate::metrics::{Observed, Sink};
use crate::middleware::auth::{ApiKeys, protect_predictions};
use crate::middleware::limits::{self, ConcurrencyCap, Uploads};
use crate::middleware::{access_log, browser, request_id};

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
                let bytes = crate::model_file::read(path)?;
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
            // Every prediction is counted and logged here, whichever route asked for it.
            predictor: Observed::wrap(Arc::new(model), settings.log_payloads),
            limits: Limits {
                max_body_bytes: settings.max_body_bytes,
                max_batch: settings.max_batch,
            },
            model_card,
        })
    }
}

impl AppState {
    /// [`AppState::from_settings`], then a remote backend (SageMaker) if one is configured.
    pub async fn load(settings: &Settings) -> anyhow::Result<AppState> {
        let mut state = AppState::from_settings(settings)?;
        if let Some(remote) = crate::backends::from_settings(settings).await? {
            state.predictor = Observed::wrap(remote, settings.log_payloads);
            state.model_card = None;
        }
        Ok(state)
    }
}

/// The protections around the routes, from the configuration (see `crate::middleware`).
#[derive(Clone)]
pub struct Hardening {
    /// `None`: no keys configured, prediction routes are open.
    pub keys: Option<Arc<ApiKeys>>,
    pub request_timeout: Duration,
    pub concurrency: ConcurrencyCap,
    /// Bodies are read before a request takes a slot (`limits::read_body_first`).
    pub uploads: Uploads,
    pub cors: Option<CorsLayer>,
    /// Serve `GET /metrics` (Prometheus sink and METRICS_ENABLED).
    pub serve_metrics: bool,
}

impl Hardening {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Hardening> {
        let sink = Sink::detect().install();
        Ok(Hardening {
            keys: ApiKeys::from_settings(settings)?,
            request_timeout: Duration::from_millis(settings.request_timeout_ms),
            concurrency: ConcurrencyCap::new(settings.max_concurrent_requests as usize),
            uploads: Uploads::new(
                settings.min_upload_bytes_per_second,
                settings.max_uploads_per_client,
                settings.max_body_bytes,
            ),
            cors: browser::cors(&settings.cors_allowed_origins)?,
            serve_metrics: settings.metrics_enabled && matches!(sink, Sink::Prometheus(_)),
        })
    }

    /// The layers every route gets, outermost first: request id (an unacceptable one dropped,
    /// then set, then propagated) → access log → CORS → security headers → metrics →
    /// timeout → body read whole → concurrency cap → the route. Each `.layer` below wraps
    /// those before it, so the code lists them innermost first.
    pub fn apply(&self, router: Router) -> Router {
        router
            // ---- sockets: a slot is taken only once the body is in (`middleware::limits`).
            .layer(from_fn_with_state(
                self.concurrency.clone(),
                limits::shed_load,
            ))
            .layer(from_fn_with_state(
                self.uploads.clone(),
                limits::read_body_first,
            ))
            .layer(from_fn_with_state(self.request_timeout, limits::timeout))
            // ---- end sockets
            .layer(from_fn(crate::metrics::track))
            .layer(browser::security_headers())
            .layer(option_layer(self.cors.clone()))
            .layer(access_log::layer())
            .layer(request_id::propagate_layer())
            .layer(request_id::set_layer())
            .layer(from_fn(request_id::drop_unacceptable_id))
    }
}

/// The only app builder: every route, for the plain server (and SageMaker container), Lambda
/// (`crate::lambda`) and tests.
pub fn router(state: AppState, hardening: &Hardening) -> Router {
    let predictions =
        crate::api::prediction_routes().merge(crate::sagemaker_compat::invocation_routes());
    let predictions = protect_predictions(predictions, hardening.keys.clone());
    // The form stays open (people have no API key), guarded against cross-site posts instead.
    let form = crate::web::routes(&state).route_layer(from_fn(browser::refuse_cross_site));
    let mut routes = Router::new()
        .merge(form)
        .merge(predictions)
        .merge(crate::api::info_routes())
        .merge(crate::sagemaker_compat::health_routes());
    if hardening.serve_metrics {
        // Open, like /healthz: scrapers cannot send x-api-key. Keep the port private, or set
        // METRICS_ENABLED=false.
        routes = routes.route("/metrics", axum::routing::get(crate::metrics::render));
    }
    hardening.apply(routes.fallback(not_found).with_state(state))
}

async fn not_found(req: Request) -> ApiError {
    ApiError::NotFound(format!("{} {}", req.method(), req.uri().path()))
}

/// A bound, ready-to-run server. Binding happens in `build`, so the port is known
/// (and taken) before anything runs: tests bind port 0 and read the real one back.
pub struct Application {
    listener: TcpListener,
    router: Router,
    /// Connection limits and the drain (`crate::serve`).
    serve: crate::serve::Options,
}

impl Application {
    pub async fn build(settings: &Settings) -> anyhow::Result<Application> {
        let state = AppState::load(settings).await?;
        let hardening = Hardening::from_settings(settings)?;
        let address = format!("{}:{}", settings.host, settings.port);
        let listener = TcpListener::bind(&address)
            .await
            .with_context(|| format!("binding {address}"))?;
        Ok(Application {
            listener,
            serve: crate::serve::Options::from_settings(
                settings,
                hardening.concurrency.readiness(),
            ),
            router: router(state, &hardening),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until SIGTERM or Ctrl-C, drains (DRAIN_SECONDS), then lets in-flight requests
    /// finish.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes, then drains for DRAIN_SECONDS (health checks 503,
    /// `Connection: close`, still serving), stops accepting, closes idle connections and lets
    /// in-flight requests finish (each bounded by the request and connection deadlines).
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(address = %self.local_addr(), "listening");
        crate::serve::serve(self.listener, self.router, self.serve, shutdown)
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
    tracing::info!("shutdown signal received");
}
