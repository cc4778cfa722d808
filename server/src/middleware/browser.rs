//! Protections for what browsers load: cross-site POST refusal (CSRF), security headers, CORS.
//!
//! - [`refuse_cross_site`] follows the Fetch-metadata approach (as Go 1.25's
//!   `http.CrossOriginProtection`): a state-changing request is refused when the browser says it
//!   came from another site (`Sec-Fetch-Site: cross-site|same-site`) or, for browsers without
//!   fetch metadata, when its `Origin` is not our own origin: scheme, host and port (default
//!   ports filled in) must all match. Our host and port come from `Host`; our scheme is the one
//!   the client used ([`super::client::Client`]): `http` for the plain server, `X-Forwarded-Proto`
//!   when TRUSTED_PROXY_HOPS trusts a TLS-terminating proxy (ALB), and the URL `lambda_http`
//!   built under Lambda (https, from API Gateway). So behind a TLS proxy that is not declared
//!   trusted, browsers without fetch metadata cannot post the form (403): a refusal, never a
//!   hole (`http://` pages of our own host, e.g. on a hostile network, never pass as `https://`).
//!   Requests with neither header are not from a browser page (curl, SDKs) and pass: CSRF
//!   needs a victim's browser.
//! - [`add_security_headers`] adds CSP ([`CONTENT_SECURITY_POLICY`]; the form's pages set the
//!   stricter [`PAGE_CONTENT_SECURITY_POLICY`]), `X-Content-Type-Options`,
//!   `Referrer-Policy` and `X-Frame-Options` to every response that does not set its own.
//! - [`cors`] allows the configured origins to call the JSON API; off when none are configured.

use axum::extract::Request;
use axum::http::uri::Authority;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::client::{Client, Scheme};
use crate::error::ApiError;

/// The default for every response: own origin only; no plugins, no framing, forms post only
/// to us. A response that sets its own `Content-Security-Policy` keeps it.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; base-uri 'self'; object-src 'none'; \
     frame-ancestors 'none'; form-action 'self'";

/// The web form's pages (set by `crate::web`), stricter than the default: the page is known
/// to have no inline scripts or styles and no base URL, so scripts and styles are pinned to our
/// origin explicitly and `<base>` is refused (`'none'`), leaving an injected tag nothing to use.
/// Images may also be `data:` URLs (the page's empty favicon, `data:,`).
pub const PAGE_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'; object-src 'none'";

/// Answers 403 to a state-changing request a browser sent from another site. Apply with
/// `axum::middleware::from_fn(refuse_cross_site)` on the form's routes.
pub async fn refuse_cross_site(request: Request, next: Next) -> Result<Response, ApiError> {
    if is_cross_site(&request) {
        tracing::warn!(
            method = request.method().as_str(),
            "refused a cross-site request"
        );
        return Err(ApiError::CrossSite);
    }
    Ok(next.run(request).await)
}

