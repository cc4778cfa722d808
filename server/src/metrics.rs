//! Metrics: the same figures to Prometheus (`GET /metrics`) or, on Lambda, to CloudWatch as
//! Embedded Metric Format (EMF) log lines. The sink is chosen once at start-up ([`Sink::detect`]).
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
//! Predictions are counted by [`Observed`], a `Predictor` decorator, so every entry point that
//! predicts (JSON API, form, SageMaker-compatible routes) is counted and logged the same way.

use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use model::explain::Reason;
use model::predictor::BoxFuture;
use model::{Customer, Features, PredictError, Prediction, Predictor};
use serde_json::{Map, Value, json};

use crate::error::{ErrorKind, predict_error_kind};

/// The CloudWatch namespace of the EMF lines.
pub const EMF_NAMESPACE: &str = "ChurnPredict";

/// Where the figures go.
#[derive(Clone)]
pub enum Sink {
    /// Kept in-process, rendered at `GET /metrics`.
    Prometheus(PrometheusHandle),
    /// One EMF JSON line on stdout per figure set (Lambda ships stdout to CloudWatch Logs,
    /// which turns these lines into metrics).
    Emf,
}

static SINK: OnceLock<Sink> = OnceLock::new();

impl Sink {
    /// EMF when running on Lambda (`AWS_LAMBDA_RUNTIME_API` is set), else Prometheus.
    pub fn detect() -> Sink {
        if crate::lambda::is_lambda() {
            Sink::Emf
        } else {
            Sink::Prometheus(prometheus())
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
        None => crate::error::ApiError::NotFound("GET /metrics".into()).into_response(),
    }
}

/// One request's figures.
pub fn record_request(route: &str, status: u16, latency: Duration) {
    match sink() {
        Some(Sink::Prometheus(_)) => {
            let labels = [("route", route.to_owned()), ("status", status.to_string())];
            ::metrics::counter!("http_requests_total", &labels).increment(1);
            ::metrics::histogram!("http_request_duration_seconds", "route" => route.to_owned())
                .record(latency.as_secs_f64());
        }
        Some(Sink::Emf) => emit(&emf_line(
            &[("route", route), ("status", &status.to_string())],
            &[
                ("http_requests", 1.0, "Count"),
                (
                    "http_request_duration",
                    latency.as_secs_f64() * 1000.0,
                    "Milliseconds",
                ),
            ],
            now_ms(),
        )),
        None => {}
    }
}

/// A request refused as a client error, by reason (`ApiError::kind()`).
pub fn record_rejection(reason: &'static str) {
    match sink() {
        Some(Sink::Prometheus(_)) => {
            ::metrics::counter!("rejected_inputs_total", "reason" => reason).increment(1);
        }
        Some(Sink::Emf) => emit(&emf_line(
            &[("reason", reason)],
            &[("rejected_inputs", 1.0, "Count")],
            now_ms(),
        )),
        None => {}
    }
}

pub fn record_prediction(prediction: &Prediction, backend: &'static str) {
    let label = prediction.label.as_str();
    match sink() {
        Some(Sink::Prometheus(_)) => {
            ::metrics::counter!("predictions_total", "label" => label, "backend" => backend)
                .increment(1);
            ::metrics::histogram!("prediction_probability", "backend" => backend)
                .record(prediction.probability);
        }
        Some(Sink::Emf) => emit(&emf_line(
            &[("label", label), ("backend", backend)],
            &[
                ("predictions", 1.0, "Count"),
                ("prediction_probability", prediction.probability, "None"),
            ],
            now_ms(),
        )),
        None => {}
    }
}

pub fn record_predictor_error(kind: &'static str) {
    match sink() {
        Some(Sink::Prometheus(_)) => {
            ::metrics::counter!("predictor_errors_total", "kind" => kind).increment(1);
        }
        Some(Sink::Emf) => emit(&emf_line(
            &[("kind", kind)],
            &[("predictor_errors", 1.0, "Count")],
            now_ms(),
        )),
        None => {}
    }
}

/// An EMF line: the dimensions and values as top-level members, described by `_aws`.
/// See "Embedded metric format specification" in the CloudWatch user guide.
pub fn emf_line(
    dimensions: &[(&str, &str)],
    values: &[(&str, f64, &str)],
    timestamp_ms: u64,
) -> String {
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": EMF_NAMESPACE,
                "Dimensions": [dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
                "Metrics": values.iter()
                    .map(|(name, _, unit)| json!({"Name": name, "Unit": unit}))
                    .collect::<Vec<_>>(),
            }],
        }),
    );
    for (key, value) in dimensions {
        line.insert((*key).into(), Value::from(*value));
    }
    for (name, value, _) in values {
        line.insert((*name).into(), json!(value));
    }
    Value::Object(line).to_string()
}

