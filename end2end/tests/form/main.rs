//! The web form in a real browser (Debian's Chromium through Playwright), against the real
//! server on a free port. One test binary; each test is a person's story.
//!
//! Helpers are split as the leptos e2e examples do: `find` (where), `act` (what a person
//! does), `check` (what they should see); `harness` starts the server and the browser.

mod act;
mod batch;
mod check;
mod decide;
mod find;
mod harness;

use std::time::Duration;

use playwright_rs::protocol::{ScreenshotOptions, Viewport};

use act::CUSTOMER;
use harness::{
    TestServer, launch_browser, output_dir, record_requests, start_server, start_server_with,
};

async fn api_answer(server: &TestServer, profile: &act::Profile) -> serde_json::Value {
    api_answer_with_key(server, profile, None).await
}

async fn api_answer_with_key(
    server: &TestServer,
    profile: &act::Profile,
    key: Option<&str>,
) -> serde_json::Value {
    let mut request = reqwest::Client::new()
        .post(server.url("/predict"))
        .json(&profile.json());
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    let response = request.send().await.expect("the API answers");
    assert_eq!(response.status(), 200);
    response.json().await.expect("a JSON answer")
}

#[tokio::test]
async fn a_person_fills_every_field_by_label_and_sees_the_same_answer_as_the_api() {
    let Some(browser) = launch_browser().await else {
        return;
    };
    let server = start_server().await;
    let page = browser.desktop_page().await;

    act::open_form(&page, &server.url("/")).await;
    act::fill_profile(&page, &CUSTOMER).await;
    act::press_predict(&page).await;

    let api = api_answer(&server, &CUSTOMER).await;
    check::shows_the_apis_answer(&page, &api).await;
    check::shows_three_main_reasons(&page).await;
    assert_eq!(
        check::value_of(&page, "Balance").await,
        CUSTOMER.balance,
        "inputs kept"
    );
    assert!(
        check::is_checked(&page, CUSTOMER.country).await,
        "country kept"
    );
    // The answer is the form's own page, reached by a POST: the profile is not in its URL.
    assert_eq!(page.url(), server.url("/form"));

    page.screenshot_to_file(
        &output_dir().join("form-with-result.png"),
        ScreenshotOptions::builder().full_page(true).build(),
    )
    .await
    .expect("a screenshot");
}

#[tokio::test]
async fn an_out_of_range_value_is_blocked_by_the_browser_and_marked_invalid() {
    let Some(browser) = launch_browser().await else {
        return;
    };
    let server = start_server().await;
    let page = browser.desktop_page().await;
    act::open_form(&page, &server.url("/")).await;
    act::fill_profile(&page, &CUSTOMER).await;
    find::field(&page, "Age").fill("150", None).await.unwrap();
    find::field(&page, "Tenure").fill("", None).await.unwrap();
    let before = server.requests();

    find::predict_button(&page).click(None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(750)).await;

    assert_eq!(server.requests(), before, "no request reached the server");
    assert_eq!(page.url(), server.url("/"), "the page did not navigate");
    assert!(
        check::browser_marks_invalid(&page, "Age").await,
        "150 is over the max of 120"
    );
    assert!(
        check::browser_marks_invalid(&page, "Tenure").await,
        "an empty required field"
    );
    assert!(
        !check::browser_marks_invalid(&page, "Credit score").await,
        "a valid field is not marked"
    );
    assert_eq!(
        find::result_label(&page).count().await.unwrap(),
        0,
        "no result shown"
    );
}

#[tokio::test]
async fn a_tampered_submission_gets_the_servers_field_error_and_keeps_the_inputs() {
    let Some(browser) = launch_browser().await else {
        return;
    };
    let server = start_server().await;
    let page = browser.desktop_page().await;
    act::open_form(&page, &server.url("/")).await;
    act::fill_profile(&page, &CUSTOMER).await;
    find::field(&page, "Age").fill("150", None).await.unwrap();
    act::bypass_browser_validation(&page).await;

    act::press_predict(&page).await;

    let error = find::field_error(&page, "age")
        .text_content()
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(
        error,
        "150 is not allowed: enter a whole number from 18 to 120."
    );
    let age = find::field(&page, "Age");
    assert_eq!(
        age.get_attribute("aria-invalid").await.unwrap().as_deref(),
        Some("true")
    );
    assert_eq!(
        check::value_of(&page, "Age").await,
        "150",
        "the wrong value is kept to correct"
    );
    assert_eq!(
        check::value_of(&page, "Credit score").await,
        CUSTOMER.credit_score
    );
    assert_eq!(
        check::value_of(&page, "Estimated salary").await,
        CUSTOMER.salary
    );
    assert!(
        check::is_checked(&page, CUSTOMER.gender).await,
        "gender kept"
    );
    assert_eq!(
        check::value_of(&page, "Has a credit card").await,
        "1",
        "flag kept"
    );
    assert_eq!(
        find::result_label(&page).count().await.unwrap(),
        0,
        "no prediction for bad input"
    );
    page.screenshot_to_file(
        &output_dir().join("form-with-field-error.png"),
        ScreenshotOptions::builder().full_page(true).build(),
    )
    .await
    .expect("a screenshot");
}

