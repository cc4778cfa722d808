//! The JSON request shapes, parsed once, straight from the body's bytes into `Customer`s
//! ("parse, don't validate"): no intermediate `serde_json::Value`, so a request is read once.
//!
//! - `{"data": [12 numbers]}` and `{"customer": {...}}` ask for one answer;
//!   `{"instances": [[12 numbers], ...]}` and `{"customers": [{...}, ...]}` for a batch.
//! - Every key appears once: a duplicate (`{"data": A, "data": B}`, or a field given twice)
//!   is refused, naming the key, since a parser that kept the first value would disagree.
//! - What is refused is bounded whatever the request: at most `MAX_LISTED_PROBLEMS` problems
//!   are described (then counted), the first few unknown keys are named (then counted), values
//!   are echoed shortened, and values past a vector's 12th or a batch's `max_batch`th are
//!   skipped without being kept.
//!
//! Pure functions of the bytes: no HTTP here, so the JSON API, the SageMaker-compatible route
//! and Lambda's direct invocation all share them.

use std::borrow::Cow;
use std::fmt;

use model::customer::wrong_count;
use model::fields::{self, At, Expected, FieldError, Input, Problem, shorten};
use model::{Customer, FEATURE_COUNT, InvalidCustomer};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::{ApiError, Problems};

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

/// Unknown keys named in one answer (per customer); the rest are counted.
const UNKNOWN_KEYS_NAMED: usize = 3;

/// Parses a request body. `max_batch` bounds both batch shapes.
pub fn parse(body: &[u8], max_batch: usize) -> Result<PredictRequest, ApiError> {
    let mut state = State {
        max_batch,
        problems: Problems::default(),
        refusal: None,
    };
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed = Body(&mut state)
        .deserialize(&mut deserializer)
        .and_then(|parsed| deserializer.end().map(|()| parsed));
    if let Some(refusal) = state.refusal {
        return Err(refusal);
    }
    let parsed =
        parsed.map_err(|e| ApiError::MalformedJson(shorten(&e.to_string(), 200).into()))?;
    if !state.problems.is_empty() {
        return Err(ApiError::Invalid(state.problems));
    }
    parsed.ok_or_else(|| ApiError::BadShape(format!("an empty request; expected {SHAPES}")))
}

/// What parsing found besides the request: problems to report, or a refusal that stops it.
struct State {
    max_batch: usize,
    problems: Problems,
    /// Set when the request cannot be read further (a wrong shape, a duplicate top-level key,
    /// a batch size out of bounds); parsing then stops through a serde error.
    refusal: Option<ApiError>,
}

impl State {
    /// Records why the request is refused; the returned error stops the deserializer.
    fn refuse<E: de::Error>(&mut self, refusal: ApiError) -> E {
        self.refusal = Some(refusal);
        E::custom("request refused")
    }

    fn shape<E: de::Error>(&mut self, message: String) -> E {
        self.refuse(ApiError::BadShape(message))
    }
}

/// What a JSON value is, for messages that describe a request's structure without echoing it.
#[derive(Clone, Copy)]
enum Kind {
    Null,
    Boolean,
    Number,
    String,
    Array,
    Object,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Null => "null",
            Kind::Boolean => "a boolean",
            Kind::Number => "a number",
            Kind::String => "a string",
            Kind::Array => "an array",
            Kind::Object => "an object",
        })
    }
}

/// Implements every `visit_*` of a visitor that expects one kind of value by calling
/// `self.other(kind)` for the others.
macro_rules! refuse_other_kinds {
    ($($method:ident($($arg:ty)?) => $kind:expr;)*) => {
        $(
            fn $method<E: de::Error>(self, $(_: $arg)?) -> Result<Self::Value, E> {
                self.other($kind)
            }
        )*
    };
}

/// The top level: an object with exactly one of the four keys.
struct Body<'s>(&'s mut State);

