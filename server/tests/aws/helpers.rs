//! Child processes (the real binary, moto, python) and in-process servers for the AWS tests.
//! Every server binds 127.0.0.1 on a free port; every child is killed when its guard drops.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The original project's sample customer and a likely leaver, as the 12-number vector.
pub const SAMPLE: [f64; 12] = model::SAMPLE_VECTOR;
pub const LEAVER: [f64; 12] = [
    500.0, 0.0, 62.0, 2.0, 120000.0, 3.0, 1.0, 0.0, 100000.0, 0.0, 1.0, 0.0,
];

pub fn csv_row(values: &[f64]) -> String {
    values
        .iter()
        .map(f64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The embedded model's probability for a vector, as every path must report it.
pub fn embedded_probability(values: &[f64; 12]) -> f64 {
    let model = model::Model::bundled().unwrap();
    f64::from(model.probability(&values.map(|v| v as f32)))
}

/// The parity fixture's rows: the 12 features as CSV text, and XGBoost's own probability as
/// Python printed it (the columns after it are SHAP values, not read here).
pub fn parity_rows() -> impl Iterator<Item = (&'static str, &'static str)> {
    const FIXTURE: &str = include_str!("../../../model/tests/fixtures/parity.csv");
    FIXTURE.lines().skip(1).map(|line| {
        let mut commas = line.match_indices(',').map(|(i, _)| i);
        let features_end = commas.nth(11).expect("12 feature columns");
        let probability_end = commas.next().unwrap_or(line.len());
        (
            &line[..features_end],
            &line[features_end + 1..probability_end],
        )
    })
}

/// Kills (and reaps) the child when dropped, so no test leaves a process behind.
pub struct Guard {
    pub child: Child,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago (for children that cannot report the port they bound).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `churn-predict` with an environment that can never reach real AWS: no inherited AWS_*
/// or app settings, static fake credentials, a region, no profile files, and instance
/// metadata disabled (the SDK must never probe 169.254.169.254 from a test).
pub fn churn_predict() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_churn-predict"));
    isolate_aws(&mut cmd);
    for key in [
        "HOST",
        "PORT",
        "SAGEMAKER_BIND_TO_PORT",
        "MODEL_PATH",
        "MODEL_THRESHOLD",
        "ENDPOINT_NAME",
        "SAGEMAKER_TIMEOUT_MS",
        "SAGEMAKER_MAX_ATTEMPTS",
        "MAX_BODY_BYTES",
        "MAX_BATCH",
    ] {
        cmd.env_remove(key);
    }
    cmd.env("LOG_FORMAT", "json").env("RUST_LOG", "info");
    cmd
}

pub fn isolate_aws(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        );
}

/// A `churn-predict` child serving HTTP, and what it has logged so far (JSON lines).
pub struct Served {
    pub address: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    pub _guard: Guard,
}

impl Served {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// The `request finished` log line of the request with this id (waits up to 10 s for it:
    /// the log is written as the answer leaves).
    pub fn log_line_of(&self, request_id: &str) -> serde_json::Value {
        let started = Instant::now();
        loop {
            let found = self.log.lock().unwrap().iter().find_map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).ok()?;
                (v["message"] == "request finished" && v["span"]["request_id"] == request_id)
                    .then_some(v)
            });
            if let Some(line) = found {
                return line;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no log line for request {request_id}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Starts the binary (HOST=127.0.0.1, PORT=0) and waits for its `listening` log line, which
/// carries the port the OS picked.
pub fn spawn_served(mut cmd: Command) -> Served {
    cmd.env("PORT", "0");
    spawn_listening(cmd)
}

/// Starts the binary on 127.0.0.1 at whatever port its own settings choose (no PORT is set),
/// and waits for its `listening` log line.
pub fn spawn_listening(mut cmd: Command) -> Served {
    cmd.env("HOST", "127.0.0.1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().expect("churn-predict starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let guard = Guard { child };
    let (tx, rx) = mpsc::channel();
    let log = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            kept.lock().unwrap().push(line.clone());
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && v["message"] == "listening"
            {
                let _ = tx.send(v["address"].as_str().unwrap_or_default().to_owned());
            }
            // Keep the child's log visible in a failing test's output.
            eprintln!("  [churn-predict] {line}");
        }
    });
    let address = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("churn-predict logs `listening` within 30 s")
        .parse()
        .expect("a socket address in the log");
    Served {
        address,
        log,
        _guard: guard,
    }
}

/// Runs the binary to completion (it must exit by itself within 30 s).
pub fn run_to_exit(mut cmd: Command) -> (Option<i32>, String) {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("churn-predict starts");
    let mut guard = Guard { child };
    let started = Instant::now();
    loop {
        if let Some(status) = guard.child.try_wait().expect("wait") {
            let mut out = String::new();
            for pipe in [
                guard
                    .child
                    .stdout
                    .take()
                    .map(|p| Box::new(p) as Box<dyn std::io::Read>),
                guard
                    .child
                    .stderr
                    .take()
                    .map(|p| Box::new(p) as Box<dyn std::io::Read>),
            ]
            .into_iter()
            .flatten()
            {
                let mut p = pipe;
                let _ = p.read_to_string(&mut out);
            }
            return (status.code(), out);
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "churn-predict did not exit within 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub use server::testing::{python_with, tool};

/// `moto_server` (a real AWS-protocol server) on a free port, ready to answer.
pub struct Moto {
    pub url: String,
    _guard: Guard,
}

pub async fn spawn_moto() -> Option<Moto> {
    python_with(&["moto.server", "boto3"])?;
    let port = free_port();
    let child = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server starts");
    let guard = Guard { child };
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client.get(format!("{url}/moto-api/")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "moto_server did not answer within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Some(Moto { url, _guard: guard })
}

impl Moto {
    /// Queues the bodies moto's InvokeEndpoint answers, in order.
    pub async fn queue_results(&self, bodies: &[&str]) {
        let results: Vec<_> = bodies
            .iter()
            .map(|b| {
                serde_json::json!({"Body": b, "ContentType": "text/csv",
                    "InvokedProductionVariant": "AllTraffic", "CustomAttributes": ""})
            })
            .collect();
        let response = reqwest::Client::new()
            .post(format!(
                "{}/moto-api/static/sagemaker/endpoint-results",
                self.url
            ))
            .json(&serde_json::json!({ "results": results }))
            .send()
            .await
            .expect("moto answers");
        assert!(response.status().is_success(), "moto queued the results");
    }
}
