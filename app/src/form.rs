//! The form's pure logic: what was typed, how it becomes a `Customer`, which HTML
//! constraints each field carries, and the words the page shows. No Leptos, no HTTP.
//!
//! Every rule comes from [`model::fields::FIELDS`], the table the JSON API validates with,
//! so the browser's checks, the server's checks and the API cannot drift apart.

use std::collections::BTreeMap;

use model::fields::{At, FIELDS, Field, FieldError, Input, Problem as Refusal, Rule};
use model::{Backend, Customer, Direction, InvalidCustomer, Label, ScoreError};
use serde::{Deserialize, Serialize};

/// What a person submitted, by field name, exactly as typed (so it can be shown back).
/// Transparent on the wire, so the server function takes `submitted[age]=38&...`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Submitted(pub BTreeMap<String, String>);

impl Submitted {
    /// Keeps the table's fields from `(name, value)` pairs such as a query string, ignoring
    /// anything else. `None` when no field of the table was sent: a blank form, not a submission.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<Self> {
        let values: BTreeMap<String, String> = pairs
            .into_iter()
            .filter(|(name, _)| model::fields::field(name).is_some())
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        (!values.is_empty()).then_some(Submitted(values))
    }

    /// A posted form's `(name, value)` pairs, in order: the table's fields, anything else
    /// ignored. Unlike [`Submitted::from_pairs`], a post with no field is still a submission
    /// (every field missing). `Err(name)` when a field of the table was sent twice: a browser
    /// never does that, and which value to believe would be a guess.
    pub fn from_posted<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, &'static str> {
        let mut values = BTreeMap::new();
        for (name, value) in pairs {
            let Some(field) = model::fields::field(name) else {
                continue;
            };
            if values
                .insert(field.name.to_owned(), value.to_owned())
                .is_some()
            {
                return Err(field.name);
            }
        }
        Ok(Submitted(values))
    }

    /// The example customer (the table's examples), to fill in the form.
    pub fn example() -> Self {
        Submitted(
            FIELDS
                .iter()
                .map(|f| (f.name.to_owned(), f.example.to_owned()))
                .collect(),
        )
    }

    /// The value typed for a field; empty when it was left out.
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }
}

/// One submitted string as the field table sees it: empty is missing, a number is a number,
/// anything else is text (the table then decides whether text is allowed).
pub fn input(raw: &str) -> Input<'_> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Input::Missing;
    }
    match raw.parse::<f64>() {
        Ok(n) => Input::Number(n),
        Err(_) => Input::Text(raw),
    }
}

/// Parses a submission with the same rules as the JSON API.
pub fn parse(submitted: &Submitted) -> Result<Customer, InvalidCustomer> {
    Customer::from_named(|name| input(submitted.get(name)), At::ROOT)
}

/// What the page shows after a submission. Crosses the server-function boundary, so it is data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Predicted(Answer),
    /// One problem per refused field, to show beside its input.
    Invalid(Vec<Problem>),
    /// The model backend could not answer. The message says what kind of failure in plain
    /// words; the backend's own error text (which may name internals) is only logged, under
    /// the request id shown with the message.
    Unavailable(Failure),
    /// Too many predictions for now from this visitor (their key's or address's allowance);
    /// nothing was predicted.
    Throttled {
        retry_after_secs: u64,
    },
}

/// A backend failure as people see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub message: String,
    /// The request's id, to quote to support (its log lines carry the details).
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub will_exit: bool,
    pub probability: f64,
    pub threshold: f64,
    pub model: String,
    /// The strongest reasons, strongest first (at most [`TOP_REASONS`], none without an
    /// effect); empty when the backend cannot explain.
    #[serde(default)]
    pub reasons: Vec<Reason>,
    /// Every field's exact effect, strongest first, for the chart; empty when the backend
    /// cannot explain.
    #[serde(default)]
    pub effects: Vec<Reason>,
    /// What could lower the risk, best first (at most [`TOP_LEVERS`]); empty when the backend
    /// cannot explain or nothing would.
    #[serde(default)]
    pub levers: Vec<Offer>,
}

