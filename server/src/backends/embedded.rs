//! The bundled (or `MODEL_PATH`) model, scored in-process: microseconds, so it runs inline on
//! the caller's task.

use std::sync::Arc;

use model::scoring::BoxFuture;
use model::{BackendInfo, Features, Model, ScoreError, Scorer, Scores};

/// [`BackendInfo::kind`] of this backend.
pub const KIND: &str = "embedded";

pub struct Embedded {
    model: Arc<Model>,
    info: BackendInfo,
}

impl Embedded {
    pub fn new(model: Arc<Model>) -> Embedded {
        let info = BackendInfo {
            kind: KIND,
            model_id: model.id().to_owned(),
            threshold: model.threshold(),
        };
        Embedded { model, info }
    }
}

impl Scorer for Embedded {
    fn score<'a>(&'a self, rows: &'a [Features]) -> BoxFuture<'a, Result<Scores, ScoreError>> {
        let scores = self.model.probabilities(rows);
        Box::pin(std::future::ready(Scores::for_rows(scores, rows.len())))
    }

    fn describe(&self) -> &BackendInfo {
        &self.info
    }
}
