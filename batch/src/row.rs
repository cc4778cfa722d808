//! One record → a valid [`Customer`], or every reason it is not one: the field table's rules,
//! applied by [`Customer::from_named`] exactly as for the JSON API's named form.
//!
//! A cell becomes an [`Input`] as a JSON value would: empty → missing, a number → a number,
//! `true`/`false` → a boolean (flags accept them, as in JSON), anything else → text (which
//! geography and gender take by name).

use std::borrow::Cow;
use std::fmt;

use model::fields::{At, FieldError, Input};
use model::{Customer, InvalidCustomer};

use crate::schema::{FIELD_COUNT, Header};

/// Why a row was not scored.
#[derive(Debug, Clone, PartialEq)]
pub enum Defect {
    /// A value the field table refuses; its `location` is the column's name as written.
    Value(FieldError),
    /// Another count of fields than the header's.
    Columns { got: usize, expected: usize },
    /// A quoted field still open at the end of the input.
    UnclosedQuote,
}

impl Defect {
    /// A short, stable code for programs: the field table's problem codes, `column_count`,
    /// `unclosed_quote`.
    pub fn code(&self) -> &'static str {
        match self {
            Defect::Value(e) => e.problem.code(),
            Defect::Columns { .. } => "column_count",
            Defect::UnclosedQuote => "unclosed_quote",
        }
    }

    /// The column it is about (as written in the header), or empty for the whole row.
    pub fn column(&self) -> &str {
        match self {
            Defect::Value(e) => &e.location,
            _ => "",
        }
    }

    /// What would have been accepted.
    pub fn allowed(&self) -> String {
        match self {
            Defect::Value(e) => e.expected.to_string(),
            Defect::Columns { expected, .. } => format!("{expected} fields, as in the header"),
            Defect::UnclosedQuote => "a closing quote (\") for every opening one".to_owned(),
        }
    }
}

/// `Age: got 17; expected a whole number from 18 to 120`.
impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Defect::Value(e) => write!(f, "{e}"),
            Defect::Columns { got, expected } => {
                write!(f, "{got} fields; expected {expected}, as in the header")
            }
            Defect::UnclosedQuote => {
                f.write_str("a quoted field is never closed before the end of the input")
            }
        }
    }
}

/// The defects of one row, joined for people: `Age: got 17; …; Geography: got "Italy"; …`.
pub fn describe(defects: &[Defect]) -> String {
    let mut text = String::new();
    for (i, d) in defects.iter().enumerate() {
        if i > 0 {
            text.push_str("; ");
        }
        text.push_str(&d.to_string());
    }
    text
}

/// A cell as the field rules see it.
pub fn input(cell: &str) -> Input<'_> {
    let trimmed = cell.trim_ascii();
    if trimmed.is_empty() {
        return Input::Missing;
    }
    if let Some(n) = small_integer(trimmed.as_bytes()) {
        return Input::Number(n);
    }
    // Only digits, signs, points and exponents are read as a number: `inf` and `NaN` stay text.
    if trimmed
        .bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
        && let Ok(n) = trimmed.parse::<f64>()
    {
        return Input::Number(n);
    }
    if trimmed.eq_ignore_ascii_case("true") {
        Input::Bool(true)
    } else if trimmed.eq_ignore_ascii_case("false") {
        Input::Bool(false)
    } else {
        Input::Text(cell)
    }
}

/// Most cells are small whole numbers (`38`, `-0`): read exactly without the general float
/// parser. At most 15 digits, so every value is an exact `f64`, as the parser would give.
fn small_integer(text: &[u8]) -> Option<f64> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(d - b'0');
    }
    let n = n as f64;
    Some(if negative { -n } else { n })
}

/// Reads a record's fields (already split) into a customer, or every defect.
pub fn customer(fields: &[Cow<'_, [u8]>], header: &Header) -> Result<Customer, Vec<Defect>> {
    if fields.len() != header.names.len() {
        return Err(vec![Defect::Columns {
            got: fields.len(),
            expected: header.names.len(),
        }]);
    }
    // Cells in the table's order; text that is not UTF-8 is read with replacement characters
    // (and refused all the same, since no rule takes it).
    let mut lossy: [Option<String>; FIELD_COUNT] = Default::default();
    let mut texts: [Option<&str>; FIELD_COUNT] = [None; FIELD_COUNT];
    let mut numbers: [Option<f64>; FIELD_COUNT] = [None; FIELD_COUNT];
    for (i, &column) in header.columns.iter().enumerate() {
        let cell = &fields[column];
        // Whole numbers (most cells) need no UTF-8 check: they are ASCII digits.
        numbers[i] = small_integer(cell.trim_ascii());
        if numbers[i].is_some() {
            continue;
        }
        match std::str::from_utf8(cell) {
            Ok(text) => texts[i] = Some(text),
            Err(_) => lossy[i] = Some(String::from_utf8_lossy(cell).into_owned()),
        }
    }
    let inputs: [Input<'_>; FIELD_COUNT] = std::array::from_fn(|i| match numbers[i] {
        Some(n) => Input::Number(n),
        None => input(texts[i].or(lossy[i].as_deref()).unwrap_or_default()),
    });
    // `from_named` asks for the fields in the table's order: try the next one first.
    let next = std::cell::Cell::new(0);
    let get = |name: &str| {
        let guess = next.get() % FIELD_COUNT;
        let i = if model::fields::FIELDS[guess].name == name {
            guess
        } else {
            match model::fields::FIELDS.iter().position(|f| f.name == name) {
                Some(i) => i,
                None => return Input::Missing,
            }
        };
        next.set(i + 1);
        inputs[i]
    };
    Customer::from_named(get, At::ROOT).map_err(|InvalidCustomer(errors)| {
        errors
            .into_iter()
            .map(|mut e| {
                // Name the column as the file does.
                if let Some(i) = model::fields::FIELDS
                    .iter()
                    .position(|f| Some(f.name) == e.field.map(|f| f.name))
                {
                    e.location = header.name(header.columns[i]).trim().to_owned();
                }
                Defect::Value(e)
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_read_as_json_values_would() {
        assert_eq!(input(""), Input::Missing);
        assert_eq!(input("  "), Input::Missing);
        assert_eq!(input("38"), Input::Number(38.0));
        assert_eq!(input("007"), Input::Number(7.0));
        assert!(matches!(input("-0"), Input::Number(n) if n == 0.0 && n.is_sign_negative()));
        assert_eq!(
            input("1234567890123456789"),
            Input::Number(1234567890123456789.0)
        );
        assert_eq!(input(" 77864.41 "), Input::Number(77864.41));
        assert_eq!(input("-0.5e1"), Input::Number(-5.0));
        assert_eq!(input("TRUE"), Input::Bool(true));
        assert_eq!(input("false"), Input::Bool(false));
        assert_eq!(input("France"), Input::Text("France"));
        assert_eq!(input("inf"), Input::Text("inf"));
        assert_eq!(input("NaN"), Input::Text("NaN"));
        assert_eq!(input("+inf"), Input::Text("+inf"));
        assert_eq!(input("1,5"), Input::Text("1,5"));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn whole_numbers_read_as_the_float_parser_reads_them(text in "-?[0-9]{1,18}") {
            let Input::Number(n) = input(&text) else { panic!("{text} is a number") };
            let parsed: f64 = text.parse().unwrap();
            prop_assert_eq!(n.to_bits(), parsed.to_bits());
        }
    }
}
