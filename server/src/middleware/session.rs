//! Who may use the web pages, and whose allowance a page prediction spends.
//!
//! Decided once at start ([`PageAccess::from_settings`]), never silently:
//!
//! - **Sign-in** (API keys configured, `PAGES_OPEN` not set). The pages that predict need a
//!   signed-in person: `POST /sign-in` with an API key in the body sets a session cookie, and a
//!   page prediction spends a token from that key's bucket (`ApiKeys::admit_by_name`), as an
//!   API call with the key would. Without a valid session a page answers `303` to the sign-in
//!   page, and a server function's endpoint (`/api/…`) `401`; nothing is predicted. Needs
//!   `SESSION_SECRET`: start-up fails without it.
//! - **Open** (no keys, or `PAGES_OPEN=true`). Anyone may use the pages; page predictions are
//!   throttled per client address (`PAGE_RATE_LIMIT_PER_MINUTE`, `PAGE_RATE_LIMIT_BURST`).
//!   Start-up logs a warning saying so.
//!
//! The guard ([`guard_pages`]) is default-deny: every page route needs admission except the
//! sign-in and sign-out routes ([`PUBLIC_PAGES`]). It puts an [`app::access::Visitor`] and, when
//! admitted, an [`app::access::Allowance`] into the request; the server function refuses to
//! predict without the latter.
//!
//! **The cookie** is stateless, so it is valid on every instance (Lambda included) that shares
//! the secret: `churn_session=v1.<hex(key name)>.<expiry, Unix seconds>.<hex(HMAC-SHA256)>`, the
//! MAC over everything before it, keyed by `SESSION_SECRET`. It names the key, never holds it.
//! Attributes: `HttpOnly; Secure; SameSite=Strict`, `Path` = the public path prefix (API
//! Gateway's stage, see `app::BasePath`) or `/`, `Max-Age` = `SESSION_TTL_SECONDS`. A session
//! ends at its expiry, when the secret changes (everyone signed out), or when its key is no
//! longer configured. Sign-in attempts are throttled per client address like open pages.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use app::access::{Allowance, Shortfall, SignInNotice, Visitor};
use axum::extract::{Request, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Settings;
use crate::error::ApiError;
use crate::middleware::auth::{ApiKeys, KeyName};
use crate::middleware::client::Client;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "churn_session";

/// The page routes anyone may open: signing in and out.
pub const PUBLIC_PAGES: [&str; 2] = [app::SIGN_IN_PATH, app::SIGN_OUT_PATH];

/// Shortest `SESSION_SECRET` accepted (bytes): 256 bits, the MAC's own strength.
pub const MIN_SECRET_BYTES: usize = 32;

const VERSION: &str = "v1";

/// Longer cookie values are not ours (names are short); refused before any work.
const MAX_COOKIE_BYTES: usize = 1024;

/// Issues and checks session cookies (HMAC-SHA256 with the configured secret).
#[derive(Clone)]
pub struct Sessions {
    mac: Hmac<Sha256>,
    ttl: Duration,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").field("ttl", &self.ttl).finish()
    }
}

fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Sessions {
    pub fn new(secret: &[u8], ttl: Duration) -> anyhow::Result<Sessions> {
        if secret.len() < MIN_SECRET_BYTES {
            bail!(
                "SESSION_SECRET must have at least {MIN_SECRET_BYTES} characters (make one with \
                 `openssl rand -hex 32`)"
            );
        }
        let mac = Hmac::<Sha256>::new_from_slice(secret).context("SESSION_SECRET")?;
        Ok(Sessions { mac, ttl })
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn tag(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(payload.as_bytes());
        mac
    }

    /// A cookie value naming the key `name`, valid for the TTL from `now`.
    pub fn issue(&self, name: &str, now: SystemTime) -> String {
        let expires = unix_seconds(now).saturating_add(self.ttl.as_secs());
        let payload = format!("{VERSION}.{}.{expires}", hex::encode(name));
        let tag = self.tag(&payload).finalize().into_bytes();
        format!("{payload}.{}", hex::encode(tag))
    }

    /// The key name a cookie value carries, if we signed it and it has not expired. The MAC is
    /// checked (in constant time) before anything in the value is believed.
    pub fn verify(&self, value: &str, now: SystemTime) -> Option<String> {
        if value.len() > MAX_COOKIE_BYTES {
            return None;
        }
        let (payload, tag) = value.rsplit_once('.')?;
        let mut presented = [0u8; 32];
        hex::decode_to_slice(tag, &mut presented).ok()?;
        self.tag(payload).verify_slice(&presented).ok()?;
        let mut parts = payload.split('.');
        let (Some(VERSION), Some(name), Some(expires), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let expires: u64 = expires.parse().ok()?;
        let now = unix_seconds(now);
        // Expired, or issued for longer than today's TTL allows (the TTL was shortened).
        if expires <= now || expires > now.saturating_add(self.ttl.as_secs()) {
            return None;
        }
        String::from_utf8(hex::decode(name).ok()?).ok()
    }

    /// `Set-Cookie` for a new session, scoped to the public path prefix.
    pub fn set_cookie(&self, value: &str, prefix: &str) -> HeaderValue {
        let cookie = format!(
            "{COOKIE_NAME}={value}; Path={}; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
            cookie_path(prefix),
            self.ttl.as_secs()
        );
        HeaderValue::from_str(&cookie).expect("hex, digits and a checked prefix")
    }
}

/// `Set-Cookie` that ends the session.
pub fn clear_cookie(prefix: &str) -> HeaderValue {
    let cookie = format!(
        "{COOKIE_NAME}=; Path={}; Max-Age=0; HttpOnly; Secure; SameSite=Strict",
        cookie_path(prefix)
    );
    HeaderValue::from_str(&cookie).unwrap_or(HeaderValue::from_static(
        "churn_session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict",
    ))
}

/// The cookie's `Path`: the prefix (`/prod`), or `/`. A prefix that could break the header
/// (it comes from API Gateway, but still) falls back to `/`.
fn cookie_path(prefix: &str) -> &str {
    let ok = prefix.starts_with('/')
        && prefix
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b';' && b != b',');
    if ok { prefix } else { "/" }
}

/// The values of every `churn_session` cookie the request carries.
fn session_cookies(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE_NAME).then_some(value)
        })
}

