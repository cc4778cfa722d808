//! Who may use the web pages (finding 4): with API keys, a person signed in with a key, whose
//! bucket a page prediction spends; with open pages, anyone, throttled per client address.
//! Over real HTTP, cookies handled by hand (as a browser does), redirects not followed.

use std::time::{Duration, SystemTime};

use server::config::{ApiKeyList, Runtime, Settings};
use server::middleware::session::Sessions;
use server::startup::Application;
use server::testing::{TEST_SESSION_SECRET, TestServer, test_settings};

use crate::helpers::{header, sample_data_body};
use crate::web::EXAMPLE_FORM;

const KEY: &str = "page-key-0123456789abcdef";

/// A browser's view of the server: no redirects followed, one session cookie kept. (The file
/// page's tests add their uploads to it, `crate::batch_page`.)
pub(crate) struct Person {
    pub(crate) server: TestServer,
    pub(crate) client: reqwest::Client,
    pub(crate) cookie: Option<String>,
}

impl Person {
    pub(crate) async fn of(configure: impl FnOnce(&mut Settings)) -> Person {
        Person::at(TestServer::start_with(configure).await)
    }

    pub(crate) fn at(server: TestServer) -> Person {
        Person {
            server,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    pub(crate) fn with_cookie(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let request = request.header("accept", "text/html");
        match &self.cookie {
            Some(cookie) => request.header("cookie", format!("churn_session={cookie}")),
            None => request,
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.with_cookie(self.client.get(self.server.url(path)))
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, content_type: &str, body: &str) -> reqwest::Response {
        self.with_cookie(self.client.post(self.server.url(path)))
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    async fn post_form(&self, path: &str, body: &str) -> reqwest::Response {
        self.post(path, "application/x-www-form-urlencoded", body)
            .await
    }

    /// Signs in with `key`; returns the answer and keeps the cookie it sets.
    pub(crate) async fn sign_in(&mut self, key: &str) -> reqwest::Response {
        let body = format!("api_key={}", form_encode(key));
        let response = self.post_form("/sign-in", &body).await;
        if let Some(set) = response.headers().get("set-cookie") {
            let set = set.to_str().unwrap();
            let value = set
                .strip_prefix("churn_session=")
                .and_then(|rest| rest.split(';').next())
                .unwrap();
            self.cookie = (!value.is_empty()).then(|| value.to_owned());
        }
        response
    }

    async fn predict_api(&self, key: &str) -> u16 {
        self.client
            .post(self.server.url("/predict"))
            .header("content-type", "application/json")
            .header("x-api-key", key)
            .body(sample_data_body())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn with_key(s: &mut Settings) {
    s.api_keys = Some(ApiKeyList(vec![KEY.into()]));
}

fn location(response: &reqwest::Response) -> String {
    header(response, "location").to_owned()
}

/// A page answer that predicted (the result's probability is on it).
async fn predicted(response: reqwest::Response) -> bool {
    response
        .text()
        .await
        .unwrap()
        .contains("result-probability")
}

#[tokio::test]
async fn with_keys_and_no_session_secret_the_server_refuses_to_start() {
    let mut settings = test_settings();
    with_key(&mut settings);
    settings.session_secret = None;
    let err = Application::build(&settings, Runtime::Server)
        .await
        .err()
        .expect("no start without a secret");
    let message = format!("{err:#}");
    assert!(message.contains("SESSION_SECRET"), "{message}");
    assert!(message.contains("PAGES_OPEN=true"), "{message}");

    settings.session_secret = Some(server::config::Secret("too short".into()));
    let err = Application::build(&settings, Runtime::Server)
        .await
        .err()
        .expect("no start with a short secret");
    assert!(format!("{err:#}").contains("at least 32"), "{err:#}");

    // Opening the pages explicitly needs no secret.
    settings.session_secret = None;
    settings.pages_open = true;
    Application::build(&settings, Runtime::Server)
        .await
        .expect("open pages start without a secret");
}

#[tokio::test]
async fn with_keys_every_page_that_predicts_needs_a_sign_in_and_nothing_is_predicted_without() {
    let person = Person::of(with_key).await;
    for path in ["/", "/form", "/?example=1"] {
        let response = person.get(path).await;
        assert_eq!(response.status(), 303, "{path}");
        assert_eq!(location(&response), "/sign-in", "{path}");
    }
    let response = person.post_form("/form", EXAMPLE_FORM).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/sign-in");
    assert!(response.text().await.unwrap().is_empty(), "no answer");

    let response = person
        .post_form("/api/predict-form", "submitted[age]=38")
        .await;
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["kind"], "sign_in_required", "{body}");

    // The sign-in page, the stylesheet and robots.txt are open.
    let page = person.get("/sign-in").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<form method="post" action="sign-in""#),
        "{html}"
    );
    assert!(html.contains(r#"<label for="api_key""#), "{html}");
    assert_eq!(person.get("/robots.txt").await.status(), 200);
}

#[tokio::test]
async fn signing_in_sets_a_signed_cookie_naming_the_key_and_the_pages_predict() {
    let mut person = Person::of(with_key).await;
    let response = person.sign_in(KEY).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/");
    let set = header(&response, "set-cookie").to_owned();
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/;",
        "Max-Age=28800",
    ] {
        assert!(set.contains(attribute), "{attribute} in {set}");
    }
    let cookie = person.cookie.clone().expect("a session cookie");
    assert!(
        !cookie.contains(KEY) && !set.contains(KEY),
        "never the key: {set}"
    );
    let sessions =
        Sessions::new(TEST_SESSION_SECRET.as_bytes(), Duration::from_secs(28_800)).unwrap();
    assert_eq!(
        sessions.verify(&cookie, SystemTime::now()).as_deref(),
        Some("key1"),
        "it names the key"
    );

    let page = person.get("/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<strong id="signed-in-key">key1</strong>"#),
        "{html}"
    );
    assert!(html.contains(r#"action="sign-out""#), "{html}");

    let response = person.post_form("/form", EXAMPLE_FORM).await;
    assert_eq!(response.status(), 200);
    assert!(predicted(response).await);

    let body = EXAMPLE_FORM
        .split('&')
        .map(|pair| format!("submitted[{}", pair.replacen('=', "]=", 1)))
        .collect::<Vec<_>>()
        .join("&");
    // A program's call (no `Accept: text/html`, which server_fn answers with a redirect).
    let response = person
        .client
        .post(person.server.url("/api/predict-form"))
        .header("cookie", format!("churn_session={cookie}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert!(answer["Predicted"]["probability"].is_number(), "{answer}");
}

#[tokio::test]
async fn a_wrong_or_missing_key_is_refused_on_the_sign_in_page() {
    let mut person = Person::of(with_key).await;
    let response = person.sign_in("not-the-key-0123456789").await;
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("set-cookie").is_none());
    let html = response.text().await.unwrap();
    assert!(html.contains("That API key is not valid."), "{html}");
    assert!(html.contains(r#"role="alert""#), "{html}");
    assert!(
        !html.contains("not-the-key"),
        "the key is not echoed: {html}"
    );

    let response = person.sign_in("").await;
    assert_eq!(response.status(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Enter your API key")
    );
    assert!(person.cookie.is_none());
    assert_eq!(person.get("/").await.status(), 303);
}

#[tokio::test]
async fn forged_expired_and_foreign_cookies_are_not_sessions() {
    let mut person = Person::of(with_key).await;
    person.sign_in(KEY).await;
    let good = person.cookie.clone().unwrap();
    let now = SystemTime::now();
    let ours =
        |ttl: u64| Sessions::new(TEST_SESSION_SECRET.as_bytes(), Duration::from_secs(ttl)).unwrap();
    let foreign = Sessions::new(
        b"some-other-deployments-secret-0123456789",
        Duration::from_secs(28_800),
    )
    .unwrap();
    let (payload, tag) = good.rsplit_once('.').unwrap();
    let mut forged_tag = hex::decode(tag).unwrap();
    forged_tag[31] ^= 0x80;
    let cases = [
        (
            "issued an hour before a 60 s session ended",
            ours(60).issue("key1", now - Duration::from_secs(3600)),
        ),
        ("another deployment's secret", foreign.issue("key1", now)),
        (
            "a key that is not configured",
            ours(28_800).issue("someone-else", now),
        ),
        (
            "a tampered tag",
            format!("{payload}.{}", hex::encode(forged_tag)),
        ),
        ("garbage", "v1.zz.1.zz".to_owned()),
    ];
    for (what, cookie) in cases {
        person.cookie = Some(cookie);
        let response = person.post_form("/form", EXAMPLE_FORM).await;
        assert_eq!(response.status(), 303, "{what}");
        assert_eq!(location(&response), "/sign-in", "{what}");
    }
    person.cookie = Some(good);
    assert_eq!(
        person.get("/").await.status(),
        200,
        "the real one still works"
    );
}

#[tokio::test]
async fn signing_out_clears_the_cookie_and_the_pages_are_refused_again() {
    let mut person = Person::of(with_key).await;
    person.sign_in(KEY).await;
    assert_eq!(person.get("/").await.status(), 200);
    let response = person.post_form("/sign-out", "").await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/sign-in");
    let cleared = header(&response, "set-cookie");
    assert!(cleared.starts_with("churn_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    person.cookie = None;
    assert_eq!(person.get("/").await.status(), 303);
    assert_eq!(person.post_form("/form", EXAMPLE_FORM).await.status(), 303);
}

#[tokio::test]
async fn behind_a_stage_the_redirects_and_the_cookie_carry_the_prefix() {
    let server = TestServer::start_behind_prefix_with("/prod", with_key).await;
    let mut person = Person::at(server);
    let response = person.get("/").await;
    assert_eq!(location(&response), "/prod/sign-in");
    let response = person.sign_in(KEY).await;
    assert_eq!(location(&response), "/prod/");
    let set = header(&response, "set-cookie");
    assert!(set.contains("Path=/prod;"), "{set}");
    assert_eq!(person.get("/").await.status(), 200);
}

/// A page prediction costs what an API call with the key costs: one token of its bucket.
#[tokio::test]
async fn a_page_prediction_spends_from_the_signed_in_keys_bucket() {
    let mut person = Person::of(|s| {
        with_key(s);
        s.rate_limit_per_second = 1;
        s.rate_limit_burst = 3;
    })
    .await;
    person.sign_in(KEY).await;
    // Signing in and opening pages spend nothing; two API calls and one page prediction spend
    // the burst of three.
    assert_eq!(person.get("/").await.status(), 200);
    assert_eq!(person.predict_api(KEY).await, 200);
    assert_eq!(person.predict_api(KEY).await, 200);
    let response = person.post_form("/form", EXAMPLE_FORM).await;
    assert_eq!(response.status(), 200);
    assert!(predicted(response).await);

    let response = person.post_form("/form", EXAMPLE_FORM).await;
    assert_eq!(response.status(), 429);
    let retry: u64 = header(&response, "retry-after").parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let html = response.text().await.unwrap();
    assert!(
        html.contains("Too many predictions in a short time."),
        "{html}"
    );
    assert!(!html.contains("result-probability"), "{html}");
    assert!(html.contains(r#"value="77864.41""#), "inputs kept: {html}");
    assert_eq!(person.predict_api(KEY).await, 429, "the same bucket");
}

#[tokio::test]
async fn sign_in_attempts_are_throttled_per_client_address() {
    let mut person = Person::of(|s| {
        with_key(s);
        s.page_rate_limit_per_minute = 1;
        s.page_rate_limit_burst = 2;
    })
    .await;
    assert_eq!(person.sign_in("wrong-key-0123456789ab").await.status(), 403);
    assert_eq!(person.sign_in("wrong-key-0123456789ac").await.status(), 403);
    let response = person.sign_in(KEY).await;
    assert_eq!(
        response.status(),
        429,
        "even the right key, once the address is spent"
    );
    assert!(response.headers().contains_key("retry-after"));
    assert!(person.cookie.is_none());
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Too many sign-in attempts.")
    );
}

/// PAGES_OPEN=true opens the pages (never silently: it is a setting, and it logs a warning);
/// the API still needs its key; page predictions are throttled per client address. Without
/// keys the pages get the same throttle.
#[tokio::test]
async fn open_pages_predict_for_anyone_throttled_per_client_address() {
    let throttled = |s: &mut Settings| {
        s.page_rate_limit_per_minute = 1;
        s.page_rate_limit_burst = 2;
    };
    for (what, person) in [
        (
            "PAGES_OPEN with keys",
            Person::of(|s| {
                with_key(s);
                s.pages_open = true;
                s.session_secret = None;
                throttled(s);
            })
            .await,
        ),
        ("no keys", Person::of(throttled).await),
    ] {
        assert_eq!(person.get("/").await.status(), 200, "{what}");
        // Opening pages costs nothing; predictions do.
        assert_eq!(person.get("/form").await.status(), 200, "{what}");
        for _ in 0..2 {
            let response = person.post_form("/form", EXAMPLE_FORM).await;
            assert_eq!(response.status(), 200, "{what}");
            assert!(predicted(response).await, "{what}");
        }
        let response = person.post_form("/form", EXAMPLE_FORM).await;
        let status = response.status();
        if status != 429 {
            let page = response.text().await.unwrap_or_default();
            panic!("{what}: the third prediction was answered {status}, not 429:\n{page}");
        }
        let retry: u64 = header(&response, "retry-after").parse().unwrap();
        assert!((1..=60).contains(&retry), "{what}: {retry}");
        let page = person.get("/sign-in").await.text().await.unwrap();
        assert!(page.contains("no sign-in is needed"), "{what}: {page}");
    }
    let person = Person::of(|s| {
        with_key(s);
        s.pages_open = true;
    })
    .await;
    assert_eq!(
        person
            .client
            .post(person.server.url("/predict"))
            .header("content-type", "application/json")
            .body(sample_data_body())
            .send()
            .await
            .unwrap()
            .status(),
        401,
        "the API still needs its key"
    );
}

#[tokio::test]
async fn the_pages_posts_refuse_other_sites() {
    let mut person = Person::of(with_key).await;
    person.sign_in(KEY).await;
    for (path, body) in [
        ("/form", EXAMPLE_FORM.to_owned()),
        ("/sign-in", format!("api_key={KEY}")),
        ("/sign-out", String::new()),
    ] {
        let response = person
            .with_cookie(person.client.post(person.server.url(path)))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "cross-site")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{path}");
        assert!(response.headers().get("set-cookie").is_none(), "{path}");
    }
}
