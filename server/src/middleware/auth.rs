//! API keys and per-key throttling, as an API Gateway usage plan does them.
//!
//! - A key travels in the `x-api-key` header. No header → 401; a key that matches none → 403.
//!   Neither answer says anything about which keys exist.
//! - Keys are held only as SHA-256 digests. A presented key is hashed and its digest compared
//!   with every stored digest in constant time, so timing reveals neither a key nor its position.
//! - Each key has its own token bucket (`governor`): a steady rate and a burst. Over the limit →
//!   429 with `Retry-After`. Buckets are keyed by the key's *name*, never the key.
//! - **Guessing.** Wrong keys are counted per client address ([`super::client::Client`]): past
//!   KEY_FAILURES_PER_MINUTE (a leaky bucket: that many at once, then that many a minute),
//!   every key the address presents, right or wrong, is answered 429 with `Retry-After` until
//!   the bucket has leaked: were a right key still admitted, 200 against 429 would tell a
//!   guesser when it had found one. The price: clients sharing an address (a NAT) share the
//!   allowance. A missing key (401) is not a guess and is not counted.
//! - **Short keys.** API_KEYS keys under [`MIN_KEY_CHARS`] characters stop start-up. API_KEYS_FILE
//!   holds digests only, so its keys' lengths cannot be checked: make them long and random.
//!
//! Apply it with [`protect_predictions`] to the routes that predict; `/healthz`, `/metrics` and
//! the HTML form stay open (the form has its own cross-site protection).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::client::Client;
use crate::config::Settings;
use crate::error::ApiError;
use crate::state::AppState;

/// The header clients send their key in (API Gateway's name for it).
pub const API_KEY_HEADER: &str = "x-api-key";

/// Longest key worth hashing; API Gateway keys are 20–128 characters.
const MAX_KEY_BYTES: usize = 256;

/// Shortest key API_KEYS accepts (API Gateway's own minimum is 20).
pub const MIN_KEY_CHARS: usize = 16;

/// Wrong keys a client address may present a minute, unless configured.
const DEFAULT_FAILURES_PER_MINUTE: u32 = 30;

/// A key's name, for logs and metrics (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(pub Arc<str>);

struct Key {
    name: Arc<str>,
    digest: [u8; 32],
    limiter: DefaultDirectRateLimiter,
}

