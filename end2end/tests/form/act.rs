//! What a person does: fill the profile, press Predict.

use playwright_rs::{Page, SelectOption};

use crate::find;

/// A customer as a person types it in.
#[derive(Debug, Clone)]
pub struct Profile {
    pub credit_score: &'static str,
    pub country: &'static str,
    pub gender: &'static str,
    pub age: &'static str,
    pub tenure: &'static str,
    pub balance: &'static str,
    pub products: &'static str,
    pub has_credit_card: bool,
    pub active_member: bool,
    pub salary: &'static str,
}

/// A customer with a balance in Germany (a likelier leaver than the original sample).
pub const CUSTOMER: Profile = Profile {
    credit_score: "619",
    country: "Germany",
    gender: "Female",
    age: "42",
    tenure: "2",
    balance: "125510.82",
    products: "1",
    has_credit_card: true,
    active_member: false,
    salary: "79084.10",
};

impl Profile {
    /// The same customer for the JSON API.
    pub fn json(&self) -> serde_json::Value {
        let number = |s: &str| s.parse::<f64>().expect("a number");
        serde_json::json!({"customer": {
            "credit_score": number(self.credit_score),
            "geography": self.country,
            "gender": self.gender,
            "age": number(self.age),
            "tenure": number(self.tenure),
            "balance": number(self.balance),
            "num_of_products": number(self.products),
            "has_cr_card": self.has_credit_card,
            "is_active_member": self.active_member,
            "estimated_salary": number(self.salary),
        }})
    }
}

fn yes_no(flag: bool) -> SelectOption {
    SelectOption::Label(if flag { "Yes" } else { "No" }.to_owned())
}

pub async fn fill_profile(page: &Page, p: &Profile) {
    let fill = |label: &'static str, value: &'static str| async move {
        find::field(page, label)
            .fill(value, None)
            .await
            .unwrap_or_else(|e| panic!("fill {label:?}: {e}"));
    };
    fill("Credit score", p.credit_score).await;
    find::choice(page, p.country)
        .check(None)
        .await
        .expect("choose the country");
    find::choice(page, p.gender)
        .check(None)
        .await
        .expect("choose the gender");
    fill("Age", p.age).await;
    fill("Tenure", p.tenure).await;
    fill("Balance", p.balance).await;
    fill("Number of products", p.products).await;
    find::field(page, "Has a credit card")
        .select_option(yes_no(p.has_credit_card), None)
        .await
        .expect("choose credit card");
    find::field(page, "Is an active member")
        .select_option(yes_no(p.active_member), None)
        .await
        .expect("choose active member");
    fill("Estimated salary", p.salary).await;
}

pub async fn open_form(page: &Page, url: &str) {
    page.goto(url, None).await.expect("the form page loads");
}

/// Presses Predict and waits for whatever page comes back.
pub async fn press_predict(page: &Page) {
    find::predict_button(page)
        .click(None)
        .await
        .expect("press Predict");
    page.wait_for_load_state(None)
        .await
        .expect("the page settles");
}

/// Types an API key into the sign-in page and presses Sign in.
pub async fn sign_in(page: &Page, key: &str) {
    find::field(page, "API key")
        .fill(key, None)
        .await
        .expect("type the key");
    press_button(page, "Sign in").await;
}

/// Presses a button by its name and waits for whatever page comes back.
pub async fn press_button(page: &Page, name: &str) {
    find::button(page, name)
        .click(None)
        .await
        .unwrap_or_else(|e| panic!("press {name:?}: {e}"));
    page.wait_for_load_state(None)
        .await
        .expect("the page settles");
}

/// Presses the button named `name` inside the element `within` (a CSS selector), and waits for
/// whatever page comes back.
pub async fn press_button_in(page: &Page, within: &str, name: &str) {
    page.locator(within)
        .get_by_role(
            playwright_rs::protocol::AriaRole::Button,
            Some(
                playwright_rs::protocol::GetByRoleOptions::default()
                    .name(name)
                    .exact(true),
            ),
        )
        .click(None)
        .await
        .unwrap_or_else(|e| panic!("press {name:?} in {within}: {e}"));
    page.wait_for_load_state(None)
        .await
        .expect("the page settles");
}

/// Turns off the browser's checks, as a hand-made request or a tampered page would.
pub async fn bypass_browser_validation(page: &Page) {
    find::form(page)
        .evaluate::<serde_json::Value, ()>("form => { form.noValidate = true; return null; }", None)
        .await
        .expect("switch off constraint validation");
}

/// Tab through the form in order, typing and choosing with keys only, then Enter.
/// Radio groups take one Tab; arrow keys move the choice. Selects take the first letter.
pub async fn fill_with_keyboard(page: &Page, p: &Profile) {
    let keyboard = page.keyboard();
    let press = |key: &'static str| {
        let keyboard = keyboard.clone();
        async move {
            keyboard
                .press(key, None)
                .await
                .unwrap_or_else(|e| panic!("press {key}: {e}"));
        }
    };
    let type_text = |text: &'static str| {
        let keyboard = keyboard.clone();
        async move {
            keyboard
                .type_text(text, None)
                .await
                .unwrap_or_else(|e| panic!("type {text}: {e}"));
        }
    };
    let arrows_to = |options: &[&str], wanted: &str| {
        options
            .iter()
            .position(|o| *o == wanted)
            .expect("a known option")
    };
    press("Tab").await; // Credit score
    type_text(p.credit_score).await;
    press("Tab").await; // Country: the first radio; Space picks it, arrows move
    press("Space").await;
    for _ in 0..arrows_to(&["France", "Germany", "Spain"], p.country) {
        press("ArrowRight").await;
    }
    press("Tab").await; // Gender
    press("Space").await;
    for _ in 0..arrows_to(&["Female", "Male"], p.gender) {
        press("ArrowRight").await;
    }
    for value in [p.age, p.tenure, p.balance, p.products] {
        press("Tab").await;
        type_text(value).await;
    }
    for flag in [p.has_credit_card, p.active_member] {
        press("Tab").await;
        type_text(if flag { "Y" } else { "N" }).await;
    }
    press("Tab").await; // Estimated salary
    type_text(p.salary).await;
    press("Enter").await; // submits the form (a POST to the form's page)
    page.wait_for_url("**/form", None)
        .await
        .expect("the result page");
    page.wait_for_load_state(None)
        .await
        .expect("the page settles");
}
