//! Server work for an answer, HTTP aside: parse the JSON body, predict, explain (exact),
//! suggest levers, write the JSON answer (`api::predict_body` with the embedded model). The
//! issues' bars: one customer's explain + whatif < 50 µs; a 1,000-customer `{"instances"}`
//! batch < 1 ms. Compare with `cargo bench -p model --bench explain` (the model's share) run in
//! the same session.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use model::explain::Method;
use server::api::{Extras, predict_body};
use server::state::AppState;
use server::testing::test_settings;

/// Older, inactive, German, three products: a customer with levers.
const LEAVER: &[u8] = br#"{"data": [500, 0, 62, 2, 120000.0, 3, 1, 0, 100000.0, 0, 1, 0]}"#;

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let state: AppState = runtime
        .block_on(AppState::load(&test_settings()))
        .expect("the embedded model loads");
    let answer = |extras: Extras| {
        runtime
            .block_on(predict_body(&state, black_box(LEAVER), extras, None))
            .expect("an answer")
    };
    let batch = format!(
        r#"{{"instances": [{}]}}"#,
        vec![server::testing::sample_vector_json(); 1000].join(",")
    );
    c.bench_function("answer: 1,000-customer instances batch", |b| {
        b.iter(|| {
            runtime
                .block_on(predict_body(
                    &state,
                    black_box(batch.as_bytes()),
                    Extras::default(),
                    None,
                ))
                .expect("an answer")
        })
    });
    c.bench_function("answer: predict only", |b| {
        b.iter(|| answer(Extras::default()))
    });
    c.bench_function("answer: ?explain=true", |b| {
        b.iter(|| {
            answer(Extras {
                explain: Some(Method::Exact),
                whatif: false,
            })
        })
    });
    c.bench_function("answer: ?explain=true&whatif=true", |b| {
        b.iter(|| {
            answer(Extras {
                explain: Some(Method::Exact),
                whatif: true,
            })
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
