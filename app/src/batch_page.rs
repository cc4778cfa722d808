//! The file page (`GET /batch`, "Score a file"): a plain `multipart/form-data` form that posts a
//! CSV file of customers (`POST batch`, the file in the field `file`), no JavaScript. The server
//! scores it with the same core as `churn-predict score` and answers either this page with a
//! summary ([`FileSummary`]: counts, the rows not scored, a histogram of the probabilities, the
//! riskiest customers with their reason and lever), or, from the second button
//! (`download=1`), the scored file itself as an attachment, byte for byte what the command line
//! writes. Nothing is kept on the server: the file lives only for the request.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::charts::HistogramChart;
use crate::form::percent;
use crate::model_page::thousands;
use crate::page::{Account, Masthead};

/// What the server tells the page after a post (provided as context).
#[derive(Debug, Clone, PartialEq)]
pub enum BatchView {
    Summary(Box<FileSummary>),
    /// The file was not scored: why, for people (the HTTP status says it to programs).
    Refused(Refusal),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub message: String,
    /// The request's id, for failures of ours or the backend's.
    pub request_id: Option<String>,
}

/// A scored file, summed up.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSummary {
    /// Rows read = scored + rejected.
    pub rows: u64,
    pub scored: u64,
    pub rejected: u64,
    /// Rows predicted "Will Exit".
    pub exits: u64,
    pub threshold: f64,
    pub model: String,
    /// The first rows not scored (at most 100), each with its line and every reason.
    pub rejected_lines: Vec<RejectedLine>,
    /// Scored rows by probability, in equal bands from 0% to 100%.
    pub bins: Vec<u64>,
    /// The file's identifying columns (RowNumber, CustomerId, Surname: those it has), as named
    /// in its header.
    pub id_columns: Vec<String>,
    /// The riskiest customers, most probable first.
    pub riskiest: Vec<RiskyCustomer>,
    /// Whether reasons and levers could be given (a model to explain with).
    pub explained: bool,
    /// The person asked for the download, but rows could not be scored and they did not ask
    /// to leave them out: this summary (listing them) came instead of the file.
    pub download_withheld: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RejectedLine {
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RiskyCustomer {
    /// Its place among the scored rows, from 1.
    pub row: u64,
    /// Its identifying cells, in the order of [`FileSummary::id_columns`].
    pub ids: Vec<String>,
    pub probability: f64,
    /// The strongest reason, in words ("Age (62) raises the risk").
    pub reason: Option<String>,
    /// The best lever and the probability it would bring ("Becoming an active member: 41.0%").
    pub lever: Option<String>,
}

/// What the form says about the server (provided as context by the server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLimits {
    /// MAX_SCORE_BYTES.
    pub max_bytes: usize,
}

const SECTION: &str = "mt-6 rounded-2xl bg-white p-4 shadow-sm ring-1 ring-slate-200 sm:p-6";
const H2: &str = "text-lg font-semibold text-slate-900";
const TH: &str = "border-b border-slate-300 py-1.5 pr-3 text-left font-semibold text-slate-900";
const TD: &str = "border-b border-slate-200 py-1.5 pr-3 align-top text-slate-800";
const LINK: &str = "font-medium text-indigo-700 underline underline-offset-2 hover:text-indigo-900";
const BUTTON: &str = "rounded-lg px-5 py-2.5 font-semibold shadow-sm focus-visible:outline-2 \
    focus-visible:outline-offset-2 focus-visible:outline-indigo-700";

#[component]
pub fn BatchPage() -> impl IntoView {
    let view = use_context::<BatchView>();
    let explains = use_context::<model::Backend>().is_some_and(|b| b.explainer.is_some());
    let limits = use_context::<FileLimits>();
    let title = match &view {
        Some(BatchView::Summary(s)) if s.download_withheld => format!(
            "Not downloaded: {} rows could not be scored — Churn Predict",
            thousands(s.rejected)
        ),
        Some(BatchView::Summary(s)) => format!(
            "{} customers scored, {} predicted to leave — Churn Predict",
            thousands(s.scored),
            thousands(s.exits)
        ),
        Some(BatchView::Refused(_)) => "The file was not scored — Churn Predict".to_owned(),
        None => "Score a file — Churn Predict".to_owned(),
    };
    let outcome = match view {
        Some(BatchView::Summary(summary)) => view! { <Summary summary=*summary /> }.into_any(),
        Some(BatchView::Refused(refusal)) => view! { <Refused refusal /> }.into_any(),
        None => ().into_any(),
    };
    view! {
        <Title text=title />
        <main class="mx-auto max-w-5xl px-4 py-6 sm:px-6 sm:py-10">
            <header class="mb-6 flex flex-wrap items-start justify-between gap-4">
                <div>
                    <Masthead heading="Score a file of customers" />
                    <p class="mt-2 max-w-prose text-slate-700">
                        "Upload a CSV file of customers to see who is most likely to leave, or download it scored. "
                        <a class=LINK href=".">"Back to the form for one customer"</a>
                    </p>
                </div>
                <Account />
            </header>
            {outcome}
            <UploadForm explains limits />
            <footer class="mt-8 text-sm text-slate-600">
                "The file is scored as it arrives and kept nowhere. Programs send the same file to "
                <code class="rounded bg-slate-200 px-1">"POST /score"</code>
                "; the command line is "
                <code class="rounded bg-slate-200 px-1">"churn-predict score"</code>
                ". All three write the same bytes."
            </footer>
        </main>
    }
}

