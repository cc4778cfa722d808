//! The web form: Leptos pages rendered on the server (no WebAssembly), their server
//! functions, the embedded stylesheet, and the security headers of the HTML responses.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leptos::config::LeptosOptions;
use leptos::context::provide_context;
use leptos::server_fn::error::SERVER_FN_ERROR_HEADER;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::ApiError;
use crate::middleware::browser::PAGE_CONTENT_SECURITY_POLICY;
use crate::state::AppState;

/// `GET /` (the form and its result), the server functions under `/api/`, and the CSS.
pub fn routes(state: &AppState) -> Router<AppState> {
    // Built directly rather than from cargo-leptos' environment: there is no WASM bundle,
    // and the only asset (the CSS) is embedded and served below.
    let options = LeptosOptions::builder()
        .output_name("app")
        .site_root("site")
        .build();
    let backend = state.backend.clone();
    let shell_options = options.clone();
    let pages = Router::new()
        .leptos_routes_with_context(
            &options,
            generate_route_list(app::App),
            move || provide_context(backend.clone()),
            move || app::shell(shell_options.clone()),
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CONTENT_SECURITY_POLICY),
        ))
        // nosniff, no-referrer (the result URL carries the customer's profile) and frame
        // denial come from the security-headers layer every response gets (`startup::Hardening`).
        .layer(axum::middleware::map_response(drop_hydration_data))
        // Server functions read whole bodies and answer 500 to arguments they cannot decode:
        // bound the body first (413) and turn argument errors into 400, in our JSON shape.
        .layer(axum::middleware::map_response(refuse_bad_arguments))
        .layer(axum::middleware::from_fn_with_state(
            state.limits.max_body_bytes,
            bounded_body,
        ))
        .with_state(options);
    pages
        .route(app::assets::CSS_PATH, get(stylesheet))
        .route("/robots.txt", get(robots))
}

/// `public/robots.txt`, embedded like the CSS: result URLs carry customer profiles, so no
/// crawler may index the site.
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
