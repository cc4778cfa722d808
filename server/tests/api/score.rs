//! Batch scoring's two doors, the real binary (`churn-predict score`) and the real server
//! (`POST /score`): the same bytes for the same file and options, the same rows refused, and
//! the route's own limits (content type, options, body size, API keys charged per rows).

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use model::scoring::FnScorer;
use model::{Backend, ScoreError};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use server::testing::TestServer;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const RAW_HEADER: &str = "RowNumber,CustomerId,Surname,CreditScore,Geography,Gender,Age,Tenure,\
                          Balance,NumOfProducts,HasCrCard,IsActiveMember,EstimatedSalary,Exited";

/// A raw-schema file of `rows` varied, valid customers (`bad_every`: every so many rows, one
/// with an age of 17).
pub(crate) fn raw_file(rows: usize, bad_every: Option<usize>) -> String {
    let mut text = format!("{RAW_HEADER}\n");
    for i in 0..rows {
        let age = match bad_every {
            Some(n) if i % n == n - 1 => 17,
            _ => 18 + (i * 7) % 75,
        };
        text.push_str(&format!(
            "{},{},\"{}, Jr\",{},{},{},{age},{},{}.5,{},{},{},{}.25,{}\n",
            i + 1,
            15_600_000 + i,
            ["Hill", "Onio", "Chu"][i % 3],
            350 + (i * 13) % 500,
            ["France", "Germany", "Spain"][i % 3],
            ["Female", "Male"][(i / 3) % 2],
            i % 11,
            (i * 977) % 200_000,
            1 + i % 4,
            i % 2,
            (i / 2) % 2,
            (i * 131) % 190_000,
            i % 2
        ));
    }
    text
}

/// The same customers with the API's field names, `;`, CRLF, a BOM, and a note column whose
/// quoted value spans two lines.
fn our_names_file(rows: usize) -> String {
    let mut text = String::from(
        "\u{feff}customer;credit_score;geography;gender;age;tenure;balance;num_of_products;\
         has_cr_card;is_active_member;estimated_salary;note\r\n",
    );
    for i in 0..rows {
        text.push_str(&format!(
            "C{i};{};{};{};{};{};{};{};{};{};{};\"first line;\r\nsecond \"\"{i}\"\"\"\r\n",
            400 + (i * 17) % 450,
            ["Spain", "France", "Germany"][i % 3],
            ["Male", "Female"][i % 2],
            20 + (i * 3) % 60,
            i % 10,
            (i * 3331) % 250_000,
            1 + (i / 2) % 3,
            ["true", "false"][i % 2],
            (i / 3) % 2,
            (i * 7919) % 200_000,
        ));
    }
    text
}

