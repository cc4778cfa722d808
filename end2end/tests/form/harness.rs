//! Starts the real server on a free port and a headless Debian Chromium driven by Playwright.
//!
//! Chromium and the Playwright driver come from apt and npm (`scripts/setup.sh --test`). When
//! either is missing the tests fail loudly where they are required (`CI` or
//! `CHURN_E2E_REQUIRED=1`, which `scripts/test.sh` sets) and are skipped with a loud message
//! elsewhere, so a Rust-only checkout still runs `cargo test`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use playwright_rs::LaunchOptions;
use playwright_rs::protocol::{BrowserContextOptions, Viewport};
use playwright_rs::{Browser, Page, Playwright};

const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
];

/// The real server (`server::testing::TestServer`, the one way every suite starts it), which
/// counts the requests that reach it, so a test can prove that the browser sent nothing.
pub use server::testing::TestServer;

pub async fn start_server() -> TestServer {
    TestServer::start().await
}

/// The server with its settings changed by `configure` (API keys, say).
pub async fn start_server_with(
    configure: impl FnOnce(&mut server::config::Settings),
) -> TestServer {
    TestServer::start_with(configure).await
}

/// Playwright and one Chromium; dropped at the end of the test.
pub struct TestBrowser {
    pub browser: Browser,
    _playwright: Playwright,
}

fn required() -> bool {
    let set =
        |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    set("CI") || set("CHURN_E2E_REQUIRED")
}

fn chromium_path() -> PathBuf {
    std::env::var_os("CHROMIUM_PATH")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Fails (where required) or skips loudly; `None` means "skip this test".
fn unavailable(why: &str) -> Option<TestBrowser> {
    let message = format!(
        "END-TO-END TESTS CANNOT RUN: {why}\n\
         Install them with `scripts/setup.sh --test` (apt chromium, npm playwright-core in end2end/)."
    );
    if required() {
        panic!("{message}");
    }
    // Written to stderr directly: the test harness captures `eprintln!` of passing tests,
    // and a skip must not look like a pass.
    let _ = writeln!(
        std::io::stderr(),
        "\n*** END-TO-END TEST SKIPPED (set CI or CHURN_E2E_REQUIRED=1 to fail instead): {message} ***\n"
    );
    None
}

/// Launches Chromium, or returns `None` after a loud message when it cannot (outside CI).
pub async fn launch_browser() -> Option<TestBrowser> {
    let chromium = chromium_path();
    if !Path::new(&chromium).exists() {
        return unavailable(&format!("no Chromium at {}", chromium.display()));
    }
    let playwright = match Playwright::launch().await {
        Ok(p) => p,
        Err(e) => return unavailable(&format!("the Playwright driver did not start: {e}")),
    };
    let options = LaunchOptions::new()
        .executable_path(chromium.display().to_string())
        .headless(true)
        .args(CHROMIUM_ARGS.iter().map(|&a| a.to_owned()).collect());
    let browser = match playwright.chromium().launch_with_options(options).await {
        Ok(b) => b,
        Err(e) => return unavailable(&format!("Chromium did not start: {e}")),
    };
    Some(TestBrowser {
        browser,
        _playwright: playwright,
    })
}

impl TestBrowser {
    /// A fresh page in its own context (no shared cookies or cache between tests).
    pub async fn page(&self, javascript: bool, viewport: Viewport) -> Page {
        self.page_with(
            BrowserContextOptions::builder()
                .javascript_enabled(javascript)
                .viewport(viewport),
        )
        .await
    }

    /// A desktop page whose context ignores the pages' CSP, so a test can inject axe-core
    /// (`script-src 'self'` rightly refuses an injected script; the product's CSP stays strict).
    pub async fn audited_page(&self) -> Page {
        self.page_with(
            BrowserContextOptions::builder()
                .javascript_enabled(true)
                .bypass_csp(true)
                .viewport(Viewport {
                    width: 1280,
                    height: 900,
                }),
        )
        .await
    }

    /// A desktop page with JavaScript off whose downloads Playwright captures.
    pub async fn download_page(&self) -> Page {
        self.page_with(
            BrowserContextOptions::builder()
                .javascript_enabled(false)
                .accept_downloads(playwright_rs::protocol::AcceptDownloads::Accept)
                .viewport(Viewport {
                    width: 1280,
                    height: 900,
                }),
        )
        .await
    }

    async fn page_with(
        &self,
        options: playwright_rs::protocol::BrowserContextOptionsBuilder,
    ) -> Page {
        let options = options.build();
        let context = self
            .browser
            .new_context_with_options(options)
            .await
            .expect("a browser context");
        context.new_page().await.expect("a page")
    }

    pub async fn desktop_page(&self) -> Page {
        self.page(
            true,
            Viewport {
                width: 1280,
                height: 900,
            },
        )
        .await
    }
}

/// Where screenshots go for people to look at (gitignored).
pub fn output_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("output");
    std::fs::create_dir_all(&dir).expect("end2end/output is writable");
    dir
}

/// npm's axe-core (`end2end/package.json` pins it; `scripts/setup.sh --test` installs it).
pub fn axe_script() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/axe-core/axe.min.js");
    if path.exists() {
        Some(path)
    } else {
        let _ = unavailable(&format!("no axe-core at {}", path.display()));
        None
    }
}

/// A request Chromium made: method, URL and body.
pub type Seen = (String, String, Option<String>);

/// Every request the page makes from now on, in order (finding 9's tests read their URLs and
/// bodies).
pub async fn record_requests(page: &Page) -> Arc<Mutex<Vec<Seen>>> {
    let requests: Arc<Mutex<Vec<Seen>>> = Default::default();
    let recorded = Arc::clone(&requests);
    page.on_request(move |request| {
        let recorded = Arc::clone(&recorded);
        async move {
            recorded.lock().unwrap().push((
                request.method().to_owned(),
                request.url().to_owned(),
                request.post_data(),
            ));
            Ok(())
        }
    })
    .await
    .expect("listen to requests");
    requests
}
