//! The file page's upload (`POST /batch`) over real HTTP: its download is byte for byte what
//! the command line and `POST /score` write for the same file and options; its summary says
//! what the scored file holds; and it is guarded, bounded and charged as the other pages.

use std::sync::Arc;

use model::scoring::FnScorer;
use model::{Backend, Model};
use server::config::ApiKeyList;
use server::testing::TestServer;

use crate::helpers::{between, header};
use crate::pages::Person;
use crate::score::{cli, raw_file};

const BOUNDARY: &str = "----churn-test-boundary-7MA4YWxkTrZu0gW";

/// A `multipart/form-data` body as a browser sends the page's form: the file in `file`, then
/// each other field.
fn multipart(file_name: &str, file: &str, fields: &[(&str, &str)]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: text/csv\r\n\r\n{file}\r\n"
    );
    for (name, value) in fields {
        body.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!("--{BOUNDARY}--\r\n"));
    body.into_bytes()
}

impl Person {
    async fn upload(&self, body: Vec<u8>) -> reqwest::Response {
        self.upload_as(body, &format!("multipart/form-data; boundary={BOUNDARY}"))
            .await
    }

    async fn upload_as(&self, body: Vec<u8>, content_type: &str) -> reqwest::Response {
        self.with_cookie(self.client.post(self.server.url("/batch")))
            .header("content-type", content_type)
            .header("sec-fetch-site", "same-origin")
            .body(body)
            .send()
            .await
            .unwrap()
    }
}

/// `POST /score` with the same file and options.
async fn post_score(server: &TestServer, query: &str, file: &str) -> Vec<u8> {
    let response = reqwest::Client::new()
        .post(server.url(&format!("/score{query}")))
        .header("content-type", "text/csv")
        .body(file.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn the_download_is_the_command_lines_bytes_and_post_scores_for_every_option() {
    let person = Person::of(|_| {}).await;
    // With rows the field table refuses: the download leaves them out only when asked, as the
    // command line does with --skip-invalid.
    let file = raw_file(2_000, Some(400));
    for (flags, query, boxes) in [
        (&[][..], "", &[][..]),
        (&["--explain"][..], "&explain=true", &[("explain", "1")][..]),
        (&["--levers"][..], "&levers=true", &[("levers", "1")][..]),
        (
            &["--explain", "--levers"][..],
            "&explain=true&levers=true",
            &[("explain", "1"), ("levers", "1")][..],
        ),
    ] {
        let run = cli(&[flags, &["--skip-invalid"]].concat(), file.as_bytes());
        assert_eq!(run.status, 0, "5 rows left out: {}", run.stderr);
        let mut fields = boxes.to_vec();
        fields.push(("download", "1"));
        // Without the box to leave them out, the person gets the summary listing the rows not
        // scored, not a shorter file.
        let withheld = person
            .upload(multipart("March customers.csv", &file, &fields))
            .await;
        assert_eq!(withheld.status(), 422, "{flags:?}");
        assert_eq!(
            withheld.headers()["content-type"],
            "text/html; charset=utf-8"
        );
        let page = withheld.text().await.unwrap();
        assert!(page.contains("id=\"download-withheld\""), "{page}");
        assert!(page.contains("<title>Not downloaded: 5 rows"), "{page}");
        assert!(page.contains("5 of its rows could not be scored"), "{page}");
        assert!(page.contains("id=\"summary-rejected\""), "{page}");
        fields.push(("skip_invalid", "1"));
        let response = person
            .upload(multipart("March customers.csv", &file, &fields))
            .await;
        assert_eq!(response.status(), 200, "{flags:?}");
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
        assert_eq!(
            headers["content-disposition"],
            "attachment; filename=\"Marchcustomers-scored.csv\""
        );
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["x-rows-rejected"], "5");
        let downloaded = response.bytes().await.unwrap();
        assert!(
            downloaded == run.stdout,
            "{flags:?}: the page and the command line differ"
        );
        let scored = post_score(&person.server, &format!("?skip_invalid=true{query}"), &file).await;
        assert!(
            scored == run.stdout,
            "{flags:?}: /score and the command line differ"
        );
    }
}

/// A file whose every row can be scored downloads without the "leave them out" box.
#[tokio::test]
async fn a_clean_file_downloads_without_the_box_to_leave_rows_out() {
    let person = Person::of(|_| {}).await;
    let file = raw_file(300, None);
    let run = cli(&[], file.as_bytes());
    assert_eq!(run.status, 0, "{}", run.stderr);
    let response = person
        .upload(multipart("clean.csv", &file, &[("download", "1")]))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-rows-rejected"], "0");
    assert!(header(&response, "content-disposition").starts_with("attachment;"));
    let downloaded = response.bytes().await.unwrap();
    assert!(
        downloaded == run.stdout,
        "the page and the command line differ"
    );
}

/// Cells of a CSV line whose quoted cells hold no quotes (`"Hill, Jr"`), unquoted.
fn cells(line: &str) -> Vec<&str> {
    let mut cells = Vec::new();
    let mut rest = line;
    loop {
        let (cell, after) = match rest.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"').unwrap();
                (&quoted[..end], quoted[end + 1..].strip_prefix(','))
            }
            None => match rest.split_once(',') {
                Some((cell, after)) => (cell, Some(after)),
                None => (rest, None),
            },
        };
        cells.push(cell);
        match after {
            Some(after) => rest = after,
            None => return cells,
        }
    }
}

