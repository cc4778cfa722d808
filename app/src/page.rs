//! The form page. A `<form method="post" action="form">`: the profile travels in the request
//! body, never in a URL (browsers keep URLs in their history and proxies log them). The server
//! renders its answer to that post with the submission as [`crate::Posted`] context; the page
//! calls [`crate::predict_customer`] and shows the answer next to the inputs, which are kept as
//! typed. No JavaScript is needed. `GET` shows the blank form (`?example=1`: filled in with the
//! example customer, which puts no customer data in the URL either).
//!
//! Reloading an answer posts the form again (the browser asks first): that is one more
//! prediction, with the same answer.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use model::fields::{FIELDS, Field};

use crate::access::{self, Visitor};
use crate::charts;
use crate::form::{self, Answer, Control, Offer, Outcome, Reason, Submitted};

const INPUT: &str = "mt-1 block w-full rounded-lg border border-slate-300 bg-white px-3 py-2 \
    text-base shadow-sm focus:border-indigo-600 focus:outline-none focus:ring-2 \
    focus:ring-indigo-600/30 user-invalid:border-red-600 aria-invalid:border-red-600";
const LABEL: &str = "block text-sm font-semibold text-slate-800";
const HINT: &str = "mt-1 text-sm text-slate-600";
const ERROR: &str = "mt-1 text-sm font-medium text-red-700";

#[component]
pub fn FormPage() -> impl IntoView {
    // A post to this page: predict. Otherwise a blank form, or the example customer filled in.
    let posted = use_context::<crate::Posted>().map(|p| p.0);
    let example = use_query_map().with_untracked(|q| q.get_str("example").is_some());
    // A resource, so the prediction runs once: server rendering runs the `Suspense` children
    // twice (once to find what they wait for), and each run would predict and spend.
    let outcome = posted.clone().map(|submitted| {
        OnceResource::new(async move {
            crate::predict_customer(submitted)
                .await
                .unwrap_or_else(|e| {
                    tracing::error!(error = %e, "web form");
                    Outcome::Unavailable(crate::form::Failure {
                        message: e.to_string(),
                        request_id: None,
                    })
                })
        })
    });
    let submitted = match posted {
        Some(s) => s,
        None if example => Submitted::example(),
        None => Submitted::default(),
    };
    view! {
        <Suspense fallback=|| ()>
            {move || {
                let submitted = submitted.clone();
                Suspend::new(async move {
                    let outcome = match outcome {
                        Some(resource) => Some(resource.await),
                        None => None,
                    };
                    view! { <Page submitted outcome /> }
                })
            }}
        </Suspense>
    }
}

