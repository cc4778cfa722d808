use server::config::{Runtime, Settings};
use server::{startup::Application, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load();
    telemetry::init(&settings.log_format);
    match Runtime::detect(&settings) {
        Runtime::Lambda => server::lambda::run(&settings).await,
        runtime @ (Runtime::Server | Runtime::SageMakerContainer) => {
            let app = Application::build(&settings, runtime).await?;
            app.run_until_stopped().await
        }
    }
}
