//! Compression of answers, for clients that accept it (`Accept-Encoding: br` or `gzip`).
//!
//! - Only HTML, CSS and JSON, and only from [`MIN_BYTES`]: a single prediction's answer (about
//!   120 bytes) is sent as is, since compressing it would cost CPU on the hottest path and save
//!   nothing on the wire. Pages, the stylesheet and batch answers shrink several times.
//! - Every answer that could be compressed says `Vary: Accept-Encoding`, compressed or not, so
//!   a cache never serves one client's encoding to another (the stylesheet is cached
//!   immutable).
//! - Brotli at quality 4, gzip at 6 (tower-http's defaults for on-the-fly compression).
//! - Only the plain server compresses ([`crate::startup::Hardening::compressing`]). Under
//!   Lambda a compressed body would reach API Gateway base64-encoded and, without binary media
//!   types, reach the client so; the API compresses there instead (`MinimumCompressionSize` in
//!   `deploy/template.yaml`).

use axum::http::{Response, header};
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{Predicate, SizeAbove};

/// Smallest answer worth compressing, in bytes.
pub const MIN_BYTES: u16 = 1024;

/// The content types compressed (their `Content-Type` starts with one of these).
pub const COMPRESSIBLE: [&str; 3] = ["text/html", "text/css", "application/json"];

/// HTML, CSS or JSON.
#[derive(Clone, Copy, Debug, Default)]
pub struct Compressible;

impl Predicate for Compressible {
    fn should_compress<B>(&self, response: &Response<B>) -> bool
    where
        B: axum::body::HttpBody,
    {
        response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| {
                COMPRESSIBLE
                    .iter()
                    .any(|c| t.len() >= c.len() && t[..c.len()].eq_ignore_ascii_case(c))
            })
    }
}

pub type Layer = CompressionLayer<tower_http::compression::predicate::And<SizeAbove, Compressible>>;

/// `router.layer(compress::layer())`.
pub fn layer() -> Layer {
    CompressionLayer::new().compress_when(SizeAbove::new(MIN_BYTES).and(Compressible))
}
