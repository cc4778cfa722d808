//! The web pages: Leptos pages rendered on the server (no WebAssembly), their server
//! functions, the posts they make, the embedded stylesheet, and the security headers of the
//! HTML responses.
//!
//! | Route | What |
//! |---|---|
//! | `GET /` | the form (`?example=1`: filled in with the example customer) |
//! | `GET /form`, `POST /form` | the form; posted, the form and its answer |
//! | `POST /api/predict-form` | the form's server function, over HTTP |
//! | `GET /sign-in`, `POST /sign-in`, `POST /sign-out` | signing in with an API key |
//! | `GET /batch`, `POST /batch` | the file page: upload a CSV (`multipart/form-data`), see a summary or download it scored ([`batch`]) |
//! | `GET /model` | the model page to browsers (`Accept` prefers `text/html`), JSON to scripts; open |
//! | `GET /pkg/app-<hash>.css`, `GET /robots.txt` | static |
//!
//! Every page route but signing in and out, and the model page, passes the page guard
//! (`crate::middleware::session`); every `POST` the cross-site guard (`crate::startup`). The
//! model page shows no customer data, only the model card, so it is as open as `GET /model`'s
//! JSON has always been.
//! Leptos routes answer `GET` only, so the posts are axum handlers that read the body and
//! render the same Leptos app with what was posted as context.

mod batch;

use std::borrow::Cow;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use leptos::config::LeptosOptions;
use leptos::context::provide_context;
use leptos::server_fn::error::SERVER_FN_ERROR_HEADER;
use leptos_axum::LeptosRoutes;
use model::Backend;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::ApiError;
use crate::middleware::browser::PAGE_CONTENT_SECURITY_POLICY;
use crate::middleware::session::{self, PageAccess, SignIn};
use crate::state::AppState;

/// The one content type the pages post.
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Largest sign-in body: a key (at most 256 bytes, percent-encoded) and its field name.
const SIGN_IN_BODY_BYTES: usize = 4096;

/// The pages, their server functions and posts, and the CSS. `access` decides who may use
/// them (`crate::middleware::session`).
pub fn routes(state: &AppState, access: PageAccess) -> Router<AppState> {
    // Built directly rather than from cargo-leptos' environment: there is no WASM bundle,
    // and the only asset (the CSS) is embedded and served below.
    let options = LeptosOptions::builder()
        .output_name("app")
        .site_root("site")
        .build();
    let backend = state.backend.clone();
    let file_limits = batch::file_limits(state);
    let shell_options = options.clone();
    let renderer = Renderer {
        options: options.clone(),
        backend: state.backend.clone(),
    };
    let posts = Router::new()
        .route(app::FORM_PATH, post(submit_form))
        .route(app::SIGN_IN_PATH, post(sign_in))
        .route(app::SIGN_OUT_PATH, post(sign_out))
        .with_state(Posts {
            renderer,
            access: access.clone(),
            max_body_bytes: state.limits.max_body_bytes,
        });
    let pages = Router::new()
        .leptos_routes_with_context(
            &options,
            app::page_routes(),
            move || {
                provide_context(backend.clone());
                provide_context(file_limits);
            },
            move || app::shell(shell_options.clone()),
        )
        .merge(posts)
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CONTENT_SECURITY_POLICY),
        ))
        // nosniff, no-referrer and frame denial come from the security-headers layer every
        // response gets (`startup::Hardening`).
        .layer(axum::middleware::map_response(drop_hydration_data))
        // Server functions read whole bodies and answer 500 to arguments they cannot decode:
        // bound the body first (413) and turn argument errors into 400, in our JSON shape.
        .layer(axum::middleware::map_response(refuse_bad_arguments))
        .layer(axum::middleware::from_fn_with_state(
            state.limits.max_body_bytes,
            bounded_body,
        ))
        // Outermost: who may use the pages, before any body is read.
        .layer(axum::middleware::from_fn_with_state(
            access.clone(),
            session::guard_pages,
        ))
        .with_state(options.clone());
    // The file page's upload: its own body cap (MAX_SCORE_BYTES), so outside `bounded_body`;
    // the same guard, CSP and hydration cut as the other pages.
    let uploads = batch::routes(
        state,
        Renderer {
            options: options.clone(),
            backend: state.backend.clone(),
        },
    )
    .layer(SetResponseHeaderLayer::overriding(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CONTENT_SECURITY_POLICY),
    ))
    .layer(axum::middleware::map_response(drop_hydration_data))
    .layer(axum::middleware::from_fn_with_state(
        access,
        session::guard_pages,
    ));
    let model_page = Router::new()
        .route(app::MODEL_PATH, get(model_route))
        .with_state(ModelRoute {
            renderer: Renderer {
                options: options.clone(),
                backend: state.backend.clone(),
            },
            state: state.clone(),
        })
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CONTENT_SECURITY_POLICY),
        ))
        .layer(axum::middleware::map_response(drop_hydration_data));
    pages
        .route(app::assets::CSS_PATH, get(stylesheet))
        .route("/robots.txt", get(robots))
        .merge(uploads)
        .merge(model_page)
}