#[component]
fn Page(submitted: Submitted, outcome: Option<Outcome>) -> impl IntoView {
    let title = match &outcome {
        Some(Outcome::Predicted(a)) => {
            format!(
                "{} ({}) — Churn Predict",
                form::label_text(a.will_exit),
                form::percent(a.probability)
            )
        }
        Some(Outcome::Invalid(_)) => "Please correct the form — Churn Predict".to_owned(),
        _ => "Churn Predict".to_owned(),
    };
    let fields = FIELDS
        .iter()
        .map(|f| {
            let problem = outcome
                .as_ref()
                .and_then(|o| o.problem(f.name))
                .map(str::to_owned);
            view! { <FieldControl field=f value=submitted.get(f.name).to_owned() problem /> }
        })
        .collect_view();
    // On a phone the result comes first once there is one, so it is seen without scrolling.
    let result_order = if matches!(
        outcome,
        Some(Outcome::Predicted(_) | Outcome::Unavailable(_) | Outcome::Throttled { .. })
    ) {
        "order-first lg:order-none"
    } else {
        ""
    };
    let invalid = match &outcome {
        Some(Outcome::Invalid(problems)) => Some(problems.len()),
        _ => None,
    };
    view! {
        <Title text=title />
        <main class="mx-auto max-w-5xl px-4 py-6 sm:px-6 sm:py-10">
            <header class="mb-6 flex flex-wrap items-start justify-between gap-4">
                <div>
                    <Masthead heading="Will this customer leave the bank?" />
                    <p class="mt-2 max-w-prose text-slate-700">
                        "Enter the customer's profile and press Predict. The estimate comes from the same model as the prediction API."
                    </p>
                </div>
                <Account />
            </header>
            <div class="grid gap-6 lg:grid-cols-[minmax(0,1fr)_20rem] lg:items-start">
                <form
                    method="post"
                    action="form"
                    class="rounded-2xl bg-white p-4 shadow-sm ring-1 ring-slate-200 sm:p-6"
                    aria-describedby=invalid.map(|_| "form-problems")
                >
                    {invalid
                        .map(|n| {
                            view! {
                                <div
                                    id="form-problems"
                                    role="alert"
                                    class="mb-4 rounded-lg border border-red-200 bg-red-50 p-3 text-sm text-red-800"
                                >
                                    {if n == 1 {
                                        "One field needs correcting.".to_owned()
                                    } else {
                                        format!("{n} fields need correcting.")
                                    }}
                                    " Nothing was predicted."
                                </div>
                            }
                        })}
                    <div class="grid gap-x-4 gap-y-5 sm:grid-cols-2">{fields}</div>
                    <div class="mt-6 flex flex-wrap items-center gap-x-4 gap-y-2">
                        <button
                            type="submit"
                            class="rounded-lg bg-indigo-700 px-5 py-2.5 font-semibold text-white shadow-sm hover:bg-indigo-800 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-700"
                        >
                            "Predict"
                        </button>
                        <a
                            class="text-sm font-medium text-indigo-700 underline underline-offset-2 hover:text-indigo-900"
                            href="./?example=1"
                        >
                            "Try an example customer"
                        </a>
                        <a
                            class="text-sm font-medium text-slate-700 underline underline-offset-2 hover:text-slate-900"
                            href="."
                        >
                            "Clear"
                        </a>
                        <a
                            class="text-sm font-medium text-indigo-700 underline underline-offset-2 hover:text-indigo-900 sm:ml-auto"
                            href="batch"
                        >
                            "Score a file"
                        </a>
                    </div>
                </form>
                <div class=result_order>
                    <ResultPanel outcome />
                </div>
            </div>
            <footer class="mt-8 text-sm text-slate-600">
                "An estimate to support a conversation, not a decision. "
                <a
                    class="font-medium text-indigo-700 underline underline-offset-2 hover:text-indigo-900"
                    href="model"
                >
                    "About the model: how it was judged"
                </a>
                ". Programs can use "
                <code class="rounded bg-slate-200 px-1">"POST /predict"</code>
                " for the same answer."
            </footer>
        </main>
    }
}

/// The product's name over a page's heading: the top of every page.
#[component]
pub(crate) fn Masthead(heading: &'static str) -> impl IntoView {
    view! {
        <p class="text-sm font-semibold uppercase tracking-wide text-indigo-700">"Churn Predict"</p>
        <h1 class="mt-1 text-2xl font-bold text-slate-900 sm:text-3xl">{heading}</h1>
    }
}

/// Who is signed in, and the way out: only when API keys guard the pages.
#[component]
pub(crate) fn Account() -> impl IntoView {
    match access::visitor() {
        Visitor::SignedIn(name) => Some(view! {
            <div class="flex flex-wrap items-center gap-x-3 gap-y-1 text-sm text-slate-700">
                <p>"Signed in with the key " <strong id="signed-in-key">{name}</strong></p>
                <form method="post" action="sign-out">
                    <button
                        type="submit"
                        class="rounded-lg border border-slate-300 bg-white px-3 py-1.5 font-medium text-slate-800 hover:bg-slate-50 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-700"
                    >
                        "Sign out"
                    </button>
                </form>
            </div>
        }),
        Visitor::Anyone | Visitor::SignedOut => None,
    }
}