impl<'de> DeserializeSeed<'de> for Body<'_> {
    type Value = Option<PredictRequest>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Body<'_> {
    fn other<E: de::Error>(self, kind: Kind) -> Result<Option<PredictRequest>, E> {
        Err(self
            .0
            .shape(format!("the body is {kind}; expected an object: {SHAPES}")))
    }
}

impl<'de> Visitor<'de> for Body<'_> {
    type Value = Option<PredictRequest>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    refuse_other_kinds! {
        visit_bool(bool) => Kind::Boolean;
        visit_i64(i64) => Kind::Number;
        visit_u64(u64) => Kind::Number;
        visit_f64(f64) => Kind::Number;
        visit_str(&str) => Kind::String;
        visit_unit() => Kind::Null;
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        self.other(Kind::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let state = self.0;
        // The key, and its request (`None` when refused: the problems are in the state).
        let mut first: Option<(Cow<'de, str>, Option<PredictRequest>)> = None;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let key = key.0;
            if let Some((earlier, _)) = &first {
                let message = if *earlier == key {
                    format!(
                        "the key {:?} appears twice; expected it once",
                        shorten(&key, 40)
                    )
                } else {
                    format!(
                        "expected exactly one top-level key, found {:?} and {:?}: {SHAPES}",
                        shorten(earlier, 40),
                        shorten(&key, 40)
                    )
                };
                return Err(state.shape(message));
            }
            let at = At::named(&key);
            let request = match &*key {
                "data" => map
                    .next_value_seed(Vector {
                        state: &mut *state,
                        at,
                    })?
                    .map(PredictRequest::One),
                "customer" => map
                    .next_value_seed(Named {
                        state: &mut *state,
                        at,
                    })?
                    .map(PredictRequest::One),
                "instances" | "customers" => map
                    .next_value_seed(Batch {
                        state: &mut *state,
                        at,
                        named: &*key == "customers",
                    })?
                    .map(PredictRequest::Batch),
                other => {
                    let message = format!(
                        "unknown top-level key {:?}; expected one of {SHAPES}",
                        shorten(other, 40)
                    );
                    return Err(state.shape(message));
                }
            };
            first = Some((key, request));
        }
        match first {
            Some((_, request)) => Ok(request),
            None => Err(state.shape(format!(
                "expected exactly one top-level key, found none: {SHAPES}"
            ))),
        }
    }
}

/// A map key, borrowed from the body when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(Text).map(Key)
    }
}

/// Reads a string, borrowed when possible.
struct Text;

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// One value where a field's value belongs, as sent.
#[derive(Debug, Default)]
enum Raw<'de> {
    #[default]
    Missing,
    Null,
    Bool(bool),
    Number(f64),
    Text(Cow<'de, str>),
    /// An array or object (skipped, not kept).
    Nested,
}

impl Raw<'_> {
    fn input(&self) -> Input<'_> {
        match self {
            Raw::Missing => Input::Missing,
            Raw::Null => Input::Null,
            Raw::Bool(b) => Input::Bool(*b),
            Raw::Number(n) => Input::Number(*n),
            Raw::Text(s) => Input::Text(s),
            Raw::Nested => Input::Nested,
        }
    }
}

impl<'de> de::Deserialize<'de> for Raw<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Raw::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Raw::Number(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Raw::Number(v as f64))
    }

    // serde_json refuses numbers that overflow f64, so every number here is finite.
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Raw::Number(v))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Raw::Text(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Raw::Text(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Raw::Text(Cow::Owned(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Raw::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Raw::Nested)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Raw::Nested)
    }
}

/// The 12-number form. A refused customer leaves its problems in the state and gives `None`.
struct Vector<'s, 'a> {
    state: &'s mut State,
    at: At<'a>,
}

impl<'de> DeserializeSeed<'de> for Vector<'_, '_> {
    type Value = Option<Customer>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Vector<'_, '_> {
    fn other<E: de::Error>(self, kind: Kind) -> Result<Option<Customer>, E> {
        let message = format!("{}: got {kind}; expected an array of 12 numbers", self.at);
        Err(self.state.shape(message))
    }
}

impl<'de> Visitor<'de> for Vector<'_, '_> {
    type Value = Option<Customer>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of 12 numbers")
    }

