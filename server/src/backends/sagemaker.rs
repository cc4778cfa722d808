//! A remote SageMaker endpoint as a [`Predictor`]: one `InvokeEndpoint` call per request
//! (`text/csv`, one row per customer), the answer read as the SageMaker XGBoost container
//! writes it (one value a line, or comma-joined as before 2022 and in multi-model mode, or
//! its JSON shapes).
//!
//! Failures are answered, never hung on: the whole call, retries included, has one deadline
//! (`SAGEMAKER_TIMEOUT_MS` → [`PredictError::Timeout`], 504). Throttling and unavailability are
//! retried with exponential backoff while the deadline allows (`SAGEMAKER_MAX_ATTEMPTS`), then
//! reported as [`PredictError::Unavailable`] (503). The endpoint's own complaints
//! (`ModelError`, `ValidationError`) and unreadable answers are [`PredictError::Backend`] (502).
//! The SDK's own retries are off so this loop is the only policy.

use std::time::Duration;

use anyhow::Context;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_sagemakerruntime::Client;
use aws_sdk_sagemakerruntime::config::ProvideCredentials;
use aws_sdk_sagemakerruntime::config::SharedHttpClient;
use aws_sdk_sagemakerruntime::config::retry::RetryConfig;
use aws_sdk_sagemakerruntime::config::timeout::TimeoutConfig;
use aws_sdk_sagemakerruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sagemakerruntime::operation::invoke_endpoint::InvokeEndpointError;
use aws_sdk_sagemakerruntime::primitives::Blob;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use model::predictor::BoxFuture;
use model::{Customer, Features, PredictError, Prediction, Predictor};

use crate::config::Settings;

/// The SDK's HTTPS client: hyper + rustls with `ring`. The SDK's default client
/// (`default-https-client`) brings rustls with aws-lc, about 2.1 MB more in the binary and a C
/// library to build; the workspace turns that feature off, so the client is chosen here.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// How a SageMaker backend behaves; from [`Settings`] in the binary, explicit in tests.
#[derive(Debug, Clone)]
pub struct Options {
    pub endpoint_name: String,
    /// "Will Exit" when the endpoint's probability reaches this (the same rule as embedded).
    pub threshold: f64,
    /// Deadline for one prediction, retries included.
    pub timeout: Duration,
    /// Most attempts when the endpoint is throttled or unavailable.
    pub max_attempts: u32,
}

impl Options {
    pub fn from_settings(settings: &Settings) -> Option<Options> {
        let endpoint_name = settings.endpoint_name.clone().filter(|n| !n.is_empty())?;
        Some(Options {
            endpoint_name,
            threshold: settings.model_threshold,
            timeout: Duration::from_millis(settings.sagemaker_timeout_ms),
            max_attempts: settings.sagemaker_max_attempts.max(1),
        })
    }
}

pub struct SageMaker {
    client: Client,
    options: Options,
    model_id: String,
}

/// The first retry waits this long; each next one twice as long.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// How long start-up may spend resolving credentials before it gives up with an error.
const CREDENTIALS_CHECK: Duration = Duration::from_secs(10);

impl SageMaker {
    /// Region, credentials and endpoint URL from the AWS default chain (environment, profile,
    /// container/instance role; `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` / `AWS_ENDPOINT_URL`).
    pub async fn from_env(options: Options) -> anyhow::Result<SageMaker> {
        let config = aws_config::defaults(BehaviorVersion::latest())
            // Also for the credential providers that call AWS (STS, container, instance).
            .http_client(https_client())
            .load()
            .await;
        SageMaker::connect(&config, options).await
    }

