//! The one field table: every rule about what a customer's profile may hold.
//!
//! The JSON API, the web form's HTML constraints (`min`, `max`, `step`, `required`)
//! and the server-side validation all read [`FIELDS`], so they cannot drift apart.

use std::fmt;

/// What values a field accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// A whole number within `min..=max` (`38` and `38.0` are both whole).
    Whole { min: i64, max: i64 },
    /// A finite amount of money within `min..=max`.
    Amount { min: f64, max: f64 },
    /// Yes or no: `0`/`1` (named JSON also takes `false`/`true`).
    Flag,
    /// One of a few names; in the 12-number form, an index (gender) or a one-hot group (geography).
    OneOf(&'static [&'static str]),
}

/// One input of the customer profile, as people and programs see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Field {
    /// Key in the named JSON form and the HTML form's `name`.
    pub name: &'static str,
    /// Visible label in the web form.
    pub label: &'static str,
    /// Unit or hint shown beside the input.
    pub hint: &'static str,
    /// A sensible example value (the original project's sample customer).
    pub example: &'static str,
    pub rule: Rule,
}

pub const GENDERS: &[&str] = &["Female", "Male"];
pub const GEOGRAPHIES: &[&str] = &["France", "Germany", "Spain"];

/// Upper bound for money fields: far above any retail customer, low enough to catch typos
/// such as a pasted account number.
pub const MAX_AMOUNT: f64 = 1e12;

pub const CREDIT_SCORE: Field = Field {
    name: "credit_score",
    label: "Credit score",
    hint: "300 to 900",
    example: "670",
    rule: Rule::Whole { min: 300, max: 900 },
};
pub const GEOGRAPHY: Field = Field {
    name: "geography",
    label: "Country",
    hint: "where the customer banks",
    example: "France",
    rule: Rule::OneOf(GEOGRAPHIES),
};
pub const GENDER: Field = Field {
    name: "gender",
    label: "Gender",
    hint: "",
    example: "Male",
    rule: Rule::OneOf(GENDERS),
};
pub const AGE: Field = Field {
    name: "age",
    label: "Age",
    hint: "years, 18 to 120",
    example: "38",
    rule: Rule::Whole { min: 18, max: 120 },
};
pub const TENURE: Field = Field {
    name: "tenure",
    label: "Tenure",
    hint: "years as a customer",
    example: "7",
    rule: Rule::Whole { min: 0, max: 100 },
};
pub const BALANCE: Field = Field {
    name: "balance",
    label: "Balance",
    hint: "account balance, ≥ 0",
    example: "0.00",
    rule: Rule::Amount {
        min: 0.0,
        max: MAX_AMOUNT,
    },
};
pub const NUM_OF_PRODUCTS: Field = Field {
    name: "num_of_products",
    label: "Number of products",
    hint: "products held, 1 to 10",
    example: "2",
    rule: Rule::Whole { min: 1, max: 10 },
};
pub const HAS_CR_CARD: Field = Field {
    name: "has_cr_card",
    label: "Has a credit card",
    hint: "",
    example: "1",
    rule: Rule::Flag,
};
pub const IS_ACTIVE_MEMBER: Field = Field {
    name: "is_active_member",
    label: "Is an active member",
    hint: "",
    example: "1",
    rule: Rule::Flag,
};
pub const ESTIMATED_SALARY: Field = Field {
    name: "estimated_salary",
    label: "Estimated salary",
    hint: "per year, ≥ 0",
    example: "77864.41",
    rule: Rule::Amount {
        min: 0.0,
        max: MAX_AMOUNT,
    },
};

/// Every field, in the order a person fills them in.
pub const FIELDS: [Field; 10] = [
    CREDIT_SCORE,
    GEOGRAPHY,
    GENDER,
    AGE,
    TENURE,
    BALANCE,
    NUM_OF_PRODUCTS,
    HAS_CR_CARD,
    IS_ACTIVE_MEMBER,
    ESTIMATED_SALARY,
];

/// A value as it arrived, before it means anything.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Input<'a> {
    /// The field was not sent at all.
    Missing,
    Null,
    Bool(bool),
    Number(f64),
    Text(&'a str),
    /// An array or object where a single value belongs.
    Nested,
}

/// Longest echo of a refused value, in characters: enough to recognise it, never enough to
/// turn an error answer into a copy of a huge request.
pub const MAX_ECHO_CHARS: usize = 40;

impl Input<'_> {
    /// What was sent, as text for an error message, shortened to [`MAX_ECHO_CHARS`].
    pub fn echo(&self) -> String {
        let text = match self {
            Input::Missing => return "nothing".to_owned(),
            Input::Null => return "null".to_owned(),
            Input::Bool(b) => return b.to_string(),
            Input::Nested => return "an array or object".to_owned(),
            // `{:?}` of a huge number (1e300) would print 300 digits.
            Input::Number(n) if n.abs() >= 1e16 => format!("{n:e}"),
            Input::Number(n) => n.to_string(),
            Input::Text(s) => return format!("{:?}", shorten(s, MAX_ECHO_CHARS)),
        };
        shorten(&text, MAX_ECHO_CHARS).into_owned()
    }
}

