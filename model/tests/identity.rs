//! Where `baseline + Σ effect = logit(probability)` holds, for the bundled model.
//!
//! An explained answer's effects add up to the model's margin (`baseline + Σ effect = margin`,
//! within the SHAP values' own rounding: `tests/shap.rs`, and over HTTP in the server's tests),
//! and the probability is `sigmoid(margin)` computed in `f32`, as XGBoost computes it. The `f32`
//! rounding of the probability is what moves `logit(probability)` away from the margin: by
//! about 6e-8 / (1 − p), so it grows as p nears 1. These tests sweep **every** `f32` margin
//! the bundled model can produce (except the middle, where the rounding is provably tiny) and
//! find exactly how far that rounding goes; ARCHITECTURE.md ("Adding up") and docs/api.md quote
//! the constants checked here.

use model::Model;
use model::xgboost::sigmoid;

/// What the identity may lose to the SHAP values' own rounding (measured at most 2.1e-6 on
/// the parity fixtures and the 8,000 training customers; tests/shap.rs).
const SHAP_ROUNDING: f64 = 2.5e-6;
/// The identity's tolerance.
const IDENTITY: f64 = 1e-5;

/// Up to this margin (p = 0.98813), `|logit(probability) − margin| ≤ IDENTITY − SHAP_ROUNDING`,
/// so the identity holds within 1e-5 for every customer the model scores at or below it.
pub const IDENTITY_HOLDS_TO_MARGIN: f32 = 4.42;
/// The largest `|logit(probability) − margin|` any input of the bundled model can meet (its
/// margins reach at most 6.43, p = 0.99839).
pub const WORST_ROUNDING: f64 = 5.6e-5;

fn logit(p: f32) -> f64 {
    let p = f64::from(p);
    (p / (1.0 - p)).ln()
}

/// `|logit(sigmoid(m)) − m|` for every `f32` margin `m` in `[from, to]` (same sign), in order.
fn sweep(from: f32, to: f32, mut visit: impl FnMut(f32, f64)) {
    assert!(
        from <= to && (from >= 0.0) == (to > 0.0),
        "one sign: {from}..{to}"
    );
    let (mut bits, end, step) = if from >= 0.0 {
        (from.to_bits(), to.to_bits(), 1i64)
    } else {
        // Negative floats' bit patterns grow as the value falls.
        (to.to_bits(), from.to_bits(), 1i64)
    };
    loop {
        let m = f32::from_bits(bits);
        visit(m, (logit(sigmoid(m)) - f64::from(m)).abs());
        if bits == end {
            break;
        }
        bits = (i64::from(bits) + step) as u32;
    }
}

#[test]
fn the_bundled_models_margins_are_bounded() {
    let model = Model::bundled().unwrap();
    let (low, high) = model.forest().margin_bounds();
    // The base margin, −1.363, plus the trees' extreme leaves.
    assert!((low - -5.9788).abs() < 1e-3, "{low}");
    assert!((high - 6.4306).abs() < 1e-3, "{high}");
    assert!(
        1.0 / (1.0 + (-high).exp()) < 0.9984,
        "p never reaches 0.9984"
    );
}

/// Above 1/2 in magnitude every `f32` margin is visited (about 45 million); below, the
/// probability lies in (0.37, 0.63), where one `f32` step moves the logit by at most
/// 6e-8 / 0.23 ≈ 2.6e-7, and a strided sweep confirms it.
#[test]
fn logit_of_the_probability_is_within_rounding_of_the_margin_exactly_where_documented() {
    let model = Model::bundled().unwrap();
    let (low, high) = model.forest().margin_bounds();
    // Outward by more than the f32 sum's rounding.
    let (low, high) = ((low - 1e-4) as f32, (high + 1e-4) as f32);
    let budget = IDENTITY - SHAP_ROUNDING;

    let mut worst = 0.0f64;
    let mut first_over_budget = f32::INFINITY;
    sweep(0.5, high, |m, error| {
        worst = worst.max(error);
        if error > budget {
            first_over_budget = first_over_budget.min(m);
        }
    });
    sweep(low, -0.5, |m, error| {
        worst = worst.max(error);
        assert!(error <= budget, "margin {m}: {error}");
    });
    let mut middle = 0.0f64;
    let mut m = -0.5f32;
    while m < 0.5 {
        let error = (logit(sigmoid(m)) - f64::from(m)).abs();
        middle = middle.max(error);
        m += 1.0 / 65_536.0;
    }
    assert!(middle < 3e-7, "{middle}");

    println!(
        "worst |logit(p) − margin| {worst:.3e}; first margin over {budget:.1e}: \
         {first_over_budget} (p = {})",
        sigmoid(first_over_budget)
    );
    assert!(
        first_over_budget > IDENTITY_HOLDS_TO_MARGIN,
        "the identity holds up to margin {IDENTITY_HOLDS_TO_MARGIN} (first failure {first_over_budget})"
    );
    assert!(
        first_over_budget < IDENTITY_HOLDS_TO_MARGIN + 0.05,
        "the documented limit is tight: {first_over_budget}"
    );
    assert!(
        worst <= WORST_ROUNDING,
        "at most {WORST_ROUNDING} anywhere: {worst}"
    );
    assert!(
        worst > WORST_ROUNDING - 2e-6,
        "the documented worst case is tight: {worst}"
    );
    assert!(
        first_over_budget < high,
        "the bundled model can produce margins where the identity fails, so answers carry \
         the margin"
    );
}
