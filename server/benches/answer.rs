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
    // 1,000 different customers: copies of one would walk the same path down every tree,
    // which the branch predictor learns, and flatter the figure.
    let batches = [
        (
            "answer: 1,000 different customers (instances batch)",
            varied_batch(1000),
        ),
        (
            "answer: 1,000 copies of one customer",
            format!(
                r#"{{"instances": [{}]}}"#,
                vec![server::testing::sample_vector_json(); 1000].join(",")
            ),
        ),
    ];
    for (name, batch) in &batches {
        c.bench_function(name, |b| {
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
    }
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

/// `{"instances": [...]}` with `n` different customers, each field drawn over its range (a
/// fixed seed: the same batch every run).
fn varied_batch(n: usize) -> String {
    let mut state = 0x5eed_u64;
    let mut next = move |below: u64| {
        // splitmix64
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % below
    };
    let rows: Vec<String> = (0..n)
        .map(|_| {
            let country = next(3);
            let balance = if next(3) == 0 { 0 } else { next(25_000_000) };
            format!(
                "[{}, {}, {}, {}, {}.{:02}, {}, {}, {}, {}.{:02}, {}, {}, {}]",
                350 + next(501),
                next(2),
                18 + next(75),
                next(11),
                balance / 100,
                balance % 100,
                1 + next(4),
                next(2),
                next(2),
                11 + next(199_990),
                next(100),
                u64::from(country == 0),
                u64::from(country == 1),
                u64::from(country == 2),
            )
        })
        .collect();
    format!(r#"{{"instances": [{}]}}"#, rows.join(","))
}

criterion_group!(benches, bench);
criterion_main!(benches);
