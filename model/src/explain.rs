//! Why the model answered as it did: each field's share of the prediction.
//!
//! Shares are XGBoost's approximate contributions (see `Forest::contributions`) in log-odds,
//! summed per field (the three geography columns are one field). Positive pushes towards
//! "Will Exit".

use crate::customer::{Customer, FEATURE_COUNT, field_of_feature};
use crate::fields::{FIELDS, Field};

/// One field's push on the prediction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reason {
    pub field: &'static Field,
    /// Change in log-odds of leaving; positive raises the risk.
    pub effect: f32,
}

impl Reason {
    pub fn raises_risk(&self) -> bool {
        self.effect > 0.0
    }
}

/// Every field's effect, strongest first.
pub fn reasons(contributions: &[f32; FEATURE_COUNT + 1]) -> Vec<Reason> {
    let mut reasons: Vec<Reason> = FIELDS
        .iter()
        .map(|field| Reason {
            field,
            effect: (0..FEATURE_COUNT)
                .filter(|&i| field_of_feature(i).name == field.name)
                .map(|i| contributions[i])
                .sum(),
        })
        .collect();
    reasons.sort_by(|a, b| b.effect.abs().total_cmp(&a.effect.abs()));
    reasons
}

/// A short phrase for a reason, e.g. "Age 62 raises the risk".
pub fn describe(reason: &Reason, customer: &Customer) -> String {
    let value = customer.value_of(reason.field.name).unwrap_or_default();
    let value = match (reason.field.rule, value.as_str()) {
        (crate::fields::Rule::Flag, "1") => "yes".to_owned(),
        (crate::fields::Rule::Flag, _) => "no".to_owned(),
        _ => value,
    };
    let direction = if reason.raises_risk() {
        "raises"
    } else {
        "lowers"
    };
    format!("{} ({value}) {direction} the risk", reason.field.label)
}
