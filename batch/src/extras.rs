//! The columns `--explain` and `--levers` add after `probability` and `result`.
//!
//! - [`Reasons`]: `reason_1`, `reason_2`, `reason_3`, the names of the three fields with the
//!   largest |exact SHAP value| (the API's field names, `geography` for its three columns), in
//!   the order and with the ties `POST /predict?explain=true` gives its `reasons`.
//! - [`Levers`]: `lever_field`, `lever_to`, `lever_probability`: the best change the bank can
//!   make (the first of `?whatif=true`'s `levers`: the lowest resulting probability), the value
//!   it changes the field to, and the probability the customer would then get, written as the
//!   JSON API writes probabilities. Three empty cells when no change lowers the risk.
//!
//! Both are computed with a local model (the embedded one, or a SageMaker endpoint's local copy).
//! When another scorer gives the probabilities (a SageMaker endpoint), each lever's probability
//! is that scorer's answer for the changed customer, as `Backend::levers` makes it for the API:
//! the candidate changes of a whole chunk are scored in one call ([`ColumnWriter::chunk`]).

use std::sync::Arc;

use model::levers::{self, Lever};
use model::xgboost::ShapScratch;
use model::{Customer, Features, Model, ScoreError};

use crate::{Cells, ColumnWriter, Engine, ExtraColumns};

/// The names [`Reasons`] adds.
pub const REASON_COLUMNS: [&str; 3] = ["reason_1", "reason_2", "reason_3"];
/// The names [`Levers`] adds.
pub const LEVER_COLUMNS: [&str; 3] = ["lever_field", "lever_to", "lever_probability"];

/// `reason_1..3`: each row's three strongest fields by |exact SHAP value|.
pub struct Reasons {
    model: Arc<Model>,
}

impl Reasons {
    /// `None` when the model cannot explain (a model file without XGBoost's `sum_hessian`).
    pub fn new(model: Arc<Model>) -> Option<Reasons> {
        model.forest().can_explain().then_some(Reasons { model })
    }
}

impl ExtraColumns for Reasons {
    fn names(&self) -> &[&str] {
        &REASON_COLUMNS
    }

    fn writer(&self) -> Box<dyn ColumnWriter + '_> {
        Box::new(ReasonWriter {
            model: &self.model,
            scratch: ShapScratch::new(),
        })
    }
}

struct ReasonWriter<'a> {
    model: &'a Model,
    /// Only trees too large for TreeSHAP's tables use it (none of the bundled model's).
    scratch: ShapScratch,
}

impl ColumnWriter for ReasonWriter<'_> {
    fn write(&mut self, _row: usize, customer: &Customer, _p: f64, cells: &mut Cells<'_>) {
        match self.model.explanation_with(customer, &mut self.scratch) {
            Some(explanation) => {
                for effect in &explanation.effects[..REASON_COLUMNS.len()] {
                    cells.push(effect.field.name);
                }
            }
            // `Reasons::new` made sure the model explains; should it not, the cells stay empty
            // rather than hold a guess.
            None => (0..REASON_COLUMNS.len()).for_each(|_| cells.push_empty()),
        }
    }
}

/// `lever_field`, `lever_to`, `lever_probability`: each row's best retention lever.
pub struct Levers {
    model: Arc<Model>,
    /// The probabilities come from a scorer other than `model` (a SageMaker endpoint with a
    /// local copy): levers are re-scored by it (`Backend::explainer_scores` is false).
    rescore: bool,
}

impl Levers {
    /// `model` finds the candidate changes; with `rescore`, the run's engine gives their
    /// probabilities (the scorer's own answers for the changed customers).
    pub fn new(model: Arc<Model>, rescore: bool) -> Levers {
        Levers { model, rescore }
    }
}

impl ExtraColumns for Levers {
    fn names(&self) -> &[&str] {
        &LEVER_COLUMNS
    }

    fn writer(&self) -> Box<dyn ColumnWriter + '_> {
        Box::new(LeverWriter {
            model: &self.model,
            rescore: self.rescore,
            best: Vec::new(),
        })
    }
}

struct LeverWriter<'a> {
    model: &'a Model,
    rescore: bool,
    /// With `rescore`: the chunk's best levers, one per scored row.
    best: Vec<Option<Lever>>,
}

impl ColumnWriter for LeverWriter<'_> {
    fn chunk(
        &mut self,
        engine: &Engine<'_>,
        customers: &[Customer],
        probabilities: &[f64],
    ) -> Result<(), ScoreError> {
        if !self.rescore {
            return Ok(());
        }
        let mut all: Vec<Vec<Lever>> = customers.iter().map(|c| self.model.levers(c)).collect();
        let changed = levers::changed_rows(&all, customers);
        // At most as many rows a call as the chunk has customers: the engine's own call size.
        let mut scores = Vec::with_capacity(changed.len());
        for rows in changed.chunks(customers.len().max(1)) {
            scores.extend(score(engine, rows)?);
        }
        levers::rescore(&mut all, customers, &scores);
        self.best.clear();
        for (mut levers, &p) in all.into_iter().zip(probabilities) {
            levers::settle(&mut levers, p);
            self.best.push(levers.first().copied());
        }
        Ok(())
    }

    fn write(&mut self, row: usize, customer: &Customer, _p: f64, cells: &mut Cells<'_>) {
        let best = if self.rescore {
            self.best.get(row).copied().flatten()
        } else {
            levers::best(self.model, customer)
        };
        match best {
            Some(lever) => {
                cells.push(lever.field.name);
                cells.push_number(u64::from(lever.to));
                cells.push_probability(lever.probability);
            }
            None => (0..LEVER_COLUMNS.len()).for_each(|_| cells.push_empty()),
        }
    }
}

/// The engine's probabilities for `rows`.
fn score(engine: &Engine<'_>, rows: &[Features]) -> Result<Vec<f64>, ScoreError> {
    match engine {
        Engine::InProcess(model) => Ok(model.probabilities(rows)),
        Engine::Remote { scorer, block_on } => {
            block_on(scorer.score(rows)).map(|scores| scores.as_slice().to_vec())
        }
    }
}
