//! The model page (`GET /model` from a browser): what the model is, how well it did in
//! cross-validation, how far its probabilities can be taken at face value (calibration), what
//! moves its predictions most (global importance), and what each threshold would flag. Every
//! figure comes from the typed model card ([`model::ModelCard`]); the server provides it, with
//! what the running backend says about itself, as a [`ModelView`] context. A model without a
//! card (MODEL_PATH, a SageMaker endpoint) gets a page that says what is known and what is not.
//! Charts are inline SVG with their figures in tables; no customer data is shown.

use std::sync::Arc;

use leptos::prelude::*;
use leptos_meta::Title;
use model::ModelCard;

use crate::charts::{CalibrationChart, ImportanceChart};
use crate::form::percent;
use crate::page::Masthead;

/// What the page shows, provided by the server.
#[derive(Debug, Clone)]
pub struct ModelView {
    /// The model that answers (`churn-xgb-…`, `sagemaker:…`).
    pub model_id: String,
    /// `embedded`, `sagemaker`.
    pub backend: &'static str,
    pub threshold: f64,
    /// Whether predictions are explained (and levers suggested), and if not, why.
    pub explains: Explains,
    /// The model card, when the server serves the bundled model.
    pub card: Option<Arc<ModelCard>>,
}

/// Whether the server explains its predictions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Explains {
    Yes,
    /// A SageMaker endpoint scores, and no local copy of its model was given.
    NoLocalModel,
    /// The model file lacks the statistics explanations need (levers still work).
    ModelCannot,
}

const SECTION: &str = "mt-6 rounded-2xl bg-white p-4 shadow-sm ring-1 ring-slate-200 sm:p-6";
const H2: &str = "text-lg font-semibold text-slate-900";
const TABLE: &str = "mt-3 w-full border-collapse text-left text-sm";
const TH: &str = "border-b border-slate-300 py-1.5 pr-3 font-semibold text-slate-900";
const TD: &str = "border-b border-slate-200 py-1.5 pr-3 tabular-nums text-slate-800";
const LINK: &str = "font-medium text-indigo-700 underline underline-offset-2 hover:text-indigo-900";
const NOTE: &str = "mt-2 text-sm text-slate-700";

fn decimal(x: f64, places: usize) -> String {
    format!("{x:.places$}")
}

#[component]
pub fn ModelPage() -> impl IntoView {
    let view = use_context::<ModelView>();
    let body = match view {
        Some(view) => {
            let card = view.card.clone();
            let details = match card {
                Some(card) => view! { <CardSections card threshold=view.threshold /> }.into_any(),
                None => view! { <Unknown /> }.into_any(),
            };
            view! {
                <Identity view />
                {details}
            }
            .into_any()
        }
        None => view! { <p class=NOTE>"Nothing is known about the model here."</p> }.into_any(),
    };
    view! {
        <Title text="The model — Churn Predict" />
        <main class="mx-auto max-w-3xl px-4 py-6 sm:px-6 sm:py-10">
            <header>
                <Masthead heading="The model behind the predictions" />
                <p class="mt-2 max-w-prose text-slate-700">
                    "What it is, how well it did on customers it had not seen, and how to read its probabilities. "
                    <a class=LINK href=".">"Back to the form"</a>
                </p>
            </header>
            {body}
            <footer class="mt-8 text-sm text-slate-600">
                "Programs get the same facts as JSON: "
                <code class="rounded bg-slate-200 px-1">"GET /model"</code>
                " without "
                <code class="rounded bg-slate-200 px-1">"Accept: text/html"</code>
                "."
            </footer>
        </main>
    }
}

