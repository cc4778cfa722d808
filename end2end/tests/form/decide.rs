//! Reasons and levers in the browser, the model page, and an accessibility audit (axe-core) of
//! every page a person sees.

use playwright_rs::Page;
use playwright_rs::protocol::{AddScriptTagOptions, ScreenshotOptions};
use serde_json::Value;

use crate::act::{self, CUSTOMER};
use crate::harness::{
    axe_script, launch_browser, output_dir, record_requests, start_server, start_server_with,
};
use crate::{check, find};

/// The number in an element's `value` attribute.
async fn value_attribute(page: &Page, selector: &str) -> f64 {
    page.locator(selector)
        .get_attribute("value")
        .await
        .unwrap_or_else(|e| panic!("{selector}: {e}"))
        .unwrap_or_else(|| panic!("{selector} has a value"))
        .parse()
        .expect("a number")
}

#[tokio::test]
async fn a_result_shows_the_chart_and_levers_and_a_lever_opens_the_changed_form() {
    let Some(browser) = launch_browser().await else {
        return;
    };
    let server = start_server().await;
    let page = browser.desktop_page().await;
    act::open_form(&page, &server.url("/")).await;
    act::fill_profile(&page, &CUSTOMER).await;
    act::press_predict(&page).await;

    // The chart: one bar per field, drawn (a real size on screen), named for screen readers.
    let chart = page.locator("#effects-chart");
    assert!(chart.is_visible().await.unwrap(), "the chart is visible");
    let size = chart.bounding_box().await.unwrap().expect("laid out");
    assert!(size.width > 200.0 && size.height > 100.0, "{size:?}");
    assert_eq!(chart.locator("rect").count().await.unwrap(), 10);
    let name = chart.get_attribute("aria-label").await.unwrap().unwrap();
    assert!(
        name.starts_with("Bar chart of each field's effect"),
        "{name}"
    );
    check::shows_three_main_reasons(&page).await;

    // The levers: visible, each with its new probability and a button.
    let levers = page.locator("#result-levers > li");
    let count = levers.count().await.unwrap();
    assert!((1..=3).contains(&count), "{count} levers");
    assert!(levers.first().is_visible().await.unwrap());
    let before = value_attribute(&page, "#result-probability").await;
    let promised = value_attribute(&page, "#lever-1 data").await;
    assert!(promised < before, "the lever lowers {before} to {promised}");
    let field = lever_field(&page).await;
    let (name, value) = field;
    let label = model::fields::field(&name).expect("a field").label;
    assert_ne!(
        check::value_of(&page, label).await,
        value,
        "not yet changed"
    );
    page.screenshot_to_file(
        &output_dir().join("result-with-chart-and-levers.png"),
        ScreenshotOptions::builder().full_page(true).build(),
    )
    .await
    .expect("a screenshot");

    act::press_button_in(&page, "#lever-1", "Open with this change").await;

    assert_eq!(
        page.url(),
        server.url("/form"),
        "posted: no profile in the URL"
    );
    assert_eq!(
        value_attribute(&page, "#result-probability").await,
        promised,
        "the changed customer gets the lever's probability"
    );
    assert_eq!(
        check::value_of(&page, label).await,
        value,
        "the change is made"
    );
    assert_eq!(
        check::value_of(&page, "Balance")
            .await
            .parse::<f64>()
            .unwrap(),
        CUSTOMER.balance.parse::<f64>().unwrap(),
        "the rest of the profile is kept"
    );
}

/// The field a lever changes and its new value, from the lever's hidden inputs and the text.
async fn lever_field(page: &Page) -> (String, String) {
    let text = page
        .locator("#lever-1-text")
        .text_content()
        .await
        .unwrap()
        .unwrap_or_default();
    let name = if text.contains("active member") {
        "is_active_member"
    } else if text.contains("credit card") {
        "has_cr_card"
    } else {
        "num_of_products"
    };
    let value = page
        .locator(format!("#lever-1 input[name={name}]"))
        .get_attribute("value")
        .await
        .unwrap()
        .expect("the changed value");
    (name.to_owned(), value)
}

#[tokio::test]
async fn the_model_page_renders_its_charts_and_is_linked_from_the_form() {
    let Some(browser) = launch_browser().await else {
        return;
    };
    let server = start_server().await;
    let page = browser.desktop_page().await;
    act::open_form(&page, &server.url("/")).await;
    find::link(&page, "About the model: how it was judged")
        .click(None)
        .await
        .expect("the link to the model page");
    page.wait_for_load_state(None).await.unwrap();
    assert_eq!(page.url(), server.url("/model"));
    let heading = find::heading(&page).text_content().await.unwrap();
    assert_eq!(heading.as_deref(), Some("The model behind the predictions"));
    for (chart, marks, count) in [
        ("#calibration-chart", "circle", 10),
        ("#importance-chart", "rect", 10),
    ] {
        let svg = page.locator(chart);
        assert!(svg.is_visible().await.unwrap(), "{chart} visible");
        let size = svg.bounding_box().await.unwrap().expect("laid out");
        assert!(
            size.width > 200.0 && size.height > 150.0,
            "{chart}: {size:?}"
        );
        assert_eq!(svg.locator(marks).count().await.unwrap(), count, "{chart}");
    }
    for table in [
        "#quality-table",
        "#calibration-table",
        "#importance-table",
        "#thresholds-table",
    ] {
        assert!(page.locator(table).is_visible().await.unwrap(), "{table}");
    }
    page.screenshot_to_file(
        &output_dir().join("model-page.png"),
        ScreenshotOptions::builder().full_page(true).build(),
    )
    .await
    .expect("a screenshot");
}