#[tokio::test]
async fn the_form_can_be_filled_and_submitted_with_the_keyboard_alone() {
    let Some(browser) = launch_browser().await else {
        return;
    };
    let server = start_server().await;
    let page = browser.desktop_page().await;
    act::open_form(&page, &server.url("/")).await;

    act::fill_with_keyboard(&page, &CUSTOMER).await;

    let api = api_answer(&server, &CUSTOMER).await;
    check::shows_the_apis_answer(&page, &api).await;
}

#[tokio::test]
async fn the_same_flow_works_with_javascript_disabled() {
    let Some(browser) = launch_browser().await else {
        return;
    };
    let server = start_server().await;
    let page = browser
        .page(
            false,
            Viewport {
                width: 1280,
                height: 900,
            },
        )
        .await;
    act::open_form(&page, &server.url("/")).await;

    // The browser's checks still block a bad value without JavaScript.
    act::fill_profile(&page, &CUSTOMER).await;
    find::field(&page, "Number of products")
        .fill("0", None)
        .await
        .unwrap();
    let before = server.requests();
    find::predict_button(&page).click(None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(750)).await;
    assert_eq!(server.requests(), before, "blocked without JavaScript too");

    find::field(&page, "Number of products")
        .fill(CUSTOMER.products, None)
        .await
        .unwrap();
    act::press_predict(&page).await;

    let api = api_answer(&server, &CUSTOMER).await;
    check::shows_the_apis_answer(&page, &api).await;
}

#[tokio::test]
async fn a_phone_sized_viewport_renders_without_horizontal_scrolling() {
    let Some(browser) = launch_browser().await else {
        return;
    };
    let server = start_server().await;
    let page = browser
        .page(
            true,
            Viewport {
                width: 360,
                height: 740,
            },
        )
        .await;
    act::open_form(&page, &server.url("/")).await;
    act::fill_profile(&page, &CUSTOMER).await;
    act::press_predict(&page).await;

    assert!(check::has_no_horizontal_scroll(&page).await, "fits 360 px");
    let api = api_answer(&server, &CUSTOMER).await;
    check::shows_the_apis_answer(&page, &api).await;
    page.screenshot_to_file(
        &output_dir().join("form-with-result-phone.png"),
        ScreenshotOptions::builder().full_page(true).build(),
    )
    .await
    .expect("a screenshot");
}

