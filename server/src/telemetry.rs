//! Logging through `tracing`. `RUST_LOG` filters (default `info`); `LOG_FORMAT=json` gives one
//! JSON object a line for log collectors such as CloudWatch.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The servers: `info` by default, on standard output.
pub fn init(format: &str) {
    install(format, "info,tower_http=info", std::io::stdout);
}

/// One-shot commands (`churn-predict score`), whose standard output may be data: `warn` by
/// default, on standard error.
pub fn init_for_command_line(format: &str) {
    install(format, "warn", std::io::stderr);
}

fn install<W>(format: &str, default_filter: &str, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer);
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
