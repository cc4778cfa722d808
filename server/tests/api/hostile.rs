//! A hostile battery over raw TCP: each attack gets a correct answer (or a closed connection
//! where HTTP allows nothing better), and the server stays healthy for everyone else.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, spawn_app_with};

/// What came back on a raw connection.
#[derive(Debug, PartialEq)]
pub(crate) enum Outcome {
    Status(u16, String),
    Closed,
}

/// Sends `head` and then `body` (written concurrently, errors ignored: the server may answer
/// and close before reading it all) and reads the answer, within `limit`.
pub(crate) async fn exchange(
    address: SocketAddr,
    head: Vec<u8>,
    body: Vec<u8>,
    limit: Duration,
) -> Outcome {
    let stream = TcpStream::connect(address).await.expect("connects");
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        let _ = writer.write_all(&head).await;
        let _ = writer.write_all(&body).await;
        // Keep the write half open until the server has answered.
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(writer);
    });
    let mut answer = Vec::new();
    let mut buffer = [0u8; 8192];
    let read = tokio::time::timeout(limit, async {
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buffer[..n]);
                    if complete(&answer) {
                        break;
                    }
                }
            }
        }
    })
    .await;
    writing.abort();
    assert!(read.is_ok(), "no answer within {limit:?}");
    parse(&answer)
}

/// A full response: headers plus `content-length` bytes.
fn complete(answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    body.len() >= length
}

pub(crate) fn parse(answer: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(answer);
    let Some(status) = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
    else {
        return Outcome::Closed;
    };
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Outcome::Status(status, body.to_owned())
}

pub(crate) fn post_head(path: &str, content_type: &str, length: usize) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nhost: test\r\ncontent-type: {content_type}\r\n\
         content-length: {length}\r\nconnection: close\r\n\r\n"
    )
    .into_bytes()
}

async fn assert_healthy(app: &TestApp) {
    let response = tokio::time::timeout(
        Duration::from_secs(2),
        app.client.get(app.url("/healthz")).send(),
    )
    .await
    .expect("healthz answers promptly")
    .expect("healthz answers");
    assert_eq!(response.status(), 200);
}

/// A name, the request head, its body, and the statuses that are correct answers.
type Attack = (&'static str, Vec<u8>, Vec<u8>, &'static [u16]);

