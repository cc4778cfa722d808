//! `GET /openapi.json`: a valid OpenAPI 3.1 document (checked by `openapi-spec-validator`),
//! and real answers of the real server validate against its schemas.

use serde_json::{Value, json};
use server::config::ApiKeyList;
use server::testing::{TestServer, python_with, sample_data_body, sample_named};

/// One recorded answer, as `scripts/check_openapi.py` reads it.
struct Recorded {
    path: String,
    template: &'static str,
    method: &'static str,
    status: u16,
    content_type: String,
    body: Value,
}

async fn record(
    server: &TestServer,
    (method, path, template): (&'static str, &str, &'static str),
    request: Option<(&str, String)>,
    headers: &[(&str, &str)],
) -> Recorded {
    let client = reqwest::Client::new();
    let url = server.url(path);
    let mut builder = match method {
        "get" => client.get(url),
        _ => client.post(url),
    };
    if let Some((content_type, body)) = request {
        builder = builder.header("content-type", content_type).body(body);
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let response = builder.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Recorded {
        path: path.to_owned(),
        template,
        method,
        status,
        content_type,
        body,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_valid_openapi_and_real_answers_match_its_schemas() {
    let Some(()) = python_with(&["openapi_spec_validator", "openapi_schema_validator"]) else {
        return;
    };
    // Arrange: one open server and one with keys, and a request of every kind.
    let open = TestServer::start().await;
    let keyed = TestServer::start_with(|s| {
        s.api_keys = Some(ApiKeyList(vec!["openapi-test-key-0123456789".into()]));
        s.session_secret = Some(server::config::Secret(
            "openapi-test-session-secret-0123456789abcdef".into(),
        ));
    })
    .await;
    let json_body = |body: Value| Some(("application/json", body.to_string()));
    let predict = |path| ("post", path, if path == "/" { "/" } else { "/predict" });
    let mut answers = Vec::new();
    for (server, route, request, headers) in [
        (
            &open,
            predict("/predict"),
            Some(("application/json", sample_data_body())),
            vec![],
        ),
        (
            &open,
            predict("/"),
            json_body(json!({"customer": sample_named()})),
            vec![],
        ),
        (
            &open,
            predict("/predict"),
            json_body(json!({"instances": [model::SAMPLE_VECTOR, model::SAMPLE_VECTOR]})),
            vec![],
        ),
        (
            &open,
            predict("/predict?explain=true"),
            Some(("application/json", sample_data_body())),
            vec![],
        ),
        (
            &open,
            predict("/predict"),
            json_body(json!({"data": [1, 2, 3]})),
            vec![],
        ),
        (
            &open,
            predict("/predict"),
            json_body(json!({"customer": {"age": 12, "agee": 1}})),
            vec![],
        ),
        (
            &open,
            predict("/predict"),
            Some(("application/json", "{".to_owned())),
            vec![],
        ),
        (
            &open,
            predict("/predict"),
            Some(("text/plain", "hello".to_owned())),
            vec![],
        ),
        (
            &open,
            predict("/predict"),
            json_body(json!({"instances": []})),
            vec![],
        ),
        (
            &keyed,
            predict("/predict"),
            Some(("application/json", sample_data_body())),
            vec![],
        ),
        (
            &keyed,
            predict("/predict"),
            Some(("application/json", sample_data_body())),
            vec![("x-api-key", "wrong-key-0123456789")],
        ),
        (&open, ("post", "/score", "/score"), Some(("text/csv", "CreditScore,Geography,Gender,Age,Tenure,Balance,NumOfProducts,HasCrCard,IsActiveMember,EstimatedSalary\n670,France,Male,38,7,0,2,1,1,77864.41\n".to_owned())), vec![]),
        (&open, ("post", "/score", "/score"), Some(("text/csv", "CreditScore,Geography,Gender,Age,Tenure,Balance,NumOfProducts,HasCrCard,IsActiveMember,EstimatedSalary\n670,Mars,Male,38,7,0,2,1,1,77864.41\n".to_owned())), vec![]),
        (&open, ("get", "/healthz", "/healthz"), None, vec![]),
        (&open, ("get", "/model", "/model"), None, vec![]),
        (
            &open,
            ("get", "/openapi.json", "/openapi.json"),
            None,
            vec![],
        ),
        (
            &open,
            ("post", "/invocations", "/invocations"),
            json_body(json!({"data": model::SAMPLE_VECTOR})),
            vec![("accept", "application/json")],
        ),
        (
            &open,
            (
                "post",
                "/endpoints/churn/invocations",
                "/endpoints/{name}/invocations",
            ),
            json_body(json!({"data": model::SAMPLE_VECTOR})),
            vec![("accept", "application/json")],
        ),
    ] {
        answers.push(record(server, route, request, &headers).await);
    }
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses,
        [
            200, 200, 200, 200, 422, 422, 400, 415, 422, 401, 403, 200, 422, 200, 200, 200, 200,
            200
        ],
        "the recorded requests are what the test means them to be"
    );

    // Act: the validators, on the document the server serves.
    let document = reqwest::get(open.url("/openapi.json"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("churn-openapi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (doc_path, answers_path) = (dir.join("openapi.json"), dir.join("answers.json"));
    std::fs::write(&doc_path, &document).unwrap();
    let recorded: Vec<Value> = answers
        .iter()
        .map(|a| {
            json!({"path": a.path, "template": a.template, "method": a.method,
                   "status": a.status, "content_type": a.content_type, "body": a.body})
        })
        .collect();
    std::fs::write(&answers_path, serde_json::to_vec(&recorded).unwrap()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/check_openapi.py");
    let output = std::process::Command::new("python3")
        .arg(script)
        .arg(&doc_path)
        .arg(&answers_path)
        .output()
        .expect("python3 runs");
    std::fs::remove_dir_all(&dir).ok();

    // Assert
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{said}");
    assert!(
        said.contains("OpenAPI document valid; 18/18 answers match"),
        "{said}"
    );
}