/// A token bucket per client address (IPv6: per /64 network, which one host usually has).
pub struct ClientThrottle {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    checks: AtomicU64,
    burst: u32,
}

/// Idle addresses are forgotten every this many checks, so the table stays small.
const FORGET_EVERY: u64 = 4096;

impl ClientThrottle {
    pub fn new(per_minute: NonZeroU32, burst: NonZeroU32) -> ClientThrottle {
        ClientThrottle {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            checks: AtomicU64::new(0),
            burst: burst.get(),
        }
    }

    /// Spends one token of `client`'s bucket; `Err(seconds to wait)` when it is empty.
    pub fn check(&self, client: IpAddr) -> Result<(), u64> {
        self.check_n(client, 1)
            .map_err(|shortfall| match shortfall {
                Shortfall::Wait(seconds) => seconds,
                Shortfall::Never { .. } => 1,
            })
    }

    /// Spends `tokens` of `client`'s bucket at once (a file scored on an open page: one per
    /// MAX_BATCH rows).
    pub fn check_n(&self, client: IpAddr, tokens: u32) -> Result<(), Shortfall> {
        let Some(tokens) = NonZeroU32::new(tokens) else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        match self.limiter.check_key_n(&client, tokens) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(Shortfall::Wait(retry_after_secs(
                not_until.wait_time_from(DefaultClock::default().now()),
            ))),
            Err(_insufficient_capacity) => Err(Shortfall::Never { most: self.burst }),
        }
    }
}

/// Whole seconds, rounded up: `Retry-After: 0` would invite a hot loop.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// The client's address for per-client limits ([`Client::limit_key`]: proxy- and
/// Lambda-aware, IPv6 by its /64). Unknown (a router called directly): one shared bucket.
pub fn client_key(extensions: &Extensions) -> IpAddr {
    extensions
        .get::<Client>()
        .copied()
        .unwrap_or_else(Client::unknown)
        .limit_key()
}

/// The public path prefix (API Gateway's stage) without a trailing `/`: `/prod`, or empty.
pub fn prefix(extensions: &Extensions) -> String {
    extensions
        .get::<app::BasePath>()
        .map(|p| p.0.trim_end_matches('/').to_owned())
        .unwrap_or_default()
}

enum Mode {
    SignIn {
        keys: Arc<ApiKeys>,
        sessions: Sessions,
    },
    Open,
}

/// Who may use the pages (see the module documentation). Cheap to clone.
#[derive(Clone)]
pub struct PageAccess {
    mode: Arc<Mode>,
    /// Open pages' predictions, and sign-in attempts, per client address.
    clients: Arc<ClientThrottle>,
}

impl std::fmt::Debug for PageAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.needs_sign_in() {
            "PageAccess::SignIn"
        } else {
            "PageAccess::Open"
        })
    }
}

/// What a sign-in attempt came to.
#[derive(Debug)]
pub enum SignIn {
    /// The pages are open: there is nothing to sign in to.
    Open,
    /// Signed in: send this `Set-Cookie`.
    Accepted {
        key: KeyName,
        cookie: HeaderValue,
    },
    Refused(SignInNotice),
}