/// One field: a visible label, the control with constraints from the table, a hint, and
/// the server's complaint if there is one.
#[component]
pub fn FieldControl(
    field: &'static Field,
    value: String,
    problem: Option<String>,
) -> impl IntoView {
    let name = field.name;
    let hint_id = format!("{name}-hint");
    let error_id = format!("{name}-error");
    let described_by = match (field.hint.is_empty(), problem.is_some()) {
        (true, false) => None,
        (false, false) => Some(hint_id.clone()),
        (true, true) => Some(error_id.clone()),
        (false, true) => Some(format!("{hint_id} {error_id}")),
    };
    let invalid = problem.is_some().then_some("true");
    let hint =
        (!field.hint.is_empty()).then(|| view! { <p id=hint_id class=HINT>{field.hint}</p> });
    let error = problem.map(|message| view! { <p id=error_id class=ERROR>{message}</p> });
    let control = match form::control(field) {
        Control::Number {
            min,
            max,
            step,
            inputmode,
        } => view! {
            <label for=name class=LABEL>{field.label}</label>
            <input
                id=name
                name=name
                type="number"
                min=min
                max=max
                step=step
                inputmode=inputmode
                required
                placeholder=format!("e.g. {}", field.example)
                value=value
                aria-invalid=invalid
                aria-describedby=described_by
                class=INPUT
            />
        }
        .into_any(),
        Control::YesNo => {
            let chosen = value.trim().to_owned();
            view! {
                <label for=name class=LABEL>{field.label}</label>
                <select
                    id=name
                    name=name
                    required
                    aria-invalid=invalid
                    aria-describedby=described_by
                    class=INPUT
                >
                    <option value="" selected=chosen.is_empty()>"Choose…"</option>
                    <option value="1" selected=chosen == "1">"Yes"</option>
                    <option value="0" selected=chosen == "0">"No"</option>
                </select>
            }
            .into_any()
        }
        Control::Choice(names) => {
            let options = names
                .iter()
                .map(|&option| {
                    let id = format!("{name}-{}", option.to_ascii_lowercase());
                    let for_id = id.clone();
                    let checked = option.eq_ignore_ascii_case(value.trim());
                    view! {
                        <label
                            for=for_id
                            class="flex cursor-pointer items-center gap-2 rounded-lg border border-slate-300 bg-white px-3 py-2 has-checked:border-indigo-600 has-checked:bg-indigo-50 has-checked:ring-1 has-checked:ring-indigo-600 has-focus-visible:outline-2 has-focus-visible:outline-offset-2 has-focus-visible:outline-indigo-700"
                        >
                            <input
                                id=id
                                type="radio"
                                name=name
                                value=option
                                required
                                checked=checked
                                class="size-4 accent-indigo-700"
                            />
                            {option}
                        </label>
                    }
                })
                .collect_view();
            view! {
                <fieldset aria-invalid=invalid aria-describedby=described_by>
                    <legend class=LABEL>{field.label}</legend>
                    <div class="mt-1 flex flex-wrap gap-2">{options}</div>
                </fieldset>
            }
            .into_any()
        }
    };
    view! { <div class=if matches!(field.rule, model::fields::Rule::OneOf(_)) { "sm:col-span-2" } else { "" }>{control} {hint} {error}</div> }
}

#[component]
fn ResultPanel(outcome: Option<Outcome>) -> impl IntoView {
    let body = match outcome {
        None => {
            view! {
                <p class="text-slate-700">
                    "Fill in every field and press Predict. The result appears here, next to the profile."
                </p>
            }
                .into_any()
        }
        Some(Outcome::Predicted(answer)) => view! { <Prediction answer /> }.into_any(),
        Some(Outcome::Invalid(_)) => {
            view! {
                <p class="text-slate-700">
                    "No prediction yet: correct the highlighted fields and press Predict again."
                </p>
            }
                .into_any()
        }
        Some(Outcome::Throttled { retry_after_secs }) => {
            view! {
                <div role="alert" class="rounded-lg border border-amber-300 bg-amber-50 p-3 text-amber-900">
                    <p class="font-semibold">"Too many predictions in a short time."</p>
                    <p class="mt-1 text-sm">
                        "No prediction was made. Your entries are kept: wait "
                        {access::seconds(retry_after_secs)} ", then press Predict again."
                    </p>
                </div>
            }
                .into_any()
        }
        Some(Outcome::Unavailable(failure)) => {
            let reference = failure
                .request_id
                .map(|id| view! { <p class="mt-1 text-xs text-amber-800">"Reference: " <code>{id}</code></p> });
            view! {
                <div role="alert" class="rounded-lg border border-amber-300 bg-amber-50 p-3 text-amber-900">
                    <p class="font-semibold">"The prediction service is unavailable right now."</p>
                    <p class="mt-1 text-sm">
                        "No prediction was made. Your entries are kept: press Predict to try again."
                    </p>
                    <p class="mt-1 text-xs text-amber-800">{failure.message}</p>
                    {reference}
                </div>
            }
                .into_any()
        }
    };
    view! {
        <section
            aria-labelledby="result-heading"
            aria-live="polite"
            class="rounded-2xl bg-white p-4 shadow-sm ring-1 ring-slate-200 sm:p-6"
        >
            <h2 id="result-heading" class="text-lg font-semibold text-slate-900">
                "Prediction"
            </h2>
            <div class="mt-3">{body}</div>
        </section>
    }
}

