//! Metrics: the same figures to Prometheus (`GET /metrics`) or, on Lambda, to CloudWatch as
//! Embedded Metric Format (EMF). The sink follows from the runtime ([`Sink::for_runtime`]),
//! decided once by the entry point.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `http_requests_total` | counter | `route` (matched path), `status` |
//! | `http_request_duration_seconds` | histogram | `route` |
//! | `predictions_total` | counter | `label`, `backend` |
//! | `prediction_probability` | histogram | `backend` |
//! | `predictor_errors_total` | counter | `kind` (`backend_timeout`, `backend_unavailable`, `backend_error`) |
//! | `rejected_inputs_total` | counter | `reason` (`ApiError::kind()`) |
//!
//! Predictions are observed by [`Observed`], a `Scorer` decorator, so every entry point that
//! predicts (JSON API, pages, SageMaker-compatible routes) is counted and logged the same way.
//! On Lambda a request's figures are gathered while it runs and written as **one** EMF
//! document when it ends (a 1,000-customer batch is one line, not a thousand).

use std::cell::RefCell;
use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use model::scoring::BoxFuture;
use model::{BackendInfo, Features, Label, Prediction, ScoreError, Scorer, Scores};
use serde_json::{Map, Value, json};

use crate::config::Runtime;
use crate::error::Refusal;
use crate::middleware::access_log;

/// The CloudWatch namespace of the EMF documents.
pub const EMF_NAMESPACE: &str = "ChurnPredict";

/// EMF allows at most this many values for one metric in one document.
const EMF_MAX_VALUES: usize = 100;

/// Where the figures go.
#[derive(Clone)]
pub enum Sink {
    /// Kept in-process, rendered at `GET /metrics`.
    Prometheus(PrometheusHandle),
    /// One EMF JSON document on stdout per request (Lambda ships stdout to CloudWatch Logs,
    /// which turns the documents into metrics).
    Emf,
}

static SINK: OnceLock<Sink> = OnceLock::new();

impl Sink {
    /// EMF on Lambda, Prometheus everywhere else.
    pub fn for_runtime(runtime: Runtime) -> Sink {
        match runtime {
            Runtime::Lambda => Sink::Emf,
            Runtime::Server | Runtime::SageMakerContainer => Sink::Prometheus(prometheus()),
        }
    }

    /// Makes this the process's sink (the first call wins: tests start many apps in one process).
    pub fn install(self) -> Sink {
        SINK.get_or_init(|| self).clone()
    }

    /// The Prometheus text, or `None` for EMF.
    pub fn render(&self) -> Option<String> {
        match self {
            Sink::Prometheus(handle) => {
                handle.run_upkeep();
                Some(handle.render())
            }
            Sink::Emf => None,
        }
    }
}

/// The process-wide Prometheus recorder, with histogram buckets (not summaries).
fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0, 10.0,
                    ],
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("prediction_probability".into()),
                        &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
                    )
                })
                .expect("static, non-empty bucket lists")
                .build_recorder();
            let handle = recorder.handle();
            if ::metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics will be empty");
            }
            // Histogram samples wait in buckets until upkeep folds them in; without it, memory
            // grows with every request when nothing scrapes /metrics. A plain thread, so it
            // outlives any one tokio runtime.
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "no metrics upkeep thread; memory grows until scraped");
            }
            handle
        })
        .clone()
}

fn sink() -> Option<&'static Sink> {
    SINK.get()
}

