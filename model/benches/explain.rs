//! One customer's explanation with the bundled model (the bar: exact SHAP ≤ 10 µs;
//! explanation and levers together < 50 µs). Compare with `python3 training/bench_xgboost.py`
//! (XGBoost's `pred_contribs`) run in the same session on the same machine.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use model::xgboost::ShapScratch;
use model::{Customer, Model};

fn bench(c: &mut Criterion) {
    let model = Model::bundled().expect("bundled model loads");
    let customer = Customer::sample();
    let features = customer.features();
    let mut scratch = ShapScratch::new();

    c.bench_function("exact SHAP values, precomputed path tables", |b| {
        b.iter(|| {
            model
                .forest()
                .shap_values(black_box(&features), &mut scratch)
        })
    });
    c.bench_function("exact SHAP values, XGBoost's recursive TreeSHAP", |b| {
        b.iter(|| {
            model
                .forest()
                .shap_values_recursive(black_box(&features), &mut scratch)
        })
    });
    c.bench_function("approximate contributions (Saabas)", |b| {
        b.iter(|| model.forest().approx_contributions(black_box(&features)))
    });
    c.bench_function("explain one customer (exact, per field, sorted)", |b| {
        b.iter(|| model.explanation(black_box(&customer)))
    });
    c.bench_function("explain + levers for one customer", |b| {
        b.iter(|| {
            let explanation = model.explanation(black_box(&customer));
            let levers = model.levers(black_box(&customer));
            (explanation, levers)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
