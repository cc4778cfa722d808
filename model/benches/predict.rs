//! One customer's prediction with the bundled model (the bar: under 2 µs).
//! Compare with `python3 training/bench_xgboost.py` (XGBoost's `inplace_predict`) on the same machine.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use model::Model;

fn bench(c: &mut Criterion) {
    let model = Model::bundled().expect("bundled model loads");
    let features = model::Customer::sample().features();
    c.bench_function("predict one customer (bundled model)", |b| {
        b.iter(|| model.probability(black_box(&features)))
    });
    c.bench_function("load bundled model", |b| {
        b.iter(|| Model::bundled().unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
