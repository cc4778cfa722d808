//! Who is using the pages and what they may spend, as the server decided. The server's page
//! guard (`server::middleware::session`) puts a [`Visitor`] and, when the visitor may predict,
//! an [`Allowance`] into each page request's extensions; the pages and the server functions
//! only read them. No cookie, key or address is handled here.

use std::sync::Arc;

use leptos::prelude::use_context;

/// Who is using the pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visitor {
    /// The pages are open to everyone (no API keys configured, or `PAGES_OPEN=true`).
    Anyone,
    /// API keys guard the pages and this person has not signed in (only the sign-in page is
    /// shown to them).
    SignedOut,
    /// Signed in with the API key of this name (the name, never the key).
    SignedIn(String),
}

/// What predictions cost the visitor: tokens from their API key's bucket when signed in, from
/// their address's bucket when the pages are open. One prediction of the form costs one; a
/// file scored on the file page one per `MAX_BATCH` rows, as `POST /score` costs a key.
///
/// A server function or page that predicts spends first, and refuses to predict without an
/// allowance: a page request the server's guard did not admit carries none.
#[derive(Clone)]
pub struct Allowance(Arc<dyn Fn(u32) -> Result<(), Shortfall> + Send + Sync>);

/// Why tokens could not be spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortfall {
    /// Not there yet: wait this many seconds.
    Wait(u64),
    /// More than the bucket can ever hold: it holds at most this many.
    Never { most: u32 },
}

impl Allowance {
    /// `spend(n)` spends `n` tokens, or says why not.
    pub fn new(spend: impl Fn(u32) -> Result<(), Shortfall> + Send + Sync + 'static) -> Allowance {
        Allowance(Arc::new(spend))
    }

    /// Spends one prediction; `Err(seconds)` to wait before the next.
    pub fn spend(&self) -> Result<(), u64> {
        self.spend_n(1).map_err(|shortfall| match shortfall {
            Shortfall::Wait(seconds) => seconds,
            // A bucket always holds one token: only a misconfiguration gets here.
            Shortfall::Never { .. } => 1,
        })
    }

    /// Spends `tokens` at once (none for 0).
    pub fn spend_n(&self, tokens: u32) -> Result<(), Shortfall> {
        if tokens == 0 {
            return Ok(());
        }
        (self.0)(tokens)
    }
}

impl std::fmt::Debug for Allowance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Allowance")
    }
}

/// What the sign-in page says about a failed attempt (the server provides it as context when
/// it renders the page in answer to `POST sign-in`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInNotice {
    /// No key was entered.
    NoKey,
    /// The key matches none configured.
    WrongKey,
    /// Too many attempts from this address; wait this many seconds.
    TooManyAttempts { retry_after_secs: u64 },
}

impl SignInNotice {
    pub fn message(&self) -> String {
        match self {
            SignInNotice::NoKey => "Enter your API key to sign in.".to_owned(),
            SignInNotice::WrongKey => {
                "That API key is not valid. Check it and try again.".to_owned()
            }
            SignInNotice::TooManyAttempts { retry_after_secs } => format!(
                "Too many sign-in attempts. Wait {} and try again.",
                seconds(*retry_after_secs)
            ),
        }
    }
}

/// "1 second", "30 seconds".
pub fn seconds(n: u64) -> String {
    if n == 1 {
        "1 second".to_owned()
    } else {
        format!("{n} seconds")
    }
}

fn request_extension<T: Clone + Send + Sync + 'static>() -> Option<T> {
    use_context::<http::request::Parts>().and_then(|parts| parts.extensions.get::<T>().cloned())
}

/// This request's visitor; [`Visitor::SignedOut`] when the server said nothing.
pub fn visitor() -> Visitor {
    request_extension::<Visitor>().unwrap_or(Visitor::SignedOut)
}

/// This request's allowance, if the server's guard admitted it to predict.
pub fn allowance() -> Option<Allowance> {
    request_extension::<Allowance>()
}
