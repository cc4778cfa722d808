//! `Customer`: a bank customer's profile that is known to be valid.
//!
//! A `Customer` can only be made by parsing (from named fields or from the original
//! 12-number vector), so every other part of the system holds either raw input or a
//! valid customer, and nothing in between.

use std::fmt;

use crate::fields::{self, At, Expected, Field, FieldError, Input, Problem, Rule};

/// The model's inputs, in the order of the original `{"data": [...]}` contract and of the
/// bundled model's `feature_names`.
pub const FEATURE_NAMES: [&str; FEATURE_COUNT] = [
    "CreditScore",
    "Gender",
    "Age",
    "Tenure",
    "Balance",
    "NumOfProducts",
    "HasCrCard",
    "IsActiveMember",
    "EstimatedSalary",
    "Geography_France",
    "Geography_Germany",
    "Geography_Spain",
];
pub const FEATURE_COUNT: usize = 12;

/// The model's input vector.
pub type Features = [f32; FEATURE_COUNT];

/// Which field each position of the 12-number vector belongs to. Geography spans the last three.
const VECTOR_FIELDS: [&Field; FEATURE_COUNT] = [
    &fields::CREDIT_SCORE,
    &fields::GENDER,
    &fields::AGE,
    &fields::TENURE,
    &fields::BALANCE,
    &fields::NUM_OF_PRODUCTS,
    &fields::HAS_CR_CARD,
    &fields::IS_ACTIVE_MEMBER,
    &fields::ESTIMATED_SALARY,
    &fields::GEOGRAPHY,
    &fields::GEOGRAPHY,
    &fields::GEOGRAPHY,
];
const FIRST_GEOGRAPHY: usize = 9;

/// The field of the table that feature `i` (in [`FEATURE_NAMES`] order) comes from.
pub fn field_of_feature(i: usize) -> &'static Field {
    VECTOR_FIELDS[i]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Geography {
    France,
    Germany,
    Spain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gender {
    Female,
    Male,
}

impl Geography {
    const ALL: [Geography; 3] = [Geography::France, Geography::Germany, Geography::Spain];
    pub fn name(self) -> &'static str {
        fields::GEOGRAPHIES[self as usize]
    }
}

impl Gender {
    const ALL: [Gender; 2] = [Gender::Female, Gender::Male];
    pub fn name(self) -> &'static str {
        fields::GENDERS[self as usize]
    }
}

/// A valid customer profile. Fields are private: the only way in is parsing.
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    credit_score: u16,
    geography: Geography,
    gender: Gender,
    age: u8,
    tenure: u8,
    balance: f64,
    num_of_products: u8,
    has_cr_card: bool,
    is_active_member: bool,
    estimated_salary: f64,
}

/// Every problem found in one customer's input (all of them, not just the first).
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidCustomer(pub Vec<FieldError>);

impl fmt::Display for InvalidCustomer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InvalidCustomer {}

/// The original project's sample customer, as the 12 numbers of `{"data": [...]}`: the one
/// example every test and document uses.
pub const SAMPLE_VECTOR: [f64; FEATURE_COUNT] = [
    670.0, 1.0, 38.0, 7.0, 0.0, 2.0, 1.0, 1.0, 77864.41, 1.0, 0.0, 0.0,
];

