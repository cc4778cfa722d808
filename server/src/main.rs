use server::{config::Settings, startup::Application, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load();
    telemetry::init(&settings.log_format);
    if server::lambda::is_lambda() {
        return server::lambda::run(&settings).await;
    }
    let app = Application::build(&settings).await?;
    app.run_until_stopped().await
}
