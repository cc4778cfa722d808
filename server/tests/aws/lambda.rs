//! The real binary under a Lambda Runtime API harness: the harness serves
//! `GET /2018-06-01/runtime/invocation/next` with fixture events (`deploy/events/*.json`) and
//! collects what the function posts back, exactly as Lambda's runtime interface does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::helpers::{Guard, LEAVER, SAMPLE, churn_predict, embedded_probability};
use server::sagemaker::python_float::python_repr;

#[derive(Debug)]
pub(crate) enum Outcome {
    Response(Value),
    Error(String),
}

impl Outcome {
    pub(crate) fn response(self, name: &str) -> Value {
        match self {
            Outcome::Response(v) => v,
            Outcome::Error(e) => panic!("{name}: the function reported an error: {e}"),
        }
    }
}

struct Harness {
    next: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, String)>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
}

/// A Lambda Runtime API on 127.0.0.1: hands out events, takes responses and errors.
pub(crate) struct Runtime {
    address: SocketAddr,
    events: mpsc::UnboundedSender<(String, String)>,
    harness: Arc<Harness>,
    count: u32,
}

async fn next(State(h): State<Arc<Harness>>) -> Response {
    // Long poll, as Lambda does: the function waits here between invocations.
    let Some((id, event)) = h.next.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(30);
    (
        [
            ("lambda-runtime-aws-request-id", id),
            (
                "lambda-runtime-deadline-ms",
                deadline.as_millis().to_string(),
            ),
            (
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:eu-west-1:123456789012:function:churn-predict".to_owned(),
            ),
            (
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000;Sampled=0".to_owned(),
            ),
            ("content-type", "application/json".to_owned()),
        ],
        event,
    )
        .into_response()
}

async fn respond(State(h): State<Arc<Harness>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let outcome = match serde_json::from_slice(&body) {
        Ok(v) => Outcome::Response(v),
        Err(e) => Outcome::Error(format!(
            "response is not JSON ({e}): {}",
            String::from_utf8_lossy(&body)
        )),
    };
    if let Some(tx) = h.waiting.lock().unwrap().remove(&id) {
        let _ = tx.send(outcome);
    }
    StatusCode::ACCEPTED
}

async fn error(State(h): State<Arc<Harness>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    if let Some(tx) = h.waiting.lock().unwrap().remove(&id) {
        let _ = tx.send(Outcome::Error(String::from_utf8_lossy(&body).into_owned()));
    }
    StatusCode::ACCEPTED
}

async fn init_error(body: Bytes) -> StatusCode {
    panic!(
        "the function reported an init error: {}",
        String::from_utf8_lossy(&body)
    );
}