/// axe-core's serious and critical violations on the page as it is now.
pub(crate) async fn serious_violations(page: &Page, axe: &std::path::Path) -> Vec<Value> {
    page.add_script_tag(Some(
        AddScriptTagOptions::builder()
            .path(axe.display().to_string())
            .build(),
    ))
    .await
    .expect("axe-core injected");
    let results: Value = page
        .evaluate::<(), Value>(
            "async () => {
                const results = await axe.run(document, { resultTypes: ['violations'] });
                return {
                    rules: results.passes.length + results.violations.length
                        + results.incomplete.length,
                    violations: results.violations.map(v => ({
                        id: v.id,
                        impact: v.impact,
                        help: v.help,
                        nodes: v.nodes.map(n => n.target.join(' ') + ' — ' + n.failureSummary),
                    })),
                };
            }",
            None,
        )
        .await
        .expect("axe.run");
    let rules = results["rules"].as_u64().unwrap_or_default();
    assert!(rules > 20, "axe ran its rules on {}: {results}", page.url());
    println!("axe on {}: {rules} rules applied", page.url());
    let violations = results["violations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for v in &violations {
        println!("axe on {}: {v}", page.url());
    }
    violations
        .into_iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .collect()
}

#[tokio::test]
async fn axe_finds_no_serious_or_critical_violations_on_any_page() {
    let Some(browser) = launch_browser().await else {
        return;
    };
    let Some(axe) = axe_script() else {
        return;
    };
    let server = start_server().await;
    let page = browser.audited_page().await;
    let mut found = Vec::new();

    act::open_form(&page, &server.url("/")).await;
    found.push(("the form", serious_violations(&page, &axe).await));

    act::fill_profile(&page, &CUSTOMER).await;
    act::press_predict(&page).await;
    assert!(page.locator("#effects-chart").is_visible().await.unwrap());
    assert!(page.locator("#result-levers").is_visible().await.unwrap());
    found.push(("a result", serious_violations(&page, &axe).await));

    page.goto(&server.url("/model"), None).await.unwrap();
    assert!(
        page.locator("#calibration-chart")
            .is_visible()
            .await
            .unwrap()
    );
    found.push(("the model page", serious_violations(&page, &axe).await));

    const KEY: &str = "axe-sign-in-key-0123456789";
    let keyed = start_server_with(|s| {
        s.api_keys = Some(server::config::ApiKeyList(vec![KEY.to_owned()]));
    })
    .await;
    page.goto(&keyed.url("/sign-in"), None).await.unwrap();
    assert!(find::field(&page, "API key").is_visible().await.unwrap());
    found.push(("the sign-in page", serious_violations(&page, &axe).await));
    act::sign_in(&page, "not-the-key-0123456789").await;
    found.push(("a refused sign-in", serious_violations(&page, &axe).await));

    for (where_, violations) in &found {
        assert!(violations.is_empty(), "{where_}: {violations:#?}");
    }
}

/// Finding 9 for levers: pressing a lever's button posts the changed profile; no URL the
/// browser asks for carries a value of it.
#[tokio::test]
async fn a_lever_puts_no_customer_data_in_any_url() {
    let Some(browser) = launch_browser().await else {
        return;
    };
    let server = start_server().await;
    let page = browser.desktop_page().await;
    let requests = record_requests(&page).await;
    act::open_form(&page, &server.url("/")).await;
    act::fill_profile(&page, &CUSTOMER).await;
    act::press_predict(&page).await;
    act::press_button_in(&page, "#lever-1", "Open with this change").await;
    let address = page.url();

    let requests = requests.lock().unwrap().clone();
    let values = [
        CUSTOMER.credit_score,
        CUSTOMER.country,
        CUSTOMER.gender,
        CUSTOMER.balance,
        CUSTOMER.salary,
    ];
    for url in requests.iter().map(|(_, url, _)| url).chain([&address]) {
        let local = url
            .strip_prefix(&server.url(""))
            .unwrap_or_else(|| panic!("only our server is asked: {url}"));
        for field in model::fields::FIELDS.iter() {
            assert!(!local.contains(&format!("{}=", field.name)), "{url}");
        }
        for value in values {
            assert!(!local.contains(value), "{value} in {url}");
        }
    }
    let posts = requests
        .iter()
        .filter(|(method, url, body)| {
            method == "POST"
                && url.ends_with("/form")
                // Typed as 79084.10; the lever posts the server's 79084.1.
                && body
                    .as_deref()
                    .is_some_and(|b| b.contains("estimated_salary=79084.1"))
        })
        .count();
    assert_eq!(
        posts, 2,
        "the profile, then the changed profile, in POST bodies: {requests:?}"
    );
}