impl Customer {
    /// Parses the named form: `get(name)` returns what was sent for each field of the table.
    /// `at` prefixes locations in messages (`customer` gives `customer.age`). Unknown keys
    /// are the caller's to refuse (it knows what was sent).
    pub fn from_named<'a>(
        get: impl Fn(&str) -> Input<'a>,
        at: At<'_>,
    ) -> Result<Customer, InvalidCustomer> {
        let mut errors = Vec::new();
        let mut check = |field: &'static Field, result: Result<f64, Problem>| {
            result
                .map_err(|problem| {
                    errors.push(field.refuse(at.field(field.name), get(field.name), problem));
                })
                .ok()
        };
        let number = |f: &Field| f.rule.number(get(f.name));
        let choice = |f: &Field| f.rule.choice(get(f.name)).map(|i| i as f64);
        let credit_score = check(&fields::CREDIT_SCORE, number(&fields::CREDIT_SCORE));
        let geography = check(&fields::GEOGRAPHY, choice(&fields::GEOGRAPHY));
        let gender = check(&fields::GENDER, choice(&fields::GENDER));
        let age = check(&fields::AGE, number(&fields::AGE));
        let tenure = check(&fields::TENURE, number(&fields::TENURE));
        let balance = check(&fields::BALANCE, number(&fields::BALANCE));
        let num_of_products = check(&fields::NUM_OF_PRODUCTS, number(&fields::NUM_OF_PRODUCTS));
        let has_cr_card = check(&fields::HAS_CR_CARD, number(&fields::HAS_CR_CARD));
        let is_active_member = check(&fields::IS_ACTIVE_MEMBER, number(&fields::IS_ACTIVE_MEMBER));
        let estimated_salary = check(&fields::ESTIMATED_SALARY, number(&fields::ESTIMATED_SALARY));
        match (
            credit_score,
            geography,
            gender,
            age,
            tenure,
            balance,
            num_of_products,
            has_cr_card,
            is_active_member,
            estimated_salary,
        ) {
            (
                Some(credit_score),
                Some(geography),
                Some(gender),
                Some(age),
                Some(tenure),
                Some(balance),
                Some(num_of_products),
                Some(has_cr_card),
                Some(is_active_member),
                Some(estimated_salary),
            ) => Ok(Customer {
                // The casts are exact: each value was checked to be whole and within its range.
                credit_score: credit_score as u16,
                geography: Geography::ALL[geography as usize],
                gender: Gender::ALL[gender as usize],
                age: age as u8,
                tenure: tenure as u8,
                balance,
                num_of_products: num_of_products as u8,
                has_cr_card: has_cr_card == 1.0,
                is_active_member: is_active_member == 1.0,
                estimated_salary,
            }),
            _ => Err(InvalidCustomer(errors)),
        }
    }

    /// Parses the original contract's 12 numbers (see [`FEATURE_NAMES`] for the order).
    /// `at` names the array in messages (`data` gives `data[2] (Age)`); positions are 0-based.
    pub fn from_vector(values: &[Input<'_>], at: At<'_>) -> Result<Customer, InvalidCustomer> {
        if values.len() != FEATURE_COUNT {
            return Err(InvalidCustomer(vec![wrong_count(values.len(), at)]));
        }
        let mut errors = Vec::new();
        let mut numbers = [0.0f64; FEATURE_COUNT];
        for (i, (&value, field)) in values.iter().zip(VECTOR_FIELDS).enumerate() {
            // Gender and the geography columns are 0/1 numbers in this form, never booleans.
            let (rule, expected) = match field.rule {
                Rule::OneOf(names) if i < FIRST_GEOGRAPHY => (Rule::Flag, Expected::Code(names)),
                Rule::OneOf(_) => (Rule::Flag, Expected::OneHot),
                Rule::Flag => (Rule::Flag, Expected::Binary),
                rule => (rule, Expected::Rule(rule)),
            };
            let checked = match value {
                Input::Bool(_) => Err(Problem::WrongType),
                _ => rule.number(value),
            };
            match checked {
                Ok(n) => numbers[i] = n,
                Err(problem) => errors.push(FieldError {
                    location: format!("{at}[{i}] ({})", FEATURE_NAMES[i]),
                    field: Some(field),
                    value: value.echo(),
                    problem,
                    expected,
                }),
            }
        }
        if !errors.is_empty() {
            return Err(InvalidCustomer(errors));
        }
        let one_hot = &numbers[FIRST_GEOGRAPHY..];
        let ones = one_hot.iter().filter(|&&v| v == 1.0).count();
        let Some(geography) = one_hot.iter().position(|&v| v == 1.0).filter(|_| ones == 1) else {
            return Err(InvalidCustomer(vec![FieldError {
                location: format!(
                    "{at}[9..=11] (Geography_France, Geography_Germany, Geography_Spain)"
                ),
                field: Some(&fields::GEOGRAPHY),
                value: format!("{ones} ones"),
                problem: Problem::NotOneHot { ones },
                expected: Expected::OneHot,
            }]));
        };
        Ok(Customer {
            credit_score: numbers[0] as u16,
            gender: Gender::ALL[numbers[1] as usize],
            age: numbers[2] as u8,
            tenure: numbers[3] as u8,
            balance: numbers[4],
            num_of_products: numbers[5] as u8,
            has_cr_card: numbers[6] == 1.0,
            is_active_member: numbers[7] == 1.0,
            estimated_salary: numbers[8],
            geography: Geography::ALL[geography],
        })
    }

    /// The original project's sample customer ([`SAMPLE_VECTOR`]).
    pub fn sample() -> Customer {
        Customer::from_vector(&SAMPLE_VECTOR.map(Input::Number), At::named("sample"))
            .expect("the sample customer is valid")
    }

    /// The model's input vector, in [`FEATURE_NAMES`] order. Money is narrowed to `f32`
    /// exactly as XGBoost does with its inputs.
    pub fn features(&self) -> Features {
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        let geo = |g: Geography| flag(self.geography == g);
        [
            f32::from(self.credit_score),
            self.gender as u8 as f32,
            f32::from(self.age),
            f32::from(self.tenure),
            self.balance as f32,
            f32::from(self.num_of_products),
            flag(self.has_cr_card),
            flag(self.is_active_member),
            self.estimated_salary as f32,
            geo(Geography::France),
            geo(Geography::Germany),
            geo(Geography::Spain),
        ]
    }

    /// The value of each field of the table, as text (for the form and for echoing back).
    pub fn value_of(&self, field: &str) -> Option<String> {
        let flag = |b: bool| if b { "1" } else { "0" }.to_owned();
        Some(match field {
            "credit_score" => self.credit_score.to_string(),
            "geography" => self.geography.name().to_owned(),
            "gender" => self.gender.name().to_owned(),
            "age" => self.age.to_string(),
            "tenure" => self.tenure.to_string(),
            "balance" => self.balance.to_string(),
            "num_of_products" => self.num_of_products.to_string(),
            "has_cr_card" => flag(self.has_cr_card),
            "is_active_member" => flag(self.is_active_member),
            "estimated_salary" => self.estimated_salary.to_string(),
            _ => return None,
        })
    }

    /// The same customer, made an active member or not. (Every flag value is valid.)
    pub fn with_is_active_member(&self, active: bool) -> Customer {
        Customer {
            is_active_member: active,
            ..self.clone()
        }
    }

    /// The same customer, with or without a credit card. (Every flag value is valid.)
    pub fn with_has_cr_card(&self, has_card: bool) -> Customer {
        Customer {
            has_cr_card: has_card,
            ..self.clone()
        }
    }

    /// The same customer holding `products` products, checked against the field table as
    /// any input is (a count outside its range is refused, never made into a customer).
    pub fn with_num_of_products(&self, products: u8) -> Result<Customer, InvalidCustomer> {
        let field = &fields::NUM_OF_PRODUCTS;
        let input = Input::Number(f64::from(products));
        let n = field.rule.number(input).map_err(|problem| {
            InvalidCustomer(vec![field.refuse(field.name.to_owned(), input, problem)])
        })?;
        Ok(Customer {
            num_of_products: n as u8,
            ..self.clone()
        })
    }

    pub fn credit_score(&self) -> u16 {
        self.credit_score
    }
    pub fn geography(&self) -> Geography {
        self.geography
    }
    pub fn gender(&self) -> Gender {
        self.gender
    }
    pub fn age(&self) -> u8 {
        self.age
    }
    pub fn tenure(&self) -> u8 {
        self.tenure
    }
    pub fn balance(&self) -> f64 {
        self.balance
    }
    pub fn num_of_products(&self) -> u8 {
        self.num_of_products
    }
    pub fn has_cr_card(&self) -> bool {
        self.has_cr_card
    }
    pub fn is_active_member(&self) -> bool {
        self.is_active_member
    }
    pub fn estimated_salary(&self) -> f64 {
        self.estimated_salary
    }
}

