//! A short, bounded load run against the real server: 64 connections for 5 s mixing valid,
//! invalid and unauthenticated requests. Asserts correctness only (no 5xx, no dropped
//! connection, every valid answer right), never timing: the figures depend on the machine.
//! The full run is `cargo run --release -p server --example loadtest`.

#[path = "../../examples/loadtest/loadgen.rs"]
mod loadgen;

use std::time::Duration;

use server::config::ApiKeyList;

use crate::helpers::spawn_app_with;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_connections_for_five_seconds_get_no_5xx_and_only_right_answers() {
    let key = "load-key-0123456789abcdef";
    let app = spawn_app_with(|s| {
        s.api_keys = Some(ApiKeyList(vec![key.into()]));
        s.rate_limit_per_second = 1_000_000;
        s.rate_limit_burst = 1_000_000;
        // The generator's wrong keys all come from 127.0.0.1: not a guesser to throttle here.
        s.key_failures_per_minute = 1_000_000;
    })
    .await;
    // In-process: this RSS includes the load generator; printed, not asserted.
    let rss_start = loadgen::rss_kib(std::process::id());
    let report = loadgen::run(loadgen::Config {
        base: format!("http://{}", app.address),
        api_key: Some(key.to_owned()),
        connections: 64,
        duration: Duration::from_secs(5),
    })
    .await;
    println!("{}", report.summary());
    println!(
        "test process RSS: {rss_start:?} KiB before, {:?} KiB after",
        loadgen::rss_kib(std::process::id())
    );
    assert!(
        report.is_clean(),
        "{}\n{:#?}",
        report.summary(),
        report.problems
    );
    assert!(
        report.valid_ok > 0 && report.invalid_refused > 0 && report.unauthenticated_refused > 0
    );
    assert_eq!(report.throttled, 0);
}
