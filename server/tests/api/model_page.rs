//! `GET /model`: a page to browsers, the JSON scripts have always read to everyone else; open,
//! keys or not. And the form page's explanation: the chart, and levers whose buttons post the
//! changed profile and get exactly the lever's probability.

use std::sync::Arc;

use model::Backend;
use model::scoring::FnScorer;
use serde_json::Value;
use server::testing::TestServer;

use crate::helpers::{TestApp, between, header, spawn_app, spawn_app_with};
use crate::web::{EXAMPLE_FORM, post_form_to};

/// What Chromium sends when it navigates.
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,\
    image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7";

async fn get_model(app: &TestApp, accept: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(app.url("/model"));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    request.send().await.expect("the server answers")
}

#[tokio::test]
async fn scripts_get_json_and_browsers_get_the_page() {
    let app = spawn_app().await;
    for accept in [
        None,
        Some("application/json"),
        Some("*/*"),
        Some("text/html;q=0.5, application/json"),
    ] {
        let response = get_model(&app, accept).await;
        assert_eq!(response.status(), 200, "{accept:?}");
        assert!(
            header(&response, "content-type").starts_with("application/json"),
            "{accept:?}"
        );
        assert_eq!(response.headers()["vary"], "accept");
        let body: Value = response.json().await.unwrap();
        // Today's fields, and the card's sections.
        for key in [
            "model",
            "backend",
            "threshold",
            "explains",
            "feature_names",
            "fields",
            "max_batch",
            "max_body_bytes",
            "card",
        ] {
            assert!(body.get(key).is_some(), "{key} in {body}");
        }
        let card = &body["card"];
        assert_eq!(card["calibration"]["bins"].as_array().unwrap().len(), 10);
        assert_eq!(card["importance"]["fields"].as_array().unwrap().len(), 10);
        assert_eq!(card["thresholds"]["rows"].as_array().unwrap().len(), 7);
        assert!(card["cv"]["metrics"]["brier"]["mean"].as_f64().unwrap() < 0.2);
    }
    for accept in [
        BROWSER_ACCEPT,
        "text/html",
        "application/json;q=0.9, text/html",
    ] {
        let response = get_model(&app, Some(accept)).await;
        assert_eq!(response.status(), 200, "{accept}");
        assert!(
            header(&response, "content-type").starts_with("text/html"),
            "{accept}"
        );
        assert_eq!(response.headers()["vary"], "accept");
        let csp = header(&response, "content-security-policy").to_owned();
        assert!(
            csp.contains("style-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        let html = response.text().await.unwrap();
        for needle in [
            "<h1",
            "The model behind the predictions",
            r#"<svg id="calibration-chart" role="img""#,
            r#"<svg id="importance-chart" role="img""#,
            r#"id="calibration-table""#,
            r#"id="importance-table""#,
            r#"id="thresholds-table""#,
            "0.862",
            r#"<a href=".""#,
        ] {
            assert!(html.contains(needle), "{needle} in {html}");
        }
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("style="), "no inline styles: {html}");
    }
}

#[tokio::test]
async fn the_form_links_to_the_model_page() {
    let app = spawn_app().await;
    let html = app
        .client
        .get(app.url("/"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"href="model""#), "{html}");
}

/// The card is not customer data: with API keys (and so signed-in pages), the model page and
/// its JSON stay open, as `GET /model` always was.
#[tokio::test]
async fn the_model_page_is_open_when_keys_guard_the_other_pages() {
    let app = spawn_app_with(|s| {
        s.api_keys = Some(server::config::ApiKeyList(vec![
            "model-page-key-0123456789".to_owned(),
        ]));
    })
    .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = client
        .get(app.url("/"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 303, "the form needs a sign-in");
    let page = client
        .get(app.url("/model"))
        .header("accept", BROWSER_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("calibration-chart"));
    let json = client.get(app.url("/model")).send().await.unwrap();
    assert_eq!(json.status(), 200);
}

/// A SageMaker endpoint without a card or a local copy: the page says what is known (the
/// model, backend, threshold, that nothing is explained) and what is not.
#[tokio::test]
async fn a_model_without_a_card_gets_a_page_saying_what_is_known_and_what_is_not() {
    let remote = FnScorer::new("sagemaker:churn-prod", 0.35, |rows| {
        Ok(vec![0.4; rows.len()])
    });
    let server = TestServer::start_with_backend(Backend {
        scorer: Arc::new(remote),
        explainer: None,
    })
    .await;
    let app = TestApp {
        address: server.address,
        client: reqwest::Client::new(),
    };
    let html = get_model(&app, Some(BROWSER_ACCEPT))
        .await
        .text()
        .await
        .unwrap();
    for needle in [
        "sagemaker:churn-prod",
        "35.0%",
        "ENDPOINT_MODEL_PATH",
        r#"id="no-card""#,
    ] {
        assert!(html.contains(needle), "{needle} in {html}");
    }
    assert!(!html.contains("<svg"), "no charts without figures: {html}");
    let json: Value = get_model(&app, None).await.json().await.unwrap();
    assert_eq!(json["card"], Value::Null);
    assert_eq!(json["explains"], false);
    assert_eq!(json["model"], "sagemaker:churn-prod");
}

/// The example customer as the form's answer shows it: the chart of all ten effects, and
/// the levers, each a form posting the whole changed profile.
#[tokio::test]
async fn a_levers_button_posts_the_changed_profile_and_gets_the_levers_probability() {
    let app = spawn_app().await;
    // An inactive member with three products: there are levers.
    let body = EXAMPLE_FORM
        .replace("is_active_member=1", "is_active_member=0")
        .replace("num_of_products=2", "num_of_products=3");
    let client = reqwest::Client::new();
    let html = post_form_to(&client, &app.url("/form"), &body)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(r#"<svg id="effects-chart" role="img""#),
        "{html}"
    );
    assert_eq!(
        html.matches(r#"<th scope="row">"#).count(),
        model::fields::FIELDS.len(),
        "the chart's table has every field"
    );
    let start = html.find(r#"<li id="lever-1""#).expect("a first lever");
    let item = &html[start..start + html[start..].find("</li>").unwrap()];
    let probability: f64 = between(item, r#"<data value=""#, "\"").parse().unwrap();
    let form = &item[item.find("<form").unwrap()..];
    let fields: Vec<(String, String)> = form
        .split(r#"<input type="hidden" name=""#)
        .skip(1)
        .map(|input| {
            let name = &input[..input.find('"').unwrap()];
            (
                name.to_owned(),
                between(input, r#"value=""#, "\"").to_owned(),
            )
        })
        .collect();
    assert_eq!(fields.len(), model::fields::FIELDS.len(), "{form}");
    let posted = fields
        .iter()
        .map(|(n, v)| format!("{n}={}", v.replace(' ', "+")))
        .collect::<Vec<_>>()
        .join("&");
    // What a press of the button sends: the changed profile, to the form's page.
    let changed = post_form_to(&client, &app.url("/form"), &posted).await;
    assert_eq!(changed.status(), 200);
    let changed = changed.text().await.unwrap();
    let shown: f64 = between(&changed, r#"<data id="result-probability" value=""#, "\"")
        .parse()
        .unwrap();
    assert_eq!(shown, probability, "the new probability is the lever's");
}

/// Without a model to explain with, the form shows the prediction alone.
#[tokio::test]
async fn without_an_explainer_the_form_shows_neither_chart_nor_levers() {
    let remote = FnScorer::new("sagemaker:churn", 0.5, |rows| Ok(vec![0.61; rows.len()]));
    let server = TestServer::start_with_backend(Backend {
        scorer: Arc::new(remote),
        explainer: None,
    })
    .await;
    let html = post_form_to(&reqwest::Client::new(), &server.url("/form"), EXAMPLE_FORM)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("61.0%"), "the prediction: {html}");
    for absent in [
        "effects-chart",
        "Main reasons",
        "What could lower the risk",
        "lever-1",
    ] {
        assert!(!html.contains(absent), "{absent}: {html}");
    }
}