impl Runtime {
    pub(crate) async fn start() -> Runtime {
        let (events, rx) = mpsc::unbounded_channel();
        let harness = Arc::new(Harness {
            next: tokio::sync::Mutex::new(rx),
            waiting: Mutex::new(HashMap::new()),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(harness.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Runtime {
            address,
            events,
            harness,
            count: 0,
        }
    }

    pub(crate) async fn invoke(&mut self, event: &str) -> Outcome {
        self.count += 1;
        let id = format!("request-{}", self.count);
        let (tx, rx) = oneshot::channel();
        self.harness.waiting.lock().unwrap().insert(id.clone(), tx);
        self.events.send((id, event.to_owned())).unwrap();
        tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .expect("the function answers within 30 s")
            .expect("an outcome")
    }
}

/// The binary under test: `CHURN_PREDICT_BIN` may point at another build (e.g. release) to
/// measure its cold start with the same harness.
pub(crate) fn spawn_function(runtime: &Runtime, ignore_stage: bool, stdout: Stdio) -> Guard {
    let mut cmd = function_command(runtime, ignore_stage, stdout);
    Guard {
        child: cmd.spawn().expect("the function starts"),
    }
}

/// The function's command line and environment, as Lambda and the SAM template set them.
fn function_command(runtime: &Runtime, ignore_stage: bool, stdout: Stdio) -> std::process::Command {
    let mut cmd = match std::env::var_os("CHURN_PREDICT_BIN") {
        Some(bin) => {
            let mut c = std::process::Command::new(bin);
            crate::helpers::isolate_aws(&mut c);
            c
        }
        None => churn_predict(),
    };
    cmd.env("AWS_LAMBDA_RUNTIME_API", runtime.address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "churn-predict")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        // The SAM template's default: empty means the embedded model.
        .env("ENDPOINT_NAME", "")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        .stdout(stdout)
        .stderr(Stdio::inherit());
    if ignore_stage {
        cmd.env("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true");
    } else {
        cmd.env_remove("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH");
    }
    cmd
}

pub(crate) fn event(name: &str) -> String {
    let path = format!("{}/../deploy/events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// An HTTP-shaped answer (API Gateway v1/v2, Function URL): status and the decoded body.
pub(crate) fn http(outcome: Outcome, name: &str) -> (u64, String, Value) {
    let response = outcome.response(name);
    let status = response["statusCode"]
        .as_u64()
        .unwrap_or_else(|| panic!("{name}: no statusCode in {response}"));
    assert_eq!(
        response["isBase64Encoded"], false,
        "{name}: text answers are not base64"
    );
    let body = response["body"].as_str().unwrap_or_default().to_owned();
    (status, body, response)
}

pub(crate) fn json(body: &str, name: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{name}: body is not JSON ({e}): {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_kind_is_answered_with_and_without_the_ignore_stage_variable() {
    for ignore_stage in [false, true] {
        // Arrange
        let mut runtime = Runtime::start().await;
        let started = Instant::now();
        // The function's stdout is what Lambda ships to CloudWatch Logs: metrics go there as EMF.
        let stdout_path = std::env::temp_dir().join(format!(
            "churn-lambda-stdout-{}-{ignore_stage}.log",
            std::process::id()
        ));
        let stdout = std::fs::File::create(&stdout_path).expect("a log file");
        let _function = spawn_function(&runtime, ignore_stage, Stdio::from(stdout));

        // Act + Assert, one event kind at a time. The first answer measures the cold start.
        let name = "rest-v1-prod-predict.json";
        let outcome = runtime.invoke(&event(name)).await;
        let cold = started.elapsed();
        eprintln!(
            "cold start (process start → first answer, {}): {:.1} ms",
            std::env::var("CHURN_PREDICT_BIN").unwrap_or_else(|_| "debug build".to_owned()),
            cold.as_secs_f64() * 1000.0
        );
        let (status, body, response) = http(outcome, name);
        assert_eq!(
            status, 200,
            "{name} (stage /prod, ignore_stage={ignore_stage}): {body}"
        );
        let content_type = response["multiValueHeaders"]["content-type"][0]
            .as_str()
            .or(response["headers"]["content-type"].as_str())
            .unwrap_or_default();
        assert!(content_type.starts_with("application/json"), "{response}");
        let answer = json(&body, name);
        assert_eq!(answer["result"], "Will Not Exit", "{name}");
        assert_eq!(
            answer["probability"].as_f64().unwrap(),
            embedded_probability(&SAMPLE),
            "{name}"
        );

        let name = "rest-v1-stage-in-path-healthz.json";
        let (status, body, _) = http(runtime.invoke(&event(name)).await, name);
        assert_eq!(status, 200, "{name} (the stage already in `path`): {body}");
        assert_eq!(json(&body, name)["status"], "ok");

        let name = "rest-v1-prod-invocations-csv.json";
        let (status, body, _) = http(runtime.invoke(&event(name)).await, name);
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(
            body,
            format!(
                "{}\n{}\n",
                python_repr(embedded_probability(&SAMPLE)),
                python_repr(embedded_probability(&LEAVER))
            ),
            "{name}: the container's CSV answer through API Gateway"
        );

        // The web form through the stage: its links must go back through `/prod`.
        let name = "rest-v1-prod-form-page.json";
        let (status, body, _) = http(runtime.invoke(&event(name)).await, name);
        assert_eq!(status, 200, "{name}: {body}");
        assert!(
            body.contains(r#"<base href="/prod/">"#),
            "{name} (ignore_stage={ignore_stage}): the page links through the stage: {body}"
        );

        let name = "http-v2-predict.json";
        let (status, body, _) = http(runtime.invoke(&event(name)).await, name);
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(json(&body, name)["result"], "Will Not Exit");

        let name = "function-url-base64-batch.json";
        let (status, body, _) = http(runtime.invoke(&event(name)).await, name);
        assert_eq!(status, 200, "{name} (base64 body): {body}");
        let answer = json(&body, name);
        assert_eq!(
            answer["predictions"][0]["result"], "Will Not Exit",
            "{name}"
        );
        assert_eq!(answer["predictions"][1]["result"], "Will Exit", "{name}");
        assert_eq!(
            answer["predictions"][1]["probability"].as_f64().unwrap(),
            embedded_probability(&LEAVER)
        );

        // The original direct invocation: the raw event in, raw JSON out (no HTTP envelope).
        let name = "direct-data.json";
        let answer = runtime.invoke(&event(name)).await.response(name);
        assert_eq!(answer["result"], "Will Not Exit", "{name}: {answer}");
        assert!(
            answer.get("statusCode").is_none(),
            "{name}: no HTTP envelope: {answer}"
        );

        let name = "direct-wrong-length.json";
        let answer = runtime.invoke(&event(name)).await.response(name);
        let error = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: {answer}"));
        assert!(error.contains("11 values"), "{name}: {error}");

        // Metrics left as CloudWatch Embedded Metric Format documents, one per request.
        let logged = std::fs::read_to_string(&stdout_path).unwrap();
        let emf: Vec<Value> = logged
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ChurnPredict")
            .collect();
        assert!(
            emf.iter().any(|v| v["route"] == "/predict"
                && v["status"] == "200"
                && v["predictions_will_not_exit"] == 1
                && v["backend"] == "embedded"),
            "one EMF document counts the request by route and status, and its prediction by \
             label: {logged}"
        );
        std::fs::remove_file(&stdout_path).ok();

        // An unknown path is a 404 in our error shape, not a runtime error.
        let unknown = event("rest-v1-prod-predict.json").replace("\"/predict\"", "\"/nope\"");
        let (status, body, _) = http(runtime.invoke(&unknown).await, "unknown path");
        assert_eq!(status, 404, "{body}");
        assert!(
            json(&body, "unknown path")["error"]
                .as_str()
                .unwrap()
                .contains("/nope"),
            "{body}"
        );
    }
}

/// A response header of an API Gateway (v1) answer, from `multiValueHeaders` or `headers`.
fn header(response: &Value, name: &str) -> Option<String> {
    response["multiValueHeaders"][name][0]
        .as_str()
        .or(response["headers"][name].as_str())
        .map(str::to_owned)
}

/// Behind API Gateway a browser's CORS preflight reaches the function through the template's
/// key-less `OPTIONS` methods, without `x-api-key` (deploy/README.md, "Routes without a key";
/// the template side is checked in deploy.rs). The function's CORS layer answers it for the
/// allowed origin, even when the function checks API keys itself, and grants nothing to others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cors_preflight_through_the_keyless_gateway_method_is_answered_without_a_key() {
    // Arrange: the template's environment with `CorsAllowedOrigin` set, plus keys in the app.
    let mut runtime = Runtime::start().await;
    let mut cmd = function_command(&runtime, true, Stdio::null());
    cmd.env("CORS_ALLOWED_ORIGINS", "https://app.example.com")
        .env("API_KEYS", "a-key-the-preflight-does-not-carry-0123")
        .env(
            "SESSION_SECRET",
            "a-session-secret-for-the-pages-0123456789",
        );
    let _function = Guard {
        child: cmd.spawn().expect("the function starts"),
    };

    // Act
    let name = "rest-v1-prod-preflight.json";
    let (status, body, response) = http(runtime.invoke(&event(name)).await, name);
    let other = event(name).replace("https://app.example.com", "https://elsewhere.example");
    let (_, _, refused) = http(runtime.invoke(&other).await, "another origin");

    // Assert
    assert!((200..300).contains(&status), "{name}: {status} {body}");
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some("https://app.example.com"),
        "{response}"
    );
    let allowed = header(&response, "access-control-allow-headers").unwrap_or_default();
    assert!(allowed.contains("x-api-key"), "{response}");
    assert_eq!(
        header(&refused, "access-control-allow-origin"),
        None,
        "{refused}"
    );
}

/// `POST /score` through API Gateway (REST, stage `prod`) and Lambda: a CSV file in the event's
/// body comes back scored as text, byte for byte what `churn-predict score` writes for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_file_posted_to_score_through_the_gateway_is_scored_as_the_command_line_does() {
    let mut runtime = Runtime::start().await;
    let _function = spawn_function(&runtime, true, Stdio::null());
    let file = "CustomerId;Surname;CreditScore;Geography;Gender;Age;Tenure;Balance;\
                NumOfProducts;HasCrCard;IsActiveMember;EstimatedSalary\r\n\
                15634602;\"Hargrave; Sr\";670;France;Male;38;7;0.0;2;1;1;77864.41\r\n\
                15647311;Hill;500;Germany;Female;62;2;120000.0;3;1;0;100000.0\r\n";
    let mut event: Value =
        serde_json::from_str(&event("rest-v1-prod-invocations-csv.json")).expect("a JSON event");
    event["path"] = "/score".into();
    event["pathParameters"]["proxy"] = "score".into();
    event["requestContext"]["path"] = "/prod/score".into();
    event["body"] = file.into();

    let name = "POST /prod/score";
    let (status, body, response) = http(runtime.invoke(&event.to_string()).await, name);

    assert_eq!(status, 200, "{name}: {body}");
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("text/csv; charset=utf-8")
    );
    let cli = {
        use std::io::Write;
        let mut child = churn_predict()
            .arg("score")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("churn-predict runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(file.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap().stdout
    };
    assert_eq!(body.as_bytes(), cli, "the same bytes as the command line");
    assert!(body.contains(&json_number(embedded_probability(&LEAVER))));
}

/// A probability as the JSON API (and so the scored file) writes it.
fn json_number(p: f64) -> String {
    serde_json::to_string(&p).unwrap()
}
