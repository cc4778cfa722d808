//! The file page in Chromium, JavaScript off: a person follows "Score a file" from the form,
//! uploads a CSV, reads the summary (the histogram, the riskiest customers), downloads the
//! scored file and gets the command line's bytes; and axe-core finds nothing serious on the
//! page or its summary.

use std::path::{Path, PathBuf};

use playwright_rs::Page;
use playwright_rs::protocol::ScreenshotOptions;
use server::config::ScoreArgs;

use crate::act;
use crate::decide::serious_violations;
use crate::find;
use crate::harness::{axe_script, launch_browser, output_dir, start_server};

const HEADER: &str = "RowNumber,CustomerId,Surname,CreditScore,Geography,Gender,Age,Tenure,\
                      Balance,NumOfProducts,HasCrCard,IsActiveMember,EstimatedSalary,Exited";

/// A raw-schema file of `rows` varied customers, every 300th with an age of 17 (refused).
fn customers_file(rows: usize) -> String {
    let mut text = format!("{HEADER}\n");
    for i in 0..rows {
        let age = if i % 300 == 299 {
            17
        } else {
            18 + (i * 7) % 70
        };
        text.push_str(&format!(
            "{},{},{},{},{},{},{age},{},{}.5,{},{},{},{}.25,0\n",
            i + 1,
            15_600_000 + i,
            ["Hill", "Onio", "Chu", "Bartlett"][i % 4],
            350 + (i * 13) % 500,
            ["France", "Germany", "Spain"][i % 3],
            ["Female", "Male"][(i / 3) % 2],
            i % 11,
            (i * 977) % 200_000,
            1 + (i / 2) % 4,
            i % 2,
            (i / 5) % 2,
            (i * 131) % 190_000,
        ));
    }
    text
}