/// The 12-number form with another count of values.
pub fn wrong_count(got: usize, at: At<'_>) -> FieldError {
    FieldError {
        location: at.to_string(),
        field: None,
        value: format!("{got} values"),
        problem: Problem::WrongCount { got },
        expected: Expected::Vector,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(values: &[f64]) -> Vec<Input<'static>> {
        values.iter().map(|&v| Input::Number(v)).collect()
    }

    const SAMPLE: [f64; 12] = SAMPLE_VECTOR;

    fn named(key: &str) -> Input<'static> {
        match key {
            "credit_score" => Input::Number(670.0),
            "geography" => Input::Text("France"),
            "gender" => Input::Text("Male"),
            "age" => Input::Number(38.0),
            "tenure" => Input::Number(7.0),
            "balance" => Input::Number(0.0),
            "num_of_products" => Input::Number(2.0),
            "has_cr_card" => Input::Bool(true),
            "is_active_member" => Input::Number(1.0),
            "estimated_salary" => Input::Number(77864.41),
            _ => Input::Missing,
        }
    }

    #[test]
    fn the_sample_customer_parses_the_same_from_both_forms() {
        let from_vector = Customer::from_vector(&vector(&SAMPLE), At::named("data")).unwrap();
        let from_named = Customer::from_named(named, At::named("customer")).unwrap();
        assert_eq!(from_vector, from_named);
        assert_eq!(
            from_vector.features(),
            SAMPLE.map(|v| v as f32),
            "features come back in the original order"
        );
    }

    #[test]
    fn every_field_of_the_table_has_a_value_and_an_example_that_parses() {
        let customer = Customer::from_named(
            |k| {
                let example = fields::field(k).unwrap().example;
                match example.parse::<f64>() {
                    Ok(n) => Input::Number(n),
                    Err(_) => Input::Text(example),
                }
            },
            At::ROOT,
        )
        .expect("the table's examples form a valid customer");
        for f in fields::FIELDS {
            assert!(
                customer.value_of(f.name).is_some(),
                "{} has a value",
                f.name
            );
        }
    }

    #[test]
    fn a_vector_of_the_wrong_length_is_refused_with_its_count() {
        let err = Customer::from_vector(&vector(&SAMPLE[..11]), At::named("data")).unwrap_err();
        assert!(err.to_string().contains("11 values"), "{err}");
    }

    #[test]
    fn out_of_range_and_fractional_values_name_the_position_and_the_range() {
        let cases: &[(usize, f64, &str)] = &[
            (0, 299.0, "from 300 to 900"),
            (2, 17.0, "from 18 to 120"),
            (2, 38.5, "whole number"),
            (1, 2.0, "0 (Female) or 1 (Male)"),
            (5, 0.0, "from 1 to 10"),
            (6, 0.5, "0 or 1"),
            (4, -0.01, "finite number"),
        ];
        for &(position, value, expected) in cases {
            let mut values = SAMPLE;
            values[position] = value;
            let err = Customer::from_vector(&vector(&values), At::named("data"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("data[{position}]")),
                "{value} at {position}: {err}"
            );
            assert!(err.contains(expected), "{value} at {position}: {err}");
        }
    }

    #[test]
    fn a_changed_customer_differs_only_in_that_field_and_stays_valid() {
        let customer = Customer::from_vector(&vector(&SAMPLE), At::named("data")).unwrap();
        let inactive = customer.with_is_active_member(false);
        let mut expected = SAMPLE.map(|v| v as f32);
        expected[7] = 0.0;
        assert_eq!(inactive.features(), expected);
        let no_card = customer.with_has_cr_card(false);
        assert_eq!(no_card.features()[6], 0.0);
        let four = customer.with_num_of_products(4).unwrap();
        assert_eq!(four.features()[5], 4.0);
        assert_eq!(four.with_num_of_products(2).unwrap(), customer);
        for bad in [0, 11, 255] {
            let err = customer.with_num_of_products(bad).unwrap_err().to_string();
            assert!(err.contains("from 1 to 10"), "{bad}: {err}");
        }
    }

    #[test]
    fn geography_must_be_exactly_one_hot() {
        for one_hot in [[0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [1.0, 1.0, 1.0]] {
            let mut values = SAMPLE;
            values[9..].copy_from_slice(&one_hot);
            let err = Customer::from_vector(&vector(&values), At::named("data"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("exactly one"), "{one_hot:?}: {err}");
        }
        for (column, geography) in Geography::ALL.into_iter().enumerate() {
            let mut values = SAMPLE;
            values[9..].fill(0.0);
            values[9 + column] = 1.0;
            let customer = Customer::from_vector(&vector(&values), At::named("data")).unwrap();
            assert_eq!(customer.geography, geography, "column {column}");
        }
    }

    #[test]
    fn booleans_strings_and_nulls_are_not_numbers_in_the_vector() {
        for bad in [
            Input::Bool(true),
            Input::Text("670"),
            Input::Null,
            Input::Nested,
        ] {
            let mut values = vector(&SAMPLE);
            values[0] = bad;
            assert!(
                Customer::from_vector(&values, At::named("data")).is_err(),
                "{bad:?} refused"
            );
        }
    }

    #[test]
    fn all_problems_of_a_named_customer_are_reported_at_once() {
        let err = Customer::from_named(
            |k| match k {
                "age" => Input::Number(150.0),
                "geography" => Input::Text("Italy"),
                "tenure" => Input::Missing,
                other => named(other),
            },
            At::named("customer"),
        )
        .unwrap_err();
        let fields: Vec<_> = err.0.iter().map(FieldError::field_name).collect();
        assert_eq!(
            fields,
            ["geography", "age", "tenure"],
            "in the table's order"
        );
        assert!(
            err.to_string().contains("one of France, Germany, Spain"),
            "{err}"
        );
    }
}
