//! Retention levers: changes the bank can act on that would lower a customer's risk.
//!
//! Only [`ACTIONABLE`] fields are ever changed: whether the customer is an active member,
//! holds a credit card, and how many products they hold (the counts seen in training,
//! [`PRODUCT_COUNTS`]). Age, gender, geography, tenure, credit score, balance and salary are
//! not the bank's to change, and some are protected attributes. Each other value of each
//! field is tried, one field at a time, and re-scored by the model exactly as
//! [`Model::predict_one`] scores it; only changes that lower the probability are kept, lowest
//! resulting probability first.

use std::ops::RangeInclusive;

use crate::customer::{Customer, Features};
use crate::fields::{Field, HAS_CR_CARD, IS_ACTIVE_MEMBER, NUM_OF_PRODUCTS};
use crate::model::Model;

/// The fields a lever may change.
pub const ACTIONABLE: [&Field; 3] = [&IS_ACTIVE_MEMBER, &HAS_CR_CARD, &NUM_OF_PRODUCTS];

/// The numbers of products seen in the training data (the field table allows up to 10, but
/// the model has never seen a customer with more than 4).
pub const PRODUCT_COUNTS: RangeInclusive<u8> = 1..=4;

/// One change and what the model answers for the changed customer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lever {
    /// One of [`ACTIONABLE`].
    pub field: &'static Field,
    /// The customer's value (0/1 for flags).
    pub from: u8,
    /// The suggested value.
    pub to: u8,
    /// The probability the model gives the changed customer (what `POST /predict` answers).
    pub probability: f64,
    /// The probability the model gives the customer as they are.
    pub probability_before: f64,
}

impl Lever {
    /// The customer with this lever's change made; `None` if the lever does not apply to
    /// them (another `from` value) or names a field that is not actionable.
    pub fn apply(&self, customer: &Customer) -> Option<Customer> {
        if value_of(self.field, customer)? != self.from {
            return None;
        }
        change(customer, self.field, self.to)
    }

    /// The lever in plain words, e.g. "Becoming an active member would lower the risk of
    /// leaving from 58.3% to 41.0%".
    pub fn text(&self) -> String {
        let change = self.change();
        let (before, after) = percentages(self.probability_before, self.probability);
        format!("{change} would lower the risk of leaving from {before} to {after}")
    }

    /// The change alone, e.g. "Becoming an active member", "Holding 1 product instead of 3".
    pub fn change(&self) -> String {
        match (self.field.name, self.to) {
            ("is_active_member", 1) => "Becoming an active member".to_owned(),
            ("is_active_member", _) => "No longer being an active member".to_owned(),
            ("has_cr_card", 1) => "Having a credit card".to_owned(),
            ("has_cr_card", _) => "Not having a credit card".to_owned(),
            ("num_of_products", to) => format!(
                "Holding {to} product{} instead of {}",
                if to == 1 { "" } else { "s" },
                self.from
            ),
            (name, to) => format!("Setting {name} to {to}"),
        }
    }
}

/// Every change of an actionable field that lowers this customer's probability, lowest
/// resulting probability first (ties in [`ACTIONABLE`] order).
pub fn levers(model: &Model, customer: &Customer) -> Vec<Lever> {
    let mut levers = Vec::with_capacity(5);
    levers.extend(lowering(model, customer));
    levers.sort_by(|a, b| a.probability.total_cmp(&b.probability));
    levers
}

/// The first of [`levers`] (the lowest resulting probability; on a tie the first in
/// [`ACTIONABLE`] order, as the stable sort leaves it), without collecting the others: what a
/// file scored with `--levers` writes for each row, with no allocation.
pub fn best(model: &Model, customer: &Customer) -> Option<Lever> {
    // `min_by` keeps the first of equal minima, as `levers`' stable sort does.
    lowering(model, customer).min_by(|a, b| a.probability.total_cmp(&b.probability))
}

