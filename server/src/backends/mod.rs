//! Model backends: **where a backend is added.**
//!
//! A backend implements [`model::Scorer`] (feature rows in, one probability per row out, and
//! a description of itself). Which one serves is decided once, from the configuration, by
//! [`BackendChoice::from_settings`], which also refuses settings that contradict each other;
//! [`load`] then builds it. To add a backend: a module here with its `Scorer`, a variant of
//! [`BackendChoice`], its settings in `crate::config`, and its arm in `from_settings`/`load`.

pub mod embedded;
pub mod sagemaker;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use model::{Backend, Customer, Features, Model, ModelCard, Scorer};

use crate::config::Settings;

/// The backend the configuration asks for, before anything is loaded or connected.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendChoice {
    /// Score in-process: the bundled model, or `MODEL_PATH`'s.
    Embedded {
        model_path: Option<PathBuf>,
        threshold: Option<f64>,
    },
    /// Score with a SageMaker endpoint (`ENDPOINT_NAME`); explain with a checked local copy of
    /// its model when `ENDPOINT_MODEL_PATH` gives one.
    SageMaker {
        options: sagemaker::Options,
        local_copy: Option<PathBuf>,
    },
}

impl BackendChoice {
    /// Reads the backend settings; contradictory ones are an error naming the variables.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<BackendChoice> {
        let endpoint = settings.endpoint_name.as_deref().filter(|n| !n.is_empty());
        match (
            endpoint,
            &settings.model_path,
            &settings.endpoint_model_path,
        ) {
            (Some(name), Some(path), _) => bail!(
                "MODEL_PATH ({}) and ENDPOINT_NAME ({name}) are both set: MODEL_PATH scores \
                 in-process, ENDPOINT_NAME with SageMaker. Set one; to explain an endpoint's \
                 predictions with a local copy of its model, use ENDPOINT_MODEL_PATH",
                path.display()
            ),
            (None, _, Some(path)) => bail!(
                "ENDPOINT_MODEL_PATH ({}) is set without ENDPOINT_NAME: it is the local copy of \
                 an endpoint's model. Set ENDPOINT_NAME too, or use MODEL_PATH to score with \
                 this model in-process",
                path.display()
            ),
            (Some(name), None, local_copy) => Ok(BackendChoice::SageMaker {
                options: sagemaker::Options::new(name, settings),
                local_copy: local_copy.clone(),
            }),
            (None, model_path, None) => Ok(BackendChoice::Embedded {
                model_path: model_path.clone(),
                threshold: settings.model_threshold,
            }),
        }
    }
}

/// A loaded backend, and the bundled model's card when that is what serves.
pub struct Loaded {
    pub backend: Backend,
    pub card: Option<Arc<ModelCard>>,
}

/// Loads (and for SageMaker connects to and checks) the chosen backend. `observe` wraps the
/// scorer once (metrics and logs), so every route that predicts is observed the same way.
pub async fn load(
    choice: &BackendChoice,
    observe: impl FnOnce(Arc<dyn Scorer>) -> Arc<dyn Scorer>,
) -> anyhow::Result<Loaded> {
    match choice {
        BackendChoice::Embedded {
            model_path,
            threshold,
        } => {
            let (model, card) = match model_path {
                Some(path) => (
                    read_model(path, threshold.unwrap_or(DEFAULT_THRESHOLD))?,
                    None,
                ),
                None => {
                    let mut model = Model::bundled().context("loading the bundled model")?;
                    if let Some(t) = threshold {
                        model = model.with_threshold(*t).context("MODEL_THRESHOLD")?;
                    }
                    let card = ModelCard::bundled().context("reading the bundled model card")?;
                    (model, Some(Arc::new(card)))
                }
            };
            tracing::info!(
                model = model.id(),
                trees = model.forest().num_trees(),
                threshold = model.threshold(),
                "model loaded"
            );
            let model = Arc::new(model);
            Ok(Loaded {
                backend: Backend {
                    scorer: observe(Arc::new(embedded::Embedded::new(Arc::clone(&model)))),
                    explainer: Some(model),
                },
                card,
            })
        }
        BackendChoice::SageMaker {
            options,
            local_copy,
        } => {
            let endpoint = sagemaker::SageMaker::from_env(options.clone()).await?;
            let explainer = match local_copy {
                Some(path) => {
                    let model = read_model(path, options.threshold)?;
                    check_local_copy(&endpoint, &model, path).await?;
                    Some(Arc::new(model))
                }
                None => {
                    tracing::info!(
                        "no ENDPOINT_MODEL_PATH: predictions are not explained and no levers are \
                         suggested"
                    );
                    None
                }
            };
            Ok(Loaded {
                backend: Backend {
                    scorer: observe(Arc::new(endpoint)),
                    explainer,
                },
                card: None,
            })
        }
    }
}

