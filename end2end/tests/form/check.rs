//! What a person should see.

use playwright_rs::Page;

use crate::find;

/// The page shows the API's label and probability for the same customer.
pub async fn shows_the_apis_answer(page: &Page, api: &serde_json::Value) {
    let label = find::result_label(page)
        .text_content()
        .await
        .expect("a result label")
        .unwrap_or_default();
    assert_eq!(
        label.trim(),
        api["result"].as_str().unwrap(),
        "label as the API says"
    );
    let probability = find::result_probability(page);
    let exact: f64 = probability
        .get_attribute("value")
        .await
        .expect("the probability element")
        .expect("a value attribute")
        .parse()
        .expect("a number");
    let api_probability = api["probability"].as_f64().unwrap();
    assert_eq!(exact, api_probability, "probability as the API says");
    let shown = probability
        .text_content()
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(
        shown,
        format!("{:.1}%", api_probability * 100.0),
        "shown as a percentage"
    );
    let sentence = find::result_sentence(page)
        .text_content()
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        sentence.contains(&shown),
        "the sentence repeats it: {sentence}"
    );
}

/// A visible "Main reasons" list of three, each saying which way it pushes.
pub async fn shows_three_main_reasons(page: &Page) {
    let list = find::reasons(page);
    assert!(
        list.is_visible().await.expect("the reasons list"),
        "Main reasons visible"
    );
    let items = list.locator("li");
    assert_eq!(items.count().await.expect("list items"), 3, "three reasons");
    for i in 0..3 {
        let text = items
            .nth(i)
            .text_content()
            .await
            .unwrap()
            .unwrap_or_default();
        assert!(
            text.contains("raises the risk") || text.contains("lowers the risk"),
            "says which way: {text}"
        );
    }
}

/// The browser's own verdict on a field (constraint validation), read without page scripts.
pub async fn browser_marks_invalid(page: &Page, label: &str) -> bool {
    find::field(page, label)
        .evaluate::<bool, ()>("el => el.matches(':invalid')", None)
        .await
        .expect("read the field's validity")
}

pub async fn value_of(page: &Page, label: &str) -> String {
    find::field(page, label)
        .input_value(None)
        .await
        .unwrap_or_else(|e| panic!("value of {label:?}: {e}"))
}

pub async fn is_checked(page: &Page, label: &str) -> bool {
    find::choice(page, label)
        .is_checked()
        .await
        .expect("a radio button")
}

pub async fn has_no_horizontal_scroll(page: &Page) -> bool {
    page.evaluate::<(), bool>(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth",
        None,
    )
    .await
    .expect("measure the page")
}