#[derive(Clone)]
struct ModelRoute {
    renderer: Renderer,
    state: AppState,
}

/// `GET /model`: the model page when the client prefers HTML (a browser), else the JSON
/// description scripts have always read ([`crate::api::model_json`]). `Vary: Accept`.
async fn model_route(State(route): State<ModelRoute>, request: Request) -> Response {
    let mut response = if prefers_html(request.headers()) {
        let view = model_view(&route.state);
        let (parts, _) = request.into_parts();
        route
            .renderer
            .render(parts, move || provide_context(view.clone()))
            .await
    } else {
        crate::api::model_json(&route.state)
    };
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept"));
    response
}

/// What the model page shows: the card, and what the backend says about itself.
fn model_view(state: &AppState) -> app::model_page::ModelView {
    use app::model_page::Explains;
    let info = state.backend.info();
    let explains = match &state.backend.explainer {
        None => Explains::NoLocalModel,
        Some(model) if !model.forest().can_explain() => Explains::ModelCannot,
        Some(_) => Explains::Yes,
    };
    app::model_page::ModelView {
        model_id: info.model_id.clone(),
        backend: info.kind,
        threshold: info.threshold,
        explains,
        card: state.model_card.clone(),
    }
}

/// Whether `Accept` prefers HTML to JSON: `text/html` weighs more than `application/json`,
/// each weighed by the most specific range that matches it (`text/html` before `text/*`
/// before `*/*`). No `Accept`, `*/*` or a tie: JSON, as scripts have always had.
pub fn prefers_html(headers: &axum::http::HeaderMap) -> bool {
    let ranges: Vec<(String, f32)> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|range| {
            let mut parts = range.split(';');
            let media = parts.next()?.trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (!media.is_empty()).then_some((media, q))
        })
        .collect();
    let weight = |media: &str| {
        let (kind, _) = media.split_once('/').unwrap_or((media, ""));
        let wildcard = format!("{kind}/*");
        [media, wildcard.as_str(), "*/*"]
            .iter()
            .find_map(|candidate| {
                ranges
                    .iter()
                    .filter(|(m, _)| m == candidate)
                    .map(|(_, q)| *q)
                    .reduce(f32::max)
            })
            .unwrap_or(0.0)
    };
    let html = weight("text/html");
    html > 0.0 && html > weight("application/json")
}

/// Renders the Leptos app for a request the pages answer by `POST`.
#[derive(Clone)]
struct Renderer {
    options: LeptosOptions,
    backend: Backend,
}

impl Renderer {
    /// The page at `parts`' path, with the backend and `context` provided, as a `GET` of
    /// that path would render it (`SsrMode::Async`: complete, no JavaScript needed).
    async fn render(
        &self,
        parts: Parts,
        context: impl Fn() + Clone + Send + Sync + 'static,
    ) -> Response {
        let backend = self.backend.clone();
        let options = self.options.clone();
        let handler = leptos_axum::render_app_async_with_context(
            move || {
                provide_context(backend.clone());
                context();
            },
            move || app::shell(options.clone()),
        );
        handler(Request::from_parts(parts, Body::empty())).await
    }
}

#[derive(Clone)]
struct Posts {
    renderer: Renderer,
    access: PageAccess,
    max_body_bytes: usize,
}

/// A posted form's body: `application/x-www-form-urlencoded` (else 415), at most `limit`
/// bytes (else 413).
async fn form_body(parts: &Parts, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case(FORM_CONTENT_TYPE) {
        return Err(ApiError::UnsupportedMediaType {
            got: content_type.to_owned(),
            expected: FORM_CONTENT_TYPE,
        });
    }
    crate::api::read_body(body, limit).await
}

