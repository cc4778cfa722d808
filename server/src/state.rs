//! What every handler shares: the backend, the request limits and the model card. Built once
//! by the entry points (`crate::startup`); handlers only read it.

use std::sync::Arc;

use model::{Backend, ModelCard};

use crate::backends::{self, BackendChoice};
use crate::config::Settings;
use crate::metrics::Observed;

/// Request limits, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_batch: usize,
    /// Largest CSV body of `POST /score`.
    pub max_score_bytes: usize,
}

impl Limits {
    pub fn from_settings(settings: &Settings) -> Limits {
        Limits {
            max_body_bytes: settings.max_body_bytes,
            max_batch: settings.max_batch,
            max_score_bytes: settings.max_score_bytes,
        }
    }
}

/// Shared by every handler: one `Arc`, so a clone (several per request: each extractor and
/// route layer takes its own) touches one reference count. Reads as [`Shared`].
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares.
pub struct Shared {
    /// Scores (observed: every prediction is counted and logged, whichever route asked) and,
    /// when a local model exists, explains.
    pub backend: Backend,
    pub limits: Limits,
    /// The bundled model's card (what it is, cross-validated quality, calibration, importance,
    /// thresholds), if serving it: the model page's figures.
    pub model_card: Option<Arc<ModelCard>>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }

    /// Decides the backend from the settings (refusing contradictions), loads and checks it.
    /// Fails at start-up, never later.
    pub async fn load(settings: &Settings) -> anyhow::Result<AppState> {
        let choice = BackendChoice::from_settings(settings)?;
        let log_payloads = settings.log_payloads;
        let loaded = backends::load(&choice, |scorer| Observed::wrap(scorer, log_payloads)).await?;
        Ok(AppState::new(Shared {
            backend: loaded.backend,
            limits: Limits::from_settings(settings),
            model_card: loaded.card,
        }))
    }
}
