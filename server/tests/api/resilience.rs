//! Hostile clients cannot exhaust the server (issue 12): slow uploads, clients that never read,
//! idle and silent connections, descriptor exhaustion, a restart under load, wrong-key
//! guessing, forged log lines and cross-scheme posts. Socket findings run against the real
//! binary (`CARGO_BIN_EXE_churn-predict`, clean environment, 127.0.0.1 on a free port);
//! every wait is for an observable event (a status, a closed socket, a log line) with a
//! generous bound that only catches hangs.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use server::config::ApiKeyList;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::{header, sample_data_body, sample_named, spawn_app_with};
use crate::hostile::{Outcome, parse};

/// Long enough for anything but a hang.
const HANG: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// The real binary

/// A running `churn-predict`, killed when dropped, with everything it logged to stdout.
struct Binary {
    child: Child,
    address: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary with nothing inherited: JSON logs at `info`, 127.0.0.1 on a free port, and AWS
/// settings that can never reach AWS.
fn churn_predict(env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_churn-predict"));
    cmd.env_clear()
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        );
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd
}

/// Starts `cmd` and waits for its `listening` line (JSON or text), which has the port.
fn start(mut cmd: Command) -> Binary {
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = cmd.spawn().expect("churn-predict starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let mut binary = Binary {
        child,
        address: "0.0.0.0:0".parse().unwrap(),
        log,
    };
    let started = Instant::now();
    loop {
        let found = binary.log.lock().unwrap().iter().find_map(|line| {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                return (v["message"] == "listening")
                    .then(|| v["address"].as_str()?.parse().ok())?;
            }
            let rest = line.split(" listening ").nth(1)?;
            rest.split_whitespace()
                .find_map(|field| field.strip_prefix("address="))?
                .parse()
                .ok()
        });
        if let Some(address) = found {
            binary.address = address;
            return binary;
        }
        if let Ok(Some(status)) = binary.child.try_wait() {
            panic!(
                "churn-predict exited ({status}): {:#?}",
                binary.log.lock().unwrap()
            );
        }
        assert!(
            started.elapsed() < HANG,
            "no `listening` line: {:#?}",
            binary.log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Binary {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How many logged lines contain `text`.
    fn count(&self, text: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(text))
            .count()
    }

    /// Waits until `times` logged lines contain `text`.
    async fn wait_for_log(&self, text: &str, times: usize) {
        let started = Instant::now();
        while self.count(text) < times {
            assert!(
                started.elapsed() < HANG,
                "waited for {times} × {text:?}: {:#?}",
                self.log.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A `/proc/<pid>/status` figure in KiB (`VmHWM`: peak RSS; `VmRSS`: now).
    fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in {status}"))
    }

    /// Waits for the process to exit by itself.
    async fn exit_status(&mut self) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(started.elapsed() < HANG, "churn-predict did not exit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Raw connections

async fn connect_from(address: SocketAddr, from: IpAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(address).await.expect("connects")
}

fn localhost(n: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, n])
}

/// Reads one response head (through the blank line), within [`HANG`].
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    tokio::time::timeout(HANG, async {
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte).await {
                Ok(1) => head.push(byte[0]),
                _ => break,
            }
        }
    })
    .await
    .expect("a response head in time");
    String::from_utf8_lossy(&head).into_owned()
}

/// Reads until the peer closes (or resets), within [`HANG`]; returns what arrived.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    tokio::time::timeout(HANG, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await
    .expect("the server closed the connection in time");
    all
}

/// Headers of an upload that waits for `100 Continue` before sending its body.
fn upload_head(path: &str, content_type: &str, length: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nhost: test\r\ncontent-type: {content_type}\r\n\
         content-length: {length}\r\nexpect: 100-continue\r\n\r\n"
    )
}

/// A 100 kB upload from `from` that sends 3 bytes once the server starts reading it
/// (`100 Continue`), then nothing: returns the open connection, or the server's refusal.
async fn slow_upload(
    address: SocketAddr,
    from: IpAddr,
    path: &str,
    content_type: &str,
) -> Result<TcpStream, String> {
    let mut stream = connect_from(address, from).await;
    stream
        .write_all(upload_head(path, content_type, 100_000).as_bytes())
        .await
        .unwrap();
    let head = read_head(&mut stream).await;
    if !head.starts_with("HTTP/1.1 100") {
        let mut rest = read_until_closed(&mut stream).await;
        let mut answer = head.into_bytes();
        answer.append(&mut rest);
        return Err(String::from_utf8_lossy(&answer).into_owned());
    }
    stream.write_all(b"{\"d").await.unwrap();
    Ok(stream)
}