#[tokio::test]
async fn the_summary_counts_lists_the_rejected_draws_the_spread_and_ranks_the_riskiest() {
    let person = Person::of(|_| {}).await;
    let file = raw_file(3_000, Some(500));
    let response = person.upload(multipart("customers.csv", &file, &[])).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(header(&response, "content-security-policy").contains("script-src 'self'"));
    // (Leptos marks the joins of text nodes with `<!>`.)
    let html = response.text().await.unwrap().replace("<!>", "");
    assert!(!html.contains("style="), "CSP: no inline styles");
    assert!(!html.contains("<script"), "no scripts");

    // The same file downloaded with reasons and levers: what the summary must agree with.
    let run = cli(&["--explain", "--levers"], file.as_bytes());
    let scored = String::from_utf8(run.stdout).unwrap();
    let mut rows: Vec<Vec<&str>> = scored.lines().skip(1).map(cells).collect();
    let exits = rows.iter().filter(|r| r[15] == "Will Exit").count();

    let figure = |id: &str| {
        let cell = between(&html, &format!(r#"id="{id}""#), "</dd>");
        cell[cell.find('>').unwrap() + 1..].to_owned()
    };
    assert_eq!(figure("summary-rows"), "3,000");
    assert_eq!(figure("summary-scored"), "2,994");
    assert_eq!(figure("summary-rejected"), "6");
    assert_eq!(
        figure("summary-exits"),
        format!(
            "{} ({:.1}%)",
            fmt_thousands(exits as u64),
            100.0 * exits as f64 / 2994.0
        )
    );

    // Each rejected row by its line (the header is line 1).
    let listed = between(&html, r#"<ul id="rejected-lines""#, "</ul>");
    for line in [501, 1001, 1501, 2001, 2501, 3001] {
        assert!(
            listed.contains(&format!("Line {}</span>: Age: got 17", fmt_thousands(line))),
            "line {line}: {listed}"
        );
    }

    // The histogram: a bar a band, and the same counts in the table, adding up to the scored.
    let chart = between(&html, r#"<svg id="histogram-chart""#, "</svg>");
    assert_eq!(chart.matches("<rect").count(), 20);
    let table = between(&html, r#"<table id="histogram-table""#, "</table>");
    assert_eq!(table.matches(r#"<th scope="row""#).count(), 20);
    let counts: u64 = chart
        .split("data-count=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].parse::<u64>().unwrap())
        .sum();
    assert_eq!(counts, 2994);
    let band = |p: f64| ((p * 20.0) as usize).min(19);
    let mut expected = [0u64; 20];
    for row in &rows {
        expected[band(row[14].parse().unwrap())] += 1;
    }
    let drawn: Vec<u64> = chart
        .split("data-count=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].parse().unwrap())
        .collect();
    assert_eq!(drawn, expected);

    // The 50 riskiest: the downloaded file's top 50 by probability (ties in file order),
    // with their RowNumber, CustomerId and Surname, top reason and best lever.
    rows.sort_by(|a, b| {
        let (pa, pb): (f64, f64) = (a[14].parse().unwrap(), b[14].parse().unwrap());
        pb.total_cmp(&pa)
    });
    let table = between(&html, r#"<table id="riskiest-table""#, "</table>");
    let head = between(table, "<thead>", "</thead>");
    for column in [
        "RowNumber",
        "CustomerId",
        "Surname",
        "Probability",
        "Top reason",
        "Best lever",
    ] {
        assert!(
            head.contains(&format!(">{column}</th>")),
            "{column}: {head}"
        );
    }
    let body = between(table, "<tbody>", "</tbody>");
    let shown: Vec<&str> = body.split("<tr>").skip(1).collect();
    assert_eq!(shown.len(), 50);
    for (rank, (tr, row)) in shown.iter().zip(&rows).enumerate() {
        assert!(tr.contains(&format!(">{}</td>", rank + 1)), "{tr}");
        // RowNumber, CustomerId, and the Surname (quoted in the file: "Hill, Jr").
        assert!(tr.contains(&format!(">{}</td>", row[0])), "{tr} {row:?}");
        assert!(tr.contains(&format!(">{}</td>", row[1])), "{tr} {row:?}");
        assert!(
            tr.contains(&format!("<data value=\"{}\">", row[14])),
            "{tr} {row:?}"
        );
        let label = model::fields::field(row[16]).unwrap().label;
        assert!(tr.contains(&format!("<td class=\"border-b border-slate-200 py-1.5 pr-3 align-top text-slate-800\">{label} (")), "reason_1 {label}: {tr}");
        if row[19].is_empty() {
            assert!(tr.contains(">—</td>"), "no lever: {tr}");
        } else {
            let percent = format!("{:.1}%", row[21].parse::<f64>().unwrap() * 100.0);
            assert!(
                tr.contains(&format!("({percent})</td>")),
                "lever {percent}: {tr}"
            );
        }
    }
    assert!(html.contains("Hill, Jr"), "the surname as written");
}

fn fmt_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[tokio::test]
async fn at_most_100_rejected_rows_are_listed_then_counted() {
    let person = Person::of(|_| {}).await;
    let response = person
        .upload(multipart("x.csv", &raw_file(300, Some(2)), &[]))
        .await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    let listed = between(&html, r#"<ul id="rejected-lines""#, "</ul>");
    assert_eq!(listed.matches("<li>").count(), 100);
    assert!(html.contains("Rows not scored: 150"), "{html}");
    assert!(html.contains("…and 50 more."), "{html}");
}

#[tokio::test]
async fn what_cannot_be_scored_is_refused_on_the_page_saying_why() {
    let person = Person::of(|s| s.max_score_bytes = 20_000).await;
    let body = |file: &str, fields: &[(&str, &str)]| multipart("f.csv", file, fields);
    let missing = raw_file(3, None).replacen("Tenure,Balance", "Years,Money", 1);
    let big = raw_file(400, None);
    for (what, response, status, says) in [
        (
            "no file",
            person
                .upload(format!("--{BOUNDARY}--\r\n").into_bytes())
                .await,
            400,
            "Choose a CSV file first.",
        ),
        (
            "an empty file",
            person.upload(body("", &[])).await,
            400,
            "The file is empty.",
        ),
        (
            "missing columns",
            person.upload(body(&missing, &[])).await,
            400,
            "The header lacks columns: Tenure (or tenure), Balance (or balance)",
        ),
        (
            "too large",
            person.upload(body(&big, &[])).await,
            413,
            "larger than 20 kB",
        ),
        (
            "a field the form lacks",
            person
                .upload(body(&raw_file(2, None), &[("threshold", "0.2")]))
                .await,
            400,
            "a field \"threshold\"",
        ),
        (
            "a box with another value",
            person
                .upload(body(&raw_file(2, None), &[("explain", "yes")]))
                .await,
            400,
            "explain was \"yes\"",
        ),
        (
            "not multipart",
            person
                .upload_as(raw_file(2, None).into_bytes(), "text/csv")
                .await,
            415,
            "multipart/form-data",
        ),
    ] {
        assert_eq!(response.status(), status, "{what}");
        let html = response.text().await.unwrap();
        let alert = between(&html, r#"id="batch-refused""#, "</div>");
        assert!(alert.contains(says), "{what}: {alert}");
        assert!(
            html.contains(r#"<form method="post" action="batch" enctype="multipart/form-data""#),
            "{what}: the form again"
        );
        assert!(!html.contains("summary-rows"), "{what}: nothing scored");
    }
}

#[tokio::test]
async fn without_a_model_to_explain_with_the_boxes_are_gone_and_refused() {
    let model = Model::bundled().unwrap();
    let person = Person::at(
        TestServer::start_with_backend(Backend {
            scorer: Arc::new(FnScorer::new("sagemaker:churn", 0.5, move |rows| {
                Ok(rows
                    .iter()
                    .map(|r| f64::from(model.probability(r)))
                    .collect())
            })),
            explainer: None,
        })
        .await,
    );
    let form = person
        .client
        .get(person.server.url("/batch"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!form.contains(r#"name="explain""#), "{form}");
    assert!(form.contains(r#"id="no-explanations""#), "{form}");
    let refused = person
        .upload(multipart("f.csv", &raw_file(5, None), &[("levers", "1")]))
        .await;
    assert_eq!(refused.status(), 400);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Reasons and levers are not available")
    );
    // The summary still ranks the riskiest, without reasons or levers.
    let summary = person
        .upload(multipart("f.csv", &raw_file(60, None), &[]))
        .await;
    assert_eq!(summary.status(), 200);
    let html = summary.text().await.unwrap();
    assert!(html.contains("No reasons or levers"), "{html}");
    let table = between(&html, r#"<table id="riskiest-table""#, "</table>");
    assert_eq!(table.matches("<tr>").count(), 51, "the head and 50 rows");
}

const KEY: &str = "batch-page-key-0123456789";

#[tokio::test]
async fn with_keys_a_file_needs_a_sign_in_and_costs_one_prediction_per_max_batch_rows() {
    let mut person = Person::of(|s| {
        s.api_keys = Some(ApiKeyList(vec![KEY.into()]));
        s.rate_limit_per_second = 1;
        s.rate_limit_burst = 5;
        s.max_batch = 10;
    })
    .await;
    // Signed out: to the sign-in page, nothing scored.
    for response in [
        person
            .client
            .get(person.server.url("/batch"))
            .send()
            .await
            .unwrap(),
        person
            .upload(multipart("f.csv", &raw_file(5, None), &[]))
            .await,
    ] {
        assert_eq!(response.status(), 303);
        assert_eq!(response.headers()["location"], "/sign-in");
    }
    assert_eq!(person.sign_in(KEY).await.status(), 303);
    let page = person
        .client
        .get(person.server.url("/batch"))
        .header(
            "cookie",
            format!("churn_session={}", person.cookie.as_deref().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    // 100 rows cost 10: more than the bucket (5) can ever hold.
    let response = person
        .upload(multipart("f.csv", &raw_file(100, None), &[]))
        .await;
    assert_eq!(response.status(), 413);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Send at most 50 customers at once")
    );
    // 30 rows cost 3; then 30 more cost 3 of the 2 left: wait.
    assert_eq!(
        person
            .upload(multipart("f.csv", &raw_file(30, None), &[]))
            .await
            .status(),
        200
    );
    let throttled = person
        .upload(multipart("f.csv", &raw_file(30, None), &[]))
        .await;
    assert_eq!(throttled.status(), 429);
    assert!(throttled.headers().contains_key("retry-after"));
    assert!(
        throttled
            .text()
            .await
            .unwrap()
            .contains("Too many customers scored in a short time")
    );
    // The same bucket as the key's API calls.
    let api = person
        .client
        .post(person.server.url("/predict"))
        .header("content-type", "application/json")
        .header("x-api-key", KEY)
        .body(crate::helpers::sample_data_body())
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200, "one token was left");
}

#[tokio::test]
async fn open_pages_charge_the_client_address_and_refuse_other_sites() {
    let person = Person::of(|s| {
        s.page_rate_limit_per_minute = 1;
        s.page_rate_limit_burst = 2;
        s.max_batch = 10;
    })
    .await;
    assert_eq!(
        person
            .upload(multipart("f.csv", &raw_file(20, None), &[]))
            .await
            .status(),
        200
    );
    assert_eq!(
        person
            .upload(multipart("f.csv", &raw_file(5, None), &[]))
            .await
            .status(),
        429
    );
    let cross = person
        .client
        .post(person.server.url("/batch"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header("sec-fetch-site", "cross-site")
        .body(multipart("f.csv", &raw_file(5, None), &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
}