/// `s` cut to `max_chars` characters, with `…` when something was cut.
pub fn shorten(s: &str, max_chars: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &s[..end]).into(),
        None => s.into(),
    }
}

/// What is wrong with a value. Data, not words: the API renders it for programs
/// ([`FieldError`]'s `Display` and its JSON), the web form for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Nothing was sent for a required field.
    Missing,
    /// A value of the wrong kind: text or a boolean where a number belongs, null, an array or
    /// an object where a single value belongs.
    WrongType,
    /// A fraction where a whole number belongs.
    NotWhole,
    /// A number outside the allowed range (or not finite).
    OutOfRange,
    /// A name that is not one of the allowed ones.
    NotOneOf,
    /// The three one-hot geography columns do not hold exactly one 1.
    NotOneHot { ones: usize },
    /// The 12-number form with another count of values.
    WrongCount { got: usize },
    /// A key the field table does not know.
    UnknownField,
    /// A key given twice (a parser that read the first value would disagree with us).
    Duplicate,
}

impl Problem {
    /// A short, stable code for programs (`"problem"` in the JSON answer).
    pub fn code(&self) -> &'static str {
        match self {
            Problem::Missing => "missing",
            Problem::WrongType => "wrong_type",
            Problem::NotWhole => "not_whole",
            Problem::OutOfRange => "out_of_range",
            Problem::NotOneOf => "not_one_of",
            Problem::NotOneHot { .. } => "not_one_hot",
            Problem::WrongCount { .. } => "wrong_count",
            Problem::UnknownField => "unknown_field",
            Problem::Duplicate => "duplicate",
        }
    }
}

/// What would have been accepted where a value was refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expected {
    /// What the field table's rule allows.
    Rule(Rule),
    /// In the 12-number form, a choice coded by its index: gender's 0 (Female) or 1 (Male).
    Code(&'static [&'static str]),
    /// In the 12-number form, a yes/no column: the number 0 or 1 (never `true`/`false`).
    Binary,
    /// In the 12-number form, a one-hot column: 0 or 1, with exactly one of the group at 1.
    OneHot,
    /// The 12 numbers, in the model's order.
    Vector,
    /// Only the field table's names.
    KnownField,
    /// Each key at most once.
    Once,
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Rule(rule) => f.write_str(&rule.allowed()),
            Expected::Code(names) => {
                for (i, name) in names.iter().enumerate() {
                    let sep = match i {
                        0 => "",
                        _ if i + 1 == names.len() => " or ",
                        _ => ", ",
                    };
                    write!(f, "{sep}{i} ({name})")?;
                }
                Ok(())
            }
            Expected::Binary => f.write_str("a number, 0 or 1"),
            Expected::OneHot => f.write_str("0 or 1, with exactly one geography column set to 1"),
            Expected::Vector => write!(
                f,
                "exactly {} numbers in the order {}",
                crate::FEATURE_COUNT,
                crate::FEATURE_NAMES.join(", ")
            ),
            Expected::KnownField => write!(f, "only the fields {}", field_names()),
            Expected::Once => f.write_str("each field once"),
        }
    }
}

/// Why one value was refused, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Where the value was: a field name (`customer.age`) or a position (`data[2] (Age)`).
    pub location: String,
    /// The field of the table it belongs to; `None` for unknown keys and whole vectors.
    pub field: Option<&'static Field>,
    /// What was sent, shortened ([`Input::echo`]).
    pub value: String,
    pub problem: Problem,
    pub expected: Expected,
}

impl FieldError {
    /// The field's name in the table, or empty.
    pub fn field_name(&self) -> &'static str {
        self.field.map_or("", |f| f.name)
    }
}

/// For programs: `age: got 17; expected a whole number from 18 to 120`.
impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problem {
            Problem::Duplicate => write!(
                f,
                "{}: given twice; expected {}",
                self.location, self.expected
            ),
            Problem::UnknownField => write!(
                f,
                "{}: an unknown field; expected {}",
                self.location, self.expected
            ),
            _ => write!(
                f,
                "{}: got {}; expected {}",
                self.location, self.value, self.expected
            ),
        }
    }
}

impl Rule {
    /// Plain-language description of what the rule allows (for programs; the web form words
    /// its own, for people).
    pub fn allowed(&self) -> String {
        match *self {
            Rule::Whole { min, max } => format!("a whole number from {min} to {max}"),
            Rule::Amount { min, max } => format!("a finite number from {min} to {max:e}"),
            Rule::Flag => "0 or 1 (or false/true)".to_owned(),
            Rule::OneOf(names) => format!("one of {}", names.join(", ")),
        }
    }

