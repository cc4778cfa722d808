//! Configuration: every setting is an environment variable (12-factor), also a flag.
//! `churn-predict --help` prints this list with defaults.

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Debug, Clone, Parser)]
#[command(
    name = "churn-predict",
    version,
    about = "Predicts whether a bank customer will leave."
)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 3000)]
    pub port: u16,

    /// Under `serve`, the port to listen on when PORT is not set (otherwise 8080). SageMaker
    /// sets it for multi-container endpoints and inference pipelines; ignored without `serve`.
    #[arg(long, env = "SAGEMAKER_BIND_TO_PORT",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub sagemaker_bind_to_port: Option<u16>,

    /// An XGBoost model (JSON or UBJSON, or SageMaker's `model.tar.gz`) to score with
    /// in-process instead of the bundled one. Not together with ENDPOINT_NAME.
    #[arg(long, env = "MODEL_PATH")]
    pub model_path: Option<PathBuf>,

    /// Decision threshold: "Will Exit" when the probability reaches it. Default: the bundled
    /// model's card (0.5), and 0.5 for a MODEL_PATH model or a SageMaker endpoint.
    #[arg(long, env = "MODEL_THRESHOLD")]
    pub model_threshold: Option<f64>,

    /// Largest JSON request body, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Most customers in one batch request.
    #[arg(long, env = "MAX_BATCH", default_value_t = 1000)]
    pub max_batch: usize,

    /// Largest CSV file scored by `POST /score`, in bytes (10 MB: about 130,000 customers).
    /// Under Lambda, requests and answers are capped at 6 MB whatever this says, and the
    /// answer is larger than the file: the SAM template sets 2,500,000.
    #[arg(long, env = "MAX_SCORE_BYTES", default_value_t = 10 * 1000 * 1000)]
    pub max_score_bytes: usize,

    /// Log format: `text` for people, `json` for log collectors.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    /// A SageMaker endpoint to score with instead of the in-process model (AWS region and
    /// credentials from the usual chain; `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` overrides the URL).
    #[arg(long, env = "ENDPOINT_NAME")]
    pub endpoint_name: Option<String>,

    /// A local copy of the SageMaker endpoint's model (its `model.tar.gz` or model file), used
    /// only to explain its predictions and suggest levers; probabilities still come from the
    /// endpoint. Checked against the endpoint at start. Only with ENDPOINT_NAME.
    #[arg(long, env = "ENDPOINT_MODEL_PATH")]
    pub endpoint_model_path: Option<PathBuf>,

    /// Deadline for one SageMaker prediction, retries included, in milliseconds.
    #[arg(long, env = "SAGEMAKER_TIMEOUT_MS", default_value_t = 5000)]
    pub sagemaker_timeout_ms: u64,

    /// Most attempts per SageMaker prediction when the endpoint is throttled or unavailable.
    #[arg(long, env = "SAGEMAKER_MAX_ATTEMPTS", default_value_t = 3)]
    pub sagemaker_max_attempts: u32,

    // ---- Security and limits (see `crate::middleware`) ----
    /// Comma-separated API keys (development). When this or API_KEYS_FILE is set, the JSON
    /// API's and the SageMaker-compatible prediction routes (`POST /predict`, `POST /`,
    /// `POST /invocations`, `POST /endpoints/{name}/invocations`) need a valid `x-api-key`
    /// header, and the web pages need a person signed in with a key (see SESSION_SECRET and
    /// PAGES_OPEN). `/healthz`, `/ping`, `/model` and `/metrics` stay open. Each key must have
    /// at least 16 characters (checked at start). Never logged.
    #[arg(long, env = "API_KEYS", hide_env_values = true)]
    pub api_keys: Option<ApiKeyList>,

    /// A file of API keys (production): one `name:sha256-hex-of-key` a line; `#` comments and
    /// blank lines are ignored. Only digests are stored, so the file reveals no key.
    #[arg(long, env = "API_KEYS_FILE")]
    pub api_keys_file: Option<PathBuf>,

    /// Steady requests per second allowed to each API key (a usage plan's throttle rate).
    #[arg(long, env = "RATE_LIMIT_PER_SECOND", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_per_second: u32,

    /// Requests a key may send at once above the steady rate (a usage plan's burst).
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_burst: u32,

    /// Longest a request may take, reading its body included; answered 408 after that.
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_ms: u64,

    /// Longest wait for a request's headers, from their first byte (for a new connection: from
    /// accepting it); then the connection is closed. Short: a client sends its headers at once.
    #[arg(long, env = "HEADER_TIMEOUT_MS", default_value_t = 5_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_ms: u64,

    /// How long an idle keep-alive connection is kept for the client's next request. Longer than
    /// a load balancer's idle timeout (ALB: 60 s), so the balancer, not us, closes idle
    /// connections. Above 3/4 of MAX_CONNECTIONS, idle connections get HEADER_TIMEOUT_MS only.
    #[arg(long, env = "KEEP_ALIVE_TIMEOUT_MS", default_value_t = 75_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub keep_alive_timeout_ms: u64,

    /// A connection whose client accepts no byte of our answer for this long is closed, and
    /// the answer's memory freed.
    #[arg(long, env = "WRITE_TIMEOUT_MS", default_value_t = 20_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub write_timeout_ms: u64,

    /// Open connections at most; more are answered 503 and closed at once. Lowered at start to
    /// fit the file-descriptor limit (whose soft value is first raised to the hard one).
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// On SIGTERM: answer `/healthz` and `/ping` 503 and every answer with `Connection: close`,
    /// but keep serving for this many seconds (a load balancer's time to stop sending), then
    /// stop. 0 stops at once. Unused under Lambda.
    #[arg(long, env = "DRAIN_SECONDS", default_value_t = 5)]
    pub drain_seconds: u64,

    /// Slowest upload accepted: after a 2 s grace, a request body must keep arriving at this
    /// many bytes a second on average, or it is answered 408. Bodies are read before a request
    /// takes one of the MAX_CONCURRENT_REQUESTS slots. 0 turns the rate check off.
    #[arg(long, env = "MIN_UPLOAD_BYTES_PER_SECOND", default_value_t = 1024)]
    pub min_upload_bytes_per_second: u32,

    /// Request bodies one client address may be uploading at once; one more is answered 429.
    /// 0: no limit.
    #[arg(long, env = "MAX_UPLOADS_PER_CLIENT", default_value_t = 32)]
    pub max_uploads_per_client: u32,

    /// Proxies in front of this server that append to `X-Forwarded-For` and set
    /// `X-Forwarded-Proto` (an ALB: 1; CloudFront then ALB: 2). 0: those headers are ignored
    /// and the client is the peer address, the scheme `http`. Used for per-client limits and
    /// the form's cross-site guard. Set it only when clients cannot bypass the proxies.
    #[arg(long, env = "TRUSTED_PROXY_HOPS", default_value_t = 0)]
    pub trusted_proxy_hops: u8,

    /// Wrong API keys one client address may present a minute (also the burst); then every
    /// key it presents is answered 429 until its allowance refills.
    #[arg(long, env = "KEY_FAILURES_PER_MINUTE", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub key_failures_per_minute: u32,

    /// Requests served at once; more are refused at once with 503 and `Retry-After`
    /// rather than queued.
    #[arg(long, env = "MAX_CONCURRENT_REQUESTS", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_requests: u32,

    /// Comma-separated origins (`https://app.example.com`) whose pages may call the JSON API
    /// from a browser. CORS is off when unset.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,

    // ---- Web pages: sign-in and page throttles (see `crate::middleware::session`) ----
    /// Open the web pages (the form and its predictions) to everyone even though API keys are
    /// configured. Page predictions are then throttled per client address
    /// (PAGE_RATE_LIMIT_PER_MINUTE). Without API keys the pages are open anyway; with keys and
    /// without this, the pages need a person signed in with an API key.
    #[arg(long, env = "PAGES_OPEN", default_value_t = false, action = clap::ArgAction::Set)]
    pub pages_open: bool,

    /// Signs the pages' session cookies (HMAC-SHA256): at least 32 random characters
    /// (`openssl rand -hex 32`), the same on every instance. Required when API keys are
    /// configured, unless PAGES_OPEN=true. Changing it signs everyone out. Never logged.
    #[arg(long, env = "SESSION_SECRET", hide_env_values = true)]
    pub session_secret: Option<Secret>,

    /// How long a sign-in to the pages lasts, in seconds (at most a week).
    #[arg(long, env = "SESSION_TTL_SECONDS", default_value_t = 8 * 3600,
          value_parser = clap::value_parser!(u64).range(60..=7 * 24 * 3600))]
    pub session_ttl_seconds: u64,

    /// Page predictions one client address may make a minute when the pages are open (no API
    /// keys, or PAGES_OPEN), and sign-in attempts one address may make a minute.
    #[arg(long, env = "PAGE_RATE_LIMIT_PER_MINUTE", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub page_rate_limit_per_minute: u32,

    /// How many of those one address may make at once above the steady rate.
    #[arg(long, env = "PAGE_RATE_LIMIT_BURST", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub page_rate_limit_burst: u32,
    // ---- end web pages
    /// Log each request's customer data (off: only the label and probability are logged).
    #[arg(long, env = "LOG_PAYLOADS", default_value_t = false, action = clap::ArgAction::Set)]
    pub log_payloads: bool,

    /// Serve Prometheus metrics at `GET /metrics` (open, like `/healthz`: keep the port private
    /// or turn this off).
    #[arg(long, env = "METRICS_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub metrics_enabled: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// How the process was started, decided once by the entry point and passed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// A plain HTTP server (laptop, container, VM).
    Server,
    /// A SageMaker inference container (`churn-predict serve`): a plain server on SageMaker's
    /// address.
    SageMakerContainer,
    /// AWS Lambda (`AWS_LAMBDA_RUNTIME_API` is set): invocations through the Runtime API,
    /// metrics as CloudWatch EMF log lines.
    Lambda,
}