/// Finding 9: every URL the browser asks for, and every address the page shows, is free of the
/// customer's data; the profile travels only in request bodies.
#[tokio::test]
async fn no_url_the_browser_visits_carries_a_value_of_the_profile() {
    let Some(browser) = launch_browser().await else {
        return;
    };
    let server = start_server().await;
    let page = browser.desktop_page().await;
    let requests = record_requests(&page).await;
    let mut addresses = Vec::new();

    act::open_form(&page, &server.url("/")).await;
    addresses.push(page.url());
    find::link(&page, "Try an example customer")
        .click(None)
        .await
        .expect("the example link");
    page.wait_for_load_state(None).await.unwrap();
    addresses.push(page.url());
    assert_eq!(
        check::value_of(&page, "Estimated salary").await,
        "77864.41",
        "the example is filled in"
    );
    act::press_predict(&page).await;
    addresses.push(page.url());
    act::fill_profile(&page, &CUSTOMER).await;
    act::press_predict(&page).await;
    addresses.push(page.url());
    check::shows_the_apis_answer(&page, &api_answer(&server, &CUSTOMER).await).await;

    let requests = requests.lock().unwrap().clone();
    let urls: Vec<String> = requests
        .iter()
        .map(|(_, url, _)| url.clone())
        .chain(addresses)
        .collect();
    let names: Vec<&str> = model::fields::FIELDS.iter().map(|f| f.name).collect();
    // Values distinctive enough to find in a URL (short numbers could be in a port or a hash).
    let values = [
        CUSTOMER.credit_score,
        CUSTOMER.country,
        CUSTOMER.gender,
        CUSTOMER.balance,
        CUSTOMER.salary,
        "77864.41",
        "France",
    ];
    for url in &urls {
        let local = url
            .strip_prefix(&server.url(""))
            .unwrap_or_else(|| panic!("only our server is asked: {url}"));
        for name in &names {
            assert!(!local.contains(&format!("{name}=")), "{name} in {url}");
        }
        for value in values {
            assert!(!local.contains(value), "{value} in {url}");
        }
    }
    // The profile was sent, in a POST body.
    assert!(
        requests.iter().any(|(method, url, body)| method == "POST"
            && url.ends_with("/form")
            && body
                .as_deref()
                .is_some_and(|b| b.contains(&format!("balance={}", CUSTOMER.balance)))),
        "{requests:?}"
    );
}

/// Finding 4, as a person meets it: with API keys configured, the pages ask for a sign-in;
/// a wrong key is refused; the right one opens the form, which predicts; signing out closes it.
#[tokio::test]
async fn with_api_keys_a_person_signs_in_predicts_signs_out_and_is_then_refused() {
    const KEY: &str = "e2e-page-key-0123456789abcdef";
    let Some(browser) = launch_browser().await else {
        return;
    };
    let server = start_server_with(|s| {
        s.api_keys = Some(server::config::ApiKeyList(vec![KEY.to_owned()]));
    })
    .await;
    let page = browser.desktop_page().await;

    // Refused: the form's address shows the sign-in page.
    act::open_form(&page, &server.url("/")).await;
    assert_eq!(page.url(), server.url("/sign-in"));
    let heading = find::heading(&page).text_content().await.unwrap();
    assert_eq!(heading.as_deref(), Some("Sign in with your API key"));

    act::sign_in(&page, "not-the-key-0123456789").await;
    let alert = find::alert(&page).text_content().await.unwrap();
    assert!(
        alert
            .unwrap_or_default()
            .contains("That API key is not valid."),
        "a wrong key is refused"
    );

    act::sign_in(&page, KEY).await;
    assert_eq!(page.url(), server.url("/"), "signed in: the form");
    let cookies = page
        .context()
        .expect("the page's context")
        .cookies(None)
        .await
        .expect("cookies");
    let session = cookies
        .iter()
        .find(|c| c.name == "churn_session")
        .expect("a session cookie");
    assert!(session.http_only && session.secure, "{session:?}");
    assert_eq!(session.same_site.as_deref(), Some("Strict"));
    assert!(
        !session.value.contains(KEY),
        "it names the key, never holds it"
    );
    let who = page.locator("#signed-in-key").text_content().await.unwrap();
    assert_eq!(who.as_deref(), Some("key1"));

    act::fill_profile(&page, &CUSTOMER).await;
    act::press_predict(&page).await;
    let api = api_answer_with_key(&server, &CUSTOMER, Some(KEY)).await;
    check::shows_the_apis_answer(&page, &api).await;
    page.screenshot_to_file(
        &output_dir().join("signed-in-result.png"),
        ScreenshotOptions::builder().full_page(true).build(),
    )
    .await
    .expect("a screenshot");

    act::press_button(&page, "Sign out").await;
    assert_eq!(page.url(), server.url("/sign-in"));
    let cookies = page.context().unwrap().cookies(None).await.unwrap();
    assert!(
        cookies.iter().all(|c| c.name != "churn_session"),
        "{cookies:?}"
    );

    // Refused again: neither the form nor its answers.
    for path in ["/", "/form"] {
        act::open_form(&page, &server.url(path)).await;
        assert_eq!(page.url(), server.url("/sign-in"), "{path}");
        assert_eq!(find::result_label(&page).count().await.unwrap(), 0);
    }
    page.screenshot_to_file(
        &output_dir().join("sign-in.png"),
        ScreenshotOptions::builder().full_page(true).build(),
    )
    .await
    .expect("a screenshot");
}