/// `POST /form`: the profile in the body, never in the URL. Renders the form page with the
/// submission ([`app::Posted`]); the page calls the server function, which spends the
/// visitor's allowance and predicts. The status is the server function's (200, 422, 429, 503).
async fn submit_form(State(posts): State<Posts>, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let body = form_body(&parts, body, posts.max_body_bytes).await?;
    let pairs: Vec<(Cow<str>, Cow<str>)> = form_urlencoded::parse(&body).collect();
    let submitted =
        app::form::Submitted::from_posted(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
            .map_err(|field| {
                ApiError::BadShape(format!("the form field {field} was sent twice"))
            })?;
    let mut response = posts
        .renderer
        .render(parts, move || {
            provide_context(app::Posted(submitted.clone()))
        })
        .await;
    // The answer shows a customer's profile: no cache may keep it.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `POST /sign-in`: `api_key=<key>`. Signed in: a session cookie and `303` to the form.
/// Refused: the sign-in page again, saying why (422 no key, 403 wrong key, 429 too many
/// attempts from this address). With open pages: `303` to the form.
async fn sign_in(State(posts): State<Posts>, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let body = form_body(&parts, body, SIGN_IN_BODY_BYTES).await?;
    let key = form_urlencoded::parse(&body)
        .find(|(name, _)| name == "api_key")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    let prefix = session::prefix(&parts.extensions);
    let client = session::client_key(&parts.extensions);
    let home = format!("{prefix}{}", app::HOME_PATH);
    match posts.access.sign_in(&key, client, &prefix) {
        SignIn::Open => Ok(session::see_other(&home)),
        SignIn::Accepted { key, cookie } => {
            tracing::info!(api_key = &*key.0, "signed in to the pages");
            let mut response = session::see_other(&home);
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            Ok(response)
        }
        SignIn::Refused(notice) => {
            let (status, retry_after) = match notice {
                app::access::SignInNotice::NoKey => (StatusCode::UNPROCESSABLE_ENTITY, None),
                app::access::SignInNotice::WrongKey => (StatusCode::FORBIDDEN, None),
                app::access::SignInNotice::TooManyAttempts { retry_after_secs } => {
                    (StatusCode::TOO_MANY_REQUESTS, Some(retry_after_secs))
                }
            };
            let mut response = posts
                .renderer
                .render(parts, move || provide_context(notice))
                .await;
            *response.status_mut() = status;
            if let Some(secs) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            Ok(response)
        }
    }
}

/// `POST /sign-out`: ends the session (the cookie is cleared) and shows the sign-in page.
async fn sign_out(request: Request) -> Response {
    let prefix = session::prefix(request.extensions());
    let mut response = session::see_other(&format!("{prefix}{}", app::SIGN_IN_PATH));
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie(&prefix));
    response
}

/// `public/robots.txt`, embedded like the CSS: no crawler may index the pages.
async fn robots() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        include_str!("../../public/robots.txt"),
    )
        .into_response()
}

/// Middleware: buffers the body up to `limit` bytes ([`crate::api::read_body`], as the JSON
/// API does), so larger bodies are answered 413 before a server function collects them.
async fn bounded_body(
    State(limit): State<usize>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let bytes = crate::api::read_body(body, limit).await?;
    Ok(next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await)
}

/// server_fn answers every error of a server function 500, with the function's typed error
/// (`app::FormError`, JSON) as the body. Arguments it cannot decode are the client's fault:
/// 400 in our JSON error shape instead. Other errors stay 500 (a wiring mistake of ours).
async fn refuse_bad_arguments(response: Response) -> Response {
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !response.headers().contains_key(SERVER_FN_ERROR_HEADER)
    {
        return response;
    }
    let (parts, body) = response.into_parts();
    // A serialised `FormError`: a few hundred bytes; anything longer is not one.
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    match serde_json::from_slice::<app::FormError>(&bytes) {
        Ok(error @ app::FormError::BadArguments(_)) => {
            ApiError::BadShape(error.to_string()).into_response()
        }
        Ok(error) => {
            tracing::error!(%error, "the form's server function failed");
            Response::from_parts(parts, Body::from(bytes))
        }
        Err(_) => Response::from_parts(parts, Body::from(bytes)),
    }
}

/// Leptos always appends `<script>` tags with hydration data after `</html>`. With no
/// hydration they do nothing, and the CSP (no inline scripts) would only log their refusal,
/// so they are cut off. Async rendering has already buffered the page, so this costs a copy.
async fn drop_hydration_data(response: Response) -> Response {
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if !is_html {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!(error = %e, "reading the rendered page");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    const END: &[u8] = b"</html>";
    let end = bytes
        .windows(END.len())
        .rposition(|w| w == END)
        .map_or(bytes.len(), |i| i + END.len());
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes.slice(..end)))
}

/// The embedded CSS. Its name changes with its content, so browsers may keep it for a year.
/// `nosniff` comes from the security-headers layer, like every response's.
async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        app::assets::CSS,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> bool {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        prefers_html(&headers)
    }

    #[test]
    fn browsers_get_html_and_scripts_json() {
        assert!(accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(accept("text/html"));
        assert!(accept("application/json;q=0.5, text/*"));
        assert!(!accept("*/*"), "curl");
        assert!(!accept("application/json"));
        assert!(!accept("text/html, application/json"), "a tie is JSON");
        assert!(!accept("text/html;q=0, */*"));
        assert!(!prefers_html(&axum::http::HeaderMap::new()), "no Accept");
    }
}