/// A file in a directory of this test's own.
fn write_file(name: &str, text: &str) -> PathBuf {
    // A directory per file: the tests run at once, and each removes its own.
    let dir = std::env::temp_dir().join(format!("churn-e2e-batch-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// What `churn-predict score INPUT -o OUTPUT [--explain] [--levers]` writes: the command
/// line's own code (`server::score::run`) with the test server's default settings.
async fn command_line(input: &Path, explain: bool, levers: bool) -> Vec<u8> {
    let output = input.with_extension("cli.csv");
    let args = ScoreArgs {
        input: Some(input.to_owned()),
        output: Some(output.clone()),
        threshold: None,
        skip_invalid: true,
        rejects: None,
        features_only: false,
        explain,
        levers,
        id: None,
    };
    let status = server::score::run(&server::testing::test_settings(), &args)
        .await
        .expect("the command line runs");
    assert_eq!(status, std::process::ExitCode::SUCCESS);
    std::fs::read(&output).unwrap()
}

async fn choose_file(page: &Page, path: &PathBuf) {
    find::field(page, "Customers (CSV file)")
        .set_input_files(path, None)
        .await
        .expect("choose the file");
}

async fn text_of(page: &Page, selector: &str) -> String {
    page.locator(selector)
        .text_content()
        .await
        .unwrap_or_else(|e| panic!("{selector}: {e}"))
        .unwrap_or_default()
}

#[tokio::test]
async fn a_person_uploads_a_file_reads_the_summary_and_downloads_the_command_lines_bytes() {
    let Some(browser) = launch_browser().await else {
        return;
    };
    let server = start_server().await;
    let page = browser.download_page().await;
    let file = write_file("march.csv", &customers_file(1_200));

    // From the form, as a person finds it.
    act::open_form(&page, &server.url("/")).await;
    find::link(&page, "Score a file").click(None).await.unwrap();
    page.wait_for_load_state(None).await.unwrap();
    assert_eq!(page.url(), server.url("/batch"));
    assert_eq!(
        text_of(&page, "h1").await.trim(),
        "Score a file of customers"
    );

    choose_file(&page, &file).await;
    act::press_button(&page, "Show summary").await;
    assert_eq!(
        page.url(),
        server.url("/batch"),
        "a POST: no data in the URL"
    );
    assert_eq!(text_of(&page, "#summary-rows").await, "1,200");
    assert_eq!(text_of(&page, "#summary-scored").await, "1,196");
    assert_eq!(text_of(&page, "#summary-rejected").await, "4");
    assert!(
        text_of(&page, "#rejected-lines")
            .await
            .contains("Line 301: Age: got 17")
    );
    // The histogram is drawn, with a bar a band; the riskiest table has 50 customers, the
    // riskiest first, each with a reason and a lever or a dash.
    let chart = page.locator("#histogram-chart");
    assert!(chart.is_visible().await.unwrap());
    let size = chart.bounding_box().await.unwrap().expect("laid out");
    assert!(size.width > 300.0 && size.height > 100.0, "{size:?}");
    assert_eq!(chart.locator("rect").count().await.unwrap(), 20);
    let rows = page.locator("#riskiest-table tbody tr");
    assert_eq!(rows.count().await.unwrap(), 50);
    let mut previous = f64::INFINITY;
    for i in 0..50 {
        let p: f64 = rows
            .nth(i)
            .locator("data")
            .get_attribute("value")
            .await
            .unwrap()
            .unwrap()
            .parse()
            .unwrap();
        assert!(p <= previous, "riskiest first");
        previous = p;
    }
    let first = rows
        .nth(0)
        .text_content()
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(first.contains("raises the risk"), "a top reason: {first}");
    page.screenshot_to_file(
        &output_dir().join("batch-summary.png"),
        ScreenshotOptions::builder().full_page(true).build(),
    )
    .await
    .expect("a screenshot");

    // The download, with reasons and levers: the command line's bytes for the same file.
    choose_file(&page, &file).await;
    find::field(
        &page,
        "Reasons: the three fields that weigh most on each prediction (reason_1 to reason_3)",
    )
    .check(None)
    .await
    .expect("tick reasons");
    page.locator("#levers")
        .check(None)
        .await
        .expect("tick levers");
    // Four rows cannot be scored: the file comes only when the person agrees to leave them out.
    page.locator("#skip_invalid")
        .check(None)
        .await
        .expect("tick leave out rows not scored");
    let waiter = page.expect_download(None).await.unwrap();
    find::button(&page, "Download scored CSV")
        .click(None)
        .await
        .unwrap();
    let download = waiter.wait().await.expect("a download");
    assert_eq!(download.suggested_filename(), "march-scored.csv");
    let saved = file.with_extension("page.csv");
    download.save_as(&saved).await.unwrap();
    let downloaded = std::fs::read(&saved).unwrap();
    let expected = command_line(&file, true, true).await;
    assert!(
        downloaded == expected,
        "the page's download differs from the command line's output"
    );
    let header = String::from_utf8_lossy(
        &downloaded[..downloaded.iter().position(|&b| b == b'\n').unwrap()],
    )
    .into_owned();
    assert!(
        header.ends_with("reason_1,reason_2,reason_3,lever_field,lever_to,lever_probability"),
        "{header}"
    );
    std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
}

#[tokio::test]
async fn axe_finds_no_serious_or_critical_violations_on_the_file_page_and_its_summary() {
    let Some(browser) = launch_browser().await else {
        return;
    };
    let Some(axe) = axe_script() else {
        return;
    };
    let server = start_server().await;
    let page = browser.audited_page().await;
    let file = write_file("axe.csv", &customers_file(700));
    let mut found = Vec::new();

    page.goto(&server.url("/batch"), None).await.unwrap();
    found.push(("the file page", serious_violations(&page, &axe).await));
    choose_file(&page, &file).await;
    act::press_button(&page, "Show summary").await;
    assert!(page.locator("#riskiest-table").is_visible().await.unwrap());
    // The figures' table opened, as a person reading it would.
    page.locator("#distribution-heading + figure + details > summary")
        .click(None)
        .await
        .unwrap();
    assert!(page.locator("#histogram-table").is_visible().await.unwrap());
    found.push(("the summary", serious_violations(&page, &axe).await));

    std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
    for (where_, violations) in &found {
        assert!(violations.is_empty(), "{where_}: {violations:#?}");
    }
}