/// What the running server knows whatever the card: the model, backend, threshold, and
/// whether it explains.
#[component]
fn Identity(view: ModelView) -> impl IntoView {
    let card = view.card.clone();
    let explains = match view.explains {
        Explains::Yes => {
            "Yes: each prediction's reasons (exact SHAP values) and the changes that could lower the risk."
        }
        Explains::NoLocalModel => {
            "No: this server scores with a SageMaker endpoint and has no local copy of its model (ENDPOINT_MODEL_PATH), so predictions come without reasons or levers."
        }
        Explains::ModelCannot => {
            "No reasons: the model file lacks the statistics they need (XGBoost's sum_hessian). The changes that could lower the risk are still shown."
        }
    };
    let row = |term: &'static str, value: String| {
        view! {
            <div class="grid gap-1 py-2 sm:grid-cols-[12rem_minmax(0,1fr)]">
                <dt class="font-semibold text-slate-900">{term}</dt>
                <dd class="break-words text-slate-800">{value}</dd>
            </div>
        }
    };
    let from_card = card.map(|card| {
        let trees = match (card.num_trees, card.tree_depth, card.num_leaves) {
            (Some(t), Some(d), Some(l)) => Some(format!(
                "{t} gradient-boosted trees (XGBoost), at most {d} levels deep, {l} leaves in all"
            )),
            (Some(t), _, _) => Some(format!("{t} gradient-boosted trees (XGBoost)")),
            _ => None,
        };
        let training = card.training_data.as_ref().map(|t| {
            (
                format!(
                    "{} customers, {} of whom left",
                    thousands(t.rows),
                    percent(t.positive_rate)
                ),
                t.sha256.clone(),
            )
        });
        let settings = card.hyperparameters.as_ref().map(|h| {
            let mut parts = Vec::new();
            if let Some(eta) = h.eta {
                parts.push(format!("learning rate {eta}"));
            }
            if let Some(depth) = h.max_depth {
                parts.push(format!("max depth {depth}"));
            }
            if let Some(rounds) = h.num_boost_round {
                parts.push(format!("{rounds} rounds"));
            }
            parts.join(", ")
        });
        view! {
            {trees.map(|t| row("Kind", t))}
            {row(
                "Inputs",
                format!("{} columns: {}", card.feature_names.len(), card.feature_names.join(", ")),
            )}
            {training
                .map(|(rows, hash)| {
                    view! {
                        {row("Trained on", rows)}
                        <div class="grid gap-1 py-2 sm:grid-cols-[12rem_minmax(0,1fr)]">
                            <dt class="font-semibold text-slate-900">"Training data (SHA-256)"</dt>
                            <dd class="break-all font-mono text-xs text-slate-800">{hash}</dd>
                        </div>
                    }
                })}
            {settings.filter(|s| !s.is_empty()).map(|s| row("Training settings", s))}
            {card.xgboost_version.clone().map(|v| row("XGBoost version", v))}
        }
    });
    view! {
        <section aria-labelledby="identity-heading" class=SECTION>
            <h2 id="identity-heading" class=H2>"What it is"</h2>
            <dl class="mt-2 divide-y divide-slate-200 text-sm">
                {row("Model", view.model_id.clone())}
                {row("Backend", view.backend.to_owned())}
                {row(
                    "Threshold",
                    format!(
                        "{}: a probability at or above it is answered \"Will Exit\"",
                        percent(view.threshold),
                    ),
                )}
                {row("Explanations", explains.to_owned())}
                {from_card}
            </dl>
        </section>
    }
}

/// A model without a card: what is not known.
#[component]
fn Unknown() -> impl IntoView {
    view! {
        <section aria-labelledby="unknown-heading" class=SECTION id="no-card">
            <h2 id="unknown-heading" class=H2>"What is not known"</h2>
            <p class=NOTE>
                "This model came without a model card (a model given by MODEL_PATH, or a SageMaker endpoint's), so this page cannot say how it was trained or judged: no cross-validated quality, calibration, global importance or threshold table. The bundled model has a card; "
                <code class="rounded bg-slate-200 px-1">"training/train.py"</code>
                " writes one for a model it trains."
            </p>
        </section>
    }
}

