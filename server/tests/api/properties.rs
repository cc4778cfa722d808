//! A handful of property cases over real HTTP (the many in-process ones are in
//! `api::request`): arbitrary bodies answer 2xx or 4xx, and valid customers get the same
//! answer in both forms.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: 48,
        ..Config::default()
    })
}

async fn post(app: &TestApp, body: Vec<u8>) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/predict"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let answer = response.json().await.expect("a JSON answer");
    (status, answer)
}

#[test]
fn arbitrary_bodies_over_http_get_2xx_or_4xx_in_json() {
    let rt = runtime();
    let app = rt.block_on(spawn_app());
    let bodies = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        // Near-misses of the real shape reach deeper into the parser.
        (prop::collection::vec(any::<f64>(), 0..14))
            .prop_map(|v| json!({"data": v}).to_string().into_bytes()),
    ];
    runner()
        .run(&bodies, |body| {
            let (status, answer) = rt.block_on(post(&app, body));
            prop_assert!(
                (200..300).contains(&status) || (400..500).contains(&status),
                "{status}: {answer}"
            );
            Ok(())
        })
        .unwrap();
}

#[test]
fn valid_customers_get_the_same_answer_by_name_and_by_vector_over_http() {
    let rt = runtime();
    let app = rt.block_on(spawn_app());
    let customer = (
        300u16..=900,
        0usize..3,
        0usize..2,
        18u8..=120,
        0u8..=100,
        0u64..=100_000_000,
        1u8..=10,
        any::<bool>(),
        any::<bool>(),
        0u64..=100_000_000,
    );
    runner()
        .run(&customer, |(score, geo, gender, age, tenure, balance, products, card, active, salary)| {
            let (balance, salary) = (balance as f64 / 100.0, salary as f64 / 100.0);
            let geography = ["France", "Germany", "Spain"][geo];
            let gender_name = ["Female", "Male"][gender];
            let named = json!({"customer": {
                "credit_score": score, "geography": geography, "gender": gender_name,
                "age": age, "tenure": tenure, "balance": balance, "num_of_products": products,
                "has_cr_card": card, "is_active_member": active, "estimated_salary": salary}});
            let mut one_hot = [0u8; 3];
            one_hot[geo] = 1;
            let vector = json!({"data": [score, gender, age, tenure, balance, products, u8::from(card),
                u8::from(active), salary, one_hot[0], one_hot[1], one_hot[2]]});
            let (a, by_name) = rt.block_on(post(&app, named.to_string().into_bytes()));
            let (b, by_vector) = rt.block_on(post(&app, vector.to_string().into_bytes()));
            prop_assert_eq!((a, b), (200, 200));
            prop_assert_eq!(by_name, by_vector);
            Ok(())
        })
        .unwrap();
}
