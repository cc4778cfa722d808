//! `POST /batch`: the file page's upload (`GET /batch`, the form, is a Leptos route like the
//! others; see `app::batch_page`). A `multipart/form-data` body with the CSV in the field
//! `file`, `explain=1`, `levers=1` and `skip_invalid=1` from the page's boxes, and
//! `download=1` from its second button.
//!
//! - **The doors agree.** The file is scored by the `batch` crate's core with the options
//!   `churn-predict score` and `POST /score` use ([`crate::score::Scoring`],
//!   [`crate::score::extras`]): the download is byte for byte what the command line writes for
//!   the same file and flags.
//! - **Summary** (no `download`): the page again, with the counts, the first 100 rows not
//!   scored (and how many more), a histogram of the probabilities and the 50 riskiest rows
//!   with their identifying columns, probability, top reason and best lever. Only these 50 are
//!   explained (the reasons and levers columns are for the download), read from the output as
//!   it is written ([`batch::digest::Digest`]): no second copy of the file.
//! - **Download** (`download=1`): the scored CSV as an attachment (`Content-Disposition`,
//!   named after the upload), `Cache-Control: no-store`, the counts in `x-rows-read`,
//!   `x-rows-scored` and `x-rows-rejected`. A file with rows that cannot be scored is not
//!   downloaded unless the person ticked `skip_invalid` (then they are left out, as
//!   `--skip-invalid` leaves them): the summary comes back instead (422), listing them, so no
//!   row goes missing unseen.
//! - **Stateless**: the file lives only for the request; nothing is written anywhere.
//! - **Limits**: the page guard first (`crate::middleware::session`: a signed-in person when keys
//!   are configured), the cross-site guard and the security headers as every page; the body is
//!   capped at MAX_SCORE_BYTES plus [`FORM_OVERHEAD_BYTES`] (multer stops reading there), the file
//!   itself at MAX_SCORE_BYTES, at most [`MAX_FIELDS`] fields. **Cost**: one prediction of the
//!   visitor's allowance per MAX_BATCH rows (rounded up), as `POST /score` costs a key; a file
//!   that costs more than the allowance can ever hold is refused (413), one that costs more
//!   than is left now waits (429, `Retry-After`).
//! - Refusals are the page again with the reason (and the HTTP status programs read):
//!   400 no file, a file without the needed columns, a field the form does not have; 413 too
//!   large; 415 not multipart; 422 a download withheld for rows not scored (the summary);
//!   429 throttled; 502/503/504 the backend.

use app::access::{Allowance, Shortfall};
use app::batch_page::{BatchView, FileLimits, FileSummary, Refusal, RejectedLine, RiskyCustomer};
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use batch::digest::Digest;
use batch::{BatchError, Header, Options, Rejection, Report, Summary};
use leptos::context::provide_context;
use model::{Customer, Prediction};
use tokio::runtime::Handle;

use super::Renderer;
use crate::error::{Unexplained, backend_text};
use crate::score::{Scoring, Wanted};
use crate::state::AppState;

/// Room in the body for the form's other fields, part headers and boundaries.
pub const FORM_OVERHEAD_BYTES: usize = 64 * 1024;
/// Most fields one post may have (the file, three boxes, the button; a few spare).
pub const MAX_FIELDS: usize = 8;
/// Riskiest rows on the summary.
pub const RISKIEST: usize = 50;
/// Rows not scored listed on the summary (then how many more).
pub const LISTED_REJECTIONS: usize = 100;
/// The pass-through columns that identify a customer, shown for the riskiest when the file
/// has them.
pub const ID_COLUMNS: [&str; 3] = ["RowNumber", "CustomerId", "Surname"];

#[derive(Clone)]
struct Upload {
    renderer: Renderer,
    state: AppState,
}

/// `POST /batch`, with its own body cap (not the pages' MAX_BODY_BYTES). The caller adds the
/// page guard, the CSP and the hydration cut, as for the other pages.
pub(super) fn routes(state: &AppState, renderer: Renderer) -> Router<AppState> {
    let cap = state.limits.max_score_bytes + FORM_OVERHEAD_BYTES;
    Router::new()
        .route(app::BATCH_PATH, post(upload))
        .layer(DefaultBodyLimit::max(cap))
        .with_state(Upload {
            renderer,
            state: state.clone(),
        })
}

