//! SageMaker Batch Transform, for files larger than one machine should score:
//! - `deploy/transform-job.json` is a valid `CreateTransformJob` request (botocore's service
//!   model, offline) with the settings our container and `--features-only --id` files need;
//! - the guide's batch commands name real operations and options (`scripts/check_aws_cli.py`);
//! - Batch Transform played against the container: a 10,000-row file through
//!   `churn-predict score --features-only --id CustomerId`, split into mini-batches as
//!   `SplitType=Line` + `MultiRecord` do, filtered, POSTed to `/invocations` of the real server,
//!   joined (`JoinSource=Input`, `OutputFilter`) and assembled by line: each customer's
//!   probability is exactly the one `churn-predict score` writes for it.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use server::testing::TestServer;

use crate::deploy::{deploy_file, workspace_path};
use crate::helpers::{churn_predict, python_with};

fn job() -> Value {
    serde_json::from_str(&deploy_file("transform-job.json")).expect("transform-job.json is JSON")
}

/// Runs a Python snippet with `input` on stdin; returns its stdout as JSON.
fn python(code: &str, input: &Value) -> Value {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(code)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "python: {e}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[test]
fn the_transform_job_request_is_one_sagemaker_accepts_for_our_files() {
    let job = job();
    assert_eq!(job["TransformInput"]["SplitType"], "Line");
    assert_eq!(job["TransformInput"]["ContentType"], "text/csv");
    assert_eq!(job["BatchStrategy"], "MultiRecord");
    assert_eq!(
        job["MaxPayloadInMB"], 6,
        "InvokeEndpoint's and our container's limit"
    );
    assert_eq!(job["TransformOutput"]["AssembleWith"], "Line");
    assert_eq!(job["TransformOutput"]["Accept"], "text/csv");
    assert_eq!(
        job["DataProcessing"],
        json!({"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}),
        "the id column (--id) is dropped before the model and kept beside its score"
    );
    let Some(()) = python_with(&["botocore"]) else {
        return;
    };
    let verdict = python(
        "import json, sys, botocore.session\n\
         from botocore.validate import ParamValidator\n\
         model = botocore.session.get_session().get_service_model('sagemaker')\n\
         shape = model.operation_model('CreateTransformJob').input_shape\n\
         report = ParamValidator().validate(json.load(sys.stdin), shape)\n\
         print(json.dumps({'errors': report.generate_report() if report.has_errors() else ''}))",
        &job,
    );
    assert_eq!(
        verdict["errors"], "",
        "botocore refuses the request: {verdict}"
    );
}

#[test]
fn the_guides_batch_commands_are_real_aws_cli_commands() {
    let readme = deploy_file("README.md");
    let section = &readme[readme
        .find("## Scoring a whole file")
        .expect("the guide has a batch section")..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let commands: Vec<String> = section
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        // `aws s3 cp` is the CLI's own file transfer, not an API operation of the models.
        .filter(|l| l.starts_with("aws ") && !l.starts_with("aws s3 "))
        .map(with_the_request_spelt_out)
        .collect();
    assert!(
        commands.iter().any(|c| c.contains("create-transform-job")),
        "{commands:?}"
    );
    let Some(()) = python_with(&["botocore"]) else {
        return;
    };
    let mut child = Command::new("python3")
        .arg(workspace_path("scripts/check_aws_cli.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json!(commands).to_string().as_bytes())
        .unwrap();
    let report: Value =
        serde_json::from_slice(&child.wait_with_output().unwrap().stdout).expect("a report");
    assert_eq!(report["checked"], commands.len(), "{report}");
    assert_eq!(report["problems"], json!([]), "{report:#}");
}

/// `--cli-input-json file://…transform-job.json` replaced by the request's members as the
/// options they stand for (`MaxPayloadInMB` → `--max-payload-in-mb 6`), so the checker sees
/// every member the CLI would send.
fn with_the_request_spelt_out(command: &str) -> String {
    let Some((before, after)) = command.split_once("--cli-input-json ") else {
        return command.to_owned();
    };
    let rest = after.split_once(' ').map_or("", |(_, rest)| rest);
    let mut spelt = format!("{before}{rest}");
    for (key, value) in job().as_object().expect("an object") {
        let mut option = String::new();
        let mut previous_lowercase = false;
        for c in key.chars() {
            if c.is_uppercase() && previous_lowercase {
                option.push('-');
            }
            previous_lowercase = c.is_lowercase();
            option.push(c.to_ascii_lowercase());
        }
        let value = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        spelt.push_str(&format!(" --{option} '{value}'"));
    }
    spelt
}

/// A raw-schema file of `rows` valid, varied customers (no data set needed).
fn raw_file(rows: usize) -> String {
    let mut text = String::from(
        "RowNumber,CustomerId,Surname,CreditScore,Geography,Gender,Age,Tenure,Balance,\
         NumOfProducts,HasCrCard,IsActiveMember,EstimatedSalary,Exited\n",
    );
    for i in 0..rows {
        text.push_str(&format!(
            "{},{},S{},{},{},{},{},{},{}.{:02},{},{},{},{}.{:02},{}\n",
            i + 1,
            15_000_000 + i * 7,
            i % 97,
            350 + (i * 37) % 501,
            ["France", "Germany", "Spain"][(i / 7) % 3],
            ["Female", "Male"][(i / 5) % 2],
            18 + (i * 11) % 75,
            i % 11,
            if i % 3 == 0 { 0 } else { (i * 7919) % 250_000 },
            i % 100,
            1 + (i / 3) % 4,
            (i / 2) % 2,
            i % 2,
            (i * 104_729) % 200_000,
            (i * 13) % 100,
            i % 5 / 4
        ));
    }
    text
}

/// `churn-predict score ARGS`, which must succeed; returns its standard output.
fn score(args: &[&str]) -> String {
    let output = churn_predict()
        .arg("score")
        .args(args)
        .output()
        .expect("churn-predict runs");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// Whole lines packed into batches of at most `max_bytes` (`SplitType=Line`, `MultiRecord`).
fn mini_batches(text: &str, max_bytes: usize) -> Vec<String> {
    let mut batches = vec![String::new()];
    for line in text.split_inclusive('\n') {
        let current = batches.last_mut().unwrap();
        if !current.is_empty() && current.len() + line.len() > max_bytes {
            batches.push(String::new());
        }
        batches.last_mut().unwrap().push_str(line);
    }
    batches
}

/// The subset of JSONPath that DataProcessing filters on CSV use here: `$[1:]`, `$[0,-1]`.
fn filter<'a>(cells: &[&'a str], path: &str) -> Vec<&'a str> {
    match path {
        "$" => cells.to_vec(),
        "$[1:]" => cells[1..].to_vec(),
        "$[0,-1]" => vec![cells[0], cells[cells.len() - 1]],
        other => panic!("a filter this play does not know: {other}"),
    }
}

#[tokio::test]
async fn batch_transform_played_against_the_container_gives_the_command_lines_scores() {
    let dir = std::env::temp_dir().join(format!("churn-transform-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let raw = dir.join("customers.csv");
    std::fs::write(&raw, raw_file(10_000)).unwrap();
    let raw = raw.to_str().unwrap();

    // What the command line scores, by customer.
    let scored = score(&[raw]);
    let mut expected: HashMap<String, f64> = HashMap::new();
    for line in scored.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        expected.insert(cells[1].to_owned(), cells[14].parse().unwrap());
    }
    assert_eq!(expected.len(), 10_000);

    // The file Batch Transform reads from S3.
    let features = score(&[raw, "--features-only", "--id", "CustomerId"]);
    assert_eq!(features.lines().count(), 10_000);
    assert!(features.lines().all(|l| l.split(',').count() == 13));

    let job = job();
    let processing = &job["DataProcessing"];
    let (input_filter, output_filter) = (
        processing["InputFilter"].as_str().unwrap(),
        processing["OutputFilter"].as_str().unwrap(),
    );
    let max_payload = job["MaxPayloadInMB"].as_u64().unwrap() as usize * 1024 * 1024;
    let container = TestServer::start().await;
    let client = reqwest::Client::new();
    // The job's own limit (one batch here), and small batches so the split and the join are
    // exercised across many requests.
    for max_bytes in [max_payload, 64 * 1024] {
        let batches = mini_batches(&features, max_bytes);
        assert!(batches.iter().all(|b| b.len() <= max_bytes));
        let mut assembled = String::new();
        for batch in &batches {
            let records: Vec<Vec<&str>> = batch.lines().map(|l| l.split(',').collect()).collect();
            let body: String = records
                .iter()
                .map(|cells| filter(cells, input_filter).join(",") + "\n")
                .collect();
            let response = client
                .post(container.url("/invocations"))
                .header("content-type", "text/csv")
                .header("accept", "text/csv")
                .body(body)
                .send()
                .await
                .expect("the container answers");
            assert_eq!(response.status(), 200);
            let answer = response.text().await.unwrap();
            let predictions: Vec<&str> = answer.lines().collect();
            assert_eq!(predictions.len(), records.len(), "one prediction a record");
            for (cells, prediction) in records.iter().zip(predictions) {
                // JoinSource=Input: the input record, then the prediction.
                let mut joined = cells.clone();
                joined.push(prediction);
                assembled.push_str(&filter(&joined, output_filter).join(","));
                assembled.push('\n');
            }
        }
        let mut seen = 0;
        for line in assembled.lines() {
            let (id, probability) = line.split_once(',').unwrap();
            let probability: f64 = probability.parse().unwrap();
            assert_eq!(
                Some(&probability),
                expected.get(id),
                "customer {id} ({} batches)",
                batches.len()
            );
            seen += 1;
        }
        assert_eq!(seen, 10_000, "every customer joined back");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `churn-predict score ARGS` with `ENDPOINT_NAME` and the SageMaker Runtime URL overridden.
fn score_through(endpoint_url: &str, args: &[&str]) -> std::process::Output {
    churn_predict()
        .arg("score")
        .args(args)
        .env("ENDPOINT_NAME", "churn-batch")
        .env("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", endpoint_url)
        .env("SAGEMAKER_TIMEOUT_MS", "3000")
        .env("SAGEMAKER_MAX_ATTEMPTS", "2")
        .output()
        .expect("churn-predict runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_through_a_sagemaker_endpoint_writes_the_same_bytes_or_says_what_failed() {
    let dir = std::env::temp_dir().join(format!("churn-remote-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let raw = dir.join("customers.csv");
    // More rows than one call takes (5,000), so several calls are in flight.
    std::fs::write(&raw, raw_file(12_000)).unwrap();
    let raw = raw.to_str().unwrap();
    let embedded = score(&[raw]);

    // A second churn-predict plays the endpoint (its SageMaker Runtime route).
    let endpoint = TestServer::start().await;
    let remote = score_through(&format!("http://{}", endpoint.address), &[raw]);
    assert!(
        remote.status.success(),
        "{}",
        String::from_utf8_lossy(&remote.stderr)
    );
    assert!(
        remote.stdout == embedded.as_bytes(),
        "the same bytes through the endpoint"
    );

    // Nothing listens there: every call fails after its retries, and the run says so.
    let closed = format!("http://127.0.0.1:{}", crate::helpers::free_port());
    let failed = score_through(&closed, &[raw]);
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("failed on the rows from line 2")
            && stderr.contains("no row from line 2 to the end of the input was scored"),
        "{stderr}"
    );
    let written = String::from_utf8(failed.stdout).unwrap();
    assert_eq!(written.lines().count(), 1, "the header only: {written}");
    std::fs::remove_dir_all(&dir).unwrap();
}
