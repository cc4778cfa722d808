//! A bounded load generator: `connections` workers, each sending requests back to back for
//! `duration`, mixing valid customers (checked against the embedded model's own answer),
//! invalid input (expects 422/400) and unauthenticated requests (expects 401/403).
//!
//! Shared by the `loadtest` example (full run against a release build) and the integration
//! test (a short run against an in-process server).

use std::time::{Duration, Instant};

use model::fields::Input;
use model::{Customer, Model};

pub struct Config {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// A valid key, or `None` when the server is open (then unauthenticated requests are
    /// skipped).
    pub api_key: Option<String>,
    pub connections: usize,
    pub duration: Duration,
}

#[derive(Default, Debug)]
pub struct Report {
    pub requests: u64,
    pub valid_ok: u64,
    pub invalid_refused: u64,
    pub unauthenticated_refused: u64,
    pub throttled: u64,
    pub server_errors: u64,
    pub connection_errors: u64,
    pub wrong_answers: u64,
    pub elapsed: Duration,
    /// Every request's latency, sorted.
    pub latencies: Vec<Duration>,
    /// The first few problems, for the report.
    pub problems: Vec<String>,
}

impl Report {
    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        self.latencies[i]
    }

    /// No 5xx, no dropped connection, no wrong answer.
    pub fn is_clean(&self) -> bool {
        self.server_errors == 0 && self.connection_errors == 0 && self.wrong_answers == 0
    }

    fn merge(&mut self, other: Report) {
        self.requests += other.requests;
        self.valid_ok += other.valid_ok;
        self.invalid_refused += other.invalid_refused;
        self.unauthenticated_refused += other.unauthenticated_refused;
        self.throttled += other.throttled;
        self.server_errors += other.server_errors;
        self.connection_errors += other.connection_errors;
        self.wrong_answers += other.wrong_answers;
        self.latencies.extend(other.latencies);
        for p in other.problems {
            if self.problems.len() < 10 {
                self.problems.push(p);
            }
        }
    }

    pub fn summary(&self) -> String {
        format!(
            "{} requests in {:.1} s = {:.0} req/s; p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms\n\
             valid answered correctly {}, invalid refused {}, unauthenticated refused {}, \
             throttled {}\n5xx {}, connection errors {}, wrong answers {}",
            self.requests,
            self.elapsed.as_secs_f64(),
            self.requests_per_second(),
            self.percentile(0.50).as_secs_f64() * 1000.0,
            self.percentile(0.99).as_secs_f64() * 1000.0,
            self.percentile(1.0).as_secs_f64() * 1000.0,
            self.valid_ok,
            self.invalid_refused,
            self.unauthenticated_refused,
            self.throttled,
            self.server_errors,
            self.connection_errors,
            self.wrong_answers,
        )
    }
}

/// xorshift64*: reproducible customers without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

/// A random valid customer as the original contract's 12 numbers.
fn random_vector(rng: &mut Rng) -> [f64; 12] {
    let geography = rng.range(0, 2) as usize;
    let mut v = [
        rng.range(350, 850) as f64,
        rng.range(0, 1) as f64,
        rng.range(18, 92) as f64,
        rng.range(0, 10) as f64,
        rng.range(0, 25_000_000) as f64 / 100.0,
        rng.range(1, 4) as f64,
        rng.range(0, 1) as f64,
        rng.range(0, 1) as f64,
        rng.range(1_000, 20_000_000) as f64 / 100.0,
        0.0,
        0.0,
        0.0,
    ];
    v[9 + geography] = 1.0;
    v
}

enum Kind {
    Valid {
        label: &'static str,
        probability: f64,
        body: String,
    },
    Invalid,
    Unauthenticated,
}

async fn worker(config: &Config, model: &Model, seed: u64) -> Report {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .expect("a client");
    let url = format!("{}/predict", config.base);
    let mut rng = Rng(seed | 1);
    let mut report = Report::default();
    let deadline = Instant::now() + config.duration;
    let mut n: u64 = 0;
    while Instant::now() < deadline {
        n += 1;
        let slot = n % 10;
        let (kind, body, key) = if slot < 7 || (slot == 9 && config.api_key.is_none()) {
            let vector = random_vector(&mut rng);
            let inputs: Vec<Input<'_>> = vector.iter().map(|&x| Input::Number(x)).collect();
            let customer = Customer::from_vector(&inputs, model::fields::At::named("data"))
                .expect("a valid customer");
            let p = model.predict_one(&customer);
            let body = serde_json::json!({ "data": vector }).to_string();
            let kind = Kind::Valid {
                label: p.label.as_str(),
                probability: p.probability,
                body: body.clone(),
            };
            (kind, body, config.api_key.clone())
        } else if slot < 9 {
            let body = if slot == 7 {
                // Age 17: refused with 422.
                r#"{"data": [600, 1, 17, 3, 0, 1, 1, 1, 50000, 1, 0, 0]}"#.to_owned()
            } else {
                r#"{"data": [600, 1, "#.to_owned()
            };
            (Kind::Invalid, body, config.api_key.clone())
        } else {
            let key = (n % 20 == 9).then(|| "not-a-key".to_owned());
            (Kind::Unauthenticated, r#"{"data": []}"#.to_owned(), key)
        };
        let mut request = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        let started = Instant::now();
        let outcome = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                response.bytes().await.map(|b| (status, b))
            }
            Err(e) => Err(e),
        };
        report.latencies.push(started.elapsed());
        report.requests += 1;
        let (status, bytes) = match outcome {
            Ok(answer) => answer,
            Err(e) => {
                report.connection_errors += 1;
                report.problems.push(format!("connection: {e}"));
                continue;
            }
        };
        if status >= 500 {
            report.server_errors += 1;
            report
                .problems
                .push(format!("{status}: {}", String::from_utf8_lossy(&bytes)));
            continue;
        }
        if status == 429 {
            report.throttled += 1;
            continue;
        }
        let correct = match kind {
            Kind::Valid {
                label,
                probability,
                body,
            } => {
                let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
                let ok = status == 200
                    && answer["result"] == label
                    && answer["probability"].as_f64() == Some(probability);
                report.valid_ok += u64::from(ok);
                if !ok {
                    report
                        .problems
                        .push(format!("for {body} expected {label} {probability}"));
                }
                ok
            }
            Kind::Invalid => {
                let ok = status == 422 || status == 400;
                report.invalid_refused += u64::from(ok);
                ok
            }
            Kind::Unauthenticated => {
                let ok = status == 401 || status == 403;
                report.unauthenticated_refused += u64::from(ok);
                ok
            }
        };
        if !correct {
            report.wrong_answers += 1;
            report.problems.push(format!(
                "wrong answer {status}: {}",
                String::from_utf8_lossy(&bytes)
            ));
        }
    }
    report.problems.truncate(10);
    report
}

/// Runs the load and returns the merged report.
pub async fn run(config: Config) -> Report {
    let config = std::sync::Arc::new(config);
    let model = std::sync::Arc::new(Model::bundled().expect("the bundled model"));
    let started = Instant::now();
    let workers: Vec<_> = (0..config.connections)
        .map(|i| {
            let config = config.clone();
            let model = model.clone();
            tokio::spawn(
                async move { worker(&config, &model, 0x9E37_79B9_7F4A_7C15 ^ i as u64).await },
            )
        })
        .collect();
    let mut report = Report::default();
    for w in workers {
        report.merge(w.await.expect("a worker"));
    }
    report.elapsed = started.elapsed();
    report.latencies.sort_unstable();
    report
}

/// Resident memory of a process, in KiB (Linux `/proc`), if readable.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