    /// Checks the configuration eagerly, so a deployment without a region or credentials fails
    /// at start-up with a clear message rather than on the first request.
    pub async fn connect(config: &SdkConfig, options: Options) -> anyhow::Result<SageMaker> {
        let endpoint = &options.endpoint_name;
        if !(options.threshold > 0.0 && options.threshold < 1.0) {
            anyhow::bail!(
                "MODEL_THRESHOLD {} must be strictly between 0 and 1",
                options.threshold
            );
        }
        let region = config.region().with_context(|| {
            format!(
                "ENDPOINT_NAME={endpoint} is set but no AWS region is configured \
                 (set AWS_REGION or a profile region)"
            )
        })?;
        let credentials = config.credentials_provider().with_context(|| {
            format!("ENDPOINT_NAME={endpoint} is set but no AWS credentials provider is configured")
        })?;
        match tokio::time::timeout(CREDENTIALS_CHECK, credentials.provide_credentials()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => anyhow::bail!(
                "ENDPOINT_NAME={endpoint} is set but no AWS credentials were found \
                 (environment, profile or role): {}",
                DisplayErrorContext(&e)
            ),
            Err(_) => anyhow::bail!(
                "ENDPOINT_NAME={endpoint} is set but resolving AWS credentials took longer \
                 than {CREDENTIALS_CHECK:?}"
            ),
        }
        let mut sagemaker_config = aws_sdk_sagemakerruntime::config::Builder::from(config)
            // Our loop below retries within the deadline; the SDK's would not know about it.
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(options.timeout)
                    .build(),
            );
        if config.http_client().is_none() {
            sagemaker_config.set_http_client(Some(https_client()));
        }
        let sagemaker_config = sagemaker_config.build();
        tracing::info!(
            endpoint = %endpoint,
            region = %region,
            timeout_ms = options.timeout.as_millis() as u64,
            max_attempts = options.max_attempts,
            "SageMaker backend ready"
        );
        Ok(SageMaker {
            client: Client::from_conf(sagemaker_config),
            model_id: format!("sagemaker:{endpoint}"),
            options,
        })
    }

    async fn invoke(&self, rows: &[Features]) -> Result<Vec<f64>, PredictError> {
        let body = encode_rows(rows);
        let deadline = tokio::time::Instant::now() + self.options.timeout;
        let mut attempt = 1;
        loop {
            let call = self
                .client
                .invoke_endpoint()
                .endpoint_name(&self.options.endpoint_name)
                .content_type("text/csv")
                .accept("text/csv")
                .body(Blob::new(body.clone()))
                .send();
            let failure = match tokio::time::timeout_at(deadline, call).await {
                Err(_) => return Err(PredictError::Timeout(self.options.timeout)),
                Ok(Ok(output)) => {
                    let answer = output.body.map(Blob::into_inner).unwrap_or_default();
                    return parse_scores(&answer, rows.len()).map_err(|problem| {
                        PredictError::Backend(format!(
                            "endpoint {} answered something unreadable: {problem}",
                            self.options.endpoint_name
                        ))
                    });
                }
                Ok(Err(e)) => classify(&self.options.endpoint_name, e, self.options.timeout),
            };
            let message = match failure {
                Failure::Final(e) => return Err(e),
                Failure::Transient(message) => message,
            };
            let backoff = FIRST_BACKOFF * 2u32.saturating_pow(attempt - 1);
            if attempt >= self.options.max_attempts
                || tokio::time::Instant::now() + backoff >= deadline
            {
                return Err(PredictError::Unavailable(format!(
                    "{message} (after {attempt} attempt{})",
                    if attempt == 1 { "" } else { "s" }
                )));
            }
            tracing::warn!(attempt, backoff_ms = backoff.as_millis() as u64, %message, "SageMaker retry");
            tokio::time::sleep(backoff).await;
            attempt += 1;
        }
    }
}

enum Failure {
    /// Worth another attempt while the deadline allows (throttled, unavailable, unreachable).
    Transient(String),
    Final(PredictError),
}

fn classify(
    endpoint: &str,
    error: SdkError<InvokeEndpointError, aws_sdk_sagemakerruntime::config::http::HttpResponse>,
    timeout: Duration,
) -> Failure {
    let status = error.raw_response().map(|r| r.status().as_u16());
    match &error {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let what = e.message().unwrap_or("no message");
            match e {
                InvokeEndpointError::ModelError(m) => {
                    let original = match (m.original_status_code(), m.original_message()) {
                        (Some(code), Some(msg)) => format!(" (the model answered {code}: {msg})"),
                        _ => String::new(),
                    };
                    Failure::Final(PredictError::Backend(format!(
                        "endpoint {endpoint} reported ModelError: {what}{original}"
                    )))
                }
                InvokeEndpointError::ValidationError(_) => Failure::Final(PredictError::Backend(
                    format!("endpoint {endpoint} reported ValidationError: {what}"),
                )),
                InvokeEndpointError::ModelNotReadyException(_)
                | InvokeEndpointError::ServiceUnavailable(_)
                | InvokeEndpointError::InternalFailure(_)
                | InvokeEndpointError::InternalDependencyException(_) => {
                    Failure::Transient(format!(
                        "endpoint {endpoint}: {}: {what}",
                        e.code().unwrap_or("error")
                    ))
                }
                other => {
                    let code = other.code().unwrap_or("an unknown error");
                    let throttled = matches!(status, Some(429 | 502 | 503 | 504))
                        || code.contains("Throttl")
                        || code == "TooManyRequestsException";
                    let message = format!(
                        "endpoint {endpoint} answered HTTP {}: {code}: {what}",
                        status.unwrap_or_default()
                    );
                    if throttled {
                        Failure::Transient(message)
                    } else {
                        Failure::Final(PredictError::Backend(message))
                    }
                }
            }
        }
        SdkError::TimeoutError(_) => Failure::Final(PredictError::Timeout(timeout)),
        SdkError::DispatchFailure(dispatch) => {
            if dispatch.is_timeout() {
                Failure::Final(PredictError::Timeout(timeout))
            } else if dispatch.is_io() {
                Failure::Transient(format!(
                    "endpoint {endpoint} could not be reached: {}",
                    DisplayErrorContext(&error)
                ))
            } else {
                Failure::Final(PredictError::Backend(format!(
                    "calling endpoint {endpoint} failed: {}",
                    DisplayErrorContext(&error)
                )))
            }
        }
        _ => Failure::Final(PredictError::Backend(format!(
            "calling endpoint {endpoint} failed: {}",
            DisplayErrorContext(&error)
        ))),
    }
}

