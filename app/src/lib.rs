//! Leptos pages and server functions, rendered on the server only: no WebAssembly, no
//! hydration, so the form works as plain HTML with JavaScript off.
//!
//! - [`form`]: pure logic (parse what was typed, HTML constraints from the field table, words).
//! - [`page`]: the components.
//! - [`predict_customer`]: the server function the page calls; thin over [`form::evaluate`].
//! - [`assets`]: the compiled Tailwind CSS, embedded in the binary (see `build.rs`).

pub mod assets;
pub mod form;
pub mod page;

use std::sync::Arc;

use leptos::prelude::*;
use leptos_meta::{MetaTags, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{SsrMode, path};

use form::{Outcome, Submitted};

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

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Router>
            // `Async`: the page waits for the prediction and arrives complete. The default
            // out-of-order streaming would need JavaScript to move the result into place.
            <Routes fallback=|| "Not found.">
                <Route path=path!("/") view=page::FormPage ssr=SsrMode::Async />
            </Routes>
        </Router>
    }
}

/// Validates a submission and asks the configured predictor (the same one the JSON API uses,
/// provided by the server as `Arc<dyn model::Predictor>` context). Invalid input and backend
/// failures are answers (`Outcome`), shown on the page; they also set the HTTP status.
#[server(endpoint = "predict-form")]
pub async fn predict_customer(submitted: Submitted) -> Result<Outcome, ServerFnError> {
    let predictor = use_context::<Arc<dyn model::Predictor>>()
        .ok_or_else(|| ServerFnError::new("no predictor is configured for the web form"))?;
    let outcome = form::evaluate(&submitted, predictor.as_ref()).await;
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        use leptos::server_fn::http_export::StatusCode;
        match &outcome {
            Outcome::Predicted(_) => {}
            Outcome::Invalid(_) => response.set_status(StatusCode::UNPROCESSABLE_ENTITY),
            Outcome::Unavailable(_) => response.set_status(StatusCode::SERVICE_UNAVAILABLE),
        }
    }
    Ok(outcome)
}