    refuse_other_kinds! {
        visit_bool(bool) => Kind::Boolean;
        visit_i64(i64) => Kind::Number;
        visit_u64(u64) => Kind::Number;
        visit_f64(f64) => Kind::Number;
        visit_str(&str) => Kind::String;
        visit_unit() => Kind::Null;
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        self.other(Kind::Object)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut values: [Raw<'de>; FEATURE_COUNT] = Default::default();
        let mut count = 0;
        while count < FEATURE_COUNT {
            match seq.next_element::<Raw<'de>>()? {
                Some(value) => values[count] = value,
                None => break,
            }
            count += 1;
        }
        // Past the 12th, values are counted for the message, not kept.
        while seq.next_element::<IgnoredAny>()?.is_some() {
            count += 1;
        }
        if count != FEATURE_COUNT {
            self.state.problems.push(wrong_count(count, self.at));
            return Ok(None);
        }
        let inputs = values.each_ref().map(Raw::input);
        Ok(accept(
            self.state,
            Customer::from_vector(&inputs, self.at),
            Vec::new(),
        ))
    }
}

/// The named form. A refused customer leaves its problems in the state and gives `None`.
struct Named<'s, 'a> {
    state: &'s mut State,
    at: At<'a>,
}

impl<'de> DeserializeSeed<'de> for Named<'_, '_> {
    type Value = Option<Customer>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Named<'_, '_> {
    fn other<E: de::Error>(self, kind: Kind) -> Result<Option<Customer>, E> {
        let message = format!(
            "{}: got {kind}; expected an object with the fields {}",
            self.at,
            fields::field_names()
        );
        Err(self.state.shape(message))
    }
}

impl<'de> Visitor<'de> for Named<'_, '_> {
    type Value = Option<Customer>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of named fields")
    }

    refuse_other_kinds! {
        visit_bool(bool) => Kind::Boolean;
        visit_i64(i64) => Kind::Number;
        visit_u64(u64) => Kind::Number;
        visit_f64(f64) => Kind::Number;
        visit_str(&str) => Kind::String;
        visit_unit() => Kind::Null;
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        self.other(Kind::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values: [Raw<'de>; fields::FIELDS.len()] = Default::default();
        let mut given = [false; fields::FIELDS.len()];
        let mut refused = Vec::new();
        let mut unknown = 0;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let Some(i) = fields::FIELDS.iter().position(|f| f.name == key) else {
                map.next_value::<IgnoredAny>()?;
                unknown += 1;
                // Name the first few; past that, a request of a million keys costs a count.
                if unknown <= UNKNOWN_KEYS_NAMED {
                    refused.push(FieldError {
                        location: self.at.field(&shorten(&key, 40)),
                        field: None,
                        value: "an unknown field".to_owned(),
                        problem: Problem::UnknownField,
                        expected: Expected::KnownField,
                    });
                }
                continue;
            };
            let value = map.next_value::<Raw<'de>>()?;
            if given[i] {
                let field = &fields::FIELDS[i];
                refused.push(FieldError {
                    location: self.at.field(field.name),
                    field: Some(field),
                    value: value.input().echo(),
                    problem: Problem::Duplicate,
                    expected: Expected::Once,
                });
                continue;
            }
            given[i] = true;
            values[i] = value;
        }
        if unknown > UNKNOWN_KEYS_NAMED {
            self.state.problems.count_more(unknown - UNKNOWN_KEYS_NAMED);
        }
        let get = |name: &str| {
            fields::FIELDS
                .iter()
                .position(|f| f.name == name)
                .map_or(Input::Missing, |i| values[i].input())
        };
        Ok(accept(
            self.state,
            Customer::from_named(get, self.at),
            refused,
        ))
    }
}

/// A customer, or `None` with every problem (the parser's and the field rules') recorded.
fn accept(
    state: &mut State,
    parsed: Result<Customer, InvalidCustomer>,
    refused: Vec<FieldError>,
) -> Option<Customer> {
    match parsed {
        Ok(customer) if refused.is_empty() => Some(customer),
        Ok(_) => {
            state.problems.extend(refused);
            None
        }
        Err(InvalidCustomer(errors)) => {
            state.problems.extend(refused);
            state.problems.extend(errors);
            None
        }
    }
}

/// A batch of either form, of 1 to `max_batch` customers.
struct Batch<'s, 'a> {
    state: &'s mut State,
    at: At<'a>,
    named: bool,
}

impl<'de> DeserializeSeed<'de> for Batch<'_, '_> {
    type Value = Option<Vec<Customer>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Batch<'_, '_> {
    fn other<E: de::Error>(self, kind: Kind) -> Result<Option<Vec<Customer>>, E> {
        let message = format!("{}: got {kind}; expected an array", self.at);
        Err(self.state.shape(message))
    }
}

impl<'de> Visitor<'de> for Batch<'_, '_> {
    type Value = Option<Vec<Customer>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of customers")
    }

