//! The web form in a real browser (Debian's Chromium through Playwright), against the real
//! server on a free port. One test binary; each test is a person's story.
//!
//! Helpers are split as the leptos e2e examples do: `find` (where), `act` (what a person
//! does), `check` (what they should see); `harness` starts the server and the browser.

mod act;
mod check;
mod find;
mod harness;

use std::time::Duration;

use playwright_rs::protocol::{ScreenshotOptions, Viewport};

use act::CUSTOMER;
use harness::{TestServer, launch_browser, output_dir, start_server};

async fn api_answer(server: &TestServer, profile: &act::Profile) -> serde_json::Value {
    let response = reqwest::Client::new()
        .post(server.url("/predict"))
        .json(&profile.json())
        .send()
        .await
        .expect("the API answers");
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
    assert!(
        page.url().contains("age=42"),
        "the result has its own URL: {}",
        page.url()
    );

    // Reloading the result URL shows the same answer and submits nothing new.
    page.reload(None).await.expect("reload");
    check::shows_the_apis_answer(&page, &api).await;

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