/// How many reasons the page lists in words.
pub const TOP_REASONS: usize = 3;
/// How many levers the page offers.
pub const TOP_LEVERS: usize = 3;

/// One field's push on the prediction, as the JSON API's `?explain=true` gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// The field's name in the table.
    pub field: String,
    /// Change in the log-odds of leaving; positive raises the risk.
    pub effect: f64,
    /// [`model::Effect::describe`]'s phrase, e.g. "Age (62) raises the risk".
    pub text: String,
}

impl Reason {
    fn of(effect: &model::Effect, customer: &Customer) -> Reason {
        Reason {
            field: effect.field.name.to_owned(),
            effect: effect.effect,
            text: effect.describe(customer),
        }
    }

    pub fn direction(&self) -> Direction {
        model::Effect {
            field: self.field(),
            effect: self.effect,
        }
        .direction()
    }

    pub fn raises_risk(&self) -> bool {
        self.direction() == Direction::RaisesRisk
    }

    /// The field's entry in the table.
    pub fn field(&self) -> &'static Field {
        model::fields::field(&self.field).unwrap_or(&FIELDS[0])
    }
}

/// A retention lever as the page offers it: the change in words, the probability the changed
/// customer gets, and the whole changed profile for a button that opens the form with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    /// The field changed (`is_active_member`, `has_cr_card`, `num_of_products`).
    pub field: String,
    /// The change alone, e.g. "Becoming an active member".
    pub change: String,
    /// The whole sentence, e.g. "Becoming an active member would lower the risk of leaving
    /// from 58.3% to 41.0%".
    pub text: String,
    /// What a prediction of the changed customer answers.
    pub probability: f64,
    /// Every field of the changed customer, as the form posts it (`name`, `value`).
    pub profile: Vec<(String, String)>,
}

impl Offer {
    fn of(lever: &model::Lever, customer: &Customer) -> Option<Offer> {
        let changed = lever.apply(customer)?;
        Some(Offer {
            field: lever.field.name.to_owned(),
            change: lever.change(),
            text: lever.text(),
            probability: lever.probability,
            profile: FIELDS
                .iter()
                .map(|f| {
                    let value = changed.value_of(f.name).unwrap_or_default();
                    (f.name.to_owned(), value)
                })
                .collect(),
        })
    }
}

/// The explanation the page shows: every field's effect (for the chart) and the
/// [`TOP_REASONS`] strongest in words, fields with no effect left out. Both empty without one.
pub fn explained(
    explanation: Option<&model::Explanation>,
    customer: &Customer,
) -> (Vec<Reason>, Vec<Reason>) {
    let Some(explanation) = explanation else {
        return (Vec::new(), Vec::new());
    };
    let effects: Vec<Reason> = explanation
        .effects
        .iter()
        .map(|e| Reason::of(e, customer))
        .collect();
    let strongest = effects
        .iter()
        .filter(|r| r.direction() != Direction::NoEffect)
        .take(TOP_REASONS)
        .cloned()
        .collect();
    (effects, strongest)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The field's name in the table.
    pub field: String,
    pub message: String,
}

impl Outcome {
    pub fn problem(&self, field: &str) -> Option<&str> {
        match self {
            Outcome::Invalid(problems) => problems
                .iter()
                .find(|p| p.field == field)
                .map(|p| p.message.as_str()),
            _ => None,
        }
    }
}

