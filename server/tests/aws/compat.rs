//! The SageMaker inference container contract (`/ping`, `/invocations`) and the runtime API
//! route, answered as the SageMaker XGBoost container and SageMaker Runtime answer.

use crate::helpers::{LEAVER, SAMPLE, csv_row, embedded_probability, parity_rows};
use server::sagemaker::python_float::python_repr;
use server::testing::TestServer;

async fn post(
    address: std::net::SocketAddr,
    path: &str,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = reqwest::Client::new()
        .post(format!("http://{address}{path}"))
        .body(body);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    if let Some(a) = accept {
        request = request.header("accept", a);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

#[tokio::test]
async fn ping_answers_200_with_an_empty_body_and_execution_parameters_are_sagemakers() {
    let address = TestServer::start().await.address;
    let response = reqwest::get(format!("http://{address}/ping"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "");
    let params: serde_json::Value = reqwest::get(format!("http://{address}/execution-parameters"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(params["BatchStrategy"], "MULTI_RECORD");
    assert_eq!(params["MaxPayloadInMB"], 6);
}

#[test]
fn python_repr_prints_every_probability_of_the_parity_fixture_as_python_did() {
    // The training script wrote these with Python's repr of float32 scores widened to float.
    for (_, text) in parity_rows() {
        let value: f64 = text.parse().unwrap();
        assert_eq!(python_repr(value), text, "Python's repr of {value}");
    }
}

#[tokio::test]
async fn csv_rows_are_answered_one_probability_per_line_matching_xgboost() {
    // Arrange: the parity fixture's rows (the 12 features and xgboost's own probability).
    let model = model::Model::bundled().unwrap();
    let mut rows = String::new();
    let mut expected = Vec::new();
    for (features, probability) in parity_rows() {
        rows.push_str(features);
        rows.push('\n');
        let values: Vec<f32> = features
            .split(',')
            .map(|v| {
                if v.is_empty() {
                    f32::NAN
                } else {
                    v.parse().unwrap()
                }
            })
            .collect();
        let ours = f64::from(model.probability(&values.try_into().unwrap()));
        expected.push((python_repr(ours), probability.parse::<f64>().unwrap()));
    }
    let address = TestServer::start().await.address;
    for accept in [None, Some("*/*"), Some("text/csv")] {
        // Act
        let (status, headers, body) = post(
            address,
            "/invocations",
            Some("text/csv"),
            accept,
            rows.clone(),
        )
        .await;
        // Assert
        assert_eq!(status, 200, "Accept {accept:?}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        assert!(body.ends_with('\n'), "every line ends in a newline");
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines.len(), expected.len(), "one line per row");
        for (i, (line, (text, xgboost))) in lines.iter().zip(&expected).enumerate() {
            assert_eq!(
                line, text,
                "row {i}: the embedded probability in Python's repr"
            );
            let got: f64 = line.parse().unwrap();
            assert!(
                (got - xgboost).abs() <= 1e-6,
                "row {i}: {got} vs xgboost {xgboost}"
            );
        }
    }
}

#[tokio::test]
async fn one_row_answers_like_the_container_and_json_accept_gives_predictions_scores() {
    let address = TestServer::start().await.address;
    let p = embedded_probability(&SAMPLE);
    let (status, _, body) = post(
        address,
        "/invocations",
        Some("text/csv"),
        None,
        csv_row(&SAMPLE),
    )
    .await;
    assert_eq!((status, body), (200, format!("{}\n", python_repr(p))));

    let both = format!("{}\n{}\n", csv_row(&SAMPLE), csv_row(&LEAVER));
    let (status, headers, body) = post(
        address,
        "/invocations",
        Some("text/csv"),
        Some("application/json"),
        both,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["predictions"][0]["score"].as_f64().unwrap(), p);
    assert_eq!(
        json["predictions"][1]["score"].as_f64().unwrap(),
        embedded_probability(&LEAVER)
    );
}

#[tokio::test]
async fn an_empty_field_is_a_missing_value_and_a_leading_label_column_is_tolerated() {
    let address = TestServer::start().await.address;
    let mut missing = SAMPLE.map(|v| v as f32);
    missing[4] = f32::NAN;
    let expected = f64::from(model::Model::bundled().unwrap().probability(&missing));
    let row = csv_row(&SAMPLE).replacen(",0,2,", ",,2,", 1);
    let labelled = format!("1,{}", csv_row(&SAMPLE));
    let (status, _, body) = post(
        address,
        "/invocations",
        Some("text/csv; label_size=1"),
        None,
        format!("{row}\r\n{labelled}\n"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(
        lines,
        [
            python_repr(expected),
            python_repr(embedded_probability(&SAMPLE))
        ]
    );
}

#[tokio::test]
async fn the_container_refusals_have_its_statuses_and_say_why() {
    let address = TestServer::start().await.address;
    // (why, Content-Type, Accept, body, status, what the answer says)
    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        String,
        u16,
        &'a str,
    );
    let cases: [Case; 6] = [
        ("empty body", Some("text/csv"), None, String::new(), 204, ""),
        ("a word in a cell", Some("text/csv"), None, csv_row(&SAMPLE).replacen("38", "old", 1), 415, "could not convert string to float: \"old\""),
        ("11 columns", Some("text/csv"), None, "1,2,3,4,5,6,7,8,9,10,11".to_owned(), 415, "Feature size of csv inference data 11"),
        ("a header row", Some("text/csv"), None, "CreditScore,Gender,Age,Tenure,Balance,NumOfProducts,HasCrCard,IsActiveMember,EstimatedSalary,Geography_France,Geography_Germany,Geography_Spain".to_owned(), 415, "line 1"),
        ("libsvm", Some("text/libsvm"), None, "1:670".to_owned(), 415, "not an accepted ContentType"),
        ("unsupported Accept", Some("text/csv"), Some("application/x-recordio-protobuf"), csv_row(&SAMPLE), 406, "Accept type"),
    ];
    for (why, content_type, accept, body, status, says) in cases {
        let (got, _, text) = post(address, "/invocations", content_type, accept, body).await;
        assert_eq!(got, status, "{why}: {text}");
        assert!(
            text.contains(says),
            "{why}: {text:?} should contain {says:?}"
        );
    }
}

#[tokio::test]
async fn payloads_up_to_6_mb_are_read_and_larger_ones_refused() {
    let address = TestServer::start().await.address;
    let line = format!("{}\n", csv_row(&SAMPLE));
    // ~2 MB: over the JSON API's 1 MB default, within SageMaker's 6 MB.
    let big = line.repeat(2 * 1024 * 1024 / line.len());
    let rows = big.lines().count();
    let (status, _, body) = post(address, "/invocations", Some("text/csv"), None, big).await;
    assert_eq!(status, 200);
    assert_eq!(body.lines().count(), rows, "one answer per row");
    let too_big = line.repeat(6 * 1024 * 1024 / line.len() + 10);
    let (status, _, _) = post(address, "/invocations", Some("text/csv"), None, too_big).await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn json_bodies_take_the_validated_api_shapes() {
    let address = TestServer::start().await.address;
    let body = serde_json::json!({"instances": [SAMPLE, LEAVER]}).to_string();
    let (status, _, text) = post(
        address,
        "/invocations",
        Some("application/json"),
        None,
        body,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        text,
        format!(
            "{}\n{}\n",
            python_repr(embedded_probability(&SAMPLE)),
            python_repr(embedded_probability(&LEAVER))
        ),
        "no Accept: CSV, as the container"
    );
    let mut invalid = SAMPLE;
    invalid[2] = 17.0;
    let body = serde_json::json!({ "data": invalid }).to_string();
    let (status, _, text) = post(
        address,
        "/invocations",
        Some("application/json"),
        None,
        body,
    )
    .await;
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("data[2] (Age)"), "{text}");
}

#[tokio::test]
async fn the_runtime_route_answers_as_invoke_endpoint_with_model_errors_as_424() {
    let address = TestServer::start().await.address;
    let (status, headers, body) = post(
        address,
        "/endpoints/churn/invocations",
        Some("text/csv"),
        None,
        csv_row(&SAMPLE),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-amzn-invoked-production-variant"], "AllTraffic");
    assert_eq!(
        body,
        format!("{}\n", python_repr(embedded_probability(&SAMPLE)))
    );

    let (status, headers, body) = post(
        address,
        "/endpoints/churn/invocations",
        Some("text/csv"),
        None,
        "1,2,3",
    )
    .await;
    assert_eq!(status, 424, "{body}");
    assert_eq!(headers["x-amzn-errortype"], "ModelError");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["OriginalStatusCode"], 415);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("Received client error (415) from primary with message"),
        "{error}"
    );
}

#[test]
fn serve_changes_only_the_host_and_port_defaults() {
    use server::config::{Command, Settings};
    if std::env::var_os("HOST").is_some() || std::env::var_os("PORT").is_some() {
        eprintln!("HOST/PORT set in the environment: the default check does not apply");
        return;
    }
    let plain = Settings::load_from(["churn-predict"]).unwrap();
    assert_eq!(
        (plain.host.as_str(), plain.port, plain.command),
        ("127.0.0.1", 3000, None)
    );
    let serve = Settings::load_from(["churn-predict", "serve"]).unwrap();
    assert_eq!(
        (serve.host.as_str(), serve.port, serve.command),
        ("0.0.0.0", 8080, Some(Command::Serve))
    );
    let flags = Settings::load_from([
        "churn-predict",
        "--port",
        "9000",
        "--host",
        "127.0.0.1",
        "serve",
    ])
    .unwrap();
    assert_eq!(
        (flags.host.as_str(), flags.port),
        ("127.0.0.1", 9000),
        "flags win over serve's defaults"
    );
}
