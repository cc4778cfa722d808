//! The composition root: the one router, the protections around it, and the listener.
//! Only the entry points (`main`, `crate::lambda`, tests) use this module.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::Request;
use axum::middleware::{from_fn, from_fn_with_state};
use tokio::net::TcpListener;
use tower_http::cors::CorsLayer;

use crate::config::{Runtime, Settings};
use crate::error::ApiError;
use crate::metrics::Sink;
use crate::middleware::auth::{ApiKeys, protect_predictions};
use crate::middleware::limits::{self, ConcurrencyCap, RequestLimits, Uploads};
use crate::middleware::session::PageAccess;
use crate::middleware::{browser, compress, frame};
use crate::state::AppState;

/// The protections around the routes, from the configuration (see `crate::middleware`).
#[derive(Clone)]
pub struct Hardening {
    /// `None`: no keys configured, prediction routes are open.
    pub keys: Option<Arc<ApiKeys>>,
    pub request_timeout: Duration,
    pub concurrency: ConcurrencyCap,
    /// Bodies are read before a request takes a slot (`limits::guard`).
    pub uploads: Uploads,
    pub cors: Option<CorsLayer>,
    /// Serve `GET /metrics` (Prometheus sink and METRICS_ENABLED).
    pub serve_metrics: bool,
    /// Who may use the web pages: a sign-in with an API key, or anyone, throttled per address.
    pub pages: PageAccess,
    /// Compress HTML, CSS and JSON answers (`middleware::compress`). Off unless the entry point
    /// turns it on ([`Hardening::compressing`]): the plain server does, Lambda does not.
    pub compress: bool,
}

impl Hardening {
    /// `sink` is where metrics go (installed by the entry point for its runtime).
    pub fn from_settings(settings: &Settings, sink: &Sink) -> anyhow::Result<Hardening> {
        let keys = ApiKeys::from_settings(settings)?;
        Ok(Hardening {
            pages: PageAccess::from_settings(settings, keys.clone())?,
            compress: false,
            keys,
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

    /// Turns compression on or off (`middleware::compress`).
    pub fn compressing(mut self, on: bool) -> Hardening {
        self.compress = on;
        self
    }

    /// The layers every route gets, outermost first: the frame (request id, access log,
    /// metrics, security headers: `middleware::frame`) → compression (when on) → CORS (when
    /// configured) → the limits (`limits::guard`: within the deadline, the body read whole,
    /// then a slot; a panic answered 500) → the route. Each `.layer` below wraps those before
    /// it, so the code lists them innermost first.
    pub fn apply(&self, router: Router) -> Router {
        let limits = RequestLimits {
            timeout: self.request_timeout,
            uploads: self.uploads.clone(),
            cap: self.concurrency.clone(),
        };
        // Within the deadline, the body is read, then a slot taken; a panic becomes a 500 that
        // is logged, counted and carries the request id, the security headers and CORS's,
        // instead of a dropped connection (`middleware::limits`).
        let router = router.layer(from_fn_with_state(limits, limits::guard));
        // (Each `Router::layer` costs every request a clone of the route and a boxed future:
        // none when CORS is off, the default.)
        let router = match &self.cors {
            Some(cors) => router.layer(cors.clone()),
            None => router,
        };
        // (Not `option_layer`: compressed and plain bodies are different types.)
        let router = if self.compress {
            router.layer(compress::layer())
        } else {
            router
        };
        router.layer(from_fn(frame::frame))
    }
}

/// The only app builder: every route, for the plain server (and SageMaker container), Lambda
/// (`crate::lambda`) and tests.
pub fn router(state: AppState, hardening: &Hardening) -> Router {
    let predictions = crate::api::prediction_routes().merge(crate::sagemaker::invocation_routes());
    let predictions = protect_predictions(predictions, hardening.keys.clone());
    // The pages: people have no API key header; the page guard (`middleware::session`) wants a
    // signed-in person when keys are configured. Every post is guarded against other sites.
    let form = crate::web::routes(&state, hardening.pages.clone())
        .route_layer(from_fn(browser::refuse_cross_site));
    let mut routes = Router::new()
        .merge(form)
        .merge(predictions)
        .merge(crate::api::info_routes())
        .merge(crate::sagemaker::health_routes());
    if hardening.serve_metrics {
        // Open, like /healthz: scrapers cannot send x-api-key. Keep the port private, or set
        // METRICS_ENABLED=false.
        routes = routes.route("/metrics", axum::routing::get(crate::metrics::render));
    }
    hardening.apply(routes.fallback(not_found).with_state(state))
}

async fn not_found(req: Request) -> ApiError {
    ApiError::NotFound {
        method: req.method().to_string(),
        path: req.uri().path().to_owned(),
    }
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
    /// Loads the backend, installs the metrics sink for `runtime`, binds the listener.
    pub async fn build(settings: &Settings, runtime: Runtime) -> anyhow::Result<Application> {
        let state = AppState::load(settings).await?;
        Application::from_state(settings, runtime, state).await
    }

    /// [`Application::build`] with a state made elsewhere (tests with a stub backend).
    pub async fn from_state(
        settings: &Settings,
        runtime: Runtime,
        state: AppState,
    ) -> anyhow::Result<Application> {
        let sink = Sink::for_runtime(runtime).install();
        // Only the plain server compresses (`middleware::compress`).
        let hardening =
            Hardening::from_settings(settings, &sink)?.compressing(runtime == Runtime::Server);
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

    /// Wraps the router once more (tests count the requests that reach the server).
    pub fn map_router(mut self, wrap: impl FnOnce(Router) -> Router) -> Application {
        self.router = wrap(self.router);
        self
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