/// The configured keys and their buckets. `None` from [`ApiKeys::from_settings`] means the
/// server is open.
pub struct ApiKeys {
    keys: Vec<Key>,
    failures: FailureThrottle,
    /// Each bucket's size: the most tokens a request can ever spend at once.
    burst: u32,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.keys.iter().map(|k| &*k.name).collect();
        f.debug_struct("ApiKeys").field("names", &names).finish()
    }
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl ApiKeys {
    /// Reads API_KEYS or API_KEYS_FILE. Returns `None` (open server) when neither is set, and
    /// logs one warning saying so.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Option<Arc<ApiKeys>>> {
        let quota = Quota::per_second(
            NonZeroU32::new(settings.rate_limit_per_second).context("RATE_LIMIT_PER_SECOND")?,
        )
        .allow_burst(NonZeroU32::new(settings.rate_limit_burst).context("RATE_LIMIT_BURST")?);
        let named_digests = match (&settings.api_keys, &settings.api_keys_file) {
            (Some(_), Some(_)) => bail!("set API_KEYS or API_KEYS_FILE, not both"),
            (Some(list), None) => {
                if list.0.is_empty() {
                    bail!("API_KEYS is set but holds no key");
                }
                if let Some(n) = list
                    .0
                    .iter()
                    .position(|k| k.chars().count() < MIN_KEY_CHARS)
                {
                    // Names the key by position only: the error must not print a key.
                    bail!(
                        "API_KEYS: key {} has fewer than {MIN_KEY_CHARS} characters; use long \
                         random keys (e.g. `openssl rand -hex 24`)",
                        n + 1
                    );
                }
                // Development keys are named by position so logs can tell them apart.
                list.0
                    .iter()
                    .enumerate()
                    .map(|(i, key)| (format!("key{}", i + 1), sha256(key.as_bytes())))
                    .collect()
            }
            (None, Some(path)) => read_keys_file(path)?,
            (None, None) => {
                tracing::warn!(
                    "no API keys configured (API_KEYS / API_KEYS_FILE): prediction routes are \
                     open to anyone who can reach this server"
                );
                return Ok(None);
            }
        };
        let keys =
            ApiKeys::new(named_digests, quota).limit_failures(settings.key_failures_per_minute);
        tracing::info!(
            keys = keys.keys.len(),
            rate_per_second = settings.rate_limit_per_second,
            burst = settings.rate_limit_burst,
            key_failures_per_minute = settings.key_failures_per_minute,
            "API keys required on prediction routes"
        );
        Ok(Some(Arc::new(keys)))
    }

    pub fn new(named_digests: Vec<(String, [u8; 32])>, quota: Quota) -> ApiKeys {
        ApiKeys {
            burst: quota.burst_size().get(),
            keys: named_digests
                .into_iter()
                .map(|(name, digest)| Key {
                    name: name.into(),
                    digest,
                    limiter: RateLimiter::direct(quota),
                })
                .collect(),
            failures: FailureThrottle::new(DEFAULT_FAILURES_PER_MINUTE),
        }
    }

    /// Allows each client address `per_minute` wrong keys a minute (at least 1).
    pub fn limit_failures(mut self, per_minute: u32) -> ApiKeys {
        self.failures = FailureThrottle::new(per_minute);
        self
    }

    /// The key whose digest matches `presented`'s. Every stored digest is compared, in
    /// constant time, whether or not an earlier one matched.
    fn find(&self, presented: &[u8]) -> Option<&Key> {
        let digest = sha256(presented);
        let mut found = None;
        for key in &self.keys {
            if bool::from(key.digest.ct_eq(&digest)) {
                found = Some(key);
            }
        }
        found
    }

    /// Checks a request's key, from `client` (its [`Client::limit_key`]), and spends one token
    /// from the key's bucket. A client over its wrong-key allowance is refused before its key
    /// is looked at.
    pub fn admit(&self, header: Option<&[u8]>, client: IpAddr) -> Result<KeyName, ApiError> {
        let presented = header.ok_or(ApiError::Unauthorized)?;
        if presented.is_empty() {
            return Err(ApiError::Unauthorized);
        }
        if let Some(wait) = self.failures.blocked(client, Instant::now()) {
            return Err(throttled(wait));
        }
        let key = (presented.len() <= MAX_KEY_BYTES)
            .then(|| self.find(presented))
            .flatten();
        let Some(key) = key else {
            self.failures.record(client, Instant::now());
            return Err(ApiError::Forbidden);
        };
        key.limiter.check().map_err(|not_until| {
            throttled(not_until.wait_time_from(DefaultClock::default().now()))
        })?;
        Ok(KeyName(key.name.clone()))
    }
}

/// The admitted key's token bucket, in the request's extensions: for routes whose cost grows
/// with what they do (`POST /score` charges per rows, see `crate::api::score`).
#[derive(Clone)]
pub struct Bucket {
    keys: Arc<ApiKeys>,
    index: usize,
}

impl Bucket {
    /// The most tokens the bucket can ever hold.
    pub fn burst(&self) -> u32 {
        self.keys.burst
    }

    /// Charges a file of `rows` customers (`POST /score`, CSV `/invocations`): one token per
    /// `per_token` rows (rounded up, at least one; the price of the same rows sent as
    /// `POST /predict` batches), the first already taken at the door. More than the bucket can
    /// ever hold → 413 `too_many_rows`; not there yet → 429.
    pub fn charge_rows(&self, rows: u64, per_token: usize) -> Result<(), ApiError> {
        let per_token = per_token.max(1) as u64;
        let tokens = rows.div_ceil(per_token).max(1);
        let extra = u32::try_from(tokens - 1).unwrap_or(u32::MAX);
        self.charge(extra).map_err(|refusal| {
            refusal.unwrap_or(ApiError::TooManyRows {
                rows,
                tokens,
                per_token,
                max_rows: u64::from(self.burst()) * per_token,
            })
        })
    }

