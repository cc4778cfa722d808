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

    /// An XGBoost model (JSON or UBJSON) to serve instead of the bundled one.
    #[arg(long, env = "MODEL_PATH")]
    pub model_path: Option<PathBuf>,

    /// Decision threshold for a MODEL_PATH model ("Will Exit" when the probability reaches it).
    /// The bundled model uses its card's threshold.
    #[arg(long, env = "MODEL_THRESHOLD", default_value_t = 0.5)]
    pub model_threshold: f64,

    /// Largest JSON request body, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Most customers in one batch request.
    #[arg(long, env = "MAX_BATCH", default_value_t = 1000)]
    pub max_batch: usize,

    /// Log format: `text` for people, `json` for log collectors.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    /// A SageMaker endpoint to score with instead of the in-process model (AWS region and
    /// credentials from the usual chain; `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` overrides the URL).
    #[arg(long, env = "ENDPOINT_NAME")]
    pub endpoint_name: Option<String>,

    /// Deadline for one SageMaker prediction, retries included, in milliseconds.
    #[arg(long, env = "SAGEMAKER_TIMEOUT_MS", default_value_t = 5000)]
    pub sagemaker_timeout_ms: u64,

    /// Most attempts per SageMaker prediction when the endpoint is throttled or unavailable.
    #[arg(long, env = "SAGEMAKER_MAX_ATTEMPTS", default_value_t = 3)]
    pub sagemaker_max_attempts: u32,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Run as a SageMaker inference container: listen on 0.0.0.0:8080 unless HOST/PORT say
    /// otherwise (SageMaker starts containers with the argument `serve`).
    Serve,
}

impl Settings {
    /// Parses the command line and the environment. `serve` changes only the defaults of
    /// `--host`/`--port` (to SageMaker's 0.0.0.0:8080); explicit flags and env vars still win.
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
                settings.port = 8080;
            }
        }
        Ok(settings)
    }

    /// Defaults plus the environment, without reading the command line (for tests and Lambda).
    pub fn from_env() -> Result<Settings, clap::Error> {
        Settings::try_parse_from(["churn-predict"])
    }
}