impl PageAccess {
    /// From the settings and the API keys (`None`: no keys configured). Refuses to start when
    /// keys are configured, the pages are not explicitly opened, and there is no usable
    /// `SESSION_SECRET`.
    pub fn from_settings(
        settings: &Settings,
        keys: Option<Arc<ApiKeys>>,
    ) -> anyhow::Result<PageAccess> {
        let clients = Arc::new(ClientThrottle::new(
            NonZeroU32::new(settings.page_rate_limit_per_minute)
                .context("PAGE_RATE_LIMIT_PER_MINUTE")?,
            NonZeroU32::new(settings.page_rate_limit_burst).context("PAGE_RATE_LIMIT_BURST")?,
        ));
        let throttle = format!(
            "{} a minute, bursts of {}",
            settings.page_rate_limit_per_minute, settings.page_rate_limit_burst
        );
        let mode = match keys {
            Some(_) if settings.pages_open => {
                tracing::warn!(
                    "PAGES_OPEN=true: the web pages predict for anyone, without an API key \
                     (throttled per client address: {throttle})"
                );
                Mode::Open
            }
            None => {
                tracing::warn!(
                    "no API keys configured: the web pages predict for anyone (throttled per \
                     client address: {throttle})"
                );
                Mode::Open
            }
            Some(keys) => {
                let Some(secret) = &settings.session_secret else {
                    bail!(
                        "API keys are configured, so the web pages need a signed-in person, and \
                         signing in needs SESSION_SECRET (at least {MIN_SECRET_BYTES} random \
                         characters, the same on every instance: `openssl rand -hex 32`). Or set \
                         PAGES_OPEN=true to open the pages to everyone, throttled per client \
                         address."
                    );
                };
                let sessions = Sessions::new(
                    secret.0.as_bytes(),
                    Duration::from_secs(settings.session_ttl_seconds),
                )?;
                tracing::info!(
                    ttl_seconds = settings.session_ttl_seconds,
                    "web pages need a sign-in with an API key"
                );
                Mode::SignIn { keys, sessions }
            }
        };
        Ok(PageAccess {
            mode: Arc::new(mode),
            clients,
        })
    }

    pub fn needs_sign_in(&self) -> bool {
        matches!(*self.mode, Mode::SignIn { .. })
    }

    /// The signed-in key of a request (a valid session naming a key still configured).
    fn session(&self, headers: &HeaderMap) -> Option<KeyName> {
        let Mode::SignIn { keys, sessions } = &*self.mode else {
            return None;
        };
        let now = SystemTime::now();
        session_cookies(headers)
            .filter_map(|value| sessions.verify(value, now))
            .find_map(|name| keys.named(&name))
    }

    /// Checks a key typed into the sign-in page. Every attempt spends from the client
    /// address's bucket, so keys cannot be guessed quickly through the page.
    pub fn sign_in(&self, presented: &str, client: IpAddr, prefix: &str) -> SignIn {
        let Mode::SignIn { keys, sessions } = &*self.mode else {
            return SignIn::Open;
        };
        if let Err(retry_after_secs) = self.clients.check(client) {
            return SignIn::Refused(SignInNotice::TooManyAttempts { retry_after_secs });
        }
        let presented = presented.trim();
        if presented.is_empty() {
            return SignIn::Refused(SignInNotice::NoKey);
        }
        match keys.identify(presented.as_bytes()) {
            Some(key) => {
                let value = sessions.issue(&key.0, SystemTime::now());
                SignIn::Accepted {
                    cookie: sessions.set_cookie(&value, prefix),
                    key,
                }
            }
            None => SignIn::Refused(SignInNotice::WrongKey),
        }
    }

    /// Who this request is, and what a prediction costs them.
    fn admit(&self, request: &Request) -> (Visitor, Option<Allowance>) {
        match &*self.mode {
            Mode::Open => {
                let clients = Arc::clone(&self.clients);
                let client = client_key(request.extensions());
                let allowance = Allowance::new(move |tokens| clients.check_n(client, tokens));
                (Visitor::Anyone, Some(allowance))
            }
            Mode::SignIn { keys, .. } => match self.session(request.headers()) {
                Some(key) => {
                    let visitor = Visitor::SignedIn(key.0.to_string());
                    let keys = Arc::clone(keys);
                    let allowance = Allowance::new(move |tokens| {
                        keys.charge_by_name(&key, tokens)
                            .map_err(|refusal| match refusal {
                                Some(seconds) => Shortfall::Wait(seconds),
                                None => Shortfall::Never { most: keys.burst() },
                            })
                    });
                    (visitor, Some(allowance))
                }
                None => (Visitor::SignedOut, None),
            },
        }
    }
}

