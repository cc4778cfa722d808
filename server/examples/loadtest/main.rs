//! Load test: starts the release server with an API key (or targets `--url`), drives it with
//! 64 connections for 15 s, and reports throughput, latency, errors and memory.
//!
//! ```sh
//! cargo build --release -p server --bin churn-predict
//! cargo run --release -p server --example loadtest -- --duration 15 --connections 64
//! ```
//! Options: `--duration SECS` (15), `--connections N` (64), `--server PATH`
//! (target/release/churn-predict), or `--url http://HOST:PORT [--api-key KEY]` for a server
//! already running (valid answers are checked against the bundled model).

mod loadgen;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const KEY: &str = "loadtest-key-0123456789abcdef";

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let duration = Duration::from_secs(arg(&args, "--duration").map_or(Ok(15), |s| s.parse())?);
    let connections: usize = arg(&args, "--connections").map_or(Ok(64), |s| s.parse())?;

    let (base, api_key, mut child) = match arg(&args, "--url") {
        Some(url) => (url, arg(&args, "--api-key"), None),
        None => {
            let server = arg(&args, "--server").unwrap_or_else(|| {
                concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../target/release/churn-predict"
                )
                .to_owned()
            });
            // A free port: bind, read, release.
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let child = Command::new(&server)
                .env("HOST", "127.0.0.1")
                .env("PORT", port.to_string())
                .env("API_KEYS", KEY)
                // The usage plan is not under test here: let the key through.
                .env("RATE_LIMIT_PER_SECOND", "1000000")
                .env("RATE_LIMIT_BURST", "1000000")
                // Its wrong keys all come from 127.0.0.1: not a guesser to throttle.
                .env("KEY_FAILURES_PER_MINUTE", "1000000")
                .env("LOG_FORMAT", "json")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| {
                    anyhow::anyhow!("starting {server}: {e} (build it with cargo build --release)")
                })?;
            (
                format!("http://127.0.0.1:{port}"),
                Some(KEY.to_owned()),
                Some(child),
            )
        }
    };
    wait_healthy(&base).await?;
    let pid = child.as_ref().map(std::process::Child::id);
    let rss_start = pid.and_then(loadgen::rss_kib);

    // Sample memory once a second during the run, keeping the peak.
    // The first sample (after 1 s under load) is the baseline for "flat": idle RSS before it
    // grows once for the connections' buffers.
    let peak = std::sync::Arc::new(AtomicU64::new(rss_start.unwrap_or(0)));
    let first = std::sync::Arc::new(AtomicU64::new(0));
    let sampler = pid.map(|pid| {
        let (peak, first) = (peak.clone(), first.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if let Some(kib) = loadgen::rss_kib(pid) {
                    peak.fetch_max(kib, Ordering::Relaxed);
                    let _ = first.compare_exchange(0, kib, Ordering::Relaxed, Ordering::Relaxed);
                }
            }
        })
    });

    println!("load: {connections} connections for {duration:?} against {base}");
    let report = loadgen::run(loadgen::Config {
        base: base.clone(),
        api_key,
        connections,
        duration,
    })
    .await;
    let rss_end = pid.and_then(loadgen::rss_kib);
    println!("{}", report.summary());
    if let Some(sampler) = sampler {
        sampler.abort();
    }
    if let (Some(start), Some(end)) = (rss_start, rss_end) {
        let peak = peak.load(Ordering::Relaxed).max(end);
        let first = first.load(Ordering::Relaxed);
        println!(
            "server RSS: {start} KiB idle, {first} KiB after 1 s of load, {end} KiB at the end \
             (peak {peak} KiB)"
        );
    }
    for problem in &report.problems {
        println!("  problem: {problem}");
    }
    if let Some(child) = child.as_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
    anyhow::ensure!(
        report.is_clean(),
        "5xx, dropped connections or wrong answers"
    );
    Ok(())
}

async fn wait_healthy(base: &str) -> anyhow::Result<()> {
    let url = format!("{base}/healthz");
    for _ in 0..100 {
        if let Ok(r) = reqwest::get(&url).await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("{url} never answered")
}