    /// Checks a number against a numeric rule (`OneOf` takes names: see [`Rule::choice`]).
    pub fn number(&self, input: Input<'_>) -> Result<f64, Problem> {
        let n = match (self, input) {
            (_, Input::Number(n)) => n,
            (Rule::Flag, Input::Bool(b)) => f64::from(u8::from(b)),
            (_, Input::Missing) => return Err(Problem::Missing),
            _ => return Err(Problem::WrongType),
        };
        match *self {
            Rule::Whole { min, max } if n >= min as f64 && n <= max as f64 => {
                // Within an i64 range, the round trip through i64 is exact for whole numbers
                // only; unlike `fract`, it is a few instructions, not a call into libm.
                if (n as i64) as f64 == n {
                    Ok(n)
                } else {
                    Err(Problem::NotWhole)
                }
            }
            Rule::Amount { min, max } if n.is_finite() && n >= min && n <= max => Ok(n),
            Rule::Flag if n == 0.0 || n == 1.0 => Ok(n),
            Rule::OneOf(_) => Err(Problem::WrongType),
            _ => Err(Problem::OutOfRange),
        }
    }

    /// Resolves a name (case-insensitive, surrounding spaces ignored) to its index in a
    /// `OneOf` rule.
    pub fn choice(&self, input: Input<'_>) -> Result<usize, Problem> {
        let Rule::OneOf(names) = self else {
            return Err(Problem::WrongType);
        };
        match input {
            Input::Text(s) => names
                .iter()
                .position(|name| name.eq_ignore_ascii_case(s.trim()))
                .ok_or(Problem::NotOneOf),
            Input::Missing => Err(Problem::Missing),
            _ => Err(Problem::WrongType),
        }
    }
}

impl Field {
    /// A [`FieldError`] for this field's value.
    pub fn refuse(
        &'static self,
        location: String,
        input: Input<'_>,
        problem: Problem,
    ) -> FieldError {
        FieldError {
            location,
            field: Some(self),
            value: input.echo(),
            problem,
            expected: Expected::Rule(self.rule),
        }
    }
}

/// Where a customer is in a request, for error locations: `customer`, `customers[3]`, or the
/// root (the web form, whose fields are named alone). Locations are only written out when a
/// value is refused, so a valid request allocates none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At<'a> {
    pub name: &'a str,
    pub row: Option<usize>,
}

impl<'a> At<'a> {
    /// Fields named alone (`age`).
    pub const ROOT: At<'static> = At {
        name: "",
        row: None,
    };

    pub fn named(name: &'a str) -> At<'a> {
        At { name, row: None }
    }

    pub fn row(name: &'a str, row: usize) -> At<'a> {
        At {
            name,
            row: Some(row),
        }
    }

    /// `customer.age`, or `age` at the root.
    pub fn field(&self, field: &str) -> String {
        if self.name.is_empty() {
            field.to_owned()
        } else {
            format!("{self}.{field}")
        }
    }
}

/// `customers[3]`.
impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)?;
        match self.row {
            Some(i) => write!(f, "[{i}]"),
            None => Ok(()),
        }
    }
}

/// Looks a field up by its name.
pub fn field(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.name == name)
}

/// The field names, comma-separated, in the table's order.
pub fn field_names() -> String {
    FIELDS.map(|f| f.name).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_are_short_whatever_was_sent() {
        let long = "x".repeat(10_000);
        assert!(Input::Text(&long).echo().chars().count() <= MAX_ECHO_CHARS + 3);
        assert!(Input::Number(1e300).echo().len() <= MAX_ECHO_CHARS);
        assert_eq!(Input::Number(77864.41).echo(), "77864.41");
        assert_eq!(Input::Text("Italy").echo(), "\"Italy\"");
    }

    #[test]
    fn rules_name_the_problem() {
        let age = AGE.rule;
        assert_eq!(age.number(Input::Number(38.0)), Ok(38.0));
        assert_eq!(age.number(Input::Number(17.0)), Err(Problem::OutOfRange));
        assert_eq!(age.number(Input::Number(38.5)), Err(Problem::NotWhole));
        assert_eq!(age.number(Input::Text("38")), Err(Problem::WrongType));
        assert_eq!(age.number(Input::Missing), Err(Problem::Missing));
        assert_eq!(HAS_CR_CARD.rule.number(Input::Bool(true)), Ok(1.0));
        assert_eq!(GEOGRAPHY.rule.choice(Input::Text(" spain ")), Ok(2));
        assert_eq!(
            GEOGRAPHY.rule.choice(Input::Text("Italy")),
            Err(Problem::NotOneOf)
        );
    }

    #[test]
    fn program_wording_of_a_coded_choice() {
        assert_eq!(
            Expected::Code(GENDERS).to_string(),
            "0 (Female) or 1 (Male)"
        );
    }
}