fn emit(line: &str) {
    // One write per line, so lines from concurrent requests never interleave.
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Middleware: counts and times every request by its matched route (never the raw path, so
/// scanners cannot blow up the label set), and counts 4xx answers by reason.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    record_request(&route, status.as_u16(), started.elapsed());
    if status.is_client_error()
        && let Some(ErrorKind(reason)) = response.extensions().get::<ErrorKind>()
    {
        record_rejection(reason);
    }
    response
}

/// A `Predictor` that counts, times and logs what another predicts. Wrap the backend once, at
/// start-up, and every route that predicts gets it.
pub struct Observed {
    inner: Arc<dyn Predictor>,
    log_payloads: bool,
}

impl Observed {
    pub fn wrap(inner: Arc<dyn Predictor>, log_payloads: bool) -> Arc<dyn Predictor> {
        Arc::new(Observed {
            inner,
            log_payloads,
        })
    }
}

/// A backend that answers more or fewer rows than it was asked for is broken: its answers
/// cannot be matched to the customers, so none is used.
fn one_per_customer<T>(answers: Vec<T>, customers: usize) -> Result<Vec<T>, PredictError> {
    if answers.len() == customers {
        Ok(answers)
    } else {
        Err(PredictError::Backend(format!(
            "the model backend returned {} predictions for {customers} customers",
            answers.len()
        )))
    }
}

impl Predictor for Observed {
    fn predict<'a>(
        &'a self,
        customers: &'a [Customer],
    ) -> BoxFuture<'a, Result<Vec<Prediction>, PredictError>> {
        Box::pin(async move {
            let backend = self.inner.backend();
            let span = tracing::Span::current();
            span.record("backend", backend);
            if self.log_payloads {
                let features: Vec<_> = customers.iter().map(Customer::features).collect();
                tracing::info!(?features, "prediction payload (LOG_PAYLOADS=true)");
            }
            let result = self
                .inner
                .predict(customers)
                .await
                .and_then(|p| one_per_customer(p, customers.len()));
            match &result {
                Ok(predictions) => {
                    for p in predictions {
                        record_prediction(p, backend);
                    }
                    if let [one] = predictions.as_slice() {
                        span.record("label", one.label.as_str());
                        span.record("probability", one.probability);
                    } else {
                        span.record("label", "batch");
                        span.record("batch", predictions.len());
                    }
                }
                Err(e) => {
                    record_predictor_error(predict_error_kind(e));
                    tracing::warn!(backend, error = %e, "the predictor failed");
                }
            }
            result
        })
    }

    fn score_features<'a>(
        &'a self,
        rows: &'a [Features],
    ) -> BoxFuture<'a, Result<Vec<f64>, PredictError>> {
        Box::pin(async move {
            let backend = self.inner.backend();
            let result = self
                .inner
                .score_features(rows)
                .await
                .and_then(|scores| one_per_customer(scores, rows.len()));
            match &result {
                Ok(scores) => {
                    for &p in scores {
                        record_prediction(&Prediction::new(p, self.inner.threshold()), backend);
                    }
                }
                Err(e) => {
                    record_predictor_error(predict_error_kind(e));
                    tracing::warn!(backend, error = %e, "the predictor failed");
                }
            }
            result
        })
    }

    fn model_id(&self) -> &str {
        self.inner.model_id()
    }

    fn threshold(&self) -> f64 {
        self.inner.threshold()
    }

    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    fn explain(&self, customer: &Customer) -> Option<Vec<Reason>> {
        self.inner.explain(customer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A broken backend: always two answers, however many rows it is asked for.
    struct AlwaysTwo;

    impl Predictor for AlwaysTwo {
        fn predict<'a>(
            &'a self,
            _: &'a [Customer],
        ) -> BoxFuture<'a, Result<Vec<Prediction>, PredictError>> {
            Box::pin(async { Ok(vec![Prediction::new(0.1, 0.5), Prediction::new(0.9, 0.5)]) })
        }
        fn score_features<'a>(
            &'a self,
            _: &'a [Features],
        ) -> BoxFuture<'a, Result<Vec<f64>, PredictError>> {
            Box::pin(async { Ok(vec![0.1, 0.9]) })
        }
        fn model_id(&self) -> &str {
            "always-two"
        }
        fn threshold(&self) -> f64 {
            0.5
        }
        fn backend(&self) -> &'static str {
            "test"
        }
    }

    fn customer() -> Customer {
        let values = [
            670.0, 1.0, 38.0, 7.0, 0.0, 2.0, 1.0, 1.0, 77864.41, 1.0, 0.0, 0.0,
        ];
        let inputs: Vec<_> = values
            .iter()
            .map(|&v| model::fields::Input::Number(v))
            .collect();
        Customer::from_vector(&inputs, "data").unwrap()
    }

    #[tokio::test]
    async fn a_backend_answering_the_wrong_number_of_predictions_is_a_backend_error() {
        let observed = Observed::wrap(Arc::new(AlwaysTwo), false);
        for customers in [vec![customer()], vec![customer(); 3]] {
            let err = observed.predict(&customers).await.unwrap_err();
            let expected = format!(
                "the model backend returned 2 predictions for {} customers",
                customers.len()
            );
            assert_eq!(err, PredictError::Backend(expected));
        }
        let two = observed.predict(&[customer(), customer()]).await.unwrap();
        assert_eq!(two.len(), 2);
    }

    #[tokio::test]
    async fn a_backend_scoring_the_wrong_number_of_rows_is_a_backend_error() {
        let observed = Observed::wrap(Arc::new(AlwaysTwo), false);
        let err = observed.score_features(&[[0.0; 12]]).await.unwrap_err();
        assert_eq!(
            err,
            PredictError::Backend(
                "the model backend returned 2 predictions for 1 customers".into()
            )
        );
        assert_eq!(
            observed.score_features(&[[0.0; 12]; 2]).await.unwrap(),
            vec![0.1, 0.9]
        );
    }

    #[test]
    fn an_emf_line_declares_its_metrics_and_carries_their_values() {
        let line = emf_line(
            &[("route", "/predict"), ("status", "200")],
            &[
                ("http_requests", 1.0, "Count"),
                ("http_request_duration", 2.5, "Milliseconds"),
            ],
            1_700_000_000_000,
        );
        assert!(!line.contains('\n'), "one line: {line}");
        let v: Value = serde_json::from_str(&line).unwrap();
        let aws = &v["_aws"];
        assert_eq!(aws["Timestamp"], 1_700_000_000_000u64);
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "ChurnPredict");
        assert_eq!(directive["Dimensions"], json!([["route", "status"]]));
        assert_eq!(
            directive["Metrics"],
            json!([
                {"Name": "http_requests", "Unit": "Count"},
                {"Name": "http_request_duration", "Unit": "Milliseconds"}
            ])
        );
        // Every dimension and metric named in the directive is a top-level member.
        assert_eq!(v["route"], "/predict");
        assert_eq!(v["status"], "200");
        assert_eq!(v["http_requests"], 1.0);
        assert_eq!(v["http_request_duration"], 2.5);
    }
}