/// The box that lets a download leave out rows that cannot be scored (`--skip-invalid`).
const SKIP_INVALID_LABEL: &str = "Download even if some rows cannot be scored: leave them out";

#[component]
fn UploadForm(explains: bool, limits: Option<FileLimits>) -> impl IntoView {
    let size = limits.map(|l| {
        let size = if l.max_bytes < 1_000_000 {
            format!("{} kB", l.max_bytes.div_ceil(1000))
        } else {
            // One decimal, without a trailing ".0".
            let text = format!("{:.1}", l.max_bytes as f64 / 1e6);
            format!("{} MB", text.trim_end_matches(".0"))
        };
        format!(" At most {size}.")
    });
    let boxes = if explains {
        view! {
            <fieldset class="mt-5">
                <legend class="text-sm font-semibold text-slate-800">
                    "Add to the downloaded file"
                </legend>
                <div class="mt-2 space-y-2 text-sm text-slate-800">
                    <label class="flex items-start gap-2">
                        <input
                            type="checkbox"
                            id="explain"
                            name="explain"
                            value="1"
                            class="mt-0.5 size-4 accent-indigo-700"
                        />
                        <span>
                            "Reasons: the three fields that weigh most on each prediction ("
                            <code>"reason_1"</code>
                            " to "
                            <code>"reason_3"</code>
                            ")"
                        </span>
                    </label>
                    <label class="flex items-start gap-2">
                        <input
                            type="checkbox"
                            id="levers"
                            name="levers"
                            value="1"
                            class="mt-0.5 size-4 accent-indigo-700"
                        />
                        <span>
                            "Best lever: the change the bank could make that would lower the risk most, and the probability it would bring ("
                            <code>"lever_field"</code>
                            ", "
                            <code>"lever_to"</code>
                            ", "
                            <code>"lever_probability"</code>
                            ")"
                        </span>
                    </label>
                </div>
            </fieldset>
        }
        .into_any()
    } else {
        view! {
            <p id="no-explanations" class="mt-5 text-sm text-slate-700">
                "Reasons and levers are not available: this server scores with a SageMaker endpoint and has no local copy of its model."
            </p>
        }
        .into_any()
    };
    view! {
        <section aria-labelledby="upload-heading" class=SECTION>
            <h2 id="upload-heading" class=H2>"Choose a file"</h2>
            <form method="post" action="batch" enctype="multipart/form-data" class="mt-3">
                <label for="file" class="block text-sm font-semibold text-slate-800">
                    "Customers (CSV file)"
                </label>
                <input
                    id="file"
                    name="file"
                    type="file"
                    accept=".csv,text/csv"
                    required
                    aria-describedby="file-hint"
                    class="mt-1 block w-full rounded-lg border border-slate-300 bg-white px-3 py-2 text-base file:mr-3 file:rounded-md file:border-0 file:bg-indigo-50 file:px-3 file:py-1.5 file:font-semibold file:text-indigo-800"
                />
                <p id="file-hint" class="mt-1 max-w-prose text-sm text-slate-600">
                    "A header row, then one customer a row: the columns of the public Churn_Modelling file (CreditScore, Geography, Gender, Age, Tenure, Balance, NumOfProducts, HasCrCard, IsActiveMember, EstimatedSalary) or the API's names, separated by commas or semicolons. Other columns, such as CustomerId and Surname, are kept as they are."
                    {size}
                </p>
                {boxes}
                <label class="mt-4 flex items-start gap-2 text-sm text-slate-800">
                    <input
                        type="checkbox"
                        id="skip_invalid"
                        name="skip_invalid"
                        value="1"
                        class="mt-0.5 size-4 accent-indigo-700"
                    />
                    <span>
                        {SKIP_INVALID_LABEL}
                        " (without it, a file with such rows is not downloaded: the summary lists them)"
                    </span>
                </label>
                <div class="mt-6 flex flex-wrap gap-3">
                    <button
                        type="submit"
                        class=format!("{BUTTON} bg-indigo-700 text-white hover:bg-indigo-800")
                    >
                        "Show summary"
                    </button>
                    <button
                        type="submit"
                        name="download"
                        value="1"
                        class=format!(
                            "{BUTTON} border border-indigo-700 bg-white text-indigo-800 hover:bg-indigo-50",
                        )
                    >
                        "Download scored CSV"
                    </button>
                </div>
            </form>
        </section>
    }
}