#[component]
fn Prediction(answer: Answer) -> impl IntoView {
    let label = form::label_text(answer.will_exit);
    let percent = form::percent(answer.probability);
    let sentence = form::sentence(&answer);
    // An SVG bar: its width is an attribute, so the strict CSP (no inline styles) allows it.
    let width = format!("{:.2}", (answer.probability * 100.0).clamp(0.0, 100.0));
    let marker = format!("{:.2}", (answer.threshold * 100.0).clamp(0.0, 100.0));
    let (badge, bar) = if answer.will_exit {
        ("bg-red-100 text-red-800 ring-red-300", "fill-red-600")
    } else {
        (
            "bg-emerald-100 text-emerald-800 ring-emerald-300",
            "fill-emerald-600",
        )
    };
    view! {
        <p
            id="result-label"
            class=format!("inline-block rounded-full px-3 py-1 text-xl font-bold ring-1 {badge}")
        >
            {label}
        </p>
        <p class="mt-4 text-sm text-slate-700">
            "Probability of leaving: "
            <data
                id="result-probability"
                value=answer.probability.to_string()
                class="text-2xl font-bold text-slate-900"
            >
                {percent.clone()}
            </data>
        </p>
        <svg
            class="mt-2 h-3 w-full overflow-visible"
            viewBox="0 0 100 4"
            preserveAspectRatio="none"
            role="img"
            aria-label=format!("{percent} of the bar, threshold at {}", form::percent(answer.threshold))
        >
            <rect width="100" height="4" class="fill-slate-200" />
            <rect width=width height="4" class=bar />
            <rect x=marker y="-1" width="0.6" height="6" class="fill-slate-900" />
        </svg>
        <p class="mt-1 flex justify-between text-xs text-slate-600">
            <span>"0%"</span>
            <span>"threshold " {form::percent(answer.threshold)}</span>
            <span>"100%"</span>
        </p>
        <p id="result-sentence" class="mt-4 text-slate-800">{sentence}</p>
        <Effects effects=answer.effects.clone() />
        <Reasons reasons=answer.reasons />
        <Levers levers=answer.levers explained=!answer.effects.is_empty() />
        <p class="mt-3 text-xs text-slate-600">"Model " {answer.model}</p>
    }
}