/// What the form sent.
struct Posted {
    file: Vec<u8>,
    file_name: Option<String>,
    wanted: Wanted,
    download: bool,
    /// Download even with rows not scored (left out, as `--skip-invalid` does).
    skip_invalid: bool,
}

/// A refusal: the page's words, the status, and for throttling the wait.
struct Refused {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
    /// Quote the request id (our failures and the backend's).
    reference: bool,
}

impl Refused {
    fn new(status: StatusCode, message: impl Into<String>) -> Refused {
        Refused {
            status,
            message: message.into(),
            retry_after: None,
            reference: false,
        }
    }
}

async fn upload(State(upload): State<Upload>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let allowance = parts.extensions.get::<Allowance>().cloned();
    let outcome = match allowance {
        // The page guard admits only with an allowance; without one nothing is scored.
        None => Err(Refused::new(
            StatusCode::UNAUTHORIZED,
            "Sign in first: scoring a file needs a person signed in with an API key.",
        )),
        Some(allowance) => score_upload(&upload.state, &parts, body, &allowance).await,
    };
    let (view, status, retry_after) = match outcome {
        Ok(Done::Download(response)) => return response,
        Ok(Done::Summary(summary, status)) => (BatchView::Summary(summary), status, None),
        Err(refused) => {
            let request_id = refused
                .reference
                .then(|| {
                    parts
                        .headers
                        .get("x-request-id")?
                        .to_str()
                        .ok()
                        .map(str::to_owned)
                })
                .flatten();
            (
                BatchView::Refused(Refusal {
                    message: refused.message,
                    request_id,
                }),
                refused.status,
                refused.retry_after,
            )
        }
    };
    let limits = FileLimits {
        max_bytes: upload.state.limits.max_score_bytes,
    };
    let mut response = upload
        .renderer
        .render(parts, move || {
            provide_context(view.clone());
            provide_context(limits);
        })
        .await;
    *response.status_mut() = status;
    let headers = response.headers_mut();
    // The summary shows customers' data: no cache may keep it.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(seconds) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

enum Done {
    Download(Response),
    /// The summary, and its status: 422 when a download was withheld for rows not scored.
    Summary(Box<FileSummary>, StatusCode),
}

async fn score_upload(
    state: &AppState,
    parts: &Parts,
    body: Body,
    allowance: &Allowance,
) -> Result<Done, Refused> {
    let posted = read_form(parts, body, state.limits.max_score_bytes).await?;
    let extras = crate::score::extras(&state.backend, posted.wanted)
        .map_err(|why| Refused::new(StatusCode::BAD_REQUEST, unexplained_text(why)))?;
    charge(allowance, &posted.file, state.limits.max_batch)?;

    let scoring = Scoring::of(&state.backend);
    let download = posted.download;
    let options = Options {
        // The summary explains only its riskiest rows (`summarise`), not the whole file.
        extras: if download { extras } else { Vec::new() },
        ..scoring.options(None, false)
    };
    let file = posted.file;
    let skip_invalid = posted.skip_invalid;
    let runtime = Handle::current();
    let (result, report) = tokio::task::spawn_blocking(move || {
        // The digest is kept for a download too, unless rows may be left out: if rows were
        // not scored, the summary is what the person gets instead.
        let mut report = PageReport {
            digest: !(download && skip_invalid),
            ..PageReport::default()
        };
        let result = if download {
            let mut out = Vec::with_capacity(file.len() + file.len() / 2);
            scoring
                .run(&file[..], &mut out, &options, &mut report, &runtime)
                .map(|summary| (summary, out))
        } else {
            scoring
                .run(&file[..], std::io::sink(), &options, &mut report, &runtime)
                .map(|summary| (summary, Vec::new()))
        };
        (result, report)
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "the scoring task failed");
        Refused {
            reference: true,
            ..Refused::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The file could not be scored because of an error on our side.",
            )
        }
    })?;
    let (summary, out) = result.map_err(refusal_of)?;
    tracing::info!(
        rows = summary.rows,
        scored = summary.scored,
        rejected = summary.rejected,
        exits = summary.exits,
        download,
        "scored a file from the page"
    );
    if download && (summary.rejected == 0 || posted.skip_invalid) {
        return Ok(Done::Download(attachment(
            out,
            &summary,
            posted.file_name.as_deref(),
        )));
    }
    // A withheld download's scored rows are not needed for the summary.
    drop(out);
    let mut page = summarise(state, &summary, report).await;
    if download {
        // Rows were not scored and the person did not ask to leave them out.
        page.download_withheld = true;
        return Ok(Done::Summary(
            Box::new(page),
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    }
    Ok(Done::Summary(Box::new(page), StatusCode::OK))
}

/// Reads the multipart form: the file (once, at most `max_file` bytes) and the flags.
async fn read_form(parts: &Parts, body: Body, max_file: usize) -> Result<Posted, Refused> {
    let request = Request::from_parts(parts.clone(), body);
    let mut form = Multipart::from_request(request, &()).await.map_err(|_| {
        let got = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none");
        Refused::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "The upload must be sent as multipart/form-data (the page's form does that), not {}.",
                model::fields::shorten(got, 60)
            ),
        )
    })?;
    let too_large = || {
        Refused::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "The file is larger than {}, the most this server scores at once. Split it into \
                 smaller files, or use the command line (churn-predict score), which takes files \
                 of any size.",
                megabytes(max_file)
            ),
        )
    };
    let unreadable = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            Refused::new(
                StatusCode::BAD_REQUEST,
                format!("The upload could not be read: {}.", e.body_text()),
            )
        }
    };
    let mut posted = Posted {
        file: Vec::new(),
        file_name: None,
        wanted: Wanted::default(),
        download: false,
        skip_invalid: false,
    };
    let mut seen_file = false;
    let mut fields = 0;
    while let Some(mut field) = form.next_field().await.map_err(unreadable)? {
        fields += 1;
        if fields > MAX_FIELDS {
            return Err(Refused::new(
                StatusCode::BAD_REQUEST,
                format!("The upload has more than {MAX_FIELDS} fields; the form sends at most 5."),
            ));
        }
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" => {
                if std::mem::replace(&mut seen_file, true) {
                    return Err(Refused::new(
                        StatusCode::BAD_REQUEST,
                        "Send one file at a time.",
                    ));
                }
                posted.file_name = field.file_name().map(str::to_owned);
                while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
                    if posted.file.len() + chunk.len() > max_file {
                        return Err(too_large());
                    }
                    posted.file.extend_from_slice(&chunk);
                }
            }
            "explain" | "levers" | "download" | "skip_invalid" => {
                let value = field.text().await.map_err(unreadable)?;
                let on = match value.trim() {
                    "1" | "on" | "true" => true,
                    "0" | "" | "false" => false,
                    other => {
                        return Err(Refused::new(
                            StatusCode::BAD_REQUEST,
                            format!(
                                "The form field {name} was {:?}; expected 1 or 0.",
                                model::fields::shorten(other, 20)
                            ),
                        ));
                    }
                };
                match name.as_str() {
                    "explain" => posted.wanted.explain = on,
                    "levers" => posted.wanted.levers = on,
                    "skip_invalid" => posted.skip_invalid = on,
                    _ => posted.download = on,
                }
            }
            other => {
                return Err(Refused::new(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "The upload has a field {:?} the form does not have (it sends file, \
                         explain, levers, skip_invalid and download).",
                        model::fields::shorten(other, 40)
                    ),
                ));
            }
        }
    }
    if posted.file.is_empty() {
        return Err(Refused::new(
            StatusCode::BAD_REQUEST,
            if seen_file {
                "The file is empty. Choose a CSV file with a header row and one customer a row."
            } else {
                "Choose a CSV file first."
            },
        ));
    }
    Ok(posted)
}