#[component]
fn Refused(refusal: Refusal) -> impl IntoView {
    let reference = refusal.request_id.map(
        |id| view! { <p class="mt-1 text-xs text-amber-800">"Reference: " <code>{id}</code></p> },
    );
    view! {
        <div
            id="batch-refused"
            role="alert"
            class="rounded-lg border border-amber-300 bg-amber-50 p-3 text-amber-900"
        >
            <p class="font-semibold">"The file was not scored."</p>
            <p class="mt-1 text-sm">{refusal.message}</p>
            {reference}
        </div>
    }
}

#[component]
fn Summary(summary: FileSummary) -> impl IntoView {
    let share = if summary.scored > 0 {
        summary.exits as f64 / summary.scored as f64
    } else {
        0.0
    };
    let figures = [
        ("Rows read", thousands(summary.rows), "summary-rows"),
        ("Scored", thousands(summary.scored), "summary-scored"),
        (
            "Not scored",
            thousands(summary.rejected),
            "summary-rejected",
        ),
        (
            "Predicted to leave",
            format!("{} ({})", thousands(summary.exits), percent(share)),
            "summary-exits",
        ),
    ]
    .into_iter()
    .map(|(term, value, id)| {
        view! {
            <div class="rounded-lg bg-slate-50 p-3 ring-1 ring-slate-200">
                <dt class="text-sm text-slate-700">{term}</dt>
                <dd id=id class="mt-1 text-xl font-bold tabular-nums text-slate-900">{value}</dd>
            </div>
        }
    })
    .collect_view();
    let withheld = summary.download_withheld.then(|| {
        view! {
            <div
                id="download-withheld"
                role="alert"
                class="mb-4 rounded-lg border border-amber-300 bg-amber-50 p-3 text-amber-900"
            >
                <p class="font-semibold">"The scored file was not downloaded."</p>
                <p class="mt-1 text-sm">
                    {format!(
                        "{} of its rows could not be scored (see the list of rows not scored below). Correct them and upload the file again, or tick \"{SKIP_INVALID_LABEL}\" to download the other rows scored.",
                        thousands(summary.rejected),
                    )}
                </p>
            </div>
        }
    });
    view! {
        {withheld}
        <section aria-labelledby="summary-heading" class="rounded-2xl bg-white p-4 shadow-sm ring-1 ring-slate-200 sm:p-6">
            <h2 id="summary-heading" class=H2>"Summary"</h2>
            <dl class="mt-3 grid grid-cols-2 gap-3 sm:grid-cols-4">{figures}</dl>
            <p class="mt-3 text-sm text-slate-700">
                "\"Will Exit\" from a probability of " {percent(summary.threshold)}
                ". Model " {summary.model.clone()} "."
            </p>
        </section>
        <Distribution bins=summary.bins.clone() threshold=summary.threshold scored=summary.scored />
        <Riskiest
            riskiest=summary.riskiest.clone()
            id_columns=summary.id_columns.clone()
            explained=summary.explained
        />
        <NotScored lines=summary.rejected_lines.clone() rejected=summary.rejected />
    }
}

