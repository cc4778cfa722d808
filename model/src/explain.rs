//! Why the model answered as it did: each field's effect on this customer's prediction.
//!
//! Effects are SHAP values in log-odds, summed per field (the three geography columns are one
//! field): exact ones (XGBoost's `pred_contribs=True`, [`crate::xgboost::Forest::shap_values`])
//! by default, or XGBoost's approximate ones (Saabas, `approx_contribs=True`) on request.
//! Positive pushes towards "Will Exit". The baseline plus every effect is the model's margin,
//! the log-odds behind the probability.

use crate::customer::{Customer, FEATURE_COUNT, field_of_feature};
use crate::fields::{FIELDS, Field, Rule};
use crate::xgboost::Contributions;

/// Effects smaller than this (in log-odds) are worded as having no effect: it is the
/// resolution of the `f32` arithmetic behind them (a change in probability below 3e-7).
pub const NO_EFFECT_BELOW: f64 = 1e-6;

/// How the effects were computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Exact SHAP values (path-dependent TreeSHAP), what XGBoost's `pred_contribs=True`,
    /// SageMaker Clarify's tree explainer and the `shap` library report.
    Exact,
    /// XGBoost's `approx_contribs=True` (Saabas): cheaper, and often ranks fields differently.
    Approximate,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Exact => "exact",
            Method::Approximate => "approx",
        }
    }
}

/// Which way a field pushes the prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    RaisesRisk,
    LowersRisk,
    /// Below [`NO_EFFECT_BELOW`] either way (for instance a field no tree splits on).
    NoEffect,
}

/// One field's push on the prediction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Effect {
    pub field: &'static Field,
    /// Change in log-odds of leaving; positive raises the risk.
    pub effect: f64,
}

impl Effect {
    pub fn direction(&self) -> Direction {
        if self.effect.abs() < NO_EFFECT_BELOW {
            Direction::NoEffect
        } else if self.effect > 0.0 {
            Direction::RaisesRisk
        } else {
            Direction::LowersRisk
        }
    }

    /// A short phrase, e.g. "Age (62) raises the risk", "Has a credit card (yes) has no
    /// effect on the risk".
    pub fn describe(&self, customer: &Customer) -> String {
        wording(self.field, self.direction(), customer)
    }
}

/// Every field's effect on one prediction, strongest first, and the baseline they start from.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    pub method: Method,
    /// The model's expected log-odds over its training data (XGBoost's bias column).
    pub baseline: f64,
    /// All ten fields of [`FIELDS`], sorted by |effect|, largest first (ties in table order).
    pub effects: [Effect; FIELDS.len()],
}

impl Explanation {
    /// Groups per-column contributions (the model's 12 columns, then the bias) by field.
    pub fn from_contributions(contributions: &Contributions, method: Method) -> Explanation {
        let mut effects = FIELDS.each_ref().map(|field| Effect { field, effect: 0.0 });
        for (i, &c) in contributions[..FEATURE_COUNT].iter().enumerate() {
            let field = field_of_feature(i);
            if let Some(effect) = effects.iter_mut().find(|e| e.field.name == field.name) {
                effect.effect += f64::from(c);
            }
        }
        effects.sort_by(|a, b| b.effect.abs().total_cmp(&a.effect.abs()));
        Explanation {
            method,
            baseline: f64::from(contributions[FEATURE_COUNT]),
            effects,
        }
    }

    /// `baseline + Σ effect`: the model's margin (log-odds) for this customer.
    pub fn margin(&self) -> f64 {
        self.baseline + self.effects.iter().map(|e| e.effect).sum::<f64>()
    }

    /// The effects in the older [`Reason`] shape (`f32` effects), same order.
    pub fn reasons(&self) -> Vec<Reason> {
        self.effects
            .iter()
            .map(|e| Reason {
                field: e.field,
                effect: e.effect as f32,
            })
            .collect()
    }
}

/// One field's push on the prediction (the per-field effects of an explanation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reason {
    pub field: &'static Field,
    /// Change in log-odds of leaving; positive raises the risk.
    pub effect: f32,
}

impl Reason {
    pub fn raises_risk(&self) -> bool {
        self.direction() == Direction::RaisesRisk
    }

    pub fn direction(&self) -> Direction {
        Effect {
            field: self.field,
            effect: f64::from(self.effect),
        }
        .direction()
    }
}

/// Every field's effect, strongest first.
pub fn reasons(contributions: &Contributions) -> Vec<Reason> {
    Explanation::from_contributions(contributions, Method::Exact).reasons()
}

/// A short phrase for a reason, e.g. "Age (62) raises the risk".
pub fn describe(reason: &Reason, customer: &Customer) -> String {
    wording(reason.field, reason.direction(), customer)
}

fn wording(field: &Field, direction: Direction, customer: &Customer) -> String {
    let value = customer.value_of(field.name).unwrap_or_default();
    let value = match (field.rule, value.as_str()) {
        (Rule::Flag, "1") => "yes".to_owned(),
        (Rule::Flag, _) => "no".to_owned(),
        _ => value,
    };
    let verb = match direction {
        Direction::RaisesRisk => "raises the risk",
        Direction::LowersRisk => "lowers the risk",
        Direction::NoEffect => "has no effect on the risk",
    };
    format!("{} ({value}) {verb}", field.label)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::Input;

    fn sample() -> Customer {
        let values = [
            670.0, 1.0, 38.0, 7.0, 0.0, 2.0, 1.0, 1.0, 77864.41, 1.0, 0.0, 0.0,
        ]
        .map(Input::Number);
        Customer::from_vector(&values, crate::fields::At::named("data")).unwrap()
    }

    #[test]
    fn geography_is_the_sum_of_its_columns_and_effects_add_up_to_the_margin() {
        let mut c = [0.0f32; FEATURE_COUNT + 1];
        c[2] = 0.5; // Age
        c[9] = 0.25; // France
        c[10] = -0.125; // Germany
        c[11] = 0.0625; // Spain
        c[FEATURE_COUNT] = -1.5;
        let explanation = Explanation::from_contributions(&c, Method::Exact);
        assert_eq!(explanation.effects.len(), 10);
        assert_eq!(explanation.effects[0].field.name, "age");
        assert_eq!(explanation.effects[1].field.name, "geography");
        assert_eq!(explanation.effects[1].effect, 0.1875);
        assert_eq!(explanation.baseline, -1.5);
        assert_eq!(explanation.margin(), -1.5 + 0.5 + 0.1875);
    }

    #[test]
    fn each_direction_has_its_own_words() {
        let customer = sample();
        let effect = |field, effect| Effect { field, effect }.describe(&customer);
        assert_eq!(effect(&crate::fields::AGE, 0.3), "Age (38) raises the risk");
        assert_eq!(
            effect(&crate::fields::IS_ACTIVE_MEMBER, -0.3),
            "Is an active member (yes) lowers the risk"
        );
        assert_eq!(
            effect(&crate::fields::TENURE, 0.0),
            "Tenure (7) has no effect on the risk"
        );
        assert_eq!(
            effect(&crate::fields::TENURE, -1e-9),
            "Tenure (7) has no effect on the risk",
            "below the arithmetic's resolution"
        );
        let reason = Reason {
            field: &crate::fields::TENURE,
            effect: 0.0,
        };
        assert!(!reason.raises_risk());
        assert_eq!(
            describe(&reason, &customer),
            "Tenure (7) has no effect on the risk"
        );
    }
}