/// Why, as a picture: every field's exact effect as a diverging bar chart, with the same
/// figures in a table for screen readers. Nothing when the backend gave no explanation.
#[component]
fn Effects(effects: Vec<Reason>) -> impl IntoView {
    (!effects.is_empty()).then(|| {
        let strongest: Vec<String> = effects
            .iter()
            .filter(|r| r.direction() != model::Direction::NoEffect)
            .take(2)
            .map(|r| r.text.clone())
            .collect();
        let label = format!(
            "Bar chart of each field's effect on the risk, strongest first; bars to the right \
             raise it, to the left lower it. Strongest: {}. Every figure is in the table that \
             follows.",
            strongest.join("; ")
        );
        let rows = effects
            .iter()
            .map(|r| {
                view! {
                    <tr>
                        <th scope="row">{r.field().label}</th>
                        <td>{format!("{:+.3}", r.effect)}</td>
                        <td>{r.text.clone()}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <figure class="mt-4 border-t border-slate-200 pt-3">
                <figcaption id="effects-heading" class="text-sm font-semibold text-slate-900">
                    "Why: each field's push on the risk"
                </figcaption>
                <charts::EffectsChart effects label />
                <p aria-hidden="true" class="mt-1 flex justify-between text-xs text-slate-600">
                    <span>"← lowers the risk"</span>
                    <span>"raises the risk →"</span>
                </p>
                // In a clipped box: a table ignores the 1px width `sr-only` gives it.
                <div class="sr-only">
                    <table id="effects-table">
                        <caption>
                            "Each field's effect on the log-odds of leaving (exact SHAP values), strongest first"
                        </caption>
                        <thead>
                            <tr>
                                <th scope="col">"Field"</th>
                                <th scope="col">"Effect (log-odds)"</th>
                                <th scope="col">"In words"</th>
                            </tr>
                        </thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
            </figure>
        }
    })
}

/// "What could lower the risk": the best changes the bank can make, each with the probability
/// the changed customer gets and a button that posts the form with the change made (a POST:
/// the profile travels in the body, never in a URL). Nothing without an explanation; a short
/// note when no change would lower the risk.
#[component]
fn Levers(levers: Vec<Offer>, explained: bool) -> impl IntoView {
    let body = if levers.is_empty() {
        view! {
            <p id="no-levers" class="mt-2 text-sm text-slate-700">
                "None of the changes the bank can make (active membership, a credit card, the number of products) would lower this customer's risk."
            </p>
        }
        .into_any()
    } else {
        let items = levers
            .into_iter()
            .enumerate()
            .map(|(i, offer)| {
                let id = format!("lever-{}", i + 1);
                let text_id = format!("{id}-text");
                let hidden = offer
                    .profile
                    .into_iter()
                    .map(|(name, value)| view! { <input type="hidden" name=name value=value /> })
                    .collect_view();
                view! {
                    <li id=id class="rounded-lg border border-slate-200 p-3">
                        <p id=text_id.clone() class="text-sm text-slate-800">{offer.text}</p>
                        <p class="mt-1 text-sm text-slate-700">
                            "New probability: "
                            <data
                                value=offer.probability.to_string()
                                class="font-semibold text-slate-900"
                            >
                                {form::percent(offer.probability)}
                            </data>
                        </p>
                        <form method="post" action="form" class="mt-2">
                            {hidden}
                            <button
                                type="submit"
                                aria-describedby=text_id
                                class="rounded-lg border border-indigo-700 bg-white px-3 py-1.5 text-sm font-semibold text-indigo-800 hover:bg-indigo-50 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-700"
                            >
                                "Open with this change"
                            </button>
                        </form>
                    </li>
                }
            })
            .collect_view();
        view! {
            <ul id="result-levers" aria-labelledby="levers-heading" class="mt-2 space-y-2">
                {items}
            </ul>
        }
        .into_any()
    };
    explained.then(|| {
        view! {
            <div class="mt-4 border-t border-slate-200 pt-3">
                <h3 id="levers-heading" class="text-sm font-semibold text-slate-900">
                    "What could lower the risk"
                </h3>
                {body}
            </div>
        }
    })
}

/// "Main reasons": each says in words whether it raises or lowers the risk; the arrow and
/// colour repeat it. Nothing at all when the backend gave no explanation.
#[component]
fn Reasons(reasons: Vec<Reason>) -> impl IntoView {
    (!reasons.is_empty()).then(|| {
        let items = reasons
            .into_iter()
            .map(|reason| {
                let (arrow, mark) = if reason.raises_risk() {
                    ("↑", "bg-red-100 text-red-800 ring-red-300")
                } else {
                    ("↓", "bg-emerald-100 text-emerald-800 ring-emerald-300")
                };
                view! {
                    <li class="flex items-start gap-2">
                        <span
                            aria-hidden="true"
                            class=format!(
                                "mt-0.5 inline-flex size-5 shrink-0 items-center justify-center rounded-full text-xs font-bold ring-1 {mark}",
                            )
                        >
                            {arrow}
                        </span>
                        <span>{reason.text}</span>
                    </li>
                }
            })
            .collect_view();
        view! {
            <div class="mt-4 border-t border-slate-200 pt-3">
                <h3 id="reasons-heading" class="text-sm font-semibold text-slate-900">
                    "Main reasons"
                </h3>
                <ul
                    id="result-reasons"
                    aria-labelledby="reasons-heading"
                    class="mt-2 space-y-2 text-sm text-slate-800"
                >
                    {items}
                </ul>
            </div>
        }
    })
}

#[cfg(test)]
mod tests {
    use model::fields::Rule;

    use super::*;

    fn render(field: &'static Field, value: &str, problem: Option<&str>) -> String {
        let owner = Owner::new();
        owner.with(|| {
            view! { <FieldControl field value=value.to_owned() problem=problem.map(str::to_owned) /> }
                .to_html()
        })
    }

    /// The browser's checks are generated from the same table the server validates with.
    #[test]
    fn every_fields_html_constraints_equal_the_field_table() {
        for field in &FIELDS {
            let html = render(field, "", None);
            let has = |attr: &str| {
                assert!(
                    html.contains(attr),
                    "{}: expected {attr} in {html}",
                    field.name
                );
            };
            assert!(
                html.contains(&format!(">{}</", field.label)),
                "{}: visible label",
                field.name
            );
            match field.rule {
                Rule::Whole { min, max } => {
                    has(r#"type="number""#);
                    has(&format!(r#"min="{min}""#));
                    has(&format!(r#"max="{max}""#));
                    has(r#"step="1""#);
                    has(" required");
                }
                Rule::Amount { min, max } => {
                    has(r#"type="number""#);
                    has(&format!(r#"min="{min}""#));
                    has(&format!(r#"max="{}""#, max as u64));
                    has(r#"step="any""#);
                    has(" required");
                }
                Rule::Flag => {
                    has(&format!(
                        r#"<select id="{}" name="{}" required"#,
                        field.name, field.name
                    ));
                    has(r#"<option value="1">Yes</option>"#);
                    has(r#"<option value="0">No</option>"#);
                }
                Rule::OneOf(names) => {
                    assert_eq!(
                        html.matches(r#"type="radio""#).count(),
                        names.len(),
                        "{}: one radio per choice, one group",
                        field.name
                    );
                    assert!(!html.contains("checkbox"), "{}", field.name);
                    for name in names {
                        has(&format!(r#"value="{name}""#));
                    }
                    has("<legend");
                }
            }
        }
    }

    #[test]
    fn a_problem_is_shown_beside_its_field_and_the_value_is_kept() {
        let html = render(&model::fields::AGE, "150", Some("150 is not allowed"));
        assert!(html.contains(r#"value="150""#), "{html}");
        assert!(html.contains(r#"aria-invalid="true""#), "{html}");
        assert!(
            html.contains(r#"aria-describedby="age-hint age-error""#),
            "{html}"
        );
        assert!(html.contains(r#"<p id="age-error""#), "{html}");
    }

    /// The example customer's page for an outcome.
    fn page_for(outcome: Outcome) -> String {
        let owner = Owner::new();
        owner.with(|| view! { <ResultPanel outcome=Some(outcome) /> }.to_html())
    }

    fn predicted(reasons: Vec<Reason>) -> Outcome {
        Outcome::Predicted(form::Answer {
            will_exit: false,
            probability: 0.3,
            threshold: 0.5,
            model: "stub".into(),
            reasons,
            effects: Vec::new(),
            levers: Vec::new(),
        })
    }

    /// The bundled model's answer for a customer, as the form's logic makes it.
    fn explained_answer(customer: &model::Customer) -> form::Answer {
        let model = model::Model::bundled().unwrap();
        let explanation = model.explanation(customer);
        let (effects, reasons) = form::explained(explanation.as_ref(), customer);
        let p = model.predict_one(customer);
        let levers = model
            .levers(customer)
            .iter()
            .filter_map(|l| {
                let changed = l.apply(customer)?;
                Some(form::Offer {
                    field: l.field.name.to_owned(),
                    change: l.change(),
                    text: l.text(),
                    probability: l.probability,
                    profile: FIELDS
                        .iter()
                        .map(|f| (f.name.to_owned(), changed.value_of(f.name).unwrap()))
                        .collect(),
                })
            })
            .take(form::TOP_LEVERS)
            .collect();
        form::Answer {
            will_exit: p.label == model::Label::WillExit,
            probability: p.probability,
            threshold: 0.5,
            model: model.id().to_owned(),
            reasons,
            effects,
            levers,
        }
    }

    fn leaver() -> model::Customer {
        let values = [
            500.0, 0.0, 62.0, 2.0, 120000.0, 3.0, 1.0, 0.0, 100000.0, 0.0, 1.0, 0.0,
        ]
        .map(model::fields::Input::Number);
        model::Customer::from_vector(&values, model::fields::At::named("data")).unwrap()
    }

    #[test]
    fn the_three_strongest_reasons_are_listed_with_their_direction() {
        let answer = explained_answer(&leaver());
        let html = page_for(Outcome::Predicted(answer.clone()));
        assert!(html.contains(">Main reasons</h3>"), "{html}");
        let list = &html[html.find(r#"id="result-reasons""#).unwrap()..];
        let list = &list[..list.find("</ul>").unwrap()];
        assert_eq!(list.matches("<li").count(), 3, "{list}");
        // The strongest three of the chart's ten, in its order.
        let mut after = 0;
        for effect in &answer.effects[..3] {
            let at = list[after..].find(&effect.text).expect("in order");
            after += at + effect.text.len();
        }
        assert!(list.contains("Age (62) raises the risk"), "{list}");
        assert_eq!(list.matches(">↑</span>").count(), 3, "{list}");
    }

    #[test]
    fn the_chart_shows_every_field_with_a_table_of_the_same_figures() {
        let answer = explained_answer(&leaver());
        let html = page_for(Outcome::Predicted(answer.clone()));
        assert!(
            html.contains(r#"<svg id="effects-chart" role="img" aria-label="Bar chart"#),
            "{html}"
        );
        let table = &html[html
            .find(r#"<div class="sr-only"><table id="effects-table">"#)
            .expect("a table")..];
        assert_eq!(table.matches(r#"<th scope="row">"#).count(), 10, "{table}");
        for effect in &answer.effects {
            assert!(
                table.contains(&format!("{:+.3}", effect.effect)),
                "{effect:?}"
            );
        }
        assert!(!html.contains("style="), "CSP: no inline styles");
    }

    #[test]
    fn each_lever_is_a_post_form_with_the_whole_changed_profile() {
        let customer = leaver();
        let answer = explained_answer(&customer);
        assert!(!answer.levers.is_empty(), "the leaver has levers");
        let html = page_for(Outcome::Predicted(answer.clone()));
        assert!(html.contains(">What could lower the risk</h3>"), "{html}");
        let first = &answer.levers[0];
        let item = &html[html.find(r#"<li id="lever-1""#).unwrap()..];
        let item = &item[..item.find("</li>").unwrap()];
        assert!(
            item.contains(r#"<form method="post" action="form""#),
            "{item}"
        );
        assert_eq!(
            item.matches(r#"type="hidden""#).count(),
            FIELDS.len(),
            "{item}"
        );
        for (name, value) in &first.profile {
            assert!(
                item.contains(&format!(r#"name="{name}" value="{value}""#)),
                "{name}={value} in {item}"
            );
        }
        let changed = &first
            .profile
            .iter()
            .find(|(n, _)| *n == first.field)
            .unwrap()
            .1;
        assert_ne!(
            Some(changed.clone()),
            customer.value_of(&first.field),
            "the change is made"
        );
        assert!(
            item.contains(&format!(r#"<data value="{}""#, first.probability)),
            "{item}"
        );
    }

    #[test]
    fn without_an_explanation_there_is_no_chart_no_list_and_no_levers() {
        let html = page_for(predicted(Vec::new()));
        assert!(html.contains(r#"id="result-sentence""#), "{html}");
        for absent in [
            "Main reasons",
            "<ul",
            "<svg id=\"effects-chart\"",
            "What could lower",
        ] {
            assert!(!html.contains(absent), "{absent}: {html}");
        }
    }

    #[test]
    fn chosen_options_are_kept() {
        let html = render(&model::fields::GEOGRAPHY, "germany", None);
        assert!(
            html.contains(r#"value="Germany" required checked"#),
            "{html}"
        );
        let html = render(&model::fields::HAS_CR_CARD, "0", None);
        assert!(html.contains(r#"<option value="0" selected"#), "{html}");
    }
}