pub(crate) struct Run {
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// `churn-predict score ARGS` on `input` (standard input), with no backend chosen by the
/// environment of the test process.
pub(crate) fn cli(args: &[&str], input: &[u8]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_churn-predict"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") {
            command.env_remove(key);
        }
    }
    let mut child = command
        .arg("score")
        .args(args)
        .env_remove("ENDPOINT_NAME")
        .env_remove("MODEL_PATH")
        .env_remove("MODEL_THRESHOLD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        // The binary may stop reading early (a header it refuses): a broken pipe is fine.
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().expect("the binary runs");
    writer.join().expect("the writer thread");
    Run {
        status: output.status.code().unwrap_or(-1),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

struct Answer {
    status: u16,
    content_type: String,
    rows: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

async fn post_score(app: &TestApp, query: &str, body: &str) -> Answer {
    post_score_with(app, query, body, "text/csv", None).await
}

async fn post_score_with(
    app: &TestApp,
    query: &str,
    body: &str,
    content_type: &str,
    key: Option<&str>,
) -> Answer {
    let mut request = app
        .client
        .post(app.url(&format!("/score{query}")))
        .header("content-type", content_type)
        .body(body.to_owned());
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    let response = request.send().await.expect("the server answers");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
    };
    let content_type = header("content-type").unwrap_or_default();
    let rows = header("x-rows-read");
    let status = response.status().as_u16();
    let body = response.bytes().await.expect("a body").to_vec();
    Answer {
        status,
        content_type,
        rows,
        body,
    }
}

#[tokio::test]
async fn the_command_line_and_post_score_write_the_same_bytes() {
    let app = spawn_app().await;
    for (name, file) in [
        ("raw", raw_file(3_000, None)),
        ("our names", our_names_file(500)),
    ] {
        for (flags, query) in [
            (&[][..], ""),
            (&["--threshold", "0.3"][..], "?threshold=0.3"),
            (&["--explain"][..], "?explain=true"),
            (&["--levers"][..], "?levers=true"),
            (&["--explain", "--levers"][..], "?explain=true&levers=true"),
        ] {
            let run = cli(flags, file.as_bytes());
            assert_eq!(run.status, 0, "{name} {flags:?}: {}", run.stderr);
            let answer = post_score(&app, query, &file).await;
            assert_eq!(
                answer.status,
                200,
                "{}",
                String::from_utf8_lossy(&answer.body)
            );
            assert_eq!(answer.content_type, "text/csv; charset=utf-8");
            assert!(
                answer.body == run.stdout,
                "{name} {flags:?}: the doors differ"
            );
            let text = String::from_utf8(answer.body).unwrap();
            let header = text.lines().next().unwrap().replace(';', ",");
            let mut added = vec!["probability", "result"];
            if flags.contains(&"--explain") {
                added.extend(["reason_1", "reason_2", "reason_3"]);
            }
            if flags.contains(&"--levers") {
                added.extend(["lever_field", "lever_to", "lever_probability"]);
            }
            assert!(header.ends_with(&added.join(",")), "{header}");
            assert!(
                run.stderr.contains("rows read"),
                "a summary: {}",
                run.stderr
            );
        }
    }
}

#[tokio::test]
async fn bad_rows_are_listed_by_line_or_skipped_the_same_way_by_both_doors() {
    let app = spawn_app().await;
    let file = raw_file(500, Some(100));
    let strict = cli(&[], file.as_bytes());
    assert_eq!(
        strict.status, 3,
        "rejected rows fail the run: {}",
        strict.stderr
    );
    assert!(
        strict
            .stderr
            .contains("line 101: Age: got 17; expected a whole number from 18 to 120"),
        "{}",
        strict.stderr
    );
    assert!(
        strict
            .stderr
            .contains("500 rows read: 495 scored, 5 rejected"),
        "{}",
        strict.stderr
    );
    let lenient = cli(&["--skip-invalid"], file.as_bytes());
    assert_eq!(lenient.status, 0, "{}", lenient.stderr);
    assert_eq!(
        lenient.stdout, strict.stdout,
        "the flag changes the status only"
    );

    let skipped = post_score(&app, "?skip_invalid=true", &file).await;
    assert_eq!(skipped.status, 200);
    assert_eq!(
        skipped.body, lenient.stdout,
        "the same bytes as the command line"
    );
    assert_eq!(skipped.rows.as_deref(), Some("500"));

    let refused = post_score(&app, "", &file).await;
    assert_eq!(refused.status, 422);
    let answer = refused.json();
    assert_eq!(answer["kind"], "invalid_rows");
    assert_eq!(
        (answer["rows"].clone(), answer["rejected"].clone()),
        (json!(500), json!(5))
    );
    assert_eq!(answer["lines"].as_array().unwrap().len(), 5);
    assert_eq!(
        answer["lines"][0],
        json!({"line": 101, "problems": [{"column": "Age", "field": "age", "value": "17",
            "problem": "out_of_range", "allowed": "a whole number from 18 to 120"}]})
    );
    assert!(
        answer["error"].as_str().unwrap().contains("5 of 500 rows"),
        "{answer}"
    );
    assert!(answer["request_id"].is_string());
}

#[tokio::test]
async fn at_most_100_bad_lines_are_listed_with_the_total() {
    let app = spawn_app().await;
    let answer = post_score(&app, "", &raw_file(300, Some(2))).await.json();
    assert_eq!(answer["lines"].as_array().unwrap().len(), 100);
    assert_eq!(answer["rejected"], 150);
    assert_eq!(answer["more"], 50);
}

#[test]
fn the_rejects_file_holds_the_rows_verbatim_with_line_and_reason_ready_to_rerun() {
    let dir = std::env::temp_dir().join(format!("churn-score-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rejects = dir.join("rejects.csv");
    let output = dir.join("scored.csv");
    let bad = "7,1,\"Two\nlines\",670,Italy,Male,38,7,0,2,1,1,77864.41,0";
    let file = format!("{}{bad}\n", raw_file(3, None));
    let run = cli(
        &[
            "-",
            "-o",
            output.to_str().unwrap(),
            "--rejects",
            rejects.to_str().unwrap(),
        ],
        file.as_bytes(),
    );
    assert_eq!(run.status, 3, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "the output went to the file");
    assert_eq!(std::fs::read_to_string(&output).unwrap().lines().count(), 4);
    let written = std::fs::read_to_string(&rejects).unwrap();
    assert_eq!(
        written,
        format!(
            "{RAW_HEADER},line,reason\n{bad},5,\"Geography: got \"\"Italy\"\"; expected one of \
             France, Germany, Spain\"\n"
        )
    );
    // The rejects file is the same schema plus two columns: once fixed, it scores.
    let fixed = written.replace("Italy", "Spain");
    let rerun = cli(&[], fixed.as_bytes());
    assert_eq!(rerun.status, 0, "{}", rerun.stderr);
    assert!(
        String::from_utf8(rerun.stdout)
            .unwrap()
            .starts_with(&format!("{RAW_HEADER},line,reason,probability,result\n"))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn files_without_the_needed_columns_are_refused_at_once_naming_them() {
    let app = spawn_app().await;
    let file = raw_file(10, None).replacen("Tenure,Balance", "Years,Money", 1);
    let run = cli(&[], file.as_bytes());
    assert_eq!(run.status, 1);
    assert!(
        run.stderr
            .contains("the header lacks columns: Tenure (or tenure), Balance (or balance)"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "nothing written");
    let answer = post_score(&app, "", &file).await;
    assert_eq!(answer.status, 400);
    let answer = answer.json();
    assert_eq!(answer["kind"], "bad_csv");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("Tenure (or tenure)"),
        "{answer}"
    );
}

#[tokio::test]
async fn score_takes_only_csv_and_its_own_options() {
    let app = spawn_app().await;
    let file = raw_file(2, None);
    let answer = post_score_with(&app, "", &file, "application/json", None).await;
    assert_eq!(answer.status, 415);
    assert_eq!(answer.json()["kind"], "unsupported_media_type");
    let answer = post_score(&app, "?whatif=true", &file).await;
    assert_eq!(answer.status, 400);
    assert!(
        answer.json()["error"]
            .as_str()
            .unwrap()
            .contains("\"whatif\"")
    );
    let answer = post_score(&app, "?explain=approx", &file).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["kind"], "bad_query");
}

#[tokio::test]
async fn a_file_over_max_score_bytes_is_refused_whatever_max_body_bytes_says() {
    let app = spawn_app_with(|s| {
        s.max_score_bytes = 2_000;
        s.max_body_bytes = 100;
    })
    .await;
    let answer = post_score(&app, "", &raw_file(10, None)).await;
    assert_eq!(
        answer.status, 200,
        "under MAX_SCORE_BYTES, over MAX_BODY_BYTES"
    );
    let answer = post_score(&app, "", &raw_file(100, None)).await;
    assert_eq!(answer.status, 413);
    assert_eq!(answer.json()["kind"], "payload_too_large");
}

#[tokio::test]
async fn with_api_keys_a_file_costs_one_request_per_max_batch_rows() {
    let key = "score-key-0123456789abcdef";
    let app = spawn_app_with(|s| {
        s.api_keys = Some(key.parse().unwrap());
        s.rate_limit_per_second = 1;
        s.rate_limit_burst = 5;
        s.max_batch = 10;
    })
    .await;
    let send = |rows: usize| {
        let app = &app;
        async move { post_score_with(app, "", &raw_file(rows, None), "text/csv", Some(key)).await }
    };
    let no_key = post_score(&app, "", &raw_file(1, None)).await;
    assert_eq!(no_key.status, 401, "behind API keys like /predict");
    // 100 rows cost 10 requests: more than the bucket (5) can ever hold.
    let too_many = send(100).await;
    assert_eq!(too_many.status, 413);
    let answer = too_many.json();
    assert_eq!(answer["kind"], "too_many_rows");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("at most 50 rows"),
        "{answer}"
    );
    // 30 rows cost 3 (the door took one of the 5, this one left 4): allowed.
    assert_eq!(send(30).await.status, 200);
    // 50 rows cost 5: at most about one token is left.
    let throttled = send(50).await;
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.json()["kind"], "throttled");
}

#[tokio::test]
async fn a_remote_backend_scores_in_chunks_and_its_failure_is_a_backend_error() {
    let model = model::Model::bundled().unwrap();
    let threshold = model.threshold();
    let remote = TestServer::start_with_backend(Backend {
        scorer: Arc::new(FnScorer::new("remote", threshold, move |rows| {
            Ok(rows
                .iter()
                .map(|r| f64::from(model.probability(r)))
                .collect())
        })),
        explainer: None,
    })
    .await;
    let down = TestServer::start_with_backend(Backend {
        scorer: Arc::new(FnScorer::new("down", 0.5, |_| {
            Err(ScoreError::Unavailable("throttled".into()))
        })),
        explainer: None,
    })
    .await;
    let client = |server: &TestServer| TestApp {
        address: server.address,
        client: reqwest::Client::new(),
    };
    let file = raw_file(12_000, None);
    let embedded = post_score(&spawn_app().await, "", &file).await;
    let through_scorer = post_score(&client(&remote), "", &file).await;
    assert_eq!(through_scorer.status, 200);
    assert!(
        through_scorer.body == embedded.body,
        "the same bytes through any Scorer"
    );
    let failed = post_score(&client(&down), "", &file).await;
    assert_eq!(failed.status, 503);
    let answer = failed.json();
    assert_eq!(answer["kind"], "backend_unavailable");
    assert!(
        !answer["error"].as_str().unwrap().contains("throttled"),
        "details only logged"
    );
}

/// Any customer the JSON API accepts, the CSV path accepts too, with the same probability
/// written the same way: many customers a case, one `POST /predict` and one `POST /score`.
#[test]
fn any_customer_the_api_accepts_scores_the_same_through_a_csv_file() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(spawn_app());
    let customer = (
        300u16..=900,
        0usize..3,
        0usize..2,
        18u8..=120,
        0u8..=100,
        prop_oneof![Just(0u64), 0u64..=100_000_000_000_000],
        1u8..=10,
        prop_oneof![
            any::<bool>().prop_map(Value::from),
            (0u8..=1).prop_map(Value::from)
        ],
        (0u8..=1).prop_map(Value::from),
        0u64..=100_000_000_000_000,
    )
        .prop_map(
            |(score, geo, gender, age, tenure, balance, products, card, active, salary)| {
                let geography = ["France", "Germany", "Spain"][geo];
                let gender = ["Female", "Male"][gender];
                json!({"credit_score": score, "geography": geography,
                   "gender": gender, "age": age, "tenure": tenure,
                   "balance": balance as f64 / 100.0, "num_of_products": products,
                   "has_cr_card": card, "is_active_member": active,
                   "estimated_salary": salary as f64 / 100.0})
            },
        );
    let fields = model::fields::FIELDS.map(|f| f.name);
    TestRunner::new(Config {
        cases: 24,
        ..Config::default()
    })
    .run(&prop::collection::vec(customer, 1..60), |customers| {
        let (status, predicted) =
            rt.block_on(app.post_json("/predict", &json!({"customers": customers}).to_string()));
        prop_assert_eq!(status, 200);
        let mut file = format!("{}\n", fields.join(","));
        for c in &customers {
            let cells: Vec<String> = fields
                .iter()
                .map(|f| match &c[*f] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            file.push_str(&cells.join(","));
            file.push('\n');
        }
        let scored = rt.block_on(post_score(&app, "", &file));
        prop_assert_eq!(
            scored.status,
            200,
            "{}",
            String::from_utf8_lossy(&scored.body)
        );
        let text = String::from_utf8(scored.body).unwrap();
        for (line, expected) in text
            .lines()
            .skip(1)
            .zip(predicted["predictions"].as_array().unwrap())
        {
            let mut cells = line.rsplit(',');
            let (result, probability) = (cells.next().unwrap(), cells.next().unwrap());
            prop_assert_eq!(probability, expected["probability"].to_string());
            prop_assert_eq!(result, expected["result"].as_str().unwrap());
        }
        prop_assert_eq!(text.lines().count(), customers.len() + 1);
        Ok(())
    })
    .unwrap();
}

#[test]
fn the_command_line_refuses_to_overwrite_its_own_input() {
    let path = std::env::temp_dir().join(format!("churn-same-{}.csv", std::process::id()));
    let file = raw_file(3, None);
    std::fs::write(&path, &file).unwrap();
    let path_text = path.to_str().unwrap();
    let run = cli(&[path_text, "-o", path_text], b"");
    assert_eq!(run.status, 1);
    assert!(
        run.stderr.contains("both the input and the output"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        file,
        "the input is untouched"
    );
    std::fs::remove_file(&path).unwrap();
}

/// The cells a scored line ends with: `n` of them, in order.
fn last_cells(line: &str, n: usize) -> Vec<String> {
    let mut cells: Vec<String> = line
        .rsplitn(n + 1, ',')
        .take(n)
        .map(str::to_owned)
        .collect();
    cells.reverse();
    cells
}

/// `reason_1..3` are the first three of `?explain=true`'s reasons, and the lever columns the
/// first of `?whatif=true`'s levers, for the same customers, through any backend that
/// explains: the embedded model, and an endpoint-like scorer with a local copy (whose own
/// answers are the levers' probabilities).
#[tokio::test]
async fn reasons_and_levers_in_the_file_are_the_apis_for_the_same_customers() {
    let model = std::sync::Arc::new(model::Model::bundled().unwrap());
    let local = std::sync::Arc::clone(&model);
    let remote = TestServer::start_with_backend(Backend {
        scorer: Arc::new(FnScorer::new("sagemaker:churn", 0.5, move |rows| {
            Ok(rows
                .iter()
                .map(|r| f64::from(local.probability(r)) - 1e-3)
                .collect())
        })),
        explainer: Some(model),
    })
    .await;
    let remote = TestApp {
        address: remote.address,
        client: reqwest::Client::new(),
    };
    let embedded = spawn_app().await;
    let fields = model::fields::FIELDS.map(|f| f.name);
    let file = our_names_file(400).replace("\u{feff}", "");
    for app in [&embedded, &remote] {
        let scored = post_score(app, "?explain=true&levers=true", &file).await;
        assert_eq!(
            scored.status,
            200,
            "{}",
            String::from_utf8_lossy(&scored.body)
        );
        let text = String::from_utf8(scored.body).unwrap().replace(';', ",");
        // The same customers, named, to POST /predict (the note column spans lines: read the
        // rows from the file's own cells).
        let customers: Vec<Value> = file
            .split("\r\n")
            .skip(1)
            .filter(|l| l.starts_with('C'))
            .map(|line| {
                let cells: Vec<&str> = line.split(';').collect();
                let mut customer = serde_json::Map::new();
                for (i, name) in fields.iter().enumerate() {
                    let cell = cells[1 + i];
                    let value = match cell {
                        "true" => json!(true),
                        "false" => json!(false),
                        _ => cell
                            .parse::<f64>()
                            .map_or_else(|_| json!(cell), |n| json!(n)),
                    };
                    customer.insert((*name).to_owned(), value);
                }
                Value::Object(customer)
            })
            .collect();
        assert_eq!(customers.len(), 400);
        let (status, answer) = app
            .post_json(
                "/predict?explain=true&whatif=true",
                &json!({ "customers": customers }).to_string(),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        let predictions = answer["predictions"].as_array().unwrap();
        // Each scored row ends on a line of its own after the note's second line.
        let rows: Vec<&str> = text
            .split("\r\n")
            .skip(1)
            .filter(|l| l.starts_with("second"))
            .collect();
        assert_eq!(rows.len(), 400);
        let mut with_levers = 0;
        for (row, expected) in rows.iter().zip(predictions) {
            let cells = last_cells(row, 8);
            assert_eq!(cells[0], expected["probability"].to_string(), "{row}");
            let reasons: Vec<&str> = expected["reasons"].as_array().unwrap()[..3]
                .iter()
                .map(|r| r["field"].as_str().unwrap())
                .collect();
            assert_eq!(cells[2..5], reasons[..], "{row}");
            match expected["levers"].as_array().unwrap().first() {
                Some(lever) => {
                    with_levers += 1;
                    assert_eq!(
                        cells[5..],
                        [
                            lever["field"].as_str().unwrap().to_owned(),
                            lever["to"].to_string(),
                            lever["probability"].to_string()
                        ],
                        "{row}"
                    );
                }
                None => assert_eq!(cells[5..], ["", "", ""], "{row}"),
            }
        }
        assert!(with_levers > 50, "{with_levers}");
    }
}

#[tokio::test]
async fn without_a_model_to_explain_with_reasons_and_levers_are_refused() {
    let model = model::Model::bundled().unwrap();
    let endpoint_only = TestServer::start_with_backend(Backend {
        scorer: Arc::new(FnScorer::new("sagemaker:churn", 0.5, move |rows| {
            Ok(rows
                .iter()
                .map(|r| f64::from(model.probability(r)))
                .collect())
        })),
        explainer: None,
    })
    .await;
    let app = TestApp {
        address: endpoint_only.address,
        client: reqwest::Client::new(),
    };
    let file = raw_file(5, None);
    for query in ["?explain=true", "?levers=true"] {
        let answer = post_score(&app, query, &file).await;
        assert_eq!(answer.status, 400, "{query}");
        let answer = answer.json();
        assert_eq!(answer["kind"], "explanations_unavailable", "{query}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap()
                .contains("ENDPOINT_MODEL_PATH"),
            "{answer}"
        );
    }
    assert_eq!(post_score(&app, "", &file).await.status, 200);
    // The command line refuses --explain with --features-only: nothing to explain there.
    let run = cli(&["--explain", "--features-only"], file.as_bytes());
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
}