/// `GET /metrics`, in Prometheus text format.
pub async fn render() -> Response {
    match sink().and_then(Sink::render) {
        Some(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        None => crate::error::ApiError::NotFound {
            method: "GET".into(),
            path: "/metrics".into(),
        }
        .into_response(),
    }
}

/// One request's figures, gathered while it runs (EMF only).
#[derive(Debug, Default)]
struct Figures {
    route: String,
    status: u16,
    duration_ms: f64,
    backend: Option<&'static str>,
    will_exit: u64,
    will_not_exit: u64,
    /// At most [`EMF_MAX_VALUES`] probabilities (EMF's limit per metric and document).
    probabilities: Vec<f64>,
    rejection: Option<&'static str>,
    predictor_error: Option<&'static str>,
}

impl Figures {
    fn add_predictions(
        &mut self,
        backend: &'static str,
        predictions: impl Iterator<Item = Prediction>,
    ) {
        self.backend = Some(backend);
        for p in predictions {
            match p.label {
                Label::WillExit => self.will_exit += 1,
                Label::WillNotExit => self.will_not_exit += 1,
            }
            if self.probabilities.len() < EMF_MAX_VALUES {
                self.probabilities.push(p.probability);
            }
        }
    }

    /// The EMF document: the dimensions and values as top-level members, described by `_aws`
    /// (one directive per dimension set). See "Embedded metric format specification" in the
    /// CloudWatch user guide.
    fn emf_document(&self, timestamp_ms: u64) -> Value {
        let mut doc = Map::new();
        let mut directives = Vec::new();
        let mut directive = |dimensions: &[&str], metrics: &[(&str, &str)]| {
            directives.push(json!({
                "Namespace": EMF_NAMESPACE,
                "Dimensions": [dimensions],
                "Metrics": metrics.iter()
                    .map(|(name, unit)| json!({"Name": name, "Unit": unit}))
                    .collect::<Vec<_>>(),
            }));
        };
        if !self.route.is_empty() {
            directive(
                &["route", "status"],
                &[
                    ("http_requests", "Count"),
                    ("http_request_duration", "Milliseconds"),
                ],
            );
            doc.insert("route".into(), json!(self.route));
            doc.insert("status".into(), json!(self.status.to_string()));
            doc.insert("http_requests".into(), json!(1.0));
            doc.insert("http_request_duration".into(), json!(self.duration_ms));
        }
        if let Some(backend) = self.backend {
            directive(
                &["backend"],
                &[
                    ("predictions_will_exit", "Count"),
                    ("predictions_will_not_exit", "Count"),
                    ("prediction_probability", "None"),
                ],
            );
            doc.insert("backend".into(), json!(backend));
            doc.insert("predictions_will_exit".into(), json!(self.will_exit));
            doc.insert(
                "predictions_will_not_exit".into(),
                json!(self.will_not_exit),
            );
            doc.insert("prediction_probability".into(), json!(self.probabilities));
        }
        if let Some(reason) = self.rejection {
            directive(&["reason"], &[("rejected_inputs", "Count")]);
            doc.insert("reason".into(), json!(reason));
            doc.insert("rejected_inputs".into(), json!(1.0));
        }
        if let Some(kind) = self.predictor_error {
            directive(&["kind"], &[("predictor_errors", "Count")]);
            doc.insert("kind".into(), json!(kind));
            doc.insert("predictor_errors".into(), json!(1.0));
        }
        doc.insert(
            "_aws".into(),
            json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": directives}),
        );
        Value::Object(doc)
    }

    fn emit(&self) {
        let line = self.emf_document(now_ms()).to_string();
        // One write per document, so documents from concurrent requests never interleave.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

tokio::task_local! {
    static FIGURES: RefCell<Figures>;
}

/// Applies `f` to this request's figures (EMF), or to a one-off document when no request is
/// being tracked (a direct Lambda invocation), which is written at once.
fn with_figures(f: impl FnOnce(&mut Figures)) {
    let mut f = Some(f);
    let tracked = FIGURES.try_with(|figures| {
        if let Some(f) = f.take() {
            f(&mut figures.borrow_mut());
        }
    });
    if tracked.is_err()
        && let Some(f) = f
    {
        let mut figures = Figures::default();
        f(&mut figures);
        figures.emit();
    }
}

/// Counts a backend's answers by label and records their probabilities (labelled by the one
/// threshold rule, [`Prediction::new`], without building a list a batch would not need).
fn record_predictions(backend: &'static str, scores: &Scores, threshold: f64) {
    let predictions = || {
        scores
            .as_slice()
            .iter()
            .map(move |&p| Prediction::new(p, threshold))
    };
    match sink() {
        Some(Sink::Prometheus(_)) => {
            let handles = BackendHandles::of(backend);
            let mut exits = 0;
            for p in predictions() {
                exits += u64::from(p.label == Label::WillExit);
                handles.probability.record(p.probability);
            }
            handles.will_exit.increment(exits);
            handles.will_not_exit.increment(scores.len() as u64 - exits);
        }
        Some(Sink::Emf) => with_figures(|f| f.add_predictions(backend, predictions())),
        None => {}
    }
}

/// A backend's prediction handles, made once (see [`RouteHandles`]).
#[derive(Clone)]
struct BackendHandles {
    will_exit: ::metrics::Counter,
    will_not_exit: ::metrics::Counter,
    probability: ::metrics::Histogram,
}

impl BackendHandles {
    fn of(backend: &'static str) -> BackendHandles {
        static CACHE: OnceLock<std::sync::RwLock<Vec<(&'static str, BackendHandles)>>> =
            OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Some((_, handles)) = cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(kind, _)| *kind == backend)
        {
            return handles.clone();
        }
        let counter = |label: Label| ::metrics::counter!("predictions_total", "label" => label.as_str(), "backend" => backend);
        let handles = BackendHandles {
            will_exit: counter(Label::WillExit),
            will_not_exit: counter(Label::WillNotExit),
            probability: ::metrics::histogram!("prediction_probability", "backend" => backend),
        };
        cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push((backend, handles.clone()));
        handles
    }
}

fn record_predictor_error(kind: &'static str) {
    match sink() {
        Some(Sink::Prometheus(_)) => {
            ::metrics::counter!("predictor_errors_total", "kind" => kind).increment(1);
        }
        Some(Sink::Emf) => with_figures(|f| f.predictor_error = Some(kind)),
        None => {}
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Counts and times a request by its matched route (never the raw path, so scanners cannot
/// blow up the label set), and counts 4xx answers by reason. Run by
/// `crate::middleware::frame` around every request.
pub async fn observe<F: std::future::Future<Output = Response>>(
    route: &str,
    request: F,
) -> Response {
    let started = Instant::now();
    match sink() {
        Some(Sink::Emf) => {
            let (response, mut figures) = FIGURES
                .scope(RefCell::new(Figures::default()), async {
                    let response = request.await;
                    let figures = FIGURES.with(|f| std::mem::take(&mut *f.borrow_mut()));
                    (response, figures)
                })
                .await;
            figures.route = route.to_owned();
            figures.status = response.status().as_u16();
            figures.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
            figures.rejection = rejection(&response);
            figures.emit();
            response
        }
        Some(Sink::Prometheus(_)) => {
            let response = request.await;
            let handles = RouteHandles::of(route, response.status().as_u16());
            handles.requests.increment(1);
            handles.duration.record(started.elapsed().as_secs_f64());
            if let Some(reason) = rejection(&response) {
                ::metrics::counter!("rejected_inputs_total", "reason" => reason).increment(1);
            }
            response
        }
        None => request.await,
    }
}

/// A route's and status's Prometheus handles, made once: routes and statuses are few, and a
/// look-up by name (hashing the labels, searching the registry) on every request is not free.
#[derive(Clone)]
struct RouteHandles {
    requests: ::metrics::Counter,
    duration: ::metrics::Histogram,
}

impl RouteHandles {
    fn of(route: &str, status: u16) -> RouteHandles {
        type Cache =
            std::collections::HashMap<Box<str>, std::collections::HashMap<u16, RouteHandles>>;
        static CACHE: OnceLock<std::sync::RwLock<Cache>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Some(handles) = cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(route)
            .and_then(|by_status| by_status.get(&status))
        {
            return handles.clone();
        }
        let handles = RouteHandles {
            requests: ::metrics::counter!(
                "http_requests_total",
                "route" => route.to_owned(),
                "status" => status.to_string()
            ),
            duration: ::metrics::histogram!(
                "http_request_duration_seconds",
                "route" => route.to_owned()
            ),
        };
        cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(route.into())
            .or_default()
            .insert(status, handles.clone());
        handles
    }
}

/// The reason of a client error, if the answer is one.
fn rejection(response: &Response) -> Option<&'static str> {
    response
        .status()
        .is_client_error()
        .then(|| response.extensions().get::<Refusal>().map(|r| r.kind))
        .flatten()
}

/// A `Scorer` that counts, times and logs what another scores, and changes nothing. Wrap the
/// backend once, at start-up, and every route that predicts gets it.
pub struct Observed {
    inner: Arc<dyn Scorer>,
    log_payloads: bool,
}

impl Observed {
    pub fn wrap(inner: Arc<dyn Scorer>, log_payloads: bool) -> Arc<dyn Scorer> {
        Arc::new(Observed {
            inner,
            log_payloads,
        })
    }
}

impl Scorer for Observed {
    fn score<'a>(&'a self, rows: &'a [Features]) -> BoxFuture<'a, Result<Scores, ScoreError>> {
        Box::pin(async move {
            let info = self.inner.describe();
            if self.log_payloads {
                tracing::info!(features = ?rows, "prediction payload (LOG_PAYLOADS=true)");
            }
            // Noted first: a request that times out while the backend scores still says which.
            access_log::note(|notes| notes.backend = Some(info.kind));
            let result = self.inner.score(rows).await;
            match &result {
                Ok(scores) => {
                    record_predictions(info.kind, scores, info.threshold);
                    access_log::note(|notes| {
                        if let [probability] = scores.as_slice() {
                            let one = Prediction::new(*probability, info.threshold);
                            notes.label = Some(one.label.as_str());
                            notes.probability = Some(one.probability);
                        } else {
                            notes.label = Some("batch");
                            notes.batch = Some(scores.len());
                        }
                    });
                }
                Err(e) => {
                    record_predictor_error(e.kind());
                    // The details stay in the log, under the request's id (the span's).
                    tracing::warn!(backend = info.kind, error = %e, "the model backend failed");
                }
            }
            result
        })
    }

    fn describe(&self) -> &BackendInfo {
        self.inner.describe()
    }
}

/// The sample customer's features, for tests of this module.
#[cfg(test)]
fn sample_rows(n: usize) -> Vec<Features> {
    vec![model::Customer::sample().features(); n]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_emf_document_describes_a_whole_request() {
        let mut figures = Figures {
            route: "/predict".into(),
            status: 200,
            duration_ms: 2.5,
            ..Figures::default()
        };
        let predictions: Vec<Prediction> = (0..1000)
            .map(|i| Prediction::new(f64::from(i) / 1000.0, 0.5))
            .collect();
        figures.add_predictions("embedded", predictions.into_iter());
        let doc = figures.emf_document(1_700_000_000_000);
        let line = doc.to_string();
        assert!(!line.contains('\n'), "one line: {line}");
        let aws = &doc["_aws"];
        assert_eq!(aws["Timestamp"], 1_700_000_000_000u64);
        let directives = aws["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 2, "{doc}");
        for directive in directives {
            assert_eq!(directive["Namespace"], "ChurnPredict");
            // Every dimension and metric named in a directive is a top-level member.
            for dimension in directive["Dimensions"][0].as_array().unwrap() {
                assert!(doc.get(dimension.as_str().unwrap()).is_some(), "{doc}");
            }
            for metric in directive["Metrics"].as_array().unwrap() {
                assert!(doc.get(metric["Name"].as_str().unwrap()).is_some(), "{doc}");
            }
        }
        assert_eq!(doc["route"], "/predict");
        assert_eq!(doc["status"], "200");
        assert_eq!(doc["predictions_will_exit"], 500);
        assert_eq!(doc["predictions_will_not_exit"], 500);
        assert_eq!(
            doc["prediction_probability"].as_array().unwrap().len(),
            EMF_MAX_VALUES
        );
    }

    /// A backend that changes its mind about nothing: two scores for one row.
    struct AlwaysTwo(BackendInfo);

    impl Scorer for AlwaysTwo {
        fn score<'a>(&'a self, rows: &'a [Features]) -> BoxFuture<'a, Result<Scores, ScoreError>> {
            Box::pin(async move { Scores::for_rows(vec![0.1, 0.9], rows.len()) })
        }
        fn describe(&self) -> &BackendInfo {
            &self.0
        }
    }

    #[tokio::test]
    async fn the_observer_passes_answers_and_refusals_through_unchanged() {
        let info = BackendInfo {
            kind: "test",
            model_id: "two".into(),
            threshold: 0.5,
        };
        let observed = Observed::wrap(Arc::new(AlwaysTwo(info.clone())), false);
        assert_eq!(observed.describe(), &info);
        let two = observed.score(&sample_rows(2)).await.unwrap();
        assert_eq!(two.as_slice(), [0.1, 0.9]);
        assert!(matches!(
            observed.score(&sample_rows(1)).await,
            Err(ScoreError::Backend(_))
        ));
    }
}