#[component]
fn CardSections(
    card: Arc<ModelCard>,
    /// The server's threshold (the card's, unless MODEL_THRESHOLD says otherwise).
    threshold: f64,
) -> impl IntoView {
    let quality = card.cv.as_ref().map(|cv| {
        let m = &cv.metrics;
        let how = format!(
            "{}-fold{} cross-validation{}: each customer scored by a model that did not train on them.",
            cv.folds,
            if cv.stratified == Some(true) { " stratified" } else { "" },
            cv.seed.map(|s| format!(" (seed {s})")).unwrap_or_default(),
        );
        let metric = |name: &'static str, what: &'static str, v: model::card::MeanStd| {
            view! {
                <tr>
                    <th scope="row" class=TD>{name}</th>
                    <td class=TD>{decimal(v.mean, 3)}</td>
                    <td class=TD>{format!("± {}", decimal(v.std, 3))}</td>
                    <td class=TD>{what}</td>
                </tr>
            }
        };
        view! {
            <section aria-labelledby="quality-heading" class=SECTION>
                <h2 id="quality-heading" class=H2>"How well it predicts"</h2>
                <p class=NOTE>{how}</p>
                <table class=TABLE id="quality-table">
                    <caption class="sr-only">"Cross-validated quality"</caption>
                    <thead>
                        <tr>
                            <th scope="col" class=TH>"Measure"</th>
                            <th scope="col" class=TH>"Mean"</th>
                            <th scope="col" class=TH>"Spread (std)"</th>
                            <th scope="col" class=TH>"Meaning"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {metric("AUC", "how well it ranks leavers above stayers (1 is perfect, 0.5 is chance)", m.auc)}
                        {metric("Accuracy", "share answered correctly at the threshold", m.accuracy)}
                        {metric("Brier score", "mean squared error of the probabilities (lower is better)", m.brier)}
                    </tbody>
                </table>
            </section>
        }
    });
    let calibration = card.calibration.clone().map(|calibration| {
        let rows = calibration
            .bins
            .iter()
            .map(|b| {
                view! {
                    <tr>
                        <th scope="row" class=TD>{b.decile}</th>
                        <td class=TD>{thousands(b.count)}</td>
                        <td class=TD>{format!("{} – {}", percent(b.predicted_min), percent(b.predicted_max))}</td>
                        <td class=TD>{percent(b.predicted_mean)}</td>
                        <td class=TD>{percent(b.observed_rate)}</td>
                    </tr>
                }
            })
            .collect_view();
        let label = "Calibration chart: for each tenth of customers, from the lowest predictions to the highest, the mean predicted churn against the share who actually left; the dashed diagonal is perfect calibration. The figures are in the table that follows.".to_owned();
        view! {
            <section aria-labelledby="calibration-heading" class=SECTION>
                <h2 id="calibration-heading" class=H2>"Can the probabilities be taken at face value?"</h2>
                <p class=NOTE>
                    "Customers are split into ten equal groups by their predicted probability. Where a group's point lies on the dashed line, as many of them left as the model predicted."
                </p>
                <figure class="mt-3">
                    <CalibrationChart bins=calibration.bins.clone() label />
                    <figcaption class="mt-1 text-xs text-slate-600">{calibration.source.clone()}</figcaption>
                </figure>
                <table class=TABLE id="calibration-table">
                    <caption class="sr-only">"Predicted and observed churn by decile"</caption>
                    <thead>
                        <tr>
                            <th scope="col" class=TH>"Decile"</th>
                            <th scope="col" class=TH>"Customers"</th>
                            <th scope="col" class=TH>"Predicted (range)"</th>
                            <th scope="col" class=TH>"Predicted (mean)"</th>
                            <th scope="col" class=TH>"Left (observed)"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </section>
        }
    });
    let importance = card.importance.clone().map(|importance| {
        let rows = importance
            .fields
            .iter()
            .map(|f| {
                let name = model::fields::field(&f.field).map_or(f.field.clone(), |x| x.label.to_owned());
                view! {
                    <tr>
                        <th scope="row" class=TD>{name}</th>
                        <td class=TD>{decimal(f.mean_abs_shap, 3)}</td>
                    </tr>
                }
            })
            .collect_view();
        let label = format!(
            "Bar chart of each field's average effect on the predictions, largest first: {}. The figures are in the table that follows.",
            importance
                .fields
                .iter()
                .take(3)
                .map(|f| model::fields::field(&f.field).map_or(f.field.as_str(), |x| x.label))
                .collect::<Vec<_>>()
                .join(", ")
        );
        view! {
            <section aria-labelledby="importance-heading" class=SECTION>
                <h2 id="importance-heading" class=H2>"What moves its predictions most"</h2>
                <p class=NOTE>
                    "The average size of each field's effect on a prediction (mean |SHAP value|, in log-odds) over the training customers. Country is the sum of its three columns."
                </p>
                <figure class="mt-3">
                    <ImportanceChart fields=importance.fields.clone() label />
                    <figcaption class="mt-1 text-xs text-slate-600">{importance.method.clone()}</figcaption>
                </figure>
                <table class=TABLE id="importance-table">
                    <caption class="sr-only">"Mean absolute SHAP value per field"</caption>
                    <thead>
                        <tr>
                            <th scope="col" class=TH>"Field"</th>
                            <th scope="col" class=TH>"Mean |SHAP| (log-odds)"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </section>
        }
    });
    let thresholds = card.thresholds.clone().map(|table| {
        let rows = table
            .rows
            .iter()
            .map(|r| {
                let current = (r.threshold - threshold).abs() < 1e-9;
                view! {
                    <tr class=if current { "bg-indigo-50 font-semibold" } else { "" }>
                        <th scope="row" class=TD>
                            {percent(r.threshold)}
                            {current.then_some(" (this server's)")}
                        </th>
                        <td class=TD>{percent(r.flagged_share)}</td>
                        <td class=TD>{r.precision.map_or_else(|| "nobody flagged".to_owned(), percent)}</td>
                        <td class=TD>{percent(r.recall)}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <section aria-labelledby="thresholds-heading" class=SECTION>
                <h2 id="thresholds-heading" class=H2>"Choosing a threshold"</h2>
                <p class=NOTE>
                    "What flagging customers at each probability would have meant: the share flagged, how many of those flagged actually left (precision), and how many of those who left were flagged (recall). A lower threshold finds more leavers and flags more stayers."
                </p>
                <table class=TABLE id="thresholds-table">
                    <caption class="sr-only">"Share flagged, precision and recall by threshold"</caption>
                    <thead>
                        <tr>
                            <th scope="col" class=TH>"Threshold"</th>
                            <th scope="col" class=TH>"Flagged"</th>
                            <th scope="col" class=TH>"Precision"</th>
                            <th scope="col" class=TH>"Recall"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
                <p class="mt-2 text-xs text-slate-600">{table.source.clone()}</p>
            </section>
        }
    });
    view! {
        {quality}
        {calibration}
        {importance}
        {thresholds}
    }
}

/// 8000 → "8,000".
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(view: Option<ModelView>) -> String {
        Owner::new().with(|| {
            if let Some(view) = view {
                provide_context(view);
            }
            view! { <ModelPage /> }.to_html()
        })
    }

    fn bundled(card: bool) -> ModelView {
        ModelView {
            model_id: "churn-xgb-6c7b5337d8c9".to_owned(),
            backend: "embedded",
            threshold: 0.5,
            explains: Explains::Yes,
            card: card.then(|| Arc::new(ModelCard::bundled().unwrap())),
        }
    }

    #[test]
    fn the_bundled_models_page_has_every_section_with_its_figures() {
        let html = render(Some(bundled(true)));
        for needle in [
            "150 gradient-boosted trees (XGBoost), at most 4 levels deep, 703 leaves in all",
            "8,000 customers",
            "b9200c151a194bedb979e30360f947ffbe3880fc0019059809163e9b9bfb483f",
            "3.2.0",
            r#"id="calibration-chart""#,
            r#"id="importance-chart""#,
            r#"id="thresholds-table""#,
            "0.862",
            "50.0%<!> (this server's)",
        ] {
            assert!(html.contains(needle), "{needle} in {html}");
        }
        let calibration = &html[html.find(r#"id="calibration-table""#).unwrap()..];
        assert_eq!(
            calibration[..calibration.find("</table>").unwrap()]
                .matches("<tr")
                .count(),
            11,
            "a header and ten deciles"
        );
        assert!(!html.contains("style="), "CSP: no inline styles");
        assert!(!html.contains(r#"id="no-card""#));
    }

    #[test]
    fn a_model_without_a_card_says_what_is_known_and_what_is_not() {
        let view = ModelView {
            model_id: "sagemaker:churn".to_owned(),
            backend: "sagemaker",
            explains: Explains::NoLocalModel,
            ..bundled(false)
        };
        let html = render(Some(view));
        assert!(
            html.contains("sagemaker:churn") && html.contains("50.0%"),
            "{html}"
        );
        assert!(html.contains("ENDPOINT_MODEL_PATH"), "{html}");
        assert!(html.contains(r#"id="no-card""#), "{html}");
        assert!(!html.contains("<svg"), "{html}");
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(8000), "8,000");
        assert_eq!(thousands(800), "800");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