fn predict_body() -> String {
    sample_data_body()
}

/// `POST /predict` with the sample customer, from `from`: status and answer.
async fn good_prediction(binary: &Binary, from: IpAddr) -> (u16, serde_json::Value) {
    let client = reqwest::Client::builder()
        .local_address(from)
        .build()
        .unwrap();
    let response = tokio::time::timeout(
        HANG,
        client
            .post(binary.url("/predict"))
            .header("content-type", "application/json")
            .body(predict_body())
            .send(),
    )
    .await
    .expect("answered in time")
    .expect("answered");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn healthz(binary: &Binary) -> (u16, serde_json::Value) {
    let response = tokio::time::timeout(HANG, reqwest::get(binary.url("/healthz")))
        .await
        .expect("healthz answers in time")
        .expect("healthz answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Polls `/healthz` (20 ms apart, within [`HANG`]) until it answers `status`. A connection
/// refused at the cap (the server may not have seen a client's close yet) is one more try.
async fn until_healthz(binary: &Binary, status: u16) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let last = match reqwest::get(binary.url("/healthz")).await {
            Ok(response) if response.status().as_u16() == status => {
                return response.json().await.unwrap();
            }
            Ok(response) => format!("{}", response.status()),
            Err(e) => e.to_string(),
        };
        assert!(
            started.elapsed() < HANG,
            "/healthz never answered {status}: last {last}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Finding 3: slow bodies

/// Twenty uploads that stall after 3 bytes, to the JSON API and to the form's server function
/// (which needs no key), more than the 8 request slots: the server reads all their bodies
/// at once (`100 Continue` to each) and still answers a good client and its health check.
/// Before bodies were read ahead of the slots, the 9th upload was answered 503, and so was
/// every real request for as long as the uploads trickled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_uploads_hold_no_request_slot_and_a_good_client_is_answered() {
    let binary = start(churn_predict(&[
        ("MAX_CONCURRENT_REQUESTS", "8"),
        // Neither the rate check nor the deadline lets them go during the test.
        ("MIN_UPLOAD_BYTES_PER_SECOND", "0"),
        ("MAX_UPLOADS_PER_CLIENT", "0"),
        ("REQUEST_TIMEOUT_MS", "60000"),
    ]));
    let form = "application/x-www-form-urlencoded";
    let mut slow = Vec::new();
    for i in 0..20 {
        let (path, content_type) = if i % 2 == 0 {
            ("/predict", "application/json")
        } else {
            ("/api/predict-form", form)
        };
        let upload = slow_upload(binary.address, localhost(1), path, content_type).await;
        slow.push(upload.unwrap_or_else(|refusal| panic!("upload {i} to {path}: {refusal}")));
    }

    let (status, answer) = good_prediction(&binary, localhost(1)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"], "Will Not Exit");
    assert_eq!(healthz(&binary).await.0, 200);
    drop(slow);
}

/// One address may upload `MAX_UPLOADS_PER_CLIENT` bodies at once (one more: 429), others are
/// not affected, and a body that falls behind `MIN_UPLOAD_BYTES_PER_SECOND` is answered 408,
/// which frees the address's allowance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_limited_per_client_and_a_trickle_is_cut_off_with_408() {
    let binary = start(churn_predict(&[
        ("MAX_UPLOADS_PER_CLIENT", "4"),
        ("MIN_UPLOAD_BYTES_PER_SECOND", "1024"),
        ("REQUEST_TIMEOUT_MS", "60000"),
    ]));
    let json = "application/json";
    let mut slow = Vec::new();
    for _ in 0..4 {
        slow.push(
            slow_upload(binary.address, localhost(1), "/predict", json)
                .await
                .unwrap(),
        );
    }
    let refusal = slow_upload(binary.address, localhost(1), "/api/predict-form", json)
        .await
        .expect_err("a fifth upload from the same address is refused");
    assert!(refusal.starts_with("HTTP/1.1 429"), "{refusal}");
    assert!(
        refusal.to_ascii_lowercase().contains("retry-after: 1"),
        "{refusal}"
    );
    let (status, answer) = good_prediction(&binary, localhost(2)).await;
    assert_eq!(status, 200, "another address is served: {answer}");

    for mut stream in slow {
        let answer = read_until_closed(&mut stream).await;
        match parse(&answer) {
            Outcome::Status(status, body) => {
                assert_eq!(status, 408, "{body}");
                let json: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert_eq!(
                    json["error"], "the body arrived slower than 1024 bytes a second",
                    "{json}"
                );
            }
            Outcome::Closed => panic!("closed without an answer"),
        }
    }
    // The trickles are gone, and with them the address's uploads.
    let again = slow_upload(binary.address, localhost(1), "/predict", json).await;
    assert!(again.is_ok(), "{again:?}");
}

// ---------------------------------------------------------------------------------------------
// Finding 2: write timeout and connection cap

/// A batch of 1,000 customers with reasons: an answer of about 1 MB.
fn big_answer_request() -> Vec<u8> {
    let batch = serde_json::json!({ "customers": vec![sample_named(); 1000] }).to_string();
    format!(
        "POST /predict?explain=true HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{batch}",
        batch.len()
    )
    .into_bytes()
}

/// Ten clients each send eight requests for big answers and read nothing. Once the socket
/// buffers are full the server's writes make no progress; after WRITE_TIMEOUT_MS it closes
/// each connection (logged), so the clients get only part of their answers, and the answers
/// are no longer held. Peak and current RSS are printed, not asserted beyond a loose bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_are_disconnected_at_the_write_timeout() {
    let binary = start(churn_predict(&[
        ("WRITE_TIMEOUT_MS", "1000"),
        ("REQUEST_TIMEOUT_MS", "60000"),
    ]));
    let request = big_answer_request();
    let start_hwm = binary.memory_kib("VmHWM");
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for _ in 0..10 {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let stream = socket.connect(binary.address).await.unwrap();
        let (reader, mut writer) = stream.into_split();
        let requests = request.repeat(8);
        // The server stops reading requests while it cannot write: write in the background.
        writers.push(tokio::spawn(async move {
            let _ = writer.write_all(&requests).await;
            writer
        }));
        readers.push(reader);
    }

    binary
        .wait_for_log("its client accepted no bytes of the answer", 10)
        .await;
    let (hwm, rss) = (binary.memory_kib("VmHWM"), binary.memory_kib("VmRSS"));
    println!("VmHWM {start_hwm} KiB at start, {hwm} KiB peak; VmRSS {rss} KiB after the closes");
    assert!(hwm < 160 * 1024, "peak RSS {hwm} KiB");

    let full_answers = 8 * 10;
    let mut answers = 0;
    for mut reader in readers {
        let mut all = Vec::new();
        tokio::time::timeout(HANG, async {
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                match reader.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => all.extend_from_slice(&buffer[..n]),
                }
            }
        })
        .await
        .expect("the connection was closed");
        answers += all.windows(12).filter(|w| w == b"HTTP/1.1 200").count();
    }
    assert!(
        answers < full_answers,
        "every answer was delivered: no timeout happened"
    );
    for writer in writers {
        writer.abort();
    }
    assert_eq!(healthz(&binary).await.0, 200);
}