/// One prediction of the allowance per `per_token` rows (rounded up, at least one).
fn charge(allowance: &Allowance, file: &[u8], per_token: usize) -> Result<(), Refused> {
    let rows = batch::count_rows(file);
    let per_token = per_token.max(1) as u64;
    let tokens = rows.div_ceil(per_token).max(1);
    allowance
        .spend_n(u32::try_from(tokens).unwrap_or(u32::MAX))
        .map_err(|shortfall| match shortfall {
            Shortfall::Wait(seconds) => Refused {
                retry_after: Some(seconds),
                ..Refused::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "Too many customers scored in a short time: this file needs {} of your \
                         allowance. Wait {}, then send it again.",
                        predictions(tokens),
                        app::access::seconds(seconds)
                    ),
                )
            },
            Shortfall::Never { most } => Refused::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "This file has {rows} customers: that costs {} (one per {per_token} \
                     customers), more than your allowance can ever hold. Send at most {} \
                     customers at once, or use the command line (churn-predict score).",
                    predictions(tokens),
                    u64::from(most) * per_token
                ),
            ),
        })
}

fn predictions(n: u64) -> String {
    if n == 1 {
        "1 prediction".to_owned()
    } else {
        format!("{n} predictions")
    }
}

/// `10 MB`, `2.5 MB`, `20 kB`.
fn megabytes(bytes: usize) -> String {
    if bytes < 1_000_000 {
        return format!("{} kB", bytes.div_ceil(1000));
    }
    let text = format!("{:.1}", bytes as f64 / 1e6);
    format!("{} MB", text.trim_end_matches(".0"))
}