/// Each change that lowers the probability, in [`ACTIONABLE`] order, then value order.
fn lowering<'a>(model: &'a Model, customer: &'a Customer) -> impl Iterator<Item = Lever> + 'a {
    let before = model.predict_one(customer).probability;
    ACTIONABLE.into_iter().flat_map(move |field| {
        let from = value_of(field, customer);
        candidates(field)
            .filter(move |&to| from.is_some_and(|from| from != to))
            .filter_map(move |to| {
                let from = from?;
                let changed = change(customer, field, to)?;
                let probability = model.predict_one(&changed).probability;
                (probability < before).then_some(Lever {
                    field,
                    from,
                    to,
                    probability,
                    probability_before: before,
                })
            })
    })
}

/// The changed customers behind `all` (a list of levers per customer of `customers`, as
/// [`levers`] gives), in order: what a scorer other than the explaining model must score for
/// the levers' probabilities to be its own ([`rescore`]).
pub fn changed_rows(all: &[Vec<Lever>], customers: &[Customer]) -> Vec<Features> {
    all.iter()
        .zip(customers)
        .flat_map(|(levers, customer)| levers.iter().filter_map(|lever| lever.apply(customer)))
        .map(|c| c.features())
        .collect()
}

/// Gives each lever of `all` the scorer's probability for its changed customer: `scores`
/// answers [`changed_rows`] of the same levers, in the same order.
pub fn rescore(all: &mut [Vec<Lever>], customers: &[Customer], scores: &[f64]) {
    let mut scores = scores.iter();
    for (levers, customer) in all.iter_mut().zip(customers) {
        for lever in levers.iter_mut() {
            if lever.apply(customer).is_some() {
                lever.probability = *scores.next().unwrap_or(&f64::INFINITY);
            }
        }
    }
}

/// Keeps the levers that lower `probability` (the scorer's answer for the customer as they
/// are), lowest resulting probability first: the last step for levers re-scored by another
/// scorer ([`rescore`]).
pub fn settle(levers: &mut Vec<Lever>, probability: f64) {
    for lever in levers.iter_mut() {
        lever.probability_before = probability;
    }
    levers.retain(|lever| lever.probability < probability);
    levers.sort_by(|a, b| a.probability.total_cmp(&b.probability));
}

fn candidates(field: &Field) -> RangeInclusive<u8> {
    if field.name == NUM_OF_PRODUCTS.name {
        PRODUCT_COUNTS
    } else {
        0..=1
    }
}

fn value_of(field: &Field, customer: &Customer) -> Option<u8> {
    match field.name {
        "is_active_member" => Some(u8::from(customer.is_active_member())),
        "has_cr_card" => Some(u8::from(customer.has_cr_card())),
        "num_of_products" => Some(customer.num_of_products()),
        _ => None,
    }
}

fn change(customer: &Customer, field: &Field, to: u8) -> Option<Customer> {
    match (field.name, to) {
        ("is_active_member", 0 | 1) => Some(customer.with_is_active_member(to == 1)),
        ("has_cr_card", 0 | 1) => Some(customer.with_has_cr_card(to == 1)),
        ("num_of_products", _) => customer.with_num_of_products(to).ok(),
        _ => None,
    }
}