/// The decision, separate from the middleware for testing.
pub fn is_cross_site<B>(request: &axum::http::Request<B>) -> bool {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return false;
    }
    let headers = request.headers();
    if let Some(site) = headers.get("sec-fetch-site") {
        // `none` is a navigation the user started (address bar, bookmark).
        return !matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    // `Origin: null` (sandboxed frames, some redirects) is never our page.
    let Some(origin) = origin.to_str().ok().and_then(parse_origin) else {
        return true;
    };
    let scheme = match request.extensions().get::<Client>() {
        Some(client) => client.scheme,
        None => request
            .uri()
            .scheme_str()
            .and_then(Scheme::parse)
            .unwrap_or(Scheme::Http),
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    let own = host.and_then(|host| site(scheme, host));
    own.is_none_or(|own| own != origin)
}

/// `(scheme, lower-case host, port)` of an `Origin` value (`https://bank.example[:port]`).
fn parse_origin(origin: &str) -> Option<(Scheme, String, u16)> {
    let (scheme, authority) = origin.split_once("://")?;
    site(Scheme::parse(scheme)?, authority)
}

/// `(scheme, lower-case host, port)` for `host[:port]` reached with `scheme`. No user info,
/// path or anything else: those are not origins.
fn site(scheme: Scheme, authority: &str) -> Option<(Scheme, String, u16)> {
    if authority.contains(['@', '/', '?', '#']) {
        return None;
    }
    let authority: Authority = authority.parse().ok()?;
    let port = authority.port_u16().unwrap_or(scheme.default_port());
    Some((scheme, authority.host().to_ascii_lowercase(), port))
}

/// Adds the security headers to an answer that does not set its own (the pages set a
/// stricter CSP). Applied to every answer by `crate::middleware::frame`.
pub fn add_security_headers(headers: &mut HeaderMap) {
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
}

/// CORS for the configured origins, or `None` (no CORS headers: browsers keep other sites out).
pub fn cors(allowed_origins: &[String]) -> anyhow::Result<Option<CorsLayer>> {
    if allowed_origins.is_empty() {
        return Ok(None);
    }
    let origins = allowed_origins
        .iter()
        .map(|o| {
            HeaderValue::from_str(o.trim().trim_end_matches('/'))
                .map_err(|_| anyhow::anyhow!("CORS_ALLOWED_ORIGINS: {o:?} is not a valid origin"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::CONTENT_TYPE,
                HeaderName::from_static(super::auth::API_KEY_HEADER),
                super::request_id::X_REQUEST_ID,
            ])
            .expose_headers([super::request_id::X_REQUEST_ID, header::RETRY_AFTER])
            .max_age(std::time::Duration::from_secs(600)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn post(headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::post("/").header("host", "bank.example:3000");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn same_origin_and_non_browser_posts_pass() {
        for headers in [
            vec![],
            vec![("sec-fetch-site", "same-origin")],
            vec![("sec-fetch-site", "none")],
            vec![("origin", "http://bank.example:3000")],
            vec![("origin", "HTTP://BANK.example:3000")],
        ] {
            assert!(!is_cross_site(&post(&headers)), "{headers:?}");
        }
    }

    fn post_to(host: &str, scheme: Option<Scheme>, origin: &str) -> Request<()> {
        let mut request = Request::post("/")
            .header("host", host)
            .header("origin", origin)
            .body(())
            .unwrap();
        if let Some(scheme) = scheme {
            request.extensions_mut().insert(Client {
                ip: "192.0.2.1".parse().unwrap(),
                scheme,
            });
        }
        request
    }

    #[test]
    fn the_origins_scheme_must_be_the_one_the_client_used() {
        // The plain server speaks http: an https page (or the reverse) is another origin.
        assert!(is_cross_site(&post_to(
            "bank.example:3000",
            None,
            "https://bank.example:3000"
        )));
        assert!(is_cross_site(&post_to(
            "bank.example",
            Some(Scheme::Https),
            "http://bank.example"
        )));
        // Behind a trusted TLS proxy (X-Forwarded-Proto: https), the https page is ours,
        // default ports filled in on either side.
        for (host, origin) in [
            ("bank.example", "https://bank.example"),
            ("bank.example:443", "https://bank.example"),
            ("bank.example", "https://Bank.Example:443"),
        ] {
            assert!(
                !is_cross_site(&post_to(host, Some(Scheme::Https), origin)),
                "{host} {origin}"
            );
        }
        assert!(!is_cross_site(&post_to(
            "bank.example",
            Some(Scheme::Http),
            "http://bank.example:80"
        )));
        // Not origins at all.
        for origin in [
            "ftp://bank.example",
            "https://user@bank.example",
            "https://bank.example/x",
            "bank.example",
        ] {
            assert!(
                is_cross_site(&post_to("bank.example", Some(Scheme::Https), origin)),
                "{origin}"
            );
        }
        // Under Lambda the URL carries the scheme (lambda_http builds it from API Gateway's).
        let request =
            Request::post("https://abc.execute-api.eu-west-1.amazonaws.com/prod/api/predict-form")
                .header("host", "abc.execute-api.eu-west-1.amazonaws.com")
                .header("origin", "https://abc.execute-api.eu-west-1.amazonaws.com")
                .body(())
                .unwrap();
        assert!(!is_cross_site(&request));
    }

    #[test]
    fn cross_site_posts_are_refused() {
        for headers in [
            vec![("sec-fetch-site", "cross-site")],
            vec![("sec-fetch-site", "same-site")],
            // Fetch metadata wins over a forged-looking but matching Origin.
            vec![
                ("sec-fetch-site", "cross-site"),
                ("origin", "http://bank.example:3000"),
            ],
            vec![("origin", "https://evil.example")],
            vec![("origin", "http://bank.example:3001")],
            vec![("origin", "null")],
        ] {
            assert!(is_cross_site(&post(&headers)), "{headers:?}");
        }
    }

    #[test]
    fn safe_methods_are_never_refused() {
        let request = Request::get("/")
            .header("sec-fetch-site", "cross-site")
            .body(())
            .unwrap();
        assert!(!is_cross_site(&request));
    }

    #[test]
    fn cors_is_off_without_origins_and_refuses_garbage() {
        assert!(cors(&[]).unwrap().is_none());
        assert!(cors(&["https://a.example".into()]).unwrap().is_some());
        assert!(cors(&["bad\norigin".into()]).is_err());
    }
}
