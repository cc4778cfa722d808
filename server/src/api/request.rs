//! The JSON request shapes, parsed once into `Customer`s ("parse, don't validate").
//!
//! Pure functions over `serde_json::Value`: no HTTP here, so the JSON API, the
//! SageMaker-compatible route and Lambda's direct invocation can all share them.

use model::{Customer, InvalidCustomer, fields::Input};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// A parsed prediction request.
#[derive(Debug, PartialEq)]
pub enum PredictRequest {
    /// `{"data": [12 numbers]}` or `{"customer": {...}}`: answered with one result.
    One(Customer),
    /// `{"instances": [[12 numbers], ...]}` or `{"customers": [{...}, ...]}`: answered in order.
    Batch(Vec<Customer>),
}

impl PredictRequest {
    pub fn customers(&self) -> &[Customer] {
        match self {
            PredictRequest::One(c) => std::slice::from_ref(c),
            PredictRequest::Batch(cs) => cs,
        }
    }
}

const SHAPES: &str = r#"{"data": [12 numbers]}, {"customer": {...}}, {"instances": [[12 numbers], ...]} or {"customers": [{...}, ...]}"#;

/// Parses a request body that is already valid JSON. `max_batch` bounds both batch shapes.
pub fn parse(body: &Value, max_batch: usize) -> Result<PredictRequest, ApiError> {
    let Value::Object(top) = body else {
        return Err(ApiError::BadShape(format!(
            "the body is {}; expected an object: {SHAPES}",
            kind(body)
        )));
    };
    let mut keys = top.keys();
    let (Some(key), None) = (keys.next(), keys.next()) else {
        let found: Vec<&String> = top.keys().collect();
        return Err(ApiError::BadShape(format!(
            "expected exactly one top-level key, found {found:?}: {SHAPES}"
        )));
    };
    let value = &top[key];
    match key.as_str() {
        "data" => Ok(PredictRequest::One(vector(value, "data")?)),
        "customer" => Ok(PredictRequest::One(named(value, "customer")?)),
        "instances" => batch(value, "instances", max_batch, vector).map(PredictRequest::Batch),
        "customers" => batch(value, "customers", max_batch, named).map(PredictRequest::Batch),
        other => Err(ApiError::BadShape(format!(
            "unknown top-level key {other:?}; expected one of {SHAPES}"
        ))),
    }
}

fn vector(value: &Value, at: &str) -> Result<Customer, ApiError> {
    let Value::Array(items) = value else {
        return Err(ApiError::BadShape(format!(
            "{at}: got {}; expected an array of 12 numbers",
            kind(value)
        )));
    };
    let inputs: Vec<Input<'_>> = items.iter().map(input).collect();
    Ok(Customer::from_vector(&inputs, at)?)
}

fn named(value: &Value, at: &str) -> Result<Customer, ApiError> {
    let Value::Object(object) = value else {
        return Err(ApiError::BadShape(format!(
            "{at}: got {}; expected an object with the fields {}",
            kind(value),
            field_names()
        )));
    };
    refuse_unknown_keys(object, at)?;
    Ok(Customer::from_named(
        |name| object.get(name).map_or(Input::Missing, input),
        at,
    )?)
}

/// Unknown keys are refused rather than ignored: a misspelt field must not pass silently.
fn refuse_unknown_keys(object: &Map<String, Value>, at: &str) -> Result<(), ApiError> {
    let unknown: Vec<&str> = object
        .keys()
        .map(String::as_str)
        .filter(|k| model::fields::field(k).is_none())
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(ApiError::Invalid(InvalidCustomer(
        unknown
            .into_iter()
            .map(|k| model::fields::FieldError {
                location: format!("{at}.{k}"),
                field: "",
                value: "an unknown field".to_owned(),
                allowed: format!("only the fields {}", field_names()),
            })
            .collect(),
    )))
}

fn batch(
    value: &Value,
    at: &str,
    max_batch: usize,
    parse_one: fn(&Value, &str) -> Result<Customer, ApiError>,
) -> Result<Vec<Customer>, ApiError> {
    let Value::Array(rows) = value else {
        return Err(ApiError::BadShape(format!(
            "{at}: got {}; expected an array",
            kind(value)
        )));
    };
    if rows.is_empty() || rows.len() > max_batch {
        return Err(ApiError::BatchSize {
            at: at.to_owned(),
            got: rows.len(),
            max: max_batch,
        });
    }
    let mut customers = Vec::with_capacity(rows.len());
    let mut problems = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        match parse_one(row, &format!("{at}[{i}]")) {
            Ok(c) => customers.push(c),
            Err(ApiError::Invalid(InvalidCustomer(errors))) => problems.extend(errors),
            Err(other) => return Err(other),
        }
    }
    if problems.is_empty() {
        Ok(customers)
    } else {
        Err(ApiError::Invalid(InvalidCustomer(problems)))
    }
}