#[tokio::test]
async fn every_attack_gets_a_correct_answer_and_the_server_stays_healthy() {
    let app = spawn_app_with(|s| s.request_timeout_ms = 2_000).await;
    let limit = Duration::from_secs(10);
    let ten_mb = vec![b'1'; 10 * 1024 * 1024];
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let big_number = format!(
        r#"{{"data": [{}, 1, 38, 7, 0, 2, 1, 1, 1, 1, 0, 0]}}"#,
        "9".repeat(5000)
    );
    let json = "application/json";
    #[rustfmt::skip]
    let cases: Vec<Attack> = vec![
        ("malformed JSON", post_head("/predict", json, 9), b"{\"data\": ".to_vec(), &[400]),
        ("a 5000-digit number", post_head("/predict", json, big_number.len()), big_number.clone().into_bytes(), &[400]),
        ("1e400", post_head("/predict", json, 51), br#"{"data": [1e400, 1, 38, 7, 0, 2, 1, 1, 1, 1, 0, 0]}"#.to_vec(), &[400]),
        ("100k-deep nesting", post_head("/predict", json, deep.len()), deep.clone().into_bytes(), &[400]),
        ("10 MB declared body", post_head("/predict", json, ten_mb.len()), ten_mb.clone(), &[413]),
        ("10 MB chunked body", b"POST /predict HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n".to_vec(),
            [format!("{:x}\r\n", ten_mb.len()).into_bytes(), ten_mb.clone(), b"\r\n0\r\n\r\n".to_vec()].concat(), &[413]),
        ("text/plain", post_head("/predict", "text/plain", 2), b"{}".to_vec(), &[415]),
        ("multipart", post_head("/predict", "multipart/form-data; boundary=x", 2), b"{}".to_vec(), &[415]),
        ("invalid UTF-8 body", post_head("/predict", json, 4), vec![0xff, 0xfe, 0x00, 0x80], &[400]),
        ("unicode garbage keys", post_head("/predict", json, "{\"\u{202e}\u{0}\u{fffd}\": [\"\u{1F4A9}\"]}".len()),
            "{\"\u{202e}\u{0}\u{fffd}\": [\"\u{1F4A9}\"]}".as_bytes().to_vec(), &[400]),
        ("an escaped NUL as a field name", post_head("/predict", json, 27), br#"{"customer": {"\u0000": 1}}"#.to_vec(), &[422]),
        ("a lone surrogate", post_head("/predict", json, 22), br#"{"customer": "\ud800"}"#.to_vec(), &[400]),
        ("percent-encoded garbage path", b"GET /%ff%00%2e%2e/%c0%af HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n".to_vec(), vec![], &[404]),
        ("non-UTF-8 header value", b"GET /healthz HTTP/1.1\r\nhost: t\r\nx-junk: \xff\xfe\r\nconnection: close\r\n\r\n".to_vec(), vec![], &[200]),
        ("garbage request line", b"\x00\x01\x02 GARBAGE\r\n\r\n".to_vec(), vec![], &[400]),
        ("absurd content-length", b"POST /predict HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: 99999999999999999999999\r\n\r\n".to_vec(), vec![], &[400]),
        ("both content-length and chunked", b"POST /predict HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(), vec![], &[400]),
        ("10k headers", [b"GET /healthz HTTP/1.1\r\nhost: t\r\n".to_vec(), (0..10_000).flat_map(|i| format!("x-h{i}: v\r\n").into_bytes()).collect(), b"\r\n".to_vec()].concat(), vec![], &[431]),
        ("a 1 MB header", [b"GET /healthz HTTP/1.1\r\nhost: t\r\nx-big: ".to_vec(), vec![b'a'; 1024 * 1024], b"\r\n\r\n".to_vec()].concat(), vec![], &[431]),
        ("a 1 MB API key", [b"POST /predict HTTP/1.1\r\nhost: t\r\nx-api-key: ".to_vec(), vec![b'k'; 1024 * 1024], b"\r\n\r\n".to_vec()].concat(), vec![], &[431]),
    ];
    for (attack, head, body, expected) in cases {
        let outcome = exchange(app.address, head, body, limit).await;
        match &outcome {
            // hyper may refuse a broken request by closing rather than answering: also correct.
            Outcome::Closed if expected.iter().all(|s| (400..500).contains(s) && *s != 413) => {}
            Outcome::Status(status, body) => {
                assert!(
                    expected.contains(status),
                    "{attack}: got {status}, expected {expected:?}: {body}"
                );
                if *status != 431 && *status != 400 || body.starts_with('{') {
                    // Our own answers are JSON; hyper's protocol-level refusals have no body.
                    assert!(
                        body.is_empty() || serde_json::from_str::<serde_json::Value>(body).is_ok(),
                        "{attack}: body is not JSON: {body}"
                    );
                }
            }
            Outcome::Closed => panic!("{attack}: connection closed, expected {expected:?}"),
        }
        assert_healthy(&app).await;
    }
}

#[tokio::test]
async fn a_slow_loris_body_is_cut_off_with_408_while_others_are_served() {
    // Arrange: a 1 s request deadline; a client that sends its headers, then a byte every 100 ms.
    let app = spawn_app_with(|s| s.request_timeout_ms = 1_000).await;
    let stream = TcpStream::connect(app.address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    writer
        .write_all(&post_head("/predict", "application/json", 10_000))
        .await
        .unwrap();
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            if writer.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    // Act: meanwhile, other clients are served promptly.
    for _ in 0..5 {
        assert_healthy(&app).await;
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), reader.read_to_end(&mut answer)).await;
    trickle.abort();

    // Assert: 408 in our shape (the trickle alone would last 10 s).
    assert!(read.is_ok(), "the server never cut the slow client off");
    match parse(&answer) {
        Outcome::Status(status, body) => {
            assert_eq!(status, 408, "{body}");
            assert!(body.contains("longer than 1000 ms"), "{body}");
        }
        Outcome::Closed => panic!("closed without an answer"),
    }
    assert_healthy(&app).await;
}

#[tokio::test]
async fn slow_headers_and_silent_connections_are_closed_at_the_deadline() {
    // Arrange: a 1 s header deadline; one client trickles its headers, another says nothing.
    let app = spawn_app_with(|s| s.header_timeout_ms = 1_000).await;
    let silent = TcpStream::connect(app.address).await.unwrap();
    let slow = TcpStream::connect(app.address).await.unwrap();
    let (mut slow_reader, mut slow_writer) = slow.into_split();
    let trickle = tokio::spawn(async move {
        let head = b"GET /healthz HTTP/1.1\r\nhost: t\r\nx-slow: ";
        let _ = slow_writer.write_all(head).await;
        for _ in 0..100 {
            if slow_writer.write_all(b"a").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    // Act: others are served meanwhile; both hostile connections end.
    for _ in 0..5 {
        assert_healthy(&app).await;
    }
    let mut rest = Vec::new();
    let slow_ended =
        tokio::time::timeout(Duration::from_secs(5), slow_reader.read_to_end(&mut rest)).await;
    trickle.abort();
    let (mut silent_reader, _silent_writer) = silent.into_split();
    let mut nothing = Vec::new();
    let silent_ended = tokio::time::timeout(
        Duration::from_secs(5),
        silent_reader.read_to_end(&mut nothing),
    )
    .await;

    // Assert: closed (hyper may answer 408 first), not held for the trickle's 10 s.
    assert!(
        slow_ended.is_ok(),
        "a slow-header client held its connection"
    );
    assert!(silent_ended.is_ok(), "a silent client held its connection");
    for answer in [&rest, &nothing] {
        assert!(
            answer.is_empty() || parse(answer) == Outcome::Status(408, String::new()),
            "{}",
            String::from_utf8_lossy(answer)
        );
    }
    assert_healthy(&app).await;
}

#[tokio::test]
async fn the_forms_server_function_refuses_big_bodies_and_bad_arguments_in_our_shape() {
    let app = spawn_app_with(|s| s.max_body_bytes = 1024).await;
    let limit = Duration::from_secs(10);
    let form = "application/x-www-form-urlencoded";
    let big = vec![b'a'; 64 * 1024];
    let chunked = b"POST /api/predict-form HTTP/1.1\r\nhost: test\r\n\
        content-type: application/x-www-form-urlencoded\r\ntransfer-encoding: chunked\r\n\
        connection: close\r\n\r\n";
    #[rustfmt::skip]
    let cases: Vec<Attack> = vec![
        ("a declared 64 kB body", post_head("/api/predict-form", form, big.len()), big.clone(), &[413]),
        ("a chunked 64 kB body", chunked.to_vec(),
            [format!("{:x}\r\n", big.len()).into_bytes(), big.clone(), b"\r\n0\r\n\r\n".to_vec()].concat(), &[413]),
        ("a flat argument", post_head("/api/predict-form", form, 11), b"submitted=x".to_vec(), &[400]),
        ("garbage", post_head("/api/predict-form", form, 6), vec![0xff, b'&', b'=', b'[', 0x00, b']'], &[400]),
        ("no arguments", post_head("/api/predict-form", form, 0), vec![], &[400]),
        ("JSON", post_head("/api/predict-form", "application/json", 2), b"{}".to_vec(), &[400]),
    ];
    for (attack, head, body, expected) in cases {
        match exchange(app.address, head, body, limit).await {
            Outcome::Status(status, body) => {
                assert!(expected.contains(&status), "{attack}: got {status}: {body}");
                let json: serde_json::Value = serde_json::from_str(&body)
                    .unwrap_or_else(|e| panic!("{attack}: not JSON ({e}): {body}"));
                assert!(json["error"].is_string(), "{attack}: {json}");
            }
            Outcome::Closed => panic!("{attack}: connection closed, expected {expected:?}"),
        }
        assert_healthy(&app).await;
    }
}
