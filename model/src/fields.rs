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

impl fmt::Display for Input<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Missing => f.write_str("nothing"),
            Input::Null => f.write_str("null"),
            Input::Bool(b) => write!(f, "{b}"),
            Input::Number(n) => write!(f, "{n}"),
            Input::Text(s) => write!(f, "{:?}", truncate(s, 40)),
            Input::Nested => f.write_str("an array or object"),
        }
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    }
}

/// Why one field was refused. Data, not a string, so the form can show it beside its input.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Where the value was: a field name (`age`) or a position (`data[2] (age)`).
    pub location: String,
    /// The field's name in the field table (for the form to put the message beside it).
    pub field: &'static str,
    /// What was sent, as text.
    pub value: String,
    /// What is allowed.
    pub allowed: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: got {}; expected {}",
            self.location, self.value, self.allowed
        )
    }
}

impl Rule {
    /// Plain-language description of what the rule allows.
    pub fn allowed(&self) -> String {
        match *self {
            Rule::Whole { min, max } => format!("a whole number from {min} to {max}"),
            Rule::Amount { min, max } => format!("a finite number from {min} to {max:e}"),
            Rule::Flag => "0 or 1 (or false/true)".to_owned(),
            Rule::OneOf(names) => format!("one of {}", names.join(", ")),
        }
    }
}

impl Field {
    /// Checks a number for a numeric rule; `OneOf` fields are resolved by the caller.
    pub(crate) fn number(&self, input: Input<'_>, location: &str) -> Result<f64, FieldError> {
        let refuse = |allowed: String| self.refuse(location, input, allowed);
        let n = match (self.rule, input) {
            (_, Input::Number(n)) => n,
            (Rule::Flag, Input::Bool(b)) => f64::from(u8::from(b)),
            _ => return Err(refuse(self.rule.allowed())),
        };
        let ok = match self.rule {
            Rule::Whole { min, max } => n.fract() == 0.0 && n >= min as f64 && n <= max as f64,
            Rule::Amount { min, max } => n.is_finite() && n >= min && n <= max,
            Rule::Flag => n == 0.0 || n == 1.0,
            Rule::OneOf(_) => false,
        };
        if ok {
            Ok(n)
        } else {
            Err(refuse(self.rule.allowed()))
        }
    }

    /// Resolves a `OneOf` field given by name (case-insensitive) to its index.
    pub(crate) fn choice(&self, input: Input<'_>, location: &str) -> Result<usize, FieldError> {
        let Rule::OneOf(names) = self.rule else {
            unreachable!("choice() is only called on OneOf fields")
        };
        match input {
            Input::Text(s) => names
                .iter()
                .position(|name| name.eq_ignore_ascii_case(s.trim())),
            _ => None,
        }
        .ok_or_else(|| self.refuse(location, input, self.rule.allowed()))
    }

    pub(crate) fn refuse(&self, location: &str, input: Input<'_>, allowed: String) -> FieldError {
        FieldError {
            location: location.to_owned(),
            field: self.name,
            value: input.to_string(),
            allowed,
        }
    }
}

/// Looks a field up by its name.
pub fn field(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.name == name)
}