impl Runtime {
    /// Only the entry point (`main`) calls this; everything else is given the answer.
    pub fn detect(settings: &Settings) -> Runtime {
        if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
            Runtime::Lambda
        } else if settings.command == Some(Command::Serve) {
            Runtime::SageMakerContainer
        } else {
            Runtime::Server
        }
    }
}

#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum Command {
    /// Run as a SageMaker inference container: listen on 0.0.0.0:8080 (or
    /// SAGEMAKER_BIND_TO_PORT) unless HOST/PORT say otherwise (SageMaker starts containers
    /// with the argument `serve`).
    Serve,
    /// Score a CSV file of customers and write it back with `probability` and `result`
    /// columns (see `crate::score`). With ENDPOINT_NAME, rows go to that SageMaker endpoint.
    Score(ScoreArgs),
}

/// `churn-predict score [INPUT] [-o OUTPUT] [--explain] [--levers] [--threshold T]
/// [--skip-invalid] [--rejects FILE] [--features-only [--id COLUMN]]`.
///
/// Exit status: 0 when every row was scored (or `--skip-invalid`), 3 when rows were rejected,
/// 1 when the run failed (unreadable input, missing columns, a backend that failed: the
/// message says what was written).
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct ScoreArgs {
    /// The CSV file: a header row, then one customer a row, with the public Churn_Modelling
    /// names (CreditScore, Geography, ...) or the API's (credit_score, geography, ...), `,` or
    /// `;`. Standard input when absent or `-`.
    pub input: Option<PathBuf>,

    /// Where to write the scored CSV (the input's columns, then probability and result).
    /// Standard output when absent or `-`.
    #[arg(short, long)]
    pub output: Option<PathBuf>,

    /// "Will Exit" when the probability reaches this (default: the model's threshold).
    #[arg(long)]
    pub threshold: Option<f64>,

    /// Exit 0 even when rows were rejected (they are still reported, never written).
    #[arg(long)]
    pub skip_invalid: bool,

    /// Write each rejected row here, verbatim, followed by its line number and the reason: a
    /// CSV with the input's header and `line` and `reason` columns, to fix and score again.
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,

    /// Write only the 12 model inputs of each valid row, headerless and comma-separated: what
    /// SageMaker's XGBoost container and Batch Transform take (see deploy/README.md).
    #[arg(long)]
    pub features_only: bool,

    /// Add reason_1, reason_2 and reason_3: the three fields with the largest effect on the
    /// row's prediction (exact SHAP values), as POST /predict?explain=true ranks them.
    #[arg(long, conflicts_with = "features_only")]
    pub explain: bool,

    /// Add the best retention lever: lever_field, lever_to and lever_probability (what
    /// POST /predict answers for the customer with that change); empty when no change the
    /// bank can make lowers the risk.
    #[arg(long, conflicts_with = "features_only")]
    pub levers: bool,

    /// With --features-only, write this input column (CustomerId, say) first on each line, for
    /// Batch Transform to join the scores back on (its InputFilter `$[1:]` drops it before
    /// the model; see deploy/transform-job.json).
    #[arg(long, value_name = "COLUMN", requires = "features_only")]
    pub id: Option<String>,
}

