//! The web form over plain HTTP (no browser): headers, stylesheet, weight, and that the page
//! answers exactly like the JSON API. The browser side is in `end2end/`; signing in and the
//! page throttles are in `pages.rs`.

use std::sync::Arc;

use model::Backend;
use model::scoring::{FnScorer, ScoreError};
use server::testing::TestServer;

use crate::helpers::{TestApp, header, sample_data_body, spawn_app};

/// The example customer as the form posts it (`application/x-www-form-urlencoded`).
pub const EXAMPLE_FORM: &str = "credit_score=670&geography=France&gender=Male&age=38&tenure=7\
    &balance=0.00&num_of_products=2&has_cr_card=1&is_active_member=1&estimated_salary=77864.41";

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header("accept", "text/html")
        .send()
        .await
        .expect("the server answers")
}

/// Posts the form (`body`) to `url` as a browser does.
pub async fn post_form_to(client: &reqwest::Client, url: &str, body: &str) -> reqwest::Response {
    client
        .post(url)
        .header("accept", "text/html")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .expect("the server answers")
}

async fn post_form(app: &TestApp, body: &str) -> reqwest::Response {
    post_form_to(&app.client, &app.url("/form"), body).await
}

/// The stylesheet's path from the root (the page links it relative to `<base href="/">`).
fn stylesheet_href(html: &str) -> String {
    let start = html
        .find("pkg/app-")
        .expect("the page links its stylesheet");
    let end = start + html[start..].find('"').expect("a quoted href");
    format!("/{}", &html[start..end])
}