/// Validates, then asks the backend: the whole submission, server side. `request_id` is
/// quoted to the person if the backend fails.
pub async fn evaluate(
    submitted: &Submitted,
    backend: &Backend,
    request_id: Option<String>,
) -> Outcome {
    let customer = match parse(submitted) {
        Ok(customer) => customer,
        Err(InvalidCustomer(errors)) => {
            return Outcome::Invalid(errors.iter().map(problem).collect());
        }
    };
    let customers = std::slice::from_ref(&customer);
    match backend.predict(customers).await {
        Ok(predictions) => {
            let [p] = predictions.as_slice() else {
                unreachable!("a backend's scores are one per row (model::Scores)")
            };
            let info = backend.info();
            // Explained only with the model that scored, or its checked local copy.
            let explanation = backend
                .explainer
                .as_ref()
                .and_then(|model| model.explanation(&customer));
            let (effects, reasons) = explained(explanation.as_ref(), &customer);
            let levers = match backend.levers(customers, &predictions).await {
                Ok(mut all) => all.pop().unwrap_or_default(),
                Err(e) => {
                    // The prediction stands; only the levers' re-scoring failed.
                    tracing::warn!(error = %e, "levers for the form could not be scored");
                    Vec::new()
                }
            };
            Outcome::Predicted(Answer {
                will_exit: p.label == Label::WillExit,
                probability: p.probability,
                threshold: info.threshold,
                model: info.model_id.clone(),
                reasons,
                effects,
                levers: levers
                    .iter()
                    .filter_map(|lever| Offer::of(lever, &customer))
                    .take(TOP_LEVERS)
                    .collect(),
            })
        }
        Err(e) => Outcome::Unavailable(Failure {
            message: failure_text(&e).to_owned(),
            request_id,
        }),
    }
}

/// A backend failure in plain words, by kind (the details are in the log).
pub fn failure_text(error: &ScoreError) -> &'static str {
    match error {
        ScoreError::Timeout(_) => "The model did not answer in time.",
        ScoreError::Unavailable(_) => "The model service is busy or down.",
        ScoreError::Backend(_) => "The model service returned an error.",
    }
}

/// A refused field in words for people, from the refusal's data.
fn problem(e: &FieldError) -> Problem {
    let allowed = e.field.map_or_else(|| e.expected.to_string(), allowed);
    let message = match e.problem {
        Refusal::Missing => format!("Required: enter {allowed}."),
        Refusal::Duplicate => format!("Given twice: enter {allowed} once."),
        _ => format!("{} is not allowed: enter {allowed}.", e.value),
    };
    Problem {
        field: e.field_name().to_owned(),
        message,
    }
}

/// What a field allows, in words for people (the API's wording is for programs).
pub fn allowed(field: &Field) -> String {
    match field.rule {
        Rule::Whole { min, max } => format!("a whole number from {min} to {max}"),
        Rule::Amount { min, max } => format!("an amount from {min} to {max}"),
        Rule::Flag => "Yes or No".to_owned(),
        Rule::OneOf(names) => format!("one of {}", names.join(", ")),
    }
}

/// The HTML control and constraint attributes for a field, straight from its rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// `<input type="number" min max step required>`.
    Number {
        min: String,
        max: String,
        step: &'static str,
        inputmode: &'static str,
    },
    /// `<select required>` with Yes (1) and No (0).
    YesNo,
    /// A radio group: exactly one of the names (never boxes that could all be ticked).
    Choice(&'static [&'static str]),
}

pub fn control(field: &Field) -> Control {
    match field.rule {
        Rule::Whole { min, max } => Control::Number {
            min: min.to_string(),
            max: max.to_string(),
            step: "1",
            inputmode: "numeric",
        },
        // `{}` prints f64 without an exponent (1e12 → "1000000000000"), as HTML wants.
        Rule::Amount { min, max } => Control::Number {
            min: min.to_string(),
            max: max.to_string(),
            step: "any",
            inputmode: "decimal",
        },
        Rule::Flag => Control::YesNo,
        Rule::OneOf(names) => Control::Choice(names),
    }
}

/// A probability as people read it: one decimal place.
pub fn percent(p: f64) -> String {
    format!("{:.1}%", p * 100.0)
}

pub fn label_text(will_exit: bool) -> &'static str {
    if will_exit {
        Label::WillExit.as_str()
    } else {
        Label::WillNotExit.as_str()
    }
}