/// MAX_CONNECTIONS open connections (silent ones, held by a long header deadline): one more
/// gets a 503 and is closed at once; when one closes, connections are served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_cap_a_connection_gets_503_and_is_closed() {
    let binary = start(churn_predict(&[
        ("MAX_CONNECTIONS", "8"),
        ("HEADER_TIMEOUT_MS", "60000"),
    ]));
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(TcpStream::connect(binary.address).await.unwrap());
    }
    // Accepted in order: the ninth finds the cap reached.
    let mut ninth = TcpStream::connect(binary.address).await.unwrap();
    let answer = read_until_closed(&mut ninth).await;
    let head = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(
        head.contains("\r\nx-content-type-options: nosniff\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\ncontent-security-policy: "), "{head}");
    match parse(&answer) {
        Outcome::Status(status, body) => {
            assert_eq!(status, 503, "{body}");
            assert!(body.contains("connection limit"), "{body}");
            assert!(body.contains(r#""kind":"overloaded""#), "{body}");
        }
        Outcome::Closed => panic!("closed without the 503"),
    }
    binary.wait_for_log("connection limit reached", 1).await;
    // The eight were not touched: nothing to read on them.
    let mut byte = [0u8; 1];
    for stream in &held {
        assert!(
            stream.try_read(&mut byte).is_err(),
            "a held connection got data"
        );
    }

    held.pop();
    until_healthz(&binary, 200).await;
}

/// An idle keep-alive connection is closed after KEEP_ALIVE_TIMEOUT_MS; while more than 3/4
/// of MAX_CONNECTIONS are open, idle connections get only the header deadline (until no more
/// than 3/4 are open).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed_sooner_when_the_server_is_busy() {
    let request = b"GET /healthz HTTP/1.1\r\nhost: t\r\n\r\n";
    // Quiet: a short keep-alive, a long header deadline.
    let quiet = start(churn_predict(&[
        ("KEEP_ALIVE_TIMEOUT_MS", "1000"),
        ("HEADER_TIMEOUT_MS", "60000"),
    ]));
    let mut stream = TcpStream::connect(quiet.address).await.unwrap();
    stream.write_all(request).await.unwrap();
    assert!(read_head(&mut stream).await.starts_with("HTTP/1.1 200"));
    read_until_closed(&mut stream).await;

    // Busy: 7 of 8 connections open and idle; a 10-minute keep-alive, a 1 s header deadline.
    let busy = start(churn_predict(&[
        ("MAX_CONNECTIONS", "8"),
        ("KEEP_ALIVE_TIMEOUT_MS", "600000"),
        ("HEADER_TIMEOUT_MS", "1000"),
    ]));
    let mut idle = tokio::task::JoinSet::new();
    for _ in 0..7 {
        let mut stream = TcpStream::connect(busy.address).await.unwrap();
        stream.write_all(request).await.unwrap();
        assert!(read_head(&mut stream).await.starts_with("HTTP/1.1 200"));
        idle.spawn(async move { read_until_closed(&mut stream).await });
    }
    // One is closed long before ten minutes (the 30 s bound would fail first).
    idle.join_next().await.unwrap().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Finding 5: file descriptors

/// Starts the binary with the descriptor limits `soft`/`hard` (set in the child before exec).
fn with_descriptor_limits(mut cmd: Command, soft: u64, hard: u64) -> Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe setrlimit between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

/// Raises this test process's own soft limit (it opens a few hundred sockets).
fn enough_descriptors_here() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
}