/// API keys given in clear (API_KEYS). Its `Debug` prints only how many there are, so
/// `Settings` can be logged.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ApiKeyList(pub Vec<String>);

impl std::str::FromStr for ApiKeyList {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(ApiKeyList(
            s.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect(),
        ))
    }
}

impl std::fmt::Debug for ApiKeyList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{} redacted]", self.0.len())
    }
}

/// A secret setting (SESSION_SECRET). Its `Debug` prints nothing of it, so `Settings` can be
/// logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::str::FromStr for Secret {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Settings {
    /// Parses the command line and the environment. `serve` changes only the defaults of
    /// `--host`/`--port` (to SageMaker's 0.0.0.0:8080, or the port SageMaker names in
    /// SAGEMAKER_BIND_TO_PORT); explicit flags and env vars still win.
    pub fn load() -> Settings {
        Settings::load_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    pub fn load_from<I, T>(args: I) -> Result<Settings, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = Settings::command().try_get_matches_from(args)?;
        let mut settings = Settings::from_arg_matches(&matches)?;
        if settings.command == Some(Command::Serve) {
            let defaulted =
                |id| matches.value_source(id) == Some(clap::parser::ValueSource::DefaultValue);
            if defaulted("host") {
                settings.host = "0.0.0.0".to_owned();
            }
            if defaulted("port") {
                settings.port = settings.sagemaker_bind_to_port.unwrap_or(8080);
            }
        }
        Ok(settings)
    }

    /// Defaults plus the environment, without reading the command line (for tests and Lambda).
    pub fn from_env() -> Result<Settings, clap::Error> {
        Settings::try_parse_from(["churn-predict"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_an_api_key() {
        let settings = Settings::try_parse_from([
            "churn-predict",
            "--api-keys",
            "alpha-secret-key-0123456789, beta-secret-key-0123456789",
        ])
        .unwrap();
        assert_eq!(settings.api_keys.as_ref().unwrap().0.len(), 2);
        let printed = format!("{settings:?} {settings:#?}");
        assert!(!printed.contains("secret-key"), "{printed}");
        assert!(printed.contains("2 redacted"), "{printed}");
    }

    #[test]
    fn debug_output_never_contains_the_session_secret() {
        let settings = Settings::try_parse_from([
            "churn-predict",
            "--session-secret",
            "a-session-secret-of-32-characters!",
        ])
        .unwrap();
        let printed = format!("{settings:?}");
        assert!(!printed.contains("a-session-secret"), "{printed}");
        assert!(printed.contains("[redacted]"), "{printed}");
    }

    #[test]
    fn cors_origins_are_comma_separated_and_off_by_default() {
        let settings = Settings::try_parse_from(["churn-predict"]).unwrap();
        assert!(settings.cors_allowed_origins.is_empty());
        let settings = Settings::try_parse_from([
            "churn-predict",
            "--cors-allowed-origins",
            "https://a.example,https://b.example",
        ])
        .unwrap();
        assert_eq!(settings.cors_allowed_origins.len(), 2);
    }

    /// Every setting is documented for operators, and the docs name no setting that does not
    /// exist (the settings' own descriptions are `--help`; docs/operations.md says what each
    /// limit does to a client).
    #[test]
    fn docs_operations_names_every_setting_and_only_real_ones() {
        let docs = include_str!("../../docs/operations.md");
        let settings: Vec<String> = Settings::command()
            .get_arguments()
            .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
            .collect();
        for name in &settings {
            assert!(
                docs.contains(&format!("`{name}`")),
                "docs/operations.md does not mention `{name}`"
            );
        }
        // Names in the tables' first column: settings, `RUST_LOG`, or AWS's own variables.
        for row in docs.lines().filter(|l| l.starts_with("| `")) {
            let first = row.split('|').nth(1).unwrap_or_default();
            let names = first.split('`').skip(1).step_by(2);
            // Environment variables are upper case (the metrics table's names are not).
            let upper = |n: &&str| {
                n.chars()
                    .all(|c| c.is_ascii_uppercase() || "_*".contains(c))
            };
            for name in names.filter(upper) {
                let name = name.trim_end_matches('*').trim_end_matches('_');
                let known = settings.iter().any(|s| s.starts_with(name))
                    || name == "RUST_LOG"
                    || name.starts_with("AWS_");
                assert!(
                    known,
                    "docs/operations.md documents `{name}`, which is no setting"
                );
            }
        }
    }
}