    /// Charges a request that explains or suggests levers for `customers` customers one token
    /// per customer: the middleware spent one, so `customers − 1` more are spent at once, but
    /// never more than a full bucket (RATE_LIMIT_BURST) in all, so a large batch waits for a
    /// full bucket rather than being refused for ever. Throttled: 429 with Retry-After.
    pub fn charge_per_customer(&self, customers: usize) -> Result<(), ApiError> {
        let more = customers
            .saturating_sub(1)
            .min(self.burst().saturating_sub(1) as usize);
        self.charge(u32::try_from(more).unwrap_or(u32::MAX))
            .map_err(|refusal| {
                refusal.unwrap_or(ApiError::Throttled {
                    retry_after_secs: 1,
                })
            })
    }

    /// Spends `tokens` more from the key's bucket: 429 with `Retry-After` when they are not
    /// there yet; `Err(None)` when the bucket can never hold that many (its burst is smaller).
    pub fn charge(&self, tokens: u32) -> Result<(), Option<ApiError>> {
        let Some(n) = NonZeroU32::new(tokens) else {
            return Ok(());
        };
        match self.keys.keys[self.index].limiter.check_n(n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(Some(throttled(
                not_until.wait_time_from(DefaultClock::default().now()),
            ))),
            Err(_insufficient_capacity) => Err(None),
        }
    }
}

/// 429, with the wait in whole seconds rounded up: `Retry-After: 0` would invite a hot loop.
fn throttled(wait: std::time::Duration) -> ApiError {
    ApiError::Throttled {
        retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
    }
}

/// Wrong keys per client address: a leaky bucket holding at most `per_minute` failures and
/// forgiving `per_minute` a minute.
struct FailureThrottle {
    per_minute: f64,
    clients: Mutex<Tracked>,
}

#[derive(Default)]
struct Tracked {
    /// Failures still owed (not yet forgiven) and when that was computed.
    owed: HashMap<IpAddr, (f64, Instant)>,
    last_sweep: Option<Instant>,
}

/// Addresses tracked at most (about 64 bytes each). Past it, forgiven ones are dropped; if all
/// still owe, new addresses share one bucket ([`OVERFLOW`]), which fills fast under a flood.
const MAX_TRACKED_CLIENTS: usize = 100_000;
const OVERFLOW: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

impl FailureThrottle {
    fn new(per_minute: u32) -> FailureThrottle {
        FailureThrottle {
            per_minute: f64::from(per_minute.max(1)),
            clients: Mutex::default(),
        }
    }

    fn per_second(&self) -> f64 {
        self.per_minute / 60.0
    }

    fn owed(&self, entry: Option<&(f64, Instant)>, now: Instant) -> f64 {
        entry.map_or(0.0, |(owed, at)| {
            (owed - now.saturating_duration_since(*at).as_secs_f64() * self.per_second()).max(0.0)
        })
    }

    /// How long `client` must wait before its next key is looked at, if it must.
    fn blocked(&self, client: IpAddr, now: Instant) -> Option<Duration> {
        let tracked = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let entry = match tracked.owed.get(&client) {
            Some(entry) => Some(entry),
            // An untracked address shares the overflow bucket only while the table is full.
            None if tracked.owed.len() >= MAX_TRACKED_CLIENTS => tracked.owed.get(&OVERFLOW),
            None => None,
        };
        let owed = self.owed(entry, now);
        // Room for one more failure?
        (owed + 1.0 > self.per_minute)
            .then(|| Duration::from_secs_f64((owed + 1.0 - self.per_minute) / self.per_second()))
    }

