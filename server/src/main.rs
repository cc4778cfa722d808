use std::process::ExitCode;

use server::config::{Command, Runtime, Settings};
use server::{startup::Application, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let settings = Settings::load();
    if let Some(Command::Score(args)) = &settings.command {
        // Standard output may be the scored file: logs go to stderr, warnings only by default.
        telemetry::init_for_command_line(&settings.log_format);
        return Ok(match server::score::run(&settings, args).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("churn-predict score: {e:#}");
                ExitCode::FAILURE
            }
        });
    }
    let runtime = Runtime::detect(&settings);
    // Kept until the end of `main`: dropping it flushes the log lines still queued.
    let _log_writer = telemetry::init(&settings.log_format, runtime);
    match runtime {
        Runtime::Lambda => server::lambda::run(&settings).await?,
        runtime @ (Runtime::Server | Runtime::SageMakerContainer) => {
            let app = Application::build(&settings, runtime).await?;
            app.run_until_stopped().await?
        }
    }
    Ok(ExitCode::SUCCESS)
}