fn unexplained_text(why: Unexplained) -> &'static str {
    match why {
        Unexplained::NoLocalModel => {
            "Reasons and levers are not available: this server scores with a SageMaker endpoint \
             and has no local copy of its model. Untick them and send the file again."
        }
        Unexplained::ModelCannotExplain => {
            "Reasons are not available: the model file lacks the statistics they need. Untick \
             them and send the file again (the best lever still works)."
        }
    }
}

/// Why a run stopped, in the page's words.
fn refusal_of(error: BatchError) -> Refused {
    match error {
        BatchError::Scoring { error, .. } => {
            tracing::error!(error = %error, "the model backend failed on a file from the page");
            let status = crate::error::ApiError::Backend(error.clone()).status();
            Refused {
                reference: true,
                retry_after: matches!(error, model::ScoreError::Unavailable(_)).then_some(1),
                ..Refused::new(
                    status,
                    format!(
                        "Nothing was scored: {}. Send the file again in a moment.",
                        backend_text(&error)
                    ),
                )
            }
        }
        other => Refused::new(
            StatusCode::BAD_REQUEST,
            format!(
                "The file cannot be scored: {}.",
                sentence(&other.to_string())
            ),
        ),
    }
}

/// `the header lacks …` → `The header lacks …`, without a final period (the caller adds one).
fn sentence(text: &str) -> String {
    let text = text.trim_end_matches('.');
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The scored file as an attachment named after the upload.
fn attachment(out: Vec<u8>, summary: &Summary, file_name: Option<&str>) -> Response {
    let disposition = format!(
        "attachment; filename=\"{}-scored.csv\"",
        stem(file_name.unwrap_or_default())
    );
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        )],
        out,
    )
        .into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-rows-read", summary.rows.into());
    headers.insert("x-rows-scored", summary.scored.into());
    headers.insert("x-rows-rejected", summary.rejected.into());
    response
}

/// A safe name from an uploaded file's: its stem, with only letters, digits, `-`, `_` and
/// `.` kept (at most 80), or `customers`.
fn stem(file_name: &str) -> String {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or_default();
    let stem = base
        .strip_suffix(".csv")
        .or_else(|| base.strip_suffix(".CSV"))
        .unwrap_or(base);
    let safe: String = stem
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(80)
        .collect();
    let safe = safe.trim_start_matches('.');
    if safe.is_empty() {
        "customers".to_owned()
    } else {
        safe.to_owned()
    }
}

/// What the page's run collects: the header, the first rejected rows, and (for a summary)
/// the digest of the output.
#[derive(Default)]
struct PageReport {
    /// Keep the figures and riskiest rows a summary needs.
    digest: bool,
    header: Option<Header>,
    read: Option<Digest>,
    rejected: Vec<RejectedLine>,
}

impl Report for PageReport {
    fn header(&mut self, header: &Header) {
        if self.digest {
            self.read = Some(Digest::new(header, RISKIEST));
        }
        self.header = Some(header.clone());
    }

    fn rejected(&mut self, rejection: &Rejection) {
        if self.rejected.len() < LISTED_REJECTIONS {
            self.rejected.push(RejectedLine {
                line: rejection.line,
                reason: rejection.reason(),
            });
        }
    }

    fn written(&mut self, rows: &[u8]) {
        if let Some(digest) = &mut self.read {
            digest.add(rows);
        }
    }
}

