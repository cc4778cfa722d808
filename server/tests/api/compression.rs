//! Compression over real HTTP, read raw (the test client does not decompress): pages, the
//! stylesheet and big JSON answers are compressed for clients that accept it, and say that
//! they vary by `Accept-Encoding`; a single prediction's small answer is sent as is.

use std::io::Read;

use server::middleware::compress::MIN_BYTES;

use crate::helpers::{TestApp, sample_data_body, sample_row, spawn_app};

async fn fetch(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<String>,
    accept_encoding: Option<&str>,
) -> (reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = app.client.request(method, app.url(path));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body);
    }
    if let Some(encoding) = accept_encoding {
        request = request.header("accept-encoding", encoding);
    }
    let response = request.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    let headers = response.headers().clone();
    (headers, response.bytes().await.unwrap().to_vec())
}

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> String {
    headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(", ")
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

fn stylesheet_path(html: &[u8]) -> String {
    let html = String::from_utf8_lossy(html);
    let start = html
        .find("pkg/app-")
        .expect("the page links its stylesheet");
    let end = start + html[start..].find('"').unwrap();
    format!("/{}", &html[start..end])
}

#[tokio::test]
async fn pages_and_the_stylesheet_are_compressed_for_clients_that_accept_it() {
    let app = spawn_app().await;
    let (plain_headers, plain) = fetch(&app, reqwest::Method::GET, "/", None, None).await;
    assert!(plain_headers.get("content-encoding").is_none());
    assert!(
        header(&plain_headers, "vary").contains("accept-encoding"),
        "an uncompressed page still says what varies: {plain_headers:?}"
    );
    assert!(plain.len() > usize::from(MIN_BYTES), "{}", plain.len());

    let (headers, gzipped) = fetch(&app, reqwest::Method::GET, "/", None, Some("gzip")).await;
    assert_eq!(header(&headers, "content-encoding"), "gzip");
    assert!(header(&headers, "vary").contains("accept-encoding"));
    assert!(
        headers
            .get("content-length")
            .is_none_or(|l| l != &plain.len().to_string())
    );
    assert!(
        gzipped.len() * 3 < plain.len(),
        "{} vs {}",
        gzipped.len(),
        plain.len()
    );
    assert_eq!(gunzip(&gzipped), plain, "the same page");

    let (headers, brotli) = fetch(
        &app,
        reqwest::Method::GET,
        "/",
        None,
        Some("br;q=1, gzip;q=0.5"),
    )
    .await;
    assert_eq!(header(&headers, "content-encoding"), "br");
    assert!(
        brotli.len() * 3 < plain.len(),
        "{} vs {}",
        brotli.len(),
        plain.len()
    );

    let css = stylesheet_path(&plain);
    let (headers, _) = fetch(&app, reqwest::Method::GET, &css, None, Some("br, gzip")).await;
    assert_eq!(header(&headers, "content-encoding"), "br");
    assert!(header(&headers, "vary").contains("accept-encoding"));
    assert_eq!(
        header(&headers, "cache-control"),
        "public, max-age=31536000, immutable"
    );
}

#[tokio::test]
async fn a_single_predictions_small_answer_is_not_compressed_and_a_batch_is() {
    let app = spawn_app().await;
    let (headers, body) = fetch(
        &app,
        reqwest::Method::POST,
        "/predict",
        Some(sample_data_body()),
        Some("gzip, br"),
    )
    .await;
    assert!(body.len() < usize::from(MIN_BYTES), "{}", body.len());
    assert!(headers.get("content-encoding").is_none(), "{headers:?}");
    assert!(
        !header(&headers, "vary").contains("accept-encoding"),
        "{headers:?}"
    );
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["result"], "Will Not Exit");

    let batch = serde_json::json!({ "instances": vec![sample_row(); 50] }).to_string();
    let (plain_headers, plain) = fetch(
        &app,
        reqwest::Method::POST,
        "/predict",
        Some(batch.clone()),
        None,
    )
    .await;
    assert!(plain_headers.get("content-encoding").is_none());
    let (headers, gzipped) = fetch(
        &app,
        reqwest::Method::POST,
        "/predict",
        Some(batch),
        Some("gzip"),
    )
    .await;
    assert_eq!(header(&headers, "content-encoding"), "gzip");
    assert!(header(&headers, "vary").contains("accept-encoding"));
    let answer: serde_json::Value = serde_json::from_slice(&gunzip(&gzipped)).unwrap();
    let plain: serde_json::Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(answer, plain);
}

#[tokio::test]
async fn other_content_types_are_sent_as_they_are() {
    let app = spawn_app().await;
    for path in ["/metrics", "/robots.txt"] {
        let (headers, _) = fetch(&app, reqwest::Method::GET, path, None, Some("gzip, br")).await;
        assert!(
            headers.get("content-encoding").is_none(),
            "{path}: {headers:?}"
        );
    }
}
