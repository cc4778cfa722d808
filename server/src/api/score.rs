//! `POST /score`: a CSV file of customers in (`Content-Type: text/csv`), the same file scored
//! out (`text/csv`), byte for byte what `churn-predict score` writes for it with the same
//! options: both run the `batch` crate's one core.
//!
//! - Query: `skip_invalid=true` (answer the valid rows even when some are refused),
//!   `threshold=T` (as `--threshold`), `explain=true` (`reason_1..3`, as `--explain`) and
//!   `levers=true` (the best lever, as `--levers`). Anything else is refused (400), so a
//!   misspelt option is never silently ignored. Reasons and levers need the backend's
//!   explaining model: without it, 400 `explanations_unavailable`, as `?explain` on
//!   `/predict`.
//! - Refused rows without `skip_invalid`: 422 in the API's error shape, each row with its line
//!   (at most [`crate::error::MAX_LISTED_ROWS`]), plus `rows`, `rejected` and `more`.
//! - The body is limited by `MAX_SCORE_BYTES` (413 above it), not `MAX_BODY_BYTES`.
//! - **Cost**: with API keys, a file costs one request of the key's allowance per `MAX_BATCH`
//!   rows (rounded up), the price of the same rows sent as `POST /predict` batches: the
//!   door takes one token as for any request, the rest is charged here, before scoring. Over
//!   the allowance → 429 with `Retry-After`; more than the bucket can ever hold → 413.
//! - The answer tells its counts in `x-rows-read`, `x-rows-scored` and `x-rows-rejected`.

use axum::extract::{RawQuery, Request, State};
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router, routing::post};
use batch::{BatchError, Rejection, Report};
use tokio::runtime::Handle;

use super::{read_body, require_content_type};
use crate::error::{ApiError, RowProblems};
use crate::middleware::auth::Bucket;
use crate::score::{Scoring, Wanted};
use crate::state::AppState;

/// The route, for the prediction group (behind API keys).
pub fn routes() -> Router<AppState> {
    Router::new().route("/score", post(score))
}

/// What the query string asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ScoreQuery {
    pub skip_invalid: bool,
    pub threshold: Option<f64>,
    /// `explain` and `levers`.
    pub wanted: Wanted,
}

impl ScoreQuery {
    pub fn parse(query: Option<&str>) -> Result<ScoreQuery, ApiError> {
        let mut parsed = ScoreQuery::default();
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let shown = model::fields::shorten(value, 40);
            let flag = |name: &str| match value {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(ApiError::BadQuery(format!(
                    "{name}={shown:?}; expected true or false"
                ))),
            };
            match key {
                "skip_invalid" => parsed.skip_invalid = flag(key)?,
                "explain" => parsed.wanted.explain = flag(key)?,
                "levers" => parsed.wanted.levers = flag(key)?,
                "threshold" => {
                    parsed.threshold = Some(
                        value
                            .parse::<f64>()
                            .ok()
                            .filter(|t| *t > 0.0 && *t < 1.0)
                            .ok_or_else(|| {
                                ApiError::BadQuery(format!(
                                    "threshold={shown:?}; expected a number strictly between \
                                     0 and 1"
                                ))
                            })?,
                    )
                }
                other => {
                    return Err(ApiError::BadQuery(format!(
                        "unknown query parameter {:?}; /score takes skip_invalid, threshold, \
                         explain and levers",
                        model::fields::shorten(other, 40)
                    )));
                }
            }
        }
        Ok(parsed)
    }
}

/// Collects what the answer needs: the first refused rows and the count.
#[derive(Default)]
struct Collect(RowProblems);

impl Report for Collect {
    fn rejected(&mut self, rejection: &Rejection) {
        self.0.list(rejection);
    }
}

async fn score(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    bucket: Option<Extension<Bucket>>,
    request: Request,
) -> Result<Response, ApiError> {
    require_content_type(request.headers(), "text/csv")?;
    let query = ScoreQuery::parse(query.as_deref())?;
    let extras = crate::score::extras(&state.backend, query.wanted)
        .map_err(ApiError::ExplanationsUnavailable)?;
    let body = read_body(request.into_body(), state.limits.max_score_bytes).await?;
    if let Some(Extension(bucket)) = bucket {
        bucket.charge_rows(batch::count_rows(&body), state.limits.max_batch)?;
    }
    let scoring = Scoring::of(&state.backend);
    let options = batch::Options {
        extras,
        ..scoring.options(query.threshold, false)
    };
    let runtime = Handle::current();
    let (result, report) = tokio::task::spawn_blocking(move || {
        let mut out = Vec::with_capacity(body.len() + body.len() / 3);
        let mut report = Collect::default();
        let result = scoring
            .run(&body[..], &mut out, &options, &mut report, &runtime)
            .map(|summary| (summary, out));
        (result, report)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the scoring task failed: {e}")))?;
    // The access line's notes: the scoring ran on a blocking thread, outside the request's
    // task, where `access_log::note` cannot reach.
    crate::middleware::access_log::note(|notes| {
        notes.backend = Some(state.backend.info().kind);
        if let Ok((summary, _)) = &result {
            notes.label = Some("batch");
            notes.batch = usize::try_from(summary.rows).ok();
        }
    });
    let (summary, out) = result.map_err(|e| match e {
        BatchError::Scoring { error, .. } => ApiError::Backend(error),
        BatchError::Threshold(t) => ApiError::BadQuery(format!(
            "threshold={t}; expected a number strictly between 0 and 1"
        )),
        other => ApiError::BadCsv(other.to_string()),
    })?;
    tracing::info!(
        rows = summary.rows,
        scored = summary.scored,
        rejected = summary.rejected,
        exits = summary.exits,
        "scored a file"
    );
    if summary.rejected > 0 && !query.skip_invalid {
        let mut problems = report.0;
        problems.rows = summary.rows;
        problems.rejected = summary.rejected;
        return Err(ApiError::InvalidRows(Box::new(problems)));
    }
    let mut response = (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        )],
        out,
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert("x-rows-read", summary.rows.into());
    headers.insert("x-rows-scored", summary.scored.into());
    headers.insert("x-rows-rejected", summary.rejected.into());
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_takes_its_four_options_and_names_anything_else() {
        assert_eq!(ScoreQuery::parse(None).unwrap(), ScoreQuery::default());
        assert_eq!(
            ScoreQuery::parse(Some("skip_invalid=true&threshold=0.3")).unwrap(),
            ScoreQuery {
                skip_invalid: true,
                threshold: Some(0.3),
                wanted: Wanted::default(),
            }
        );
        assert_eq!(
            ScoreQuery::parse(Some("explain=true&levers=1"))
                .unwrap()
                .wanted,
            Wanted {
                explain: true,
                levers: true
            }
        );
        for bad in [
            "explain=approx",
            "levers=yes",
            "whatif=true",
            "skip_invalid=yes",
            "threshold=1",
            "threshold=x",
        ] {
            let err = ScoreQuery::parse(Some(bad)).unwrap_err();
            assert_eq!(err.kind(), "bad_query", "{bad}");
            assert!(
                err.to_string().contains(bad.split('=').next().unwrap()),
                "{err}"
            );
        }
    }
}
