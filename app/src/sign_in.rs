//! The sign-in page: when API keys guard the pages, a person signs in with their API key
//! (`POST sign-in`, the key in the body) and the server answers with a session cookie that
//! names the key, never holds it. The server renders this page again, with an
//! [`SignInNotice`], when an attempt fails.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::access::{self, SignInNotice, Visitor};
use crate::page::Masthead;

const LINK: &str = "font-medium text-indigo-700 underline underline-offset-2 hover:text-indigo-900";

#[component]
pub fn SignInPage() -> impl IntoView {
    let notice = use_context::<SignInNotice>();
    let body = match access::visitor() {
        Visitor::Anyone => view! {
            <p class="text-slate-700">
                "This server's pages are open to everyone: no sign-in is needed. "
                <a class=LINK href=".">"Go to the form"</a>
            </p>
        }
        .into_any(),
        Visitor::SignedIn(name) => view! {
            <p class="text-slate-700">
                "You are signed in with the key " <strong>{name}</strong> ". "
                <a class=LINK href=".">"Go to the form"</a>
            </p>
            <SignInForm notice />
        }
        .into_any(),
        Visitor::SignedOut => view! { <SignInForm notice /> }.into_any(),
    };
    view! {
        <Title text="Sign in — Churn Predict" />
        <main class="mx-auto max-w-md px-4 py-6 sm:px-6 sm:py-10">
            <header class="mb-6">
                <Masthead heading="Sign in with your API key" />
                <p class="mt-2 text-slate-700">
                    "Predictions need an API key: the same key programs send in the x-api-key header. Your browser keeps a session that names the key, never the key itself."
                </p>
            </header>
            {body}
        </main>
    }
}

#[component]
fn SignInForm(notice: Option<SignInNotice>) -> impl IntoView {
    let problem = notice.map(|n| n.message());
    let described_by = if problem.is_some() {
        "api_key-hint sign-in-problem"
    } else {
        "api_key-hint"
    };
    let invalid = problem.is_some().then_some("true");
    view! {
        <form
            method="post"
            action="sign-in"
            class="mt-4 rounded-2xl bg-white p-4 shadow-sm ring-1 ring-slate-200 sm:p-6"
        >
            {problem
                .map(|message| {
                    view! {
                        <div
                            id="sign-in-problem"
                            role="alert"
                            class="mb-4 rounded-lg border border-red-200 bg-red-50 p-3 text-sm text-red-800"
                        >
                            {message}
                        </div>
                    }
                })}
            <label for="api_key" class="block text-sm font-semibold text-slate-800">
                "API key"
            </label>
            <input
                id="api_key"
                name="api_key"
                type="password"
                required
                autocomplete="current-password"
                spellcheck="false"
                aria-invalid=invalid
                aria-describedby=described_by
                class="mt-1 block w-full rounded-lg border border-slate-300 bg-white px-3 py-2 text-base shadow-sm focus:border-indigo-600 focus:outline-none focus:ring-2 focus:ring-indigo-600/30 aria-invalid:border-red-600"
            />
            <p id="api_key-hint" class="mt-1 text-sm text-slate-600">
                "Ask the team that runs this service for a key."
            </p>
            <button
                type="submit"
                class="mt-6 rounded-lg bg-indigo-700 px-5 py-2.5 font-semibold text-white shadow-sm hover:bg-indigo-800 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-700"
            >
                "Sign in"
            </button>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(notice: Option<SignInNotice>) -> String {
        let owner = Owner::new();
        owner.with(|| view! { <SignInForm notice /> }.to_html())
    }

    #[test]
    fn the_key_field_has_a_label_a_hint_and_is_posted() {
        let html = render(None);
        assert!(
            html.contains(r#"<form method="post" action="sign-in""#),
            "{html}"
        );
        assert!(html.contains(r#"<label for="api_key""#), "{html}");
        assert!(html.contains(r#"type="password""#), "{html}");
        assert!(
            html.contains(r#"aria-describedby="api_key-hint""#),
            "{html}"
        );
        assert!(!html.contains("role=\"alert\""), "{html}");
    }

    #[test]
    fn a_failed_attempt_is_announced_and_described() {
        let html = render(Some(SignInNotice::WrongKey));
        assert!(html.contains(r#"role="alert""#), "{html}");
        assert!(html.contains("That API key is not valid."), "{html}");
        assert!(
            html.contains(r#"aria-describedby="api_key-hint sign-in-problem""#),
            "{html}"
        );
        let html = render(Some(SignInNotice::TooManyAttempts {
            retry_after_secs: 30,
        }));
        assert!(html.contains("Wait 30 seconds"), "{html}");
    }
}