/// The histogram, with its figures in a table anyone can open.
#[component]
fn Distribution(bins: Vec<u64>, threshold: f64, scored: u64) -> impl IntoView {
    let width = 1.0 / bins.len().max(1) as f64;
    let band = |i: usize| {
        format!(
            "{}–{}%",
            (i as f64 * width * 100.0).round(),
            ((i + 1) as f64 * width * 100.0).round()
        )
    };
    // The first of the fullest bands (`max_by_key` keeps the last of equals), if any is.
    let fullest = bins
        .iter()
        .enumerate()
        .rev()
        .max_by_key(|(_, n)| **n)
        .filter(|(_, n)| **n > 0)
        .map(|(i, n)| {
            format!(
                "; the most customers, {}, are in {}",
                thousands(*n),
                band(i)
            )
        })
        .unwrap_or_default();
    let label = format!(
        "Histogram of the {} scored customers' probabilities of leaving, in bands of {}%{fullest}. The threshold is at {}.",
        thousands(scored),
        (width * 100.0).round(),
        percent(threshold)
    );
    let rows = bins
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let share = if scored > 0 {
                n as f64 / scored as f64
            } else {
                0.0
            };
            view! {
                <tr>
                    <th scope="row" class=TD>{band(i)}</th>
                    <td class=format!("{TD} tabular-nums")>{thousands(n)}</td>
                    <td class=format!("{TD} tabular-nums")>{percent(share)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section aria-labelledby="distribution-heading" class=SECTION>
            <h2 id="distribution-heading" class=H2>"How the probabilities spread"</h2>
            <figure class="mt-2">
                <HistogramChart bins=bins.clone() threshold label />
                <figcaption class="mt-1 text-sm text-slate-700">
                    "Customers by probability of leaving; bars from the threshold on are red."
                </figcaption>
            </figure>
            <details class="mt-3 text-sm">
                <summary class="cursor-pointer font-medium text-indigo-700">
                    "The figures as a table"
                </summary>
                <table id="histogram-table" class="mt-2 w-full max-w-md border-collapse text-sm">
                    <caption class="sr-only">"Scored customers by probability of leaving"</caption>
                    <thead>
                        <tr>
                            <th scope="col" class=TH>"Probability"</th>
                            <th scope="col" class=TH>"Customers"</th>
                            <th scope="col" class=TH>"Share"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </details>
        </section>
    }
}

#[component]
fn Riskiest(
    riskiest: Vec<RiskyCustomer>,
    id_columns: Vec<String>,
    explained: bool,
) -> impl IntoView {
    let count = riskiest.len();
    let heads = id_columns
        .iter()
        .map(|name| view! { <th scope="col" class=TH>{name.clone()}</th> })
        .collect_view();
    let without_ids = id_columns.is_empty();
    let rows = riskiest
        .into_iter()
        .enumerate()
        .map(|(i, customer)| {
            let ids = if without_ids {
                view! { <td class=TD>{format!("row {}", thousands(customer.row))}</td> }.into_any()
            } else {
                customer
                    .ids
                    .into_iter()
                    .map(|id| view! { <td class=TD>{id}</td> })
                    .collect_view()
                    .into_any()
            };
            let dash = || "—".to_owned();
            view! {
                <tr>
                    <td class=format!("{TD} tabular-nums")>{i + 1}</td>
                    {ids}
                    <td class=format!("{TD} tabular-nums font-semibold")>
                        <data value=customer.probability.to_string()>{percent(customer.probability)}</data>
                    </td>
                    <td class=TD>{customer.reason.unwrap_or_else(dash)}</td>
                    <td class=TD>{customer.lever.unwrap_or_else(dash)}</td>
                </tr>
            }
        })
        .collect_view();
    let note = (!explained).then(|| {
        view! {
            <p class="mt-2 text-sm text-slate-700">
                "No reasons or levers: this server has no model to explain with."
            </p>
        }
    });
    view! {
        <section aria-labelledby="riskiest-heading" class=SECTION>
            <h2 id="riskiest-heading" class=H2>
                {if count == 1 {
                    "The riskiest customer".to_owned()
                } else {
                    format!("The {count} riskiest customers")
                }}
            </h2>
            <p class="mt-1 text-sm text-slate-700">
                "Most likely to leave first: who to call first. The reason is the field that weighs most on the prediction; the lever, the change the bank could make that would lower the risk most."
            </p>
            {note}
            <div
                class="mt-3 overflow-x-auto"
                tabindex="0"
                role="region"
                aria-label="Table of the riskiest customers, scrolls sideways on narrow screens"
            >
                <table id="riskiest-table" class="w-full border-collapse text-sm">
                    <thead>
                        <tr>
                            <th scope="col" class=TH>"Rank"</th>
                            {if without_ids {
                                view! { <th scope="col" class=TH>"Row"</th> }.into_any()
                            } else {
                                heads.into_any()
                            }}
                            <th scope="col" class=TH>"Probability"</th>
                            <th scope="col" class=TH>"Top reason"</th>
                            <th scope="col" class=TH>"Best lever"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
fn NotScored(lines: Vec<RejectedLine>, rejected: u64) -> impl IntoView {
    (rejected > 0).then(|| {
        let more = rejected.saturating_sub(lines.len() as u64);
        let items = lines
            .into_iter()
            .map(|line| {
                view! {
                    <li>
                        <span class="font-semibold">{format!("Line {}", thousands(line.line))}</span>
                        ": "
                        {line.reason}
                    </li>
                }
            })
            .collect_view();
        let more = (more > 0).then(|| {
            view! {
                <p class="mt-2 text-sm text-slate-700">
                    {format!(
                        "…and {} more. The command line's --rejects FILE writes them all.",
                        thousands(more),
                    )}
                </p>
            }
        });
        view! {
            <section aria-labelledby="rejected-heading" class=SECTION>
                <h2 id="rejected-heading" class=H2>
                    {format!("Rows not scored: {}", thousands(rejected))}
                </h2>
                <p class="mt-1 text-sm text-slate-700">
                    "Each was left out, never altered: fix it in the file and score it again. The header is line 1."
                </p>
                <ul id="rejected-lines" class="mt-2 space-y-1 text-sm text-slate-800">
                    {items}
                </ul>
                {more}
            </section>
        }
    })
}