/// Middleware on the page routes (see the module documentation).
pub async fn guard_pages(
    State(access): State<PageAccess>,
    mut request: Request,
    next: Next,
) -> Response {
    let (visitor, allowance) = access.admit(&request);
    let path = request.uri().path();
    if allowance.is_none() && !PUBLIC_PAGES.contains(&path) {
        if path.starts_with("/api/") {
            return ApiError::SignInRequired.into_response();
        }
        let location = format!("{}{}", prefix(request.extensions()), app::SIGN_IN_PATH);
        return see_other(&location);
    }
    if let Visitor::SignedIn(name) = &visitor {
        super::access_log::note(|notes| notes.api_key = Some(name.as_str().into()));
    }
    request.extensions_mut().insert(visitor);
    if let Some(allowance) = allowance {
        request.extensions_mut().insert(allowance);
    }
    next.run(request).await
}

/// `303 See Other` to `location` (a path on this site), never cached.
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, location);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn sessions() -> Sessions {
        Sessions::new(SECRET, Duration::from_secs(3600)).unwrap()
    }

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn a_cookie_names_its_key_until_it_expires() {
        let sessions = sessions();
        let value = sessions.issue("prod team", at(1_000_000));
        assert!(value.starts_with("v1."), "{value}");
        assert!(
            !value.contains("prod team"),
            "the name is hex-encoded: {value}"
        );
        assert_eq!(
            sessions.verify(&value, at(1_000_000)).as_deref(),
            Some("prod team")
        );
        assert_eq!(
            sessions.verify(&value, at(1_003_599)).as_deref(),
            Some("prod team")
        );
        assert_eq!(sessions.verify(&value, at(1_003_600)), None, "expired");
        assert_eq!(sessions.verify(&value, at(999_000)), None, "too far ahead");
    }

    #[test]
    fn a_forged_or_foreign_cookie_is_refused() {
        let sessions = sessions();
        let now = at(1_000_000);
        let value = sessions.issue("alice", now);
        let (payload, tag) = value.rsplit_once('.').unwrap();
        // Another name, a later expiry, a flipped tag bit: each breaks the MAC.
        let other_name = payload.replace(&hex::encode("alice"), &hex::encode("admin"));
        let later = payload.replace("1003600", "9999999");
        let mut flipped = hex::decode(tag).unwrap();
        flipped[0] ^= 1;
        for forged in [
            format!("{other_name}.{tag}"),
            format!("{later}.{tag}"),
            format!("{payload}.{}", hex::encode(flipped)),
            format!("{payload}."),
            payload.to_owned(),
            String::new(),
            "v1.x.y.z".to_owned(),
            format!("{value}{}", "0".repeat(2000)),
        ] {
            assert_eq!(sessions.verify(&forged, now), None, "{forged:?}");
        }
        // Signed with another secret: not ours.
        let other = Sessions::new(
            b"another secret of at least 32 bytes!",
            Duration::from_secs(3600),
        )
        .unwrap();
        assert_eq!(other.verify(&value, now), None);
    }

    #[test]
    fn a_shortened_ttl_ends_longer_sessions() {
        let long = Sessions::new(SECRET, Duration::from_secs(86_400)).unwrap();
        let value = long.issue("alice", at(1_000_000));
        assert_eq!(sessions().verify(&value, at(1_000_000)), None);
        assert!(long.verify(&value, at(1_000_000)).is_some());
    }

    #[test]
    fn a_short_secret_is_refused() {
        let err = Sessions::new(b"short", Duration::from_secs(60)).unwrap_err();
        assert!(err.to_string().contains("at least 32"), "{err}");
    }

    #[test]
    fn the_cookie_is_http_only_secure_strict_and_scoped_to_the_prefix() {
        let sessions = sessions();
        let set = sessions.set_cookie("v1.x", "/prod");
        assert_eq!(
            set,
            "churn_session=v1.x; Path=/prod; Max-Age=3600; HttpOnly; Secure; SameSite=Strict"
        );
        assert!(
            sessions
                .set_cookie("v", "")
                .to_str()
                .unwrap()
                .contains("Path=/;")
        );
        assert!(
            sessions
                .set_cookie("v", "/a;b")
                .to_str()
                .unwrap()
                .contains("Path=/;")
        );
        assert_eq!(
            clear_cookie(""),
            "churn_session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict"
        );
    }

    #[test]
    fn session_cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; churn_session=one"),
        );
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("churn_session=two;b=2"),
        );
        let found: Vec<&str> = session_cookies(&headers).collect();
        assert_eq!(found, ["one", "two"]);
    }

    #[test]
    fn each_client_address_has_its_own_bucket_and_ipv6_counts_by_64() {
        let throttle =
            ClientThrottle::new(NonZeroU32::new(1).unwrap(), NonZeroU32::new(2).unwrap());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        throttle.check(a).unwrap();
        throttle.check(a).unwrap();
        let wait = throttle.check(a).unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        throttle.check(b).unwrap();
    }
}