/// The threshold of a model without a card (MODEL_PATH, SageMaker) unless MODEL_THRESHOLD says.
pub const DEFAULT_THRESHOLD: f64 = 0.5;

fn read_model(path: &std::path::Path, threshold: f64) -> anyhow::Result<Model> {
    let bytes = crate::model_file::read(path)?;
    Model::from_bytes(&bytes, threshold).with_context(|| format!("loading {}", path.display()))
}

/// Largest difference allowed between the endpoint and its local copy on the probe customers.
pub const LOCAL_COPY_TOLERANCE: f64 = 1e-6;

/// Refuses to start when the local copy does not score like the endpoint: explanations from
/// another model would be wrong without anyone noticing.
async fn check_local_copy(
    endpoint: &dyn Scorer,
    copy: &Model,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    let probes = probe_rows();
    let remote = endpoint.score(&probes).await.with_context(|| {
        format!(
            "scoring the probe customers on the endpoint to check ENDPOINT_MODEL_PATH {}",
            path.display()
        )
    })?;
    for (row, &theirs) in probes.iter().zip(remote.as_slice()) {
        let ours = f64::from(copy.probability(row));
        if (ours - theirs).abs() > LOCAL_COPY_TOLERANCE {
            bail!(
                "ENDPOINT_MODEL_PATH {} is not the endpoint's model: for the probe {row:?} the \
                 endpoint answers {theirs} and the local copy {ours} (tolerance \
                 {LOCAL_COPY_TOLERANCE})",
                path.display()
            );
        }
    }
    tracing::info!(
        model = copy.id(),
        probes = probes.len(),
        "ENDPOINT_MODEL_PATH matches the endpoint; predictions will be explained with it"
    );
    Ok(())
}

/// Valid customers spread over the inputs: the sample, a likely leaver, and variations.
fn probe_rows() -> Vec<Features> {
    let sample = Customer::sample().features();
    let mut rows = vec![sample];
    let variations: [(usize, f32); 8] = [
        (0, 450.0),
        (1, 0.0),
        (2, 62.0),
        (3, 1.0),
        (4, 125_000.0),
        (5, 3.0),
        (7, 0.0),
        (8, 190_000.0),
    ];
    for (i, value) in variations {
        let mut row = *rows.last().unwrap_or(&sample);
        row[i] = value;
        rows.push(row);
    }
    let mut germany = sample;
    germany[9..].copy_from_slice(&[0.0, 1.0, 0.0]);
    rows.push(germany);
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn settings(args: &[&str]) -> Settings {
        let mut all = vec!["churn-predict"];
        all.extend_from_slice(args);
        Settings::try_parse_from(all).unwrap()
    }

    #[test]
    fn no_backend_settings_mean_the_bundled_model() {
        assert_eq!(
            BackendChoice::from_settings(&settings(&[])).unwrap(),
            BackendChoice::Embedded {
                model_path: None,
                threshold: None
            }
        );
    }

    #[test]
    fn conflicting_backend_settings_are_refused_naming_both_variables() {
        let err = BackendChoice::from_settings(&settings(&[
            "--model-path",
            "m.json",
            "--endpoint-name",
            "churn",
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("MODEL_PATH") && err.contains("ENDPOINT_NAME"),
            "{err}"
        );
        let err = BackendChoice::from_settings(&settings(&["--endpoint-model-path", "m.json"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ENDPOINT_MODEL_PATH") && err.contains("ENDPOINT_NAME"),
            "{err}"
        );
    }

    #[test]
    fn the_probes_are_valid_distinct_customers() {
        let rows = probe_rows();
        assert!(rows.len() >= 8);
        for (i, row) in rows.iter().enumerate() {
            let inputs = row.map(|v| model::fields::Input::Number(f64::from(v)));
            Customer::from_vector(&inputs, model::fields::At::named("probe"))
                .unwrap_or_else(|e| panic!("probe {i}: {e}"));
            assert!(!rows[..i].contains(row), "probe {i} repeats");
        }
    }
}