    fn record(&self, client: IpAddr, now: Instant) {
        let mut tracked = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let mut key = client;
        if !tracked.owed.contains_key(&client) && tracked.owed.len() >= MAX_TRACKED_CLIENTS {
            // Sweep forgiven addresses, at most once a second (a sweep visits every entry).
            if tracked
                .last_sweep
                .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
            {
                tracked.last_sweep = Some(now);
                let rate = self.per_second();
                tracked.owed.retain(|_, (owed, at)| {
                    *owed - now.saturating_duration_since(*at).as_secs_f64() * rate > 0.0
                });
            }
            if tracked.owed.len() >= MAX_TRACKED_CLIENTS {
                key = OVERFLOW;
            }
        }
        let owed = self.owed(tracked.owed.get(&key), now);
        tracked.owed.insert(key, (owed + 1.0, now));
    }
}

impl ApiKeys {
    /// The key `presented` is, without spending a token: a sign-in to the pages checks the key
    /// once, then each page prediction spends from its bucket ([`ApiKeys::admit_by_name`]).
    pub fn identify(&self, presented: &[u8]) -> Option<KeyName> {
        if presented.is_empty() || presented.len() > MAX_KEY_BYTES {
            return None;
        }
        self.find(presented).map(|key| KeyName(key.name.clone()))
    }

    /// The configured key of this name, if there still is one (a session names its key).
    pub fn named(&self, name: &str) -> Option<KeyName> {
        self.keys
            .iter()
            .find(|key| &*key.name == name)
            .map(|key| KeyName(key.name.clone()))
    }

    /// Spends one token from the bucket of the key named `name` (a signed-in person's page
    /// prediction costs what an API call with the key costs).
    /// Spends `tokens` from the named key's bucket at once (a file scored on the pages: one
    /// token per MAX_BATCH rows). `Err(Some(seconds))`: not there yet; `Err(None)`: more than
    /// the bucket can ever hold ([`ApiKeys::burst`]), or the key is no longer configured.
    pub fn charge_by_name(&self, name: &KeyName, tokens: u32) -> Result<(), Option<u64>> {
        let Some(tokens) = NonZeroU32::new(tokens) else {
            return Ok(());
        };
        let key = self
            .keys
            .iter()
            .find(|key| key.name == name.0)
            .ok_or(None)?;
        match key.limiter.check_n(tokens) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(Some(crate::middleware::session::retry_after_secs(
                not_until.wait_time_from(DefaultClock::default().now()),
            ))),
            Err(_insufficient_capacity) => Err(None),
        }
    }

    /// The most tokens a key's bucket holds (RATE_LIMIT_BURST).
    pub fn burst(&self) -> u32 {
        self.burst
    }

    pub fn admit_by_name(&self, name: &KeyName) -> Result<(), ApiError> {
        let key = self
            .keys
            .iter()
            .find(|key| key.name == name.0)
            .ok_or(ApiError::Forbidden)?;
        key.limiter
            .check()
            .map_err(|not_until| ApiError::Throttled {
                retry_after_secs: crate::middleware::session::retry_after_secs(
                    not_until.wait_time_from(DefaultClock::default().now()),
                ),
            })
    }
}

/// `name:sha256-hex` lines. Errors name the line, never its content.
fn read_keys_file(path: &Path) -> anyhow::Result<Vec<(String, [u8; 32])>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading API_KEYS_FILE {}", path.display()))?;
    let keys = parse_keys_file(&text)
        .with_context(|| format!("reading API_KEYS_FILE {}", path.display()))?;
    if keys.is_empty() {
        bail!("API_KEYS_FILE {} holds no key", path.display());
    }
    Ok(keys)
}

pub fn parse_keys_file(text: &str) -> anyhow::Result<Vec<(String, [u8; 32])>> {
    let mut keys = Vec::new();
    let mut names = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let n = i + 1;
        let Some((name, digest)) = line.split_once(':') else {
            bail!("line {n}: expected `name:sha256-hex-of-key`");
        };
        let name = name.trim();
        if name.is_empty() {
            bail!("line {n}: the key has no name");
        }
        let digest = decode_digest(digest.trim())
            .with_context(|| format!("line {n}: expected 64 hexadecimal digits after the name"))?;
        if names.insert(name.to_owned(), n).is_some() {
            bail!("line {n}: the name {name:?} is used twice");
        }
        keys.push((name.to_owned(), digest));
    }
    Ok(keys)
}