/// Started with a soft limit of 256 and a hard one of 1024, the server raises the soft limit
/// and holds 300 silent connections, more than 256, without refusing one or running out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_soft_descriptor_limit_is_raised_to_the_hard_one() {
    enough_descriptors_here();
    let binary = start(with_descriptor_limits(
        churn_predict(&[("HEADER_TIMEOUT_MS", "60000")]),
        256,
        1024,
    ));
    binary
        .wait_for_log("raised the file-descriptor soft limit", 1)
        .await;
    let raised = binary
        .log
        .lock()
        .unwrap()
        .iter()
        .find(|l| l.contains("raised the file-descriptor"))
        .cloned()
        .unwrap();
    let raised: serde_json::Value = serde_json::from_str(&raised).unwrap();
    assert_eq!(
        (raised["from"].as_u64(), raised["to"].as_u64()),
        (Some(256), Some(1024))
    );

    let mut silent = Vec::new();
    for _ in 0..300 {
        silent.push(TcpStream::connect(binary.address).await.unwrap());
    }
    // Accepted after all 300: had any been refused, its 503 would be waiting by now.
    assert_eq!(healthz(&binary).await.0, 200);
    let mut byte = [0u8; 1];
    for stream in &silent {
        assert!(
            stream.try_read(&mut byte).is_err(),
            "a connection was refused"
        );
    }
    assert_eq!(binary.count("Too many open files"), 0);
    assert_eq!(binary.count("accept failed"), 0);
}

/// With a hard limit of 128, the connection cap is lowered to fit (128 − 64 reserved): 100
/// half-open connections never exhaust descriptors; those past the cap get 503, the others
/// are closed at the header deadline, and health checks are answered again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_cannot_exhaust_descriptors() {
    enough_descriptors_here();
    let binary = start(with_descriptor_limits(
        churn_predict(&[("HEADER_TIMEOUT_MS", "1000")]),
        128,
        128,
    ));
    binary
        .wait_for_log(
            "MAX_CONNECTIONS lowered to fit the file-descriptor limit",
            1,
        )
        .await;
    let mut silent = Vec::new();
    for _ in 0..100 {
        silent.push(TcpStream::connect(binary.address).await.unwrap());
    }
    let mut refused = 0;
    for stream in &mut silent {
        let answer = read_until_closed(stream).await;
        if let Outcome::Status(503, _) = parse(&answer) {
            refused += 1;
        }
    }
    assert!(
        refused >= 100 - 64,
        "only {refused} of 100 refused at a cap of 64"
    );
    assert_eq!(healthz(&binary).await.0, 200);
    assert_eq!(binary.count("Too many open files"), 0);
    assert_eq!(binary.count("accept failed"), 0);
}