#[tokio::test]
async fn the_form_page_is_html_with_a_same_origin_csp_and_no_scripts() {
    let app = spawn_app().await;
    let response = get(&app, "/").await;
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert!(header("content-type").starts_with("text/html"));
    let csp = header("content-security-policy");
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(header("x-content-type-options"), "nosniff");
    let html = response.text().await.unwrap();
    assert!(!html.contains("<script"), "no hydration scripts: {html}");
    assert!(!html.contains(".wasm"), "no WebAssembly");
    assert!(
        html.contains(r#"<form method="post" action="form""#),
        "{html}"
    );
    assert!(
        html.contains(r#"<base href="/"/>"#) || html.contains(r#"<base href="/">"#),
        "{html}"
    );
}

#[tokio::test]
async fn behind_a_path_prefix_every_link_goes_through_it() {
    // API Gateway serves the app under a stage (`/prod`); the Lambda entry passes the prefix on.
    let server = TestServer::start_behind_prefix("/prod").await;
    let response = post_form_to(&reqwest::Client::new(), &server.url("/form"), EXAMPLE_FORM).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains(r#"<base href="/prod/">"#), "{html}");
    assert!(html.contains("result-probability"), "an answer: {html}");
    // Every other same-site URL is relative, so it resolves under the base.
    let rest = html.replacen(r#"<base href="/prod/">"#, "", 1);
    for absolute in [r#"href="/"#, r#"action="/"#, r#"src="/"#] {
        assert!(
            !rest.contains(absolute),
            "{absolute} would bypass the prefix: {html}"
        );
    }
}

#[tokio::test]
async fn the_stylesheet_is_served_immutable_and_the_page_weighs_under_40_kb() {
    let app = spawn_app().await;
    let html = post_form(&app, EXAMPLE_FORM).await.text().await.unwrap();
    let css = get(&app, &stylesheet_href(&html)).await;
    assert_eq!(css.status(), 200);
    assert_eq!(
        css.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    // From the security-headers layer: a stylesheet must never be sniffed as a script.
    assert_eq!(css.headers()["x-content-type-options"], "nosniff");
    assert!(header(&css, "content-type").starts_with("text/css"));
    let css = css.text().await.unwrap();
    let weight = html.len() + css.len();
    assert!(
        weight < 40 * 1024,
        "HTML {} + CSS {} bytes",
        html.len(),
        css.len()
    );
}

#[tokio::test]
async fn the_page_shows_the_same_answer_as_the_json_api() {
    let app = spawn_app().await;
    let (_, api) = app
        .post_json("/predict?explain=true&whatif=true", &sample_data_body())
        .await;
    let html = post_form(&app, EXAMPLE_FORM).await.text().await.unwrap();
    let probability = api["probability"].as_f64().unwrap();
    assert!(
        html.contains(&format!(
            r#"<data id="result-probability" value="{probability}""#
        )),
        "{probability} in {html}"
    );
    assert!(html.contains(api["result"].as_str().unwrap()), "{api}");
    // The same reasons, strongest first: the page lists the API's top three.
    let reasons = api["reasons"].as_array().expect("the API explains");
    assert!(html.contains(">Main reasons</h3>"), "{html}");
    let list = &html[html.find(r#"id="result-reasons""#).expect("the list")..];
    let list = &list[..list.find("</ul>").unwrap()];
    let mut after = 0;
    for reason in &reasons[..3] {
        let text = reason["text"].as_str().unwrap();
        let at = list[after..]
            .find(&format!("<span>{text}</span>"))
            .unwrap_or_else(|| panic!("{text:?} after byte {after} in {list}"));
        after += at + text.len();
    }
    let fourth = reasons[3]["text"].as_str().unwrap();
    assert!(!list.contains(fourth), "only three: {fourth:?} in {list}");
    // The chart's table has all ten, in the API's order, with its effects.
    let table = &html[html
        .find(r#"id="effects-table""#)
        .expect("the chart's table")..];
    let mut after = 0;
    for reason in reasons {
        let effect = format!("{:+.3}", reason["effect"].as_f64().unwrap());
        let text = reason["text"].as_str().unwrap();
        let at = table[after..]
            .find(&format!("<td>{effect}</td><td>{text}</td>"))
            .unwrap_or_else(|| panic!("{effect} {text:?} in {table}"));
        after += at + text.len();
    }
    // The levers are the API's best, with its probabilities.
    for (i, lever) in api["levers"].as_array().unwrap().iter().take(3).enumerate() {
        let item = &html[html
            .find(&format!(r#"<li id="lever-{}""#, i + 1))
            .expect("a lever")..];
        let item = &item[..item.find("</li>").unwrap()];
        assert!(
            item.contains(lever["text"].as_str().unwrap()),
            "{lever} in {item}"
        );
        assert!(
            item.contains(&format!(r#"<data value="{}""#, lever["probability"])),
            "{lever} in {item}"
        );
    }
}

#[tokio::test]
async fn invalid_values_get_422_with_the_allowed_range_beside_the_field_and_keep_the_rest() {
    let app = spawn_app().await;
    let body = EXAMPLE_FORM.replace("age=38", "age=150");
    let response = post_form(&app, &body).await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(
        html.contains(r#"<p id="age-error""#)
            && html.contains("150 is not allowed: enter a whole number from 18 to 120."),
        "{html}"
    );
    assert!(html.contains(r#"value="150""#), "the wrong value is kept");
    assert!(
        html.contains(r#"value="77864.41""#),
        "the other values are kept"
    );
    assert!(
        !html.contains("result-probability"),
        "no prediction is shown"
    );
}

#[tokio::test]
async fn json_posts_to_the_root_still_reach_the_api() {
    let app = spawn_app().await;
    let (status, body) = app.post_json("/", &sample_data_body()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], "Will Not Exit");
}

#[tokio::test]
async fn a_failing_backend_is_said_plainly_with_a_reference_and_the_inputs_are_kept() {
    let down = FnScorer::new("down", 0.5, |_| {
        Err(ScoreError::Unavailable(
            "endpoint internal-7 throttled".into(),
        ))
    });
    let server = TestServer::start_with_backend(Backend {
        scorer: Arc::new(down),
        explainer: None,
    })
    .await;
    let response = post_form_to(&reqwest::Client::new(), &server.url("/form"), EXAMPLE_FORM).await;
    assert_eq!(response.status(), 503);
    let id = header(&response, "x-request-id").to_owned();
    let html = response.text().await.unwrap();
    assert!(
        html.contains("The prediction service is unavailable right now."),
        "{html}"
    );
    assert!(
        html.contains("The model service is busy or down."),
        "{html}"
    );
    assert!(
        html.contains(&format!("<code>{id}</code>")),
        "the request id to quote: {html}"
    );
    assert!(
        !html.contains("internal-7") && !html.contains("throttled"),
        "the backend's own words stay in the log"
    );
    assert!(html.contains(r#"value="670""#), "inputs kept: {html}");
}

/// Server rendering runs a `Suspense`'s children twice; the page must still score once (and
/// spend one token of the visitor's allowance).
#[tokio::test]
async fn one_post_of_the_form_scores_once() {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let scorer = FnScorer::new("counting", 0.5, move |rows| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(vec![0.25; rows.len()])
    });
    let server = TestServer::start_with_backend(Backend {
        scorer: Arc::new(scorer),
        explainer: None,
    })
    .await;
    let response = post_form_to(&reqwest::Client::new(), &server.url("/form"), EXAMPLE_FORM).await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("25.0%"));
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_forms_server_function_answers_over_http_like_the_page() {
    let app = spawn_app().await;
    let body = EXAMPLE_FORM
        .split('&')
        .map(|pair| format!("submitted[{}", pair.replacen('=', "]=", 1)))
        .collect::<Vec<_>>()
        .join("&");
    let (status, answer) = app
        .post(
            "/api/predict-form",
            "application/x-www-form-urlencoded",
            body,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let (_, api) = app.post_json("/predict", &sample_data_body()).await;
    assert_eq!(answer["Predicted"]["probability"], api["probability"]);
}

/// Finding 9: the profile travels in request bodies only. The form posts; the example is a
/// named example (`?example=1`), not a profile; no answer redirects to a URL with data; and
/// an answer showing a profile may not be cached.
#[tokio::test]
async fn no_customer_data_is_put_in_a_url() {
    let app = spawn_app().await;
    let blank = get(&app, "/").await.text().await.unwrap();
    assert!(
        blank.contains(r#"<form method="post" action="form""#),
        "{blank}"
    );
    assert!(blank.contains(r#"href="./?example=1""#), "{blank}");
    // Every link and action on the page: none carries a field's name or value.
    for attribute in ["href=\"", "action=\""] {
        for link in blank.split(attribute).skip(1) {
            let link = &link[..link.find('"').unwrap()];
            for field in model::fields::FIELDS.iter() {
                assert!(
                    !link.contains(&format!("{}=", field.name)),
                    "{link} names {}",
                    field.name
                );
            }
        }
    }

    // The example fills the form in, from the server's own table, and predicts nothing.
    let example = get(&app, "/?example=1").await.text().await.unwrap();
    assert!(example.contains(r#"value="77864.41""#), "{example}");
    assert!(!example.contains("result-probability"), "{example}");

    // The answer to a post is the page itself: no redirect to a URL with the profile.
    let response = post_form(&app, EXAMPLE_FORM).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("location").is_none());
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    assert!(html.contains(r#"value="77864.41""#), "inputs kept: {html}");
    assert!(html.contains("result-probability"), "{html}");

    // A plain GET of the form's address is the blank form.
    let again = get(&app, "/form").await;
    assert_eq!(again.status(), 200);
    assert!(!again.text().await.unwrap().contains("result-probability"));
}

#[tokio::test]
async fn the_form_post_is_bounded_urlencoded_and_has_each_field_once() {
    let app = crate::helpers::spawn_app_with(|s| s.max_body_bytes = 2048).await;
    let twice = format!("{EXAMPLE_FORM}&age=40");
    let response = post_form(&app, &twice).await;
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("age"), "{body}");

    let (status, body) = app.post("/form", "application/json", "{}").await;
    assert_eq!(status, 415, "{body}");

    let big = format!("{EXAMPLE_FORM}&pad={}", "x".repeat(8 * 1024));
    let response = post_form(&app, &big).await;
    assert_eq!(response.status(), 413);

    // Nothing but unknown fields: every field is missing, nothing is predicted.
    let response = post_form(&app, "utm_source=mail").await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("10 fields need correcting."), "{html}");
}

#[tokio::test]
async fn robots_txt_keeps_crawlers_away() {
    let app = spawn_app().await;
    let response = reqwest::get(app.url("/robots.txt")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("Disallow: /"));
}