/// The summary: counts, bands, rows not scored, and the riskiest explained.
async fn summarise(state: &AppState, summary: &Summary, report: PageReport) -> FileSummary {
    let PageReport {
        header,
        read,
        rejected,
        ..
    } = report;
    let (Some(header), Some(digest)) = (header, read) else {
        // A run always reads a header before it writes; without one nothing was scored.
        return FileSummary {
            rows: summary.rows,
            scored: summary.scored,
            rejected: summary.rejected,
            exits: summary.exits,
            threshold: summary.threshold,
            model: state.backend.info().model_id.clone(),
            rejected_lines: rejected,
            bins: vec![0; batch::digest::BINS],
            id_columns: Vec::new(),
            riskiest: Vec::new(),
            explained: false,
            download_withheld: false,
        };
    };
    let id_at: Vec<usize> = header
        .names
        .iter()
        .enumerate()
        .filter(|(_, name)| {
            ID_COLUMNS
                .iter()
                .any(|id| id.eq_ignore_ascii_case(name.trim()))
        })
        .map(|(i, _)| i)
        .collect();
    let riskiest = digest.riskiest();
    let mut customers: Vec<Customer> = Vec::with_capacity(riskiest.len());
    let mut rows: Vec<RiskyCustomer> = Vec::with_capacity(riskiest.len());
    for risky in &riskiest {
        let cells = risky.cells(header.delimiter);
        let inputs = &cells[..header.names.len().min(cells.len())];
        // Every row the digest kept was scored, so it reads as a customer again.
        let Ok(customer) = batch::row::customer(inputs, &header) else {
            continue;
        };
        customers.push(customer);
        rows.push(RiskyCustomer {
            row: risky.row,
            ids: id_at
                .iter()
                .map(|&i| String::from_utf8_lossy(&cells[i]).into_owned())
                .collect(),
            probability: risky.probability,
            reason: None,
            lever: None,
        });
    }
    let explainer = state.backend.explainer.clone();
    if let Some(model) = &explainer {
        for (row, customer) in rows.iter_mut().zip(&customers) {
            row.reason = model
                .explanation(customer)
                .map(|e| e.effects[0].describe(customer));
        }
        let predictions: Vec<Prediction> = rows
            .iter()
            .map(|r| Prediction::new(r.probability, summary.threshold))
            .collect();
        match state.backend.levers(&customers, &predictions).await {
            Ok(levers) => {
                for (row, levers) in rows.iter_mut().zip(levers) {
                    row.lever = levers.first().map(|lever| {
                        format!(
                            "{} ({})",
                            lever.change(),
                            app::form::percent(lever.probability)
                        )
                    });
                }
            }
            Err(error) => {
                tracing::warn!(%error, "the riskiest customers' levers could not be scored");
            }
        }
    }
    FileSummary {
        rows: summary.rows,
        scored: summary.scored,
        rejected: summary.rejected,
        exits: summary.exits,
        threshold: summary.threshold,
        model: state.backend.info().model_id.clone(),
        rejected_lines: rejected,
        bins: digest.bins().to_vec(),
        id_columns: id_at
            .iter()
            .map(|&i| header.name(i).trim().to_owned())
            .collect(),
        riskiest: rows,
        explained: explainer.is_some(),
        download_withheld: false,
    }
}

/// The page's limits for the form (`GET /batch` renders with them too).
pub fn file_limits(state: &AppState) -> FileLimits {
    FileLimits {
        max_bytes: state.limits.max_score_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uploads_name_becomes_a_safe_attachment_name() {
        assert_eq!(stem("Churn_Modelling.csv"), "Churn_Modelling");
        assert_eq!(stem("C:\\Users\\me\\march 2026.CSV"), "march2026");
        assert_eq!(stem("../../etc/passwd"), "passwd");
        assert_eq!(stem("\"; evil=1.csv"), "evil1");
        assert_eq!(stem(""), "customers");
        assert_eq!(stem("..csv"), "customers");
        assert_eq!(megabytes(10_000_000), "10 MB");
        assert_eq!(megabytes(2_500_000), "2.5 MB");
        assert_eq!(megabytes(20_000), "20 kB");
        assert_eq!(
            sentence("the header lacks a column: Age."),
            "The header lacks a column: Age"
        );
    }
}