/// The plain-language sentence under the result.
pub fn sentence(answer: &Answer) -> String {
    let p = percent(answer.probability);
    let t = percent(answer.threshold);
    if answer.will_exit {
        format!(
            "This customer has a {p} estimated chance of leaving, at or above the {t} \
             threshold — likely to leave. Consider reaching out."
        )
    } else {
        format!(
            "This customer has a {p} estimated chance of leaving, below the {t} \
             threshold — likely to stay."
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Submitted {
        Submitted::from_pairs(FIELDS.iter().map(|f| (f.name, f.example))).unwrap()
    }

    #[test]
    fn empty_strings_are_missing_numbers_are_numbers_and_the_rest_is_text() {
        assert_eq!(input(""), Input::Missing);
        assert_eq!(input("  "), Input::Missing);
        assert_eq!(input(" 38 "), Input::Number(38.0));
        assert_eq!(input("77864.41"), Input::Number(77864.41));
        assert_eq!(input("France"), Input::Text("France"));
    }

    #[test]
    fn the_example_customer_parses_like_the_json_api_sample() {
        let customer = parse(&example()).expect("the example is valid");
        assert_eq!(customer.age(), 38);
        assert_eq!(customer.geography(), model::Geography::France);
        assert!(customer.has_cr_card());
    }

    #[test]
    fn a_blank_form_is_not_a_submission_and_unknown_keys_are_ignored() {
        assert_eq!(Submitted::from_pairs([]), None);
        assert_eq!(Submitted::from_pairs([("utm_source", "x")]), None);
        let s = Submitted::from_pairs([("age", "40"), ("utm_source", "x")]).unwrap();
        assert_eq!(s.0.len(), 1);
    }

    #[test]
    fn a_post_keeps_the_tables_fields_refuses_one_sent_twice_and_may_be_empty() {
        let s = Submitted::from_posted([("age", "40"), ("utm_source", "x")]).unwrap();
        assert_eq!(s.0.len(), 1);
        assert_eq!(Submitted::from_posted([]), Ok(Submitted::default()));
        assert_eq!(
            Submitted::from_posted([("age", "40"), ("tenure", "1"), ("age", "41")]),
            Err("age")
        );
        assert_eq!(Submitted::example(), example());
    }

    #[test]
    fn problems_name_the_field_the_value_and_the_allowed_range() {
        let mut s = example();
        s.0.insert("age".into(), "150".into());
        s.0.insert("tenure".into(), "".into());
        s.0.insert("balance".into(), "NaN".into());
        s.0.insert("geography".into(), "Italy".into());
        let Err(InvalidCustomer(errors)) = parse(&s) else {
            panic!("refused")
        };
        let problems: Vec<Problem> = errors.iter().map(problem).collect();
        let message = |f: &str| {
            problems
                .iter()
                .find(|p| p.field == f)
                .unwrap_or_else(|| panic!("{f} refused: {problems:?}"))
                .message
                .clone()
        };
        assert_eq!(
            message("age"),
            "150 is not allowed: enter a whole number from 18 to 120."
        );
        assert_eq!(
            message("tenure"),
            "Required: enter a whole number from 0 to 100."
        );
        assert!(
            message("balance").contains("an amount from 0 to 1000000000000"),
            "{problems:?}"
        );
        assert!(
            message("geography").contains("one of France, Germany, Spain"),
            "{problems:?}"
        );
    }

    #[test]
    fn amounts_print_without_an_exponent_for_html() {
        let Control::Number { max, step, .. } = control(&model::fields::BALANCE) else {
            panic!("balance is a number")
        };
        assert_eq!(max, "1000000000000");
        assert_eq!(step, "any");
    }

    #[test]
    fn the_sentence_says_which_side_of_the_threshold() {
        let mut answer = Answer {
            will_exit: false,
            probability: 0.0234,
            threshold: 0.5,
            model: "m".into(),
            reasons: Vec::new(),
            effects: Vec::new(),
            levers: Vec::new(),
        };
        assert_eq!(
            sentence(&answer),
            "This customer has a 2.3% estimated chance of leaving, below the 50.0% threshold — likely to stay."
        );
        answer.will_exit = true;
        answer.probability = 0.71;
        assert!(sentence(&answer).contains("71.0%"));
        assert!(sentence(&answer).contains("likely to leave"));
    }
}
