//! A remote SageMaker endpoint as a [`Scorer`]: one `InvokeEndpoint` call per request
//! (`text/csv`, one row per customer), the answer read as the SageMaker XGBoost container
//! writes it (one value a line, or comma-joined as before 2022 and in multi-model mode, or
//! its JSON shapes).
//!
//! Failures are answered, never hung on. The SDK's own machinery does the waiting: one
//! operation deadline covering every attempt (`SAGEMAKER_TIMEOUT_MS` → [`ScoreError::Timeout`],
//! 504), and its standard retries (exponential backoff with jitter and a retry budget, up to
//! `SAGEMAKER_MAX_ATTEMPTS`) for throttling and unavailability, with SageMaker's own transient
//! errors added to what it retries. What is left after the retries is classified here:
//! throttling and unavailability → [`ScoreError::Unavailable`] (503); the endpoint's own
//! complaints (`ModelError`, `ValidationError`) and unreadable answers →
//! [`ScoreError::Backend`] (502). The texts name the endpoint and quote it: they are for the
//! log only (see `crate::error`).

use std::time::Duration;

use anyhow::Context;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_sagemakerruntime::Client;
use aws_sdk_sagemakerruntime::config::ProvideCredentials;
use aws_sdk_sagemakerruntime::config::SharedHttpClient;
use aws_sdk_sagemakerruntime::config::interceptors::InterceptorContext;
use aws_sdk_sagemakerruntime::config::retry::{ClassifyRetry, RetryAction, RetryConfig};
use aws_sdk_sagemakerruntime::config::timeout::TimeoutConfig;
use aws_sdk_sagemakerruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sagemakerruntime::operation::invoke_endpoint::InvokeEndpointError;
use aws_sdk_sagemakerruntime::primitives::Blob;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use model::scoring::BoxFuture;
use model::{BackendInfo, Features, ScoreError, Scorer, Scores};

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
#[derive(Debug, Clone, PartialEq)]
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
    pub fn new(endpoint_name: &str, settings: &Settings) -> Options {
        Options {
            endpoint_name: endpoint_name.to_owned(),
            threshold: settings.model_threshold.unwrap_or(super::DEFAULT_THRESHOLD),
            timeout: Duration::from_millis(settings.sagemaker_timeout_ms),
            max_attempts: settings.sagemaker_max_attempts.max(1),
        }
    }
}

pub struct SageMaker {
    client: Client,
    options: Options,
    info: BackendInfo,
}

/// The first retry waits up to this long (with jitter); each next one up to twice as long.
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
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(options.max_attempts)
                    .with_initial_backoff(FIRST_BACKOFF),
            )
            .retry_classifier(SageMakerTransientErrors)
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(options.timeout)
                    .connect_timeout(options.timeout)
                    .build(),
            );
        if config.http_client().is_none() {
            sagemaker_config.set_http_client(Some(https_client()));
        }
        let sagemaker_config = sagemaker_config.build();
        tracing::info!(
            endpoint = ?endpoint,
            region = %region,
            timeout_ms = options.timeout.as_millis() as u64,
            max_attempts = options.max_attempts,
            "SageMaker backend ready"
        );
        Ok(SageMaker {
            client: Client::from_conf(sagemaker_config),
            info: BackendInfo {
                kind: "sagemaker",
                model_id: format!("sagemaker:{endpoint}"),
                threshold: options.threshold,
            },
            options,
        })
    }

    async fn invoke(&self, rows: &[Features]) -> Result<Scores, ScoreError> {
        let endpoint = &self.options.endpoint_name;
        let answer = self
            .client
            .invoke_endpoint()
            .endpoint_name(endpoint)
            .content_type("text/csv")
            .accept("text/csv")
            .body(Blob::new(encode_rows(rows)))
            .send()
            .await
            .map_err(|e| classify(endpoint, e, self.options.timeout))?;
        let body = answer.body.map(Blob::into_inner).unwrap_or_default();
        let unreadable = |problem: String| {
            ScoreError::Backend(format!(
                "endpoint {endpoint} answered something unreadable: {problem}"
            ))
        };
        let values = parse_scores(&body).map_err(unreadable)?;
        Scores::for_rows(values, rows.len())
            .map_err(|e| unreadable(format!("{e}: {}", excerpt(&body))))
    }
}