fn input(value: &Value) -> Input<'_> {
    match value {
        Value::Null => Input::Null,
        Value::Bool(b) => Input::Bool(*b),
        // serde_json refuses numbers that overflow f64, so every number here is finite.
        Value::Number(n) => n.as_f64().map_or(Input::Nested, Input::Number),
        Value::String(s) => Input::Text(s),
        Value::Array(_) | Value::Object(_) => Input::Nested,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn field_names() -> String {
    model::fields::FIELDS.map(|f| f.name).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_four_shapes_parse_and_agree() {
        let data = json!({"data": [670, 1, 38, 7, 0.0, 2, 1, 1, 77864.41, 1, 0, 0]});
        let customer = json!({"customer": {"credit_score": 670, "geography": "France", "gender": "Male", "age": 38,
            "tenure": 7, "balance": 0.0, "num_of_products": 2, "has_cr_card": true, "is_active_member": 1,
            "estimated_salary": 77864.41}});
        let one = parse(&data, 10).unwrap();
        assert_eq!(one, parse(&customer, 10).unwrap());
        let instances = json!({"instances": [data["data"], data["data"]]});
        let customers = json!({"customers": [customer["customer"], customer["customer"]]});
        assert_eq!(
            parse(&instances, 10).unwrap(),
            parse(&customers, 10).unwrap()
        );
        assert_eq!(parse(&instances, 10).unwrap().customers().len(), 2);
    }

    #[test]
    fn a_bad_row_in_a_batch_is_named_by_its_index() {
        let body = json!({"instances": [[670, 1, 38, 7, 0.0, 2, 1, 1, 77864.41, 1, 0, 0],
                                        [670, 1, 17, 7, 0.0, 2, 1, 1, 77864.41, 1, 0, 0]]});
        let err = parse(&body, 10).unwrap_err().to_string();
        assert!(err.contains("instances[1][2] (Age)"), "{err}");
    }

    #[test]
    fn batches_must_hold_between_one_and_the_maximum() {
        assert!(parse(&json!({"instances": []}), 10).is_err());
        let row = json!([670, 1, 38, 7, 0.0, 2, 1, 1, 77864.41, 1, 0, 0]);
        assert!(parse(&json!({"instances": vec![row; 11]}), 10).is_err());
    }
}

/// Properties over arbitrary input: parsing never panics and refuses only with a client error;
/// every valid customer means the same thing in both forms.
#[cfg(test)]
mod properties {
    use super::*;
    use model::fields::{FIELDS, Rule};
    use proptest::prelude::*;
    use serde_json::json;

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::String),
            // Keys and values the parser looks for, so the search reaches deep branches.
            prop::sample::select(vec!["data", "customer", "instances", "customers", "age"])
                .prop_map(|s| Value::String(s.to_owned())),
        ];
        leaf.prop_recursive(4, 64, 12, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..14).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        prop::sample::select(FIELDS.map(|f| f.name).to_vec())
                            .prop_map(str::to_owned),
                        prop::sample::select(vec!["data", "customer", "instances", "customers"])
                            .prop_map(str::to_owned),
                        ".{0,6}",
                    ],
                    inner,
                    0..11,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A value for `rule`, as it appears in the named form.
    fn named_value(rule: Rule) -> BoxedStrategy<Value> {
        match rule {
            Rule::Whole { min, max } => (min..=max).prop_map(Value::from).boxed(),
            // Cents, as money arrives; up to the rule's maximum.
            Rule::Amount { min, max } => ((min * 100.0) as u64..=(max * 100.0) as u64)
                .prop_map(|cents| json!(cents as f64 / 100.0))
                .boxed(),
            Rule::Flag => prop_oneof![
                Just(json!(0)),
                Just(json!(1)),
                any::<bool>().prop_map(Value::Bool)
            ]
            .boxed(),
            Rule::OneOf(names) => prop::sample::select(names).prop_map(Value::from).boxed(),
        }
    }

    fn valid_named_customer() -> impl Strategy<Value = Map<String, Value>> {
        FIELDS
            .map(|f| named_value(f.rule).prop_map(move |v| (f.name.to_owned(), v)))
            .to_vec()
            .prop_map(|pairs| pairs.into_iter().collect())
    }

    /// The same customer as the original contract's 12 numbers.
    fn as_vector(named: &Map<String, Value>) -> Value {
        let number = |name: &str| match &named[name] {
            Value::Bool(b) => json!(u8::from(*b)),
            other => other.clone(),
        };
        let gender = u8::from(named["gender"] == "Male");
        let geography = ["France", "Germany", "Spain"].map(|g| u8::from(named["geography"] == g));
        json!([
            number("credit_score"),
            gender,
            number("age"),
            number("tenure"),
            number("balance"),
            number("num_of_products"),
            number("has_cr_card"),
            number("is_active_member"),
            number("estimated_salary"),
            geography[0],
            geography[1],
            geography[2]
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic_and_are_refused_as_client_errors(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(value) = serde_json::from_slice::<Value>(&bytes)
                && let Err(e) = parse(&value, 10) {
                    prop_assert!(e.status().is_client_error(), "{e}");
                }
        }

        #[test]
        fn arbitrary_json_never_panics_and_is_refused_as_a_client_error(value in any_json()) {
            if let Err(e) = parse(&value, 10) {
                prop_assert!(e.status().is_client_error(), "{e}");
            }
        }

        #[test]
        fn a_valid_customer_means_the_same_in_both_forms(named in valid_named_customer()) {
            let by_name = parse(&json!({"customer": named}), 10).unwrap();
            let by_vector = parse(&json!({"data": as_vector(&named)}), 10).unwrap();
            prop_assert_eq!(&by_name, &by_vector);
            static MODEL: std::sync::LazyLock<model::Model> =
                std::sync::LazyLock::new(|| model::Model::bundled().unwrap());
            let model = &*MODEL;
            let [a] = by_name.customers() else { unreachable!() };
            let [b] = by_vector.customers() else { unreachable!() };
            prop_assert_eq!(model.predict_one(a), model.predict_one(b));
        }
    }
}