// ---------------------------------------------------------------------------------------------
// Finding 8: a restart under load

#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    answered: AtomicU64,
    failed: AtomicU64,
    /// Answers to requests sent after the drain was seen, and how many said `Connection: close`.
    after_drain: AtomicU64,
    closing: AtomicU64,
    errors: Mutex<Vec<String>>,
}

/// Sixteen keep-alive clients send predictions back to back; SIGTERM arrives. The test plays
/// the load balancer: it polls `/healthz` until it answers 503, lets every client send a few
/// more requests (its deregistration delay), then stops sending. Every request sent is
/// answered (none "closed before message completed"), answers during the drain carry
/// `Connection: close`, and the server then exits cleanly. Before, 10–14 were lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_request() {
    let mut binary = start(churn_predict(&[("DRAIN_SECONDS", "4")]));
    let tally = Arc::new(Tally::default());
    let drain_seen = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..16 {
        let (tally, drain_seen, url) = (tally.clone(), drain_seen.clone(), binary.url("/predict"));
        clients.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            let mut after = 0;
            // The balancer's deregistration delay: three more requests once it saw the drain.
            while after < 3 {
                let draining = drain_seen.load(Ordering::SeqCst);
                tally.sent.fetch_add(1, Ordering::SeqCst);
                let sent = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(predict_body())
                    .send()
                    .await;
                match sent {
                    Ok(response) => {
                        let closing = response
                            .headers()
                            .get("connection")
                            .is_some_and(|v| v == "close");
                        let status = response.status().as_u16();
                        let body = response.text().await.unwrap_or_default();
                        if status == 200 && body.contains("Will Not Exit") {
                            tally.answered.fetch_add(1, Ordering::SeqCst);
                        } else {
                            tally.failed.fetch_add(1, Ordering::SeqCst);
                            tally
                                .errors
                                .lock()
                                .unwrap()
                                .push(format!("{status}: {body}"));
                        }
                        if draining {
                            after += 1;
                            tally.after_drain.fetch_add(1, Ordering::SeqCst);
                            tally
                                .closing
                                .fetch_add(u64::from(closing), Ordering::SeqCst);
                        }
                    }
                    Err(e) => {
                        tally.failed.fetch_add(1, Ordering::SeqCst);
                        tally.errors.lock().unwrap().push(format!("{e:?}"));
                        return;
                    }
                }
            }
        }));
    }
    // Under way: every client has been answered a few times on its kept-alive connection.
    let started = Instant::now();
    while tally.answered.load(Ordering::SeqCst) < 16 * 5 {
        assert!(
            started.elapsed() < HANG,
            "the clients are not being answered"
        );
        assert_eq!(tally.failed.load(Ordering::SeqCst), 0, "{:?}", tally.errors);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // SAFETY: a signal to our own child.
    assert_eq!(unsafe { libc::kill(binary.pid() as i32, libc::SIGTERM) }, 0);
    let unready = until_healthz(&binary, 503).await;
    assert_eq!(unready["error"], "not ready: draining", "{unready}");
    drain_seen.store(true, Ordering::SeqCst);
    for client in clients {
        tokio::time::timeout(HANG, client).await.unwrap().unwrap();
    }

    let (sent, answered) = (
        tally.sent.load(Ordering::SeqCst),
        tally.answered.load(Ordering::SeqCst),
    );
    println!("sent {sent}, answered {answered}");
    assert_eq!(
        tally.failed.load(Ordering::SeqCst),
        0,
        "{:#?}",
        tally.errors
    );
    assert_eq!(sent, answered);
    let after = tally.after_drain.load(Ordering::SeqCst);
    assert!(after >= 16 * 3);
    assert_eq!(
        tally.closing.load(Ordering::SeqCst),
        after,
        "answers in the drain say close"
    );
    assert!(binary.exit_status().await.success());
    assert_eq!(binary.count("shutting down: health checks answer 503"), 1);
}

// ---------------------------------------------------------------------------------------------
// Finding 3: health checks tell the truth

/// A SageMaker endpoint that holds every call until released.
#[derive(Clone, Default)]
struct HangingEndpoint {
    arrived: Arc<AtomicU64>,
    release: Arc<tokio::sync::Notify>,
    released: Arc<AtomicBool>,
}