/// One CSV line per row. Each value is the f32 feature widened to f64 and printed in full,
/// so the container parses back exactly the same f32; a missing value is an empty field.
pub fn encode_rows(rows: &[Features]) -> Vec<u8> {
    let mut csv = String::with_capacity(rows.len() * 64);
    for row in rows {
        for (i, &v) in row.iter().enumerate() {
            if i > 0 {
                csv.push(',');
            }
            if !v.is_nan() {
                csv.push_str(&f64::from(v).to_string());
            }
        }
        csv.push('\n');
    }
    csv.into_bytes()
}

/// Reads the container's answer: values separated by newlines (current containers) or commas
/// (before 2022, multi-model), or JSON (`{"predictions": [{"score": p}]}`, `[p, ...]`).
pub fn parse_scores(body: &[u8], expected: usize) -> Result<Vec<f64>, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("not UTF-8 ({e})"))?;
    let trimmed = text.trim();
    let scores: Vec<f64> = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        scores_from_json(trimmed)?
    } else {
        trimmed
            .split(['\n', ','])
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| {
                t.parse::<f64>()
                    .map_err(|_| format!("{t:?} is not a number in {}", excerpt(text)))
            })
            .collect::<Result<_, _>>()?
    };
    if scores.len() != expected {
        return Err(format!(
            "{} values for {expected} rows: {}",
            scores.len(),
            excerpt(text)
        ));
    }
    if let Some(bad) = scores.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        return Err(format!("{bad} is not a probability"));
    }
    Ok(scores)
}

fn scores_from_json(text: &str) -> Result<Vec<f64>, String> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!("malformed JSON ({e}): {}", excerpt(text)))?;
    let items = match &value {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Object(o) => o
            .get("predictions")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| format!("JSON without a \"predictions\" array: {}", excerpt(text)))?,
        _ => return Err(format!("unexpected JSON: {}", excerpt(text))),
    };
    items
        .iter()
        .map(|item| {
            item.as_f64()
                .or_else(|| item.get("score").and_then(serde_json::Value::as_f64))
                .or_else(|| item.get("probability").and_then(serde_json::Value::as_f64))
                .ok_or_else(|| format!("no score in {item}"))
        })
        .collect()
}

fn excerpt(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

impl Predictor for SageMaker {
    fn predict<'a>(
        &'a self,
        customers: &'a [Customer],
    ) -> BoxFuture<'a, Result<Vec<Prediction>, PredictError>> {
        Box::pin(async move {
            let rows: Vec<Features> = customers.iter().map(Customer::features).collect();
            let scores = self.invoke(&rows).await?;
            Ok(scores
                .into_iter()
                .map(|p| Prediction::new(p, self.options.threshold))
                .collect())
        })
    }

    fn score_features<'a>(
        &'a self,
        rows: &'a [Features],
    ) -> BoxFuture<'a, Result<Vec<f64>, PredictError>> {
        Box::pin(self.invoke(rows))
    }

    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn threshold(&self) -> f64 {
        self.options.threshold
    }

    fn backend(&self) -> &'static str {
        "sagemaker"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_split_on_newlines_or_commas_or_come_as_json() {
        let expected = vec![0.25, 0.5, 0.75];
        for body in [
            "0.25\n0.5\n0.75\n",
            "0.25,0.5,0.75",
            "0.25\r\n0.5\r\n0.75",
            r#"{"predictions": [{"score": 0.25}, {"score": 0.5}, {"score": 0.75}]}"#,
            "[0.25, 0.5, 0.75]",
        ] {
            assert_eq!(
                parse_scores(body.as_bytes(), 3).unwrap(),
                expected,
                "{body:?}"
            );
        }
    }

    #[test]
    fn a_short_or_garbled_answer_is_an_error_that_quotes_it() {
        assert!(
            parse_scores(b"0.5\n", 2)
                .unwrap_err()
                .contains("1 values for 2 rows")
        );
        assert!(parse_scores(b"body", 1).unwrap_err().contains("\"body\""));
        assert!(
            parse_scores(b"1.5", 1)
                .unwrap_err()
                .contains("not a probability")
        );
    }

    #[test]
    fn rows_are_encoded_exactly_with_missing_values_empty() {
        let mut row = [1.0f32; 12];
        row[4] = 77864.41;
        row[5] = f32::NAN;
        let csv = String::from_utf8(encode_rows(&[row])).unwrap();
        let cells: Vec<&str> = csv.trim_end().split(',').collect();
        assert_eq!(cells.len(), 12);
        assert_eq!(cells[5], "");
        assert_eq!(cells[4].parse::<f64>().unwrap() as f32, 77864.41f32);
    }
}
