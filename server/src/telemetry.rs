//! Logging through `tracing`. `RUST_LOG` filters (default `info`); `LOG_FORMAT=json` gives one
//! JSON object a line for log collectors such as CloudWatch.

use tracing_subscriber::EnvFilter;

pub fn init(format: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    // A second init (several tests in one process) is harmless, so its error is ignored.
    let _ = match format {
        "json" => builder
            .json()
            .flatten_event(true)
            .with_span_list(false)
            .try_init(),
        _ => builder.try_init(),
    };
}