async fn hang(axum::extract::State(endpoint): axum::extract::State<HangingEndpoint>) -> String {
    endpoint.arrived.fetch_add(1, Ordering::SeqCst);
    while !endpoint.released.load(Ordering::SeqCst) {
        let notified = endpoint.release.notified();
        if endpoint.released.load(Ordering::SeqCst) {
            break;
        }
        notified.await;
    }
    "0.25\n".to_owned()
}

/// Both request slots are stuck on a SageMaker endpoint that does not answer: predictions are
/// shed with 503, and once no slot has freed for a while `/healthz` says `saturated` (503),
/// so a load balancer stops sending; when the endpoint answers, it is ready again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_say_saturated_while_every_slot_is_stuck() {
    let endpoint = HangingEndpoint::default();
    let app = axum::Router::new()
        .route("/endpoints/{name}/invocations", axum::routing::post(hang))
        .with_state(endpoint.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let binary = start(churn_predict(&[
        ("ENDPOINT_NAME", "churn"),
        ("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", &endpoint_url),
        ("SAGEMAKER_TIMEOUT_MS", "60000"),
        ("REQUEST_TIMEOUT_MS", "60000"),
        ("MAX_CONCURRENT_REQUESTS", "2"),
    ]));
    assert_eq!(healthz(&binary).await.0, 200);
    let mut stuck = Vec::new();
    for _ in 0..2 {
        let url = binary.url("/predict");
        stuck.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .body(predict_body())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let started = Instant::now();
    while endpoint.arrived.load(Ordering::SeqCst) < 2 {
        assert!(
            started.elapsed() < HANG,
            "the predictions never reached the endpoint"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let shed = reqwest::Client::new()
        .post(binary.url("/predict"))
        .header("content-type", "application/json")
        .body(predict_body())
        .send()
        .await
        .unwrap();
    assert_eq!(shed.status(), 503);
    assert_eq!(shed.headers()["retry-after"], "1");
    let unready = until_healthz(&binary, 503).await;
    assert_eq!(unready["error"], "not ready: saturated", "{unready}");
    let ping = reqwest::get(binary.url("/ping")).await.unwrap();
    assert_eq!(ping.status(), 503, "SageMaker's health check says the same");

    endpoint.released.store(true, Ordering::SeqCst);
    endpoint.release.notify_waiters();
    for request in stuck {
        assert_eq!(
            tokio::time::timeout(HANG, request).await.unwrap().unwrap(),
            200
        );
    }
    until_healthz(&binary, 200).await;
}

// ---------------------------------------------------------------------------------------------
// Finding 10: keys, logs, the cross-site guard

const KEY: &str = "resilience-key-0123456789";

async fn keyed(client: &reqwest::Client, url: &str, key: &str, forwarded: Option<&str>) -> u16 {
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-api-key", key)
        .body(predict_body());
    if let Some(address) = forwarded {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.unwrap().status().as_u16()
}

/// Wrong keys are counted per client address: past the allowance the address gets 429 for
/// any key, while another address (a second loopback address, or behind a trusted proxy a
/// second `X-Forwarded-For` client) is untouched.
#[tokio::test]
async fn wrong_keys_are_throttled_per_client_address() {
    let app = spawn_app_with(|s| {
        s.api_keys = Some(ApiKeyList(vec![KEY.into()]));
        s.key_failures_per_minute = 3;
    })
    .await;
    let url = app.url("/predict");
    let here = reqwest::Client::builder()
        .local_address(localhost(1))
        .build()
        .unwrap();
    let there = reqwest::Client::builder()
        .local_address(localhost(2))
        .build()
        .unwrap();
    for _ in 0..3 {
        assert_eq!(
            keyed(&here, &url, "guess-0123456789abcdef", None).await,
            403
        );
    }
    let throttled = here
        .post(&url)
        .header("x-api-key", "guess-0123456789abcdef")
        .send()
        .await
        .unwrap();
    assert_eq!(throttled.status(), 429);
    let wait: u64 = header(&throttled, "retry-after").parse().unwrap();
    assert!((1..=20).contains(&wait), "{wait}");
    assert_eq!(
        keyed(&here, &url, KEY, None).await,
        429,
        "even a right key waits"
    );
    assert_eq!(keyed(&there, &url, KEY, None).await, 200);
    assert_eq!(
        keyed(&there, &url, "guess-0123456789abcdef", None).await,
        403
    );

    // Behind one trusted proxy, the client is the address it appended.
    let proxied = spawn_app_with(|s| {
        s.api_keys = Some(ApiKeyList(vec![KEY.into()]));
        s.key_failures_per_minute = 3;
        s.trusted_proxy_hops = 1;
    })
    .await;
    let url = proxied.url("/predict");
    let client = reqwest::Client::new();
    for _ in 0..3 {
        assert_eq!(
            keyed(&client, &url, "guess-0123456789abcdef", Some("203.0.113.9")).await,
            403
        );
    }
    assert_eq!(
        keyed(&client, &url, KEY, Some("6.6.6.6, 203.0.113.9")).await,
        429
    );
    assert_eq!(keyed(&client, &url, KEY, Some("203.0.113.10")).await, 200);
}

/// A key under 16 characters stops start-up with an error that names its position only.
#[test]
fn a_short_api_key_stops_start_up() {
    let output = churn_predict(&[("API_KEYS", "long-enough-key-0123,tiny-key")])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        printed.contains("key 2 has fewer than 16 characters"),
        "{printed}"
    );
    assert!(!printed.contains("tiny-key"), "{printed}");
}

/// A path with an encoded newline and terminal escape ends up in the debug log as an endpoint
/// name: it stays on its line, escaped, and the text log has no colour codes off a terminal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crafted_path_cannot_forge_log_lines_or_write_escape_codes() {
    let binary = start(churn_predict(&[
        ("LOG_FORMAT", "text"),
        ("RUST_LOG", "debug"),
    ]));
    let response = reqwest::Client::new()
        .post(
            binary.url("/endpoints/x%0a2026-01-01T00:00:00Z%20ERROR%20forged%1b%5b31m/invocations"),
        )
        .header("content-type", "text/csv")
        .body("670,1,38,7,0.0,2,1,1,77864.41,1,0,0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    binary.wait_for_log("InvokeEndpoint", 1).await;
    let log = binary.log.lock().unwrap().clone();
    let line = log.iter().find(|l| l.contains("InvokeEndpoint")).unwrap();
    assert!(
        line.contains(r#"endpoint="x\n2026-01-01T00:00:00Z ERROR forged\u{1b}[31m""#),
        "{line}"
    );
    assert!(
        log.iter()
            .all(|l| !l.contains("forged") || l.contains("endpoint=")),
        "{log:#?}"
    );
    assert!(
        log.iter().all(|l| !l.contains('\u{1b}')),
        "colour or escape codes: {log:#?}"
    );
}

/// The form's cross-site guard compares the scheme too: an `https://` page of our own host is
/// another origin to the plain-HTTP server, and ours once a trusted TLS proxy says https.
#[tokio::test]
async fn the_cross_site_guard_checks_the_origins_scheme() {
    let form_post = |app: &crate::helpers::TestApp, origin: String, proto: Option<&'static str>| {
        let mut request = app
            .client
            .post(app.url("/api/predict-form"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", origin)
            .body("submitted=x");
        if let Some(proto) = proto {
            request = request.header("x-forwarded-proto", proto);
        }
        request.send()
    };
    let plain = spawn_app_with(|_| {}).await;
    let host = plain.address;
    let refused = form_post(&plain, format!("https://{host}"), Some("https"))
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        403,
        "X-Forwarded-Proto from an untrusted peer is ignored"
    );
    let ours = form_post(&plain, format!("http://{host}"), None)
        .await
        .unwrap();
    assert_ne!(ours.status(), 403);

    let proxied = spawn_app_with(|s| s.trusted_proxy_hops = 1).await;
    let host = proxied.address;
    let ours = form_post(&proxied, format!("https://{host}"), Some("https"))
        .await
        .unwrap();
    assert_ne!(ours.status(), 403, "https behind a trusted TLS proxy");
    let refused = form_post(&proxied, format!("http://{host}"), Some("https"))
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        403,
        "an http page posting to the https site"
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 1: error answers never amplify the request

/// The largest error answer allowed, whatever was sent.
const MAX_ERROR_ANSWER: usize = 64 * 1024;
/// The peak memory allowed through any one hostile request within the body limits.
const MAX_PEAK_RSS_KIB: u64 = 160 * 1024;

/// `{"customer": {"k0": 0, "k1": 0, …}}` of about `bytes` bytes: every key unknown.
fn unknown_keys(bytes: usize) -> String {
    let mut body = String::with_capacity(bytes + 64);
    body.push_str(r#"{"customer": {"#);
    let mut i = 0;
    while body.len() < bytes {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!(r#""k{i}":0"#));
        i += 1;
    }
    body.push_str("}}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_small_answers_and_memory_stays_bounded() {
    // Arrange: the real binary with its default limits (1 MiB JSON, 6 MB /invocations).
    let binary = start(churn_predict(&[]));
    let start_hwm = binary.memory_kib("VmHWM");
    let client = reqwest::Client::new();
    let batch_of_bad_rows = {
        let row = format!("[{}]", [r#""xxxxxxxxxx""#; 12].join(","));
        format!(r#"{{"instances": [{}]}}"#, vec![row; 1000].join(","))
    };
    let cases: Vec<(&str, &str, &str, String)> = vec![
        (
            "100,000 unknown keys",
            "/predict",
            "application/json",
            unknown_keys(1_000_000),
        ),
        (
            "600,000 unknown keys",
            "/invocations",
            "application/json",
            unknown_keys(6_000_000),
        ),
        (
            "a 6 MB CSV cell",
            "/invocations",
            "text/csv",
            format!("{}\n", "x".repeat(6_000_000)),
        ),
        (
            "a 1 MB key",
            "/predict",
            "application/json",
            format!(r#"{{"{}": 1}}"#, "k".repeat(1_000_000)),
        ),
        (
            "a 1 MB field value",
            "/predict",
            "application/json",
            format!(
                r#"{{"customer": {{"geography": "{}"}}}}"#,
                "x".repeat(1_000_000)
            ),
        ),
        (
            "1,000 rows of 12 bad values",
            "/predict",
            "application/json",
            batch_of_bad_rows,
        ),
        (
            "huge numbers",
            "/predict",
            "application/json",
            format!(r#"{{"data": [{}]}}"#, ["1e300"; 12].join(",")),
        ),
    ];
    for (what, path, content_type, body) in cases {
        // Act
        let response = client
            .post(binary.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let answer = response.bytes().await.unwrap();
        // Assert: a client error, and small, whatever was sent.
        assert!((400..500).contains(&status), "{what}: {status}");
        assert!(
            answer.len() < MAX_ERROR_ANSWER,
            "{what}: a {} byte answer",
            answer.len()
        );
    }
    let hwm = binary.memory_kib("VmHWM");
    println!("VmHWM {start_hwm} KiB at start, {hwm} KiB after the hostile requests");
    assert!(hwm < MAX_PEAK_RSS_KIB, "peak RSS {hwm} KiB");
}

// ---------------------------------------------------------------------------------------------
// A fault of ours

/// A handler that panics (here, a backend that does for batches of two) answers 500 with the
/// fixed public text and the request id, with the security headers, is counted in the metrics,
/// and the server goes on answering: one request's fault is not the connection's or the
/// process's.
#[tokio::test]
async fn a_handler_that_panics_answers_500_with_its_request_id_and_the_server_goes_on() {
    use model::Backend;
    use model::scoring::FnScorer;
    use server::testing::TestServer;

    let scorer = FnScorer::new("stub:panics-on-two", 0.5, |rows| {
        assert!(rows.len() != 2, "a deliberate bug for batches of two");
        Ok(vec![0.25; rows.len()])
    });
    let server = TestServer::start_with_backend(Backend {
        scorer: Arc::new(scorer),
        explainer: None,
    })
    .await;
    let client = reqwest::Client::new();
    let two = serde_json::json!({"customers": [sample_named(), sample_named()]}).to_string();
    let response = client
        .post(server.url("/predict"))
        .header("content-type", "application/json")
        .header("x-request-id", "panic-probe-1")
        .body(two)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let headers = response.headers().clone();
    assert_eq!(headers["x-request-id"], "panic-probe-1");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers.contains_key("content-security-policy"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["kind"], "internal_error", "{body}");
    assert_eq!(body["request_id"], "panic-probe-1", "{body}");
    let text = body["error"].as_str().unwrap();
    assert!(
        !text.contains("deliberate"),
        "the panic's words stay in the log: {text}"
    );

    let (status, answer) = {
        let response = client
            .post(server.url("/predict"))
            .header("content-type", "application/json")
            .body(sample_data_body())
            .send()
            .await
            .unwrap();
        (
            response.status(),
            response.json::<serde_json::Value>().await.unwrap(),
        )
    };
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["probability"], 0.25);

    let metrics = client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("http_requests_total")
                && line.contains("route=\"/predict\"")
                && line.contains("status=\"500\"")),
        "{metrics}"
    );
}