fn decode_digest(text: &str) -> Option<[u8; 32]> {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(text, &mut digest).ok()?;
    Some(digest)
}

/// The middleware: admits a request or answers 401/403/429. The admitted key's name goes into
/// the request's extensions (and the log span) for handlers and logs.
pub async fn require_api_key(
    State(keys): State<Arc<ApiKeys>>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let header = request
        .headers()
        .get(API_KEY_HEADER)
        .map(|value| value.as_bytes());
    let name = keys.admit(header, Client::of(&request).limit_key())?;
    super::access_log::note(|notes| notes.api_key = Some(name.0.clone()));
    if let Some(index) = keys.keys.iter().position(|k| k.name == name.0) {
        request.extensions_mut().insert(Bucket {
            keys: Arc::clone(&keys),
            index,
        });
    }
    request.extensions_mut().insert(name);
    Ok(next.run(request).await)
}

/// Puts `routes` behind the keys, if any are configured; otherwise returns them unchanged.
/// Use it on every group of routes that predicts (JSON API, form-less SageMaker routes):
///
/// ```ignore
/// let predictions = protect_predictions(api::prediction_routes(), keys.clone());
/// ```
pub fn protect_predictions(
    routes: Router<AppState>,
    keys: Option<Arc<ApiKeys>>,
) -> Router<AppState> {
    match keys {
        Some(keys) => routes.route_layer(from_fn_with_state(keys, require_api_key)),
        None => routes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use clap::Parser;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const AWAY: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 1));

    fn keys(rate: u32, burst: u32) -> ApiKeys {
        let quota = Quota::per_second(NonZeroU32::new(rate).unwrap())
            .allow_burst(NonZeroU32::new(burst).unwrap());
        ApiKeys::new(
            vec![
                ("alice".into(), sha256(b"alice-key-0123456789abcdef")),
                ("bob".into(), sha256(b"bob-key-0123456789abcdef")),
            ],
            quota,
        )
    }

    #[test]
    fn a_missing_key_is_unauthorized_and_a_wrong_one_forbidden() {
        let keys = keys(10, 10);
        assert!(matches!(
            keys.admit(None, HOME),
            Err(ApiError::Unauthorized)
        ));
        assert!(matches!(
            keys.admit(Some(b""), HOME),
            Err(ApiError::Unauthorized)
        ));
        assert!(matches!(
            keys.admit(Some(b"nope"), HOME),
            Err(ApiError::Forbidden)
        ));
        assert!(matches!(
            keys.admit(Some(&[b'a'; 10_000]), HOME),
            Err(ApiError::Forbidden)
        ));
        let name = keys.admit(Some(b"bob-key-0123456789abcdef"), HOME).unwrap();
        assert_eq!(&*name.0, "bob");
    }

    #[test]
    fn each_key_has_its_own_bucket_and_throttling_says_when_to_retry() {
        let keys = keys(1, 3);
        for _ in 0..3 {
            keys.admit(Some(b"alice-key-0123456789abcdef"), HOME)
                .unwrap();
        }
        match keys.admit(Some(b"alice-key-0123456789abcdef"), HOME) {
            Err(ApiError::Throttled { retry_after_secs }) => assert_eq!(retry_after_secs, 1),
            other => panic!("expected throttling, got {other:?}"),
        }
        // Bob's bucket is untouched by Alice's burst.
        keys.admit(Some(b"bob-key-0123456789abcdef"), HOME).unwrap();
    }

    #[test]
    fn wrong_keys_are_throttled_per_client_address_and_then_even_a_right_key_waits() {
        let keys = keys(1000, 1000).limit_failures(3);
        for _ in 0..3 {
            assert!(matches!(
                keys.admit(Some(b"guess-0123456789abcdef"), HOME),
                Err(ApiError::Forbidden)
            ));
        }
        for presented in [
            &b"guess-0123456789abcdef"[..],
            b"alice-key-0123456789abcdef",
        ] {
            match keys.admit(Some(presented), HOME) {
                // 3 a minute: the next failure is forgiven within 20 s.
                Err(ApiError::Throttled { retry_after_secs }) => {
                    assert!((1..=20).contains(&retry_after_secs), "{retry_after_secs}")
                }
                other => panic!("expected throttling, got {other:?}"),
            }
        }
        // Another address is untouched; a missing key is not a guess.
        keys.admit(Some(b"alice-key-0123456789abcdef"), AWAY)
            .unwrap();
        assert!(matches!(
            keys.admit(None, AWAY),
            Err(ApiError::Unauthorized)
        ));
    }

    #[test]
    fn failures_are_forgiven_at_the_configured_rate() {
        let throttle = FailureThrottle::new(60);
        let start = Instant::now();
        for _ in 0..60 {
            assert_eq!(throttle.blocked(HOME, start), None);
            throttle.record(HOME, start);
        }
        let wait = throttle.blocked(HOME, start).expect("full");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        // One a second is forgiven.
        assert_eq!(throttle.blocked(HOME, start + Duration::from_secs(1)), None);
        assert_eq!(throttle.blocked(AWAY, start), None);
    }

    #[test]
    fn short_api_keys_stop_start_up_without_printing_them() {
        let mut settings = Settings::try_parse_from(["churn-predict"]).unwrap();
        settings.api_keys = Some(crate::config::ApiKeyList(vec![
            "long-enough-key-0123".into(),
            "short-key".into(),
        ]));
        let error = format!("{:#}", ApiKeys::from_settings(&settings).unwrap_err());
        assert!(
            error.contains("key 2 has fewer than 16 characters"),
            "{error}"
        );
        assert!(!error.contains("short-key"), "{error}");
        settings.api_keys = Some(crate::config::ApiKeyList(vec!["exactly-16-chars".into()]));
        assert!(ApiKeys::from_settings(&settings).unwrap().is_some());
    }

    #[test]
    fn a_signed_in_name_spends_from_its_keys_bucket_and_identify_spends_nothing() {
        let keys = keys(1, 2);
        for _ in 0..5 {
            let name = keys.identify(b"alice-key-0123456789abcdef").unwrap();
            assert_eq!(&*name.0, "alice");
        }
        assert!(keys.identify(b"nope").is_none());
        assert!(keys.identify(b"").is_none());
        let alice = keys.named("alice").unwrap();
        assert!(keys.named("carol").is_none());
        keys.admit_by_name(&alice).unwrap();
        keys.admit(Some(b"alice-key-0123456789abcdef"), HOME)
            .unwrap();
        assert!(matches!(
            keys.admit_by_name(&alice),
            Err(ApiError::Throttled { .. })
        ));
        assert!(matches!(
            keys.admit(Some(b"alice-key-0123456789abcdef"), HOME),
            Err(ApiError::Throttled { .. })
        ));
    }

    #[test]
    fn the_keys_file_holds_names_and_digests_and_refuses_bad_lines() {
        let digest = hex::encode(sha256(b"k"));
        let text = format!("# comment\n\nprod: {digest}\nci:{digest}\n");
        let keys = parse_keys_file(&text).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].0, "prod");
        assert_eq!(keys[0].1, sha256(b"k"));
        for (bad, why) in [
            ("no-colon".to_owned(), "line 1"),
            (format!(":{digest}"), "no name"),
            ("a:abc".to_owned(), "64 hexadecimal"),
            (format!("a:{}", "zz".repeat(32)), "64 hexadecimal"),
            (format!("a:{digest}\na:{digest}"), "used twice"),
        ] {
            let err = format!("{:#}", parse_keys_file(&bad).unwrap_err());
            assert!(err.contains(why), "{bad:?}: {err}");
            assert!(!err.contains(&digest), "errors never echo the file: {err}");
        }
    }

    #[test]
    fn debug_shows_key_names_only() {
        let printed = format!("{:?}", keys(1, 1));
        assert!(
            printed.contains("alice") && !printed.contains("key-0123"),
            "{printed}"
        );
    }
}
