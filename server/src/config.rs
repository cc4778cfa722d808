//! Configuration: every setting is an environment variable (12-factor), also a flag.
//! `churn-predict --help` prints this list with defaults.

use std::path::PathBuf;

use clap::Parser;

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
}

impl Settings {
    /// Defaults plus the environment, without reading the command line (for tests and Lambda).
    pub fn from_env() -> Result<Settings, clap::Error> {
        Settings::try_parse_from(["churn-predict"])
    }
}
