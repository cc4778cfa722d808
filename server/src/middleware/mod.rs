//! Production hardening as layers, each applicable to any group of routes:
//!
//! - [`access_log`]: one span and one event per request, as structured fields.
//! - [`auth`]: API keys and per-key throttling for prediction routes ([`auth::protect_predictions`]).
//! - [`client`]: who sent a request (address, scheme), proxy-aware (TRUSTED_PROXY_HOPS).
//! - [`browser`]: cross-site POST refusal for forms, security headers, CORS.
//! - [`compress`]: gzip/brotli for HTML, CSS and JSON answers big enough to gain.
//! - [`limits`]: request timeout and a load-shedding concurrency cap.
//! - [`request_id`]: honour or make a request id, echo it, log it.
//! - [`session`]: who may use the web pages (sign-in with an API key, or open and throttled
//!   per client address).

pub mod access_log;
pub mod auth;
pub mod browser;
pub mod client;
pub mod compress;
pub mod frame;
pub mod limits;
pub mod request_id;
pub mod session;