/// Both probabilities as percentages, with as many decimals (1 to 4) as it takes for them
/// to read differently.
fn percentages(before: f64, after: f64) -> (String, String) {
    let mut decimals = 1;
    loop {
        let (b, a) = (
            format!("{:.*}%", decimals, before * 100.0),
            format!("{:.*}%", decimals, after * 100.0),
        );
        if a != b || decimals == 4 {
            return (b, a);
        }
        decimals += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::Input;

    fn customer(values: [f64; 12]) -> Customer {
        Customer::from_vector(&values.map(Input::Number), crate::fields::At::named("data")).unwrap()
    }

    /// Customers across the range: inactive, without a card, with 1 to 4 and 7 products.
    fn customers() -> Vec<Customer> {
        let mut all = Vec::new();
        for products in [1.0, 2.0, 3.0, 4.0, 7.0] {
            for active in [0.0, 1.0] {
                for card in [0.0, 1.0] {
                    for (age, geography) in [(29.0, 9), (47.0, 10), (62.0, 11)] {
                        let mut v = [
                            640.0, 0.0, age, 4.0, 98000.0, products, card, active, 51000.0, 0.0,
                            0.0, 0.0,
                        ];
                        v[geography] = 1.0;
                        all.push(customer(v));
                    }
                }
            }
        }
        all
    }

    #[test]
    fn levers_re_predict_to_their_probability_never_raise_it_and_come_sorted() {
        let model = Model::bundled().unwrap();
        let mut seen = 0;
        for customer in customers() {
            let before = model.predict_one(&customer).probability;
            let levers = levers(&model, &customer);
            assert_eq!(
                best(&model, &customer),
                levers.first().copied(),
                "the best lever is the first of the list"
            );
            for lever in &levers {
                assert!(ACTIONABLE.iter().any(|f| f.name == lever.field.name));
                let changed = lever.apply(&customer).expect("the lever applies");
                assert_eq!(
                    model.predict_one(&changed).probability,
                    lever.probability,
                    "{lever:?}"
                );
                assert!(lever.probability < before, "{lever:?} lowers the risk");
                assert_eq!(lever.probability_before, before);
                assert_ne!(lever.from, lever.to);
                if lever.field.name == "num_of_products" {
                    assert!(PRODUCT_COUNTS.contains(&lever.to));
                }
            }
            assert!(
                levers
                    .windows(2)
                    .all(|w| w[0].probability <= w[1].probability),
                "{levers:?}"
            );
            seen += levers.len();
        }
        assert!(seen > 20, "the sample customers have levers ({seen})");
    }

    #[test]
    fn levers_never_touch_fields_that_are_not_the_banks_to_change() {
        let model = Model::bundled().unwrap();
        for customer in customers() {
            for lever in levers(&model, &customer) {
                let changed = lever.apply(&customer).unwrap();
                for field in crate::fields::FIELDS {
                    if field.name != lever.field.name {
                        assert_eq!(
                            changed.value_of(field.name),
                            customer.value_of(field.name),
                            "{lever:?} changed {}",
                            field.name
                        );
                    }
                }
                for forbidden in [
                    "age",
                    "gender",
                    "geography",
                    "tenure",
                    "credit_score",
                    "balance",
                    "estimated_salary",
                ] {
                    assert_ne!(lever.field.name, forbidden);
                }
            }
        }
    }

    #[test]
    fn every_other_value_is_tried_and_unchanged_values_are_not_levers() {
        // Counting all candidates (lowering or not) for a 3-product inactive customer: 1 + 1 + 3.
        let model = Model::bundled().unwrap();
        let c = customer([
            640.0, 0.0, 47.0, 4.0, 98000.0, 3.0, 0.0, 0.0, 51000.0, 0.0, 1.0, 0.0,
        ]);
        let before = model.predict_one(&c).probability;
        let mut lowering = 0;
        for field in ACTIONABLE {
            for to in candidates(field) {
                if Some(to) == value_of(field, &c) {
                    continue;
                }
                let p = model
                    .predict_one(&change(&c, field, to).unwrap())
                    .probability;
                lowering += usize::from(p < before);
            }
        }
        assert_eq!(levers(&model, &c).len(), lowering);
    }

    #[test]
    fn levers_read_as_plain_language() {
        let lever = |field, from, to| Lever {
            field,
            from,
            to,
            probability: 0.41,
            probability_before: 0.583,
        };
        assert_eq!(
            lever(&IS_ACTIVE_MEMBER, 0, 1).text(),
            "Becoming an active member would lower the risk of leaving from 58.3% to 41.0%"
        );
        assert_eq!(
            lever(&HAS_CR_CARD, 1, 0).text(),
            "Not having a credit card would lower the risk of leaving from 58.3% to 41.0%"
        );
        assert_eq!(
            lever(&NUM_OF_PRODUCTS, 3, 1).text(),
            "Holding 1 product instead of 3 would lower the risk of leaving from 58.3% to 41.0%"
        );
        let close = Lever {
            probability: 0.41204,
            probability_before: 0.41231,
            ..lever(&NUM_OF_PRODUCTS, 3, 2)
        };
        assert!(
            close.text().ends_with("from 41.23% to 41.20%"),
            "{}",
            close.text()
        );
    }
}
