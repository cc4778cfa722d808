//! Remote model backends. The embedded model implements `Predictor` in the `model` crate;
//! the ones here need the network.

pub mod sagemaker;

use std::sync::Arc;

use model::Predictor;

use crate::config::Settings;

/// The remote backend the settings ask for (`ENDPOINT_NAME`), connected and checked, or
/// `None` for the embedded model.
pub async fn from_settings(settings: &Settings) -> anyhow::Result<Option<Arc<dyn Predictor>>> {
    match sagemaker::Options::from_settings(settings) {
        Some(options) => Ok(Some(Arc::new(
            sagemaker::SageMaker::from_env(options).await?,
        ))),
        None => Ok(None),
    }
}