    refuse_other_kinds! {
        visit_bool(bool) => Kind::Boolean;
        visit_i64(i64) => Kind::Number;
        visit_u64(u64) => Kind::Number;
        visit_f64(f64) => Kind::Number;
        visit_str(&str) => Kind::String;
        visit_unit() => Kind::Null;
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        self.other(Kind::Object)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let max = self.state.max_batch;
        let mut customers = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(max));
        let mut count = 0;
        let mut all_valid = true;
        while count < max {
            let at = At::row(self.at.name, count);
            let state = &mut *self.state;
            let row = if self.named {
                seq.next_element_seed(Named { state, at })?
            } else {
                seq.next_element_seed(Vector { state, at })?
            };
            match row {
                None => break,
                Some(Some(customer)) => customers.push(customer),
                Some(None) => all_valid = false,
            }
            count += 1;
        }
        // Past the limit, rows are counted for the message, not parsed or kept.
        while seq.next_element::<IgnoredAny>()?.is_some() {
            count += 1;
        }
        if count == 0 || count > max {
            let refusal = ApiError::BatchSize {
                at: self.at.to_string(),
                got: count,
                max,
            };
            return Err(self.state.refuse(refusal));
        }
        Ok(all_valid.then_some(customers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse_json(body: serde_json::Value, max_batch: usize) -> Result<PredictRequest, ApiError> {
        parse(body.to_string().as_bytes(), max_batch)
    }

    #[test]
    fn the_four_shapes_parse_and_agree() {
        let data = json!({"data": [670, 1, 38, 7, 0.0, 2, 1, 1, 77864.41, 1, 0, 0]});
        let customer = json!({"customer": {"credit_score": 670, "geography": "France", "gender": "Male", "age": 38,
            "tenure": 7, "balance": 0.0, "num_of_products": 2, "has_cr_card": true, "is_active_member": 1,
            "estimated_salary": 77864.41}});
        let one = parse_json(data.clone(), 10).unwrap();
        assert_eq!(one, parse_json(customer.clone(), 10).unwrap());
        assert_eq!(one, PredictRequest::One(Customer::sample()));
        let instances = json!({"instances": [data["data"], data["data"]]});
        let customers = json!({"customers": [customer["customer"], customer["customer"]]});
        assert_eq!(
            parse_json(instances.clone(), 10).unwrap(),
            parse_json(customers, 10).unwrap()
        );
        assert_eq!(parse_json(instances, 10).unwrap().customers().len(), 2);
    }

    #[test]
    fn a_bad_row_in_a_batch_is_named_by_its_index() {
        let body = json!({"instances": [[670, 1, 38, 7, 0.0, 2, 1, 1, 77864.41, 1, 0, 0],
                                        [670, 1, 17, 7, 0.0, 2, 1, 1, 77864.41, 1, 0, 0]]});
        let err = parse_json(body, 10).unwrap_err().to_string();
        assert!(err.contains("instances[1][2] (Age)"), "{err}");
    }

    #[test]
    fn batches_must_hold_between_one_and_the_maximum() {
        assert!(matches!(
            parse_json(json!({"instances": []}), 10),
            Err(ApiError::BatchSize { got: 0, .. })
        ));
        let row = json!([670, 1, 38, 7, 0.0, 2, 1, 1, 77864.41, 1, 0, 0]);
        assert!(matches!(
            parse_json(json!({"instances": vec![row; 11]}), 10),
            Err(ApiError::BatchSize { got: 11, .. })
        ));
    }

    #[test]
    fn duplicate_keys_are_refused_naming_the_key() {
        let row = "[670, 1, 38, 7, 0.0, 2, 1, 1, 77864.41, 1, 0, 0]";
        let body = format!(r#"{{"data": {row}, "data": {row}}}"#);
        let err = parse(body.as_bytes(), 10).unwrap_err();
        assert!(matches!(err, ApiError::BadShape(_)), "{err}");
        assert!(err.to_string().contains("\"data\" appears twice"), "{err}");

        let body = r#"{"customer": {"credit_score": 670, "geography": "France", "gender": "Male",
            "age": 38, "tenure": 7, "balance": 0, "num_of_products": 2, "has_cr_card": 1,
            "is_active_member": 1, "estimated_salary": 1, "credit_score": 300}}"#;
        let Err(ApiError::Invalid(problems)) = parse(body.as_bytes(), 10) else {
            panic!("a field given twice is refused");
        };
        let [dup] = problems.listed() else {
            panic!("{problems}")
        };
        assert_eq!(dup.problem, Problem::Duplicate);
        assert_eq!(dup.location, "customer.credit_score");
        assert_eq!(dup.value, "300");
    }

    #[test]
    fn a_flood_of_unknown_keys_is_named_a_few_times_then_counted() {
        let keys: Vec<String> = (0..10_000).map(|i| format!(r#""k{i}": {i}"#)).collect();
        let body = format!(r#"{{"customer": {{{}}}}}"#, keys.join(","));
        let Err(ApiError::Invalid(problems)) = parse(body.as_bytes(), 10) else {
            panic!("refused");
        };
        let unknown = problems
            .listed()
            .iter()
            .filter(|p| p.problem == Problem::UnknownField)
            .count();
        assert_eq!(unknown, UNKNOWN_KEYS_NAMED);
        assert_eq!(problems.more(), 10_000 - UNKNOWN_KEYS_NAMED);
    }

    #[test]
    fn malformed_json_and_trailing_bytes_are_malformed() {
        for body in [&b"{"[..], b"{\"data\": [1,]}", b"{\"data\": [1]} x", b""] {
            assert!(
                matches!(parse(body, 10), Err(ApiError::MalformedJson(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}

/// Properties over arbitrary input: parsing never panics and refuses only with a client error;
/// every valid customer means the same thing in both forms.
#[cfg(test)]
mod properties {
    use super::*;
    use model::fields::{FIELDS, Rule};
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

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

    fn parse_value(value: &Value) -> Result<PredictRequest, ApiError> {
        parse(value.to_string().as_bytes(), 10)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic_and_are_refused_as_client_errors(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            if let Err(e) = parse(&bytes, 10) {
                prop_assert!(e.status().is_client_error(), "{e}");
            }
        }

        #[test]
        fn arbitrary_json_never_panics_and_is_refused_as_a_client_error(value in any_json()) {
            if let Err(e) = parse_value(&value) {
                prop_assert!(e.status().is_client_error(), "{e}");
            }
        }

        #[test]
        fn a_valid_customer_means_the_same_in_both_forms(named in valid_named_customer()) {
            let by_name = parse_value(&json!({"customer": named})).unwrap();
            let by_vector = parse_value(&json!({"data": as_vector(&named)})).unwrap();
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