/// SageMaker's own transient errors, which the SDK's standard classifiers do not know: worth
/// another attempt while the deadline and the retry budget allow.
#[derive(Debug)]
struct SageMakerTransientErrors;

impl ClassifyRetry for SageMakerTransientErrors {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let error = match ctx.output_or_error() {
            Some(Err(error)) => error,
            _ => return RetryAction::NoActionIndicated,
        };
        match error
            .as_operation_error()
            .and_then(|e| e.downcast_ref::<InvokeEndpointError>())
        {
            Some(
                InvokeEndpointError::ModelNotReadyException(_)
                | InvokeEndpointError::ServiceUnavailable(_)
                | InvokeEndpointError::InternalFailure(_)
                | InvokeEndpointError::InternalDependencyException(_),
            ) => RetryAction::server_error(),
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "SageMakerTransientErrors"
    }
}

/// What a failed call (after the SDK's retries) means for the caller.
fn classify(
    endpoint: &str,
    error: SdkError<InvokeEndpointError, aws_sdk_sagemakerruntime::config::http::HttpResponse>,
    timeout: Duration,
) -> ScoreError {
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
                    ScoreError::Backend(format!(
                        "endpoint {endpoint} reported ModelError: {what}{original}"
                    ))
                }
                InvokeEndpointError::ValidationError(_) => ScoreError::Backend(format!(
                    "endpoint {endpoint} reported ValidationError: {what}"
                )),
                InvokeEndpointError::ModelNotReadyException(_)
                | InvokeEndpointError::ServiceUnavailable(_)
                | InvokeEndpointError::InternalFailure(_)
                | InvokeEndpointError::InternalDependencyException(_) => {
                    ScoreError::Unavailable(format!(
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
                        ScoreError::Unavailable(message)
                    } else {
                        ScoreError::Backend(message)
                    }
                }
            }
        }
        SdkError::TimeoutError(_) => ScoreError::Timeout(timeout),
        SdkError::DispatchFailure(dispatch) if dispatch.is_timeout() => {
            ScoreError::Timeout(timeout)
        }
        SdkError::DispatchFailure(dispatch) if dispatch.is_io() => {
            ScoreError::Unavailable(format!(
                "endpoint {endpoint} could not be reached: {}",
                DisplayErrorContext(&error)
            ))
        }
        _ => ScoreError::Backend(format!(
            "calling endpoint {endpoint} failed: {}",
            DisplayErrorContext(&error)
        )),
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
/// Whether they fit the rows asked is [`Scores::for_rows`]'s to say.
pub fn parse_scores(body: &[u8]) -> Result<Vec<f64>, String> {
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
                    .map_err(|_| format!("{t:?} is not a number in {}", excerpt(body)))
            })
            .collect::<Result<_, _>>()?
    };
    Ok(scores)
}

fn scores_from_json(text: &str) -> Result<Vec<f64>, String> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!("malformed JSON ({e}): {}", excerpt(text.as_bytes())))?;
    let items = match &value {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Object(o) => o
            .get("predictions")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| {
                format!(
                    "JSON without a \"predictions\" array: {}",
                    excerpt(text.as_bytes())
                )
            })?,
        _ => return Err(format!("unexpected JSON: {}", excerpt(text.as_bytes()))),
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

/// The start of an answer, quoted, for the log.
fn excerpt(body: &[u8]) -> String {
    format!(
        "{:?}",
        model::fields::shorten(&String::from_utf8_lossy(body), 200)
    )
}

impl Scorer for SageMaker {
    fn score<'a>(&'a self, rows: &'a [Features]) -> BoxFuture<'a, Result<Scores, ScoreError>> {
        Box::pin(self.invoke(rows))
    }

    fn describe(&self) -> &BackendInfo {
        &self.info
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
            assert_eq!(parse_scores(body.as_bytes()).unwrap(), expected, "{body:?}");
        }
    }

    #[test]
    fn a_garbled_answer_is_an_error_that_quotes_it() {
        assert!(parse_scores(b"body").unwrap_err().contains("\"body\""));
        assert!(
            parse_scores(b"{\"x\": 1}")
                .unwrap_err()
                .contains("predictions")
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
