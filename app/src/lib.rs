//! Leptos pages and server functions, rendered on the server only: no WebAssembly, no
//! hydration, so the form works as plain HTML with JavaScript off.
//!
//! - [`form`]: pure logic (parse what was typed, HTML constraints from the field table, words).
//! - [`page`]: the form page; [`sign_in`]: the sign-in page; [`model_page`]: the model page;
//!   [`batch_page`]: the file page (upload a CSV, see a summary or download it scored).
//! - [`charts`]: inline SVG charts (no JavaScript, no inline styles).
//! - [`access`]: who is using the pages and what a prediction costs them (decided by the server).
//! - [`predict_customer`]: the server function the page calls; thin over [`form::evaluate`].
//! - [`assets`]: the compiled Tailwind CSS, embedded in the binary (see `build.rs`).
//!
//! No customer data ever travels in a URL: the form is posted (`POST form`), and the server
//! renders the answer to that post with the submission as [`Posted`] context.

pub mod access;
pub mod assets;
pub mod batch_page;
pub mod charts;
pub mod form;
pub mod model_page;
pub mod page;
pub mod sign_in;

use leptos::prelude::*;
use leptos_meta::{MetaTags, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{SsrMode, path};

use form::{Outcome, Submitted};

/// The form page (blank; `?example=1` fills in the example customer).
pub const HOME_PATH: &str = "/";
/// Where the form is posted: the page that shows the form and the answer. Not `POST /`, which
/// is the keyed JSON API (at API Gateway too). `GET` shows the blank form.
pub const FORM_PATH: &str = "/form";
/// The sign-in page (`GET`) and the sign-in itself (`POST`, the API key in the body).
pub const SIGN_IN_PATH: &str = "/sign-in";
/// `POST`: ends the session.
pub const SIGN_OUT_PATH: &str = "/sign-out";
/// The file page: `GET` shows the upload form, `POST` (a `multipart/form-data` file) answers
/// it with a summary of the scored file, or the scored file itself (`download=1`).
pub const BATCH_PATH: &str = "/batch";
/// The model page. The server answers `GET` itself (a page to browsers, JSON to scripts), so
/// this route is left out of the list the pages' router mounts ([`page_routes`]).
pub const MODEL_PATH: &str = "/model";

/// A submission of the form, posted to [`FORM_PATH`]: the server reads the body and renders
/// the page with this as context; the page then calls [`predict_customer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted(pub Submitted);
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};

/// The path in front of the app's routes as the browser sees them: `/prod` when API Gateway
/// serves the app under a stage, empty at the root. The server puts it in the request's
/// extensions; the page turns it into `<base href>`, and every link on the page is relative,
/// so links work behind any prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BasePath(pub String);

/// `<base href>` for this request: the prefix the server found, then `/`.
fn base_href() -> String {
    let prefix = use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<BasePath>().cloned())
        .unwrap_or_default();
    format!("{}/", prefix.0.trim_end_matches('/'))
}

/// The HTML document around the app. No `<HydrationScripts/>`: there is nothing to hydrate.
pub fn shell(_options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light" />
                <base href=base_href() />
                <link rel="stylesheet" href=assets::CSS_HREF />
                // No favicon request: nothing to fetch but the page and its stylesheet.
                <link rel="icon" href="data:," />
                <MetaTags />
            </head>
            <body class="min-h-screen bg-slate-100 text-slate-900 antialiased">
                <App />
            </body>
        </html>
    }
}

/// The routes the pages' router mounts: every route of [`App`] but [`MODEL_PATH`], which the
/// server answers itself (and renders with [`App`] for browsers).
pub fn page_routes() -> Vec<leptos_axum::AxumRouteListing> {
    leptos_axum::generate_route_list(App)
        .into_iter()
        .filter(|route| route.path() != MODEL_PATH)
        .collect()
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Router>
            // `Async`: the page waits for the prediction and arrives complete. The default
            // out-of-order streaming would need JavaScript to move the result into place.
            <Routes fallback=|| "Not found.">
                <Route path=path!("/") view=page::FormPage ssr=SsrMode::Async />
                <Route path=path!("/form") view=page::FormPage ssr=SsrMode::Async />
                <Route path=path!("/sign-in") view=sign_in::SignInPage ssr=SsrMode::Async />
                <Route path=path!("/batch") view=batch_page::BatchPage ssr=SsrMode::Async />
                <Route path=path!("/model") view=model_page::ModelPage ssr=SsrMode::Async />
            </Routes>
        </Router>
    }
}

/// Why the form's server function could not run at all. (Invalid input and backend failures
/// are not errors here but [`Outcome`]s, shown on the page.) A typed error, so the server can
/// tell a client's broken submission (400) from its own misconfiguration without reading
/// server_fn's private error format.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, thiserror::Error)]
pub enum FormError {
    /// The submission's fields could not be read (a tampered or broken request).
    #[error("the form's fields could not be read: {0}")]
    BadArguments(String),
    /// The server has no backend for the form (a wiring mistake, never the client's).
    #[error("the prediction service is not configured")]
    NotConfigured,
    /// Anything else server_fn reports.
    #[error("the form could not be processed: {0}")]
    Other(String),
}

impl FromServerFnError for FormError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(m)
            | ServerFnErrorErr::MissingArg(m)
            | ServerFnErrorErr::Deserialization(m) => FormError::BadArguments(m),
            other => FormError::Other(other.to_string()),
        }
    }
}

/// Spends one prediction from the visitor's [`access::Allowance`], validates a submission and
/// asks the configured backend (the same one the JSON API uses, provided by the server as a
/// `model::Backend` context). Throttling, invalid input and backend failures are answers
/// (`Outcome`), shown on the page; they also set the HTTP status.
///
/// Without an allowance (a request the server's page guard did not admit) nothing is predicted.
#[server(endpoint = "predict-form")]
pub async fn predict_customer(submitted: Submitted) -> Result<Outcome, FormError> {
    let backend = use_context::<model::Backend>().ok_or(FormError::NotConfigured)?;
    let allowance = access::allowance().ok_or(FormError::NotConfigured)?;
    let outcome = match allowance.spend() {
        Ok(()) => form::evaluate(&submitted, &backend, request_id()).await,
        Err(retry_after_secs) => Outcome::Throttled { retry_after_secs },
    };
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        use leptos::server_fn::http_export::{HeaderName, HeaderValue, StatusCode};
        match &outcome {
            Outcome::Predicted(_) => {}
            Outcome::Invalid(_) => response.set_status(StatusCode::UNPROCESSABLE_ENTITY),
            Outcome::Unavailable(_) => response.set_status(StatusCode::SERVICE_UNAVAILABLE),
            Outcome::Throttled { retry_after_secs } => {
                response.set_status(StatusCode::TOO_MANY_REQUESTS);
                response.insert_header(
                    HeaderName::from_static("retry-after"),
                    HeaderValue::from(*retry_after_secs),
                );
            }
        }
    }
    Ok(outcome)
}

/// The id the server gave this request (`x-request-id`), to quote in failures.
fn request_id() -> Option<String> {
    let parts = use_context::<http::request::Parts>()?;
    let id = parts.headers.get("x-request-id")?.to_str().ok()?;
    Some(id.to_owned())
}
