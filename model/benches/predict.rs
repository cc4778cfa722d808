//! One customer's prediction with the bundled model (the bar: under 2 µs), and 1,000
//! different customers scored one by one and side by side (`Model::probabilities`).
//! Compare with `python3 training/bench_xgboost.py` (XGBoost's `inplace_predict`) on the same machine.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use model::{Features, Model};

#[path = "../tests/common/mod.rs"]
mod common;

fn bench(c: &mut Criterion) {
    let model = Model::bundled().expect("bundled model loads");
    let features = model::Customer::sample().features();
    c.bench_function("predict one customer (bundled model)", |b| {
        b.iter(|| model.probability(black_box(&features)))
    });
    // Different customers take different paths down the trees, as a real batch does; one
    // customer repeated would let the branch predictor learn its path.
    let rows = fixture_rows(1000);
    c.bench_function("1,000 different customers, one by one", |b| {
        b.iter(|| {
            black_box(&rows)
                .iter()
                .map(|x| f64::from(model.probability(x)))
                .collect::<Vec<f64>>()
        })
    });
    c.bench_function("1,000 different customers, side by side", |b| {
        b.iter(|| model.probabilities(black_box(&rows)))
    });
    c.bench_function("load bundled model", |b| {
        b.iter(|| Model::bundled().unwrap())
    });
}

/// The first `n` rows of the parity fixture (customers drawn by `training/parity_fixture.py`,
/// some with missing values), read by the tests' own fixture reader.
fn fixture_rows(n: usize) -> Vec<Features> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity.csv");
    common::read_fixture_csv(&path)
        .into_iter()
        .take(n)
        .map(|row| row.features)
        .collect()
}

criterion_group!(benches, bench);
criterion_main!(benches);
