//! Where things are on the page, found as a person finds them: by their visible labels.

use playwright_rs::protocol::{AriaRole, GetByRoleOptions};
use playwright_rs::{Locator, Page};

/// An input or select by its `<label>` (exact text).
pub fn field(page: &Page, label: &str) -> Locator {
    page.get_by_label(label, true)
}

/// One radio button of a group (e.g. "France"), by its label.
pub fn choice(page: &Page, label: &str) -> Locator {
    page.get_by_label(label, true)
}

pub fn predict_button(page: &Page) -> Locator {
    button(page, "Predict")
}

/// A button by its accessible name (exact).
pub fn button(page: &Page, name: &str) -> Locator {
    page.get_by_role(
        AriaRole::Button,
        Some(GetByRoleOptions::default().name(name).exact(true)),
    )
}

/// A link by its accessible name (exact).
pub fn link(page: &Page, name: &str) -> Locator {
    page.get_by_role(
        AriaRole::Link,
        Some(GetByRoleOptions::default().name(name).exact(true)),
    )
}

/// The page's main heading.
pub fn heading(page: &Page) -> Locator {
    page.locator("h1")
}

/// A message the page announces (`role="alert"`).
pub fn alert(page: &Page) -> Locator {
    page.get_by_role(AriaRole::Alert, None)
}

/// The "Will Exit" / "Will Not Exit" badge.
pub fn result_label(page: &Page) -> Locator {
    page.locator("#result-label")
}

/// The probability: shown as a percentage, exact in its `value` attribute.
pub fn result_probability(page: &Page) -> Locator {
    page.locator("#result-probability")
}

pub fn result_sentence(page: &Page) -> Locator {
    page.locator("#result-sentence")
}

/// The "Main reasons" list, by its accessible name.
pub fn reasons(page: &Page) -> Locator {
    page.get_by_role(
        AriaRole::List,
        Some(GetByRoleOptions::default().name("Main reasons").exact(true)),
    )
}

/// The server's message beside a field (by the field's name in the field table).
pub fn field_error(page: &Page, name: &str) -> Locator {
    page.locator(format!("#{name}-error"))
}

pub fn form(page: &Page) -> Locator {
    page.locator("form")
}
