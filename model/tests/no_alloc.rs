//! The prediction and explanation paths allocate nothing (beyond a reusable scratch buffer,
//! which the bundled model never needs), and a batch only its answer: a counting global
//! allocator watches them.
//! (Its own test binary, so no other test's allocations are counted.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use model::fields::{At, Input};
use model::xgboost::ShapScratch;
use model::{Customer, Model};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: delegates to the system allocator and only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The counter is global, so the tests take turns (another test's allocations would count).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn parsing_and_predicting_a_valid_customer_allocates_nothing() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let model = Model::bundled().unwrap();
    let sample = model::SAMPLE_VECTOR.map(Input::Number);

    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let mut sum = 0.0;
    for _ in 0..1000 {
        // Error locations are only written out for refused values.
        let customer =
            Customer::from_vector(std::hint::black_box(&sample), At::named("data")).unwrap();
        sum += model
            .predict_one(std::hint::black_box(&customer))
            .probability;
        sum += f64::from(model.probability(std::hint::black_box(&customer.features())));
    }
    let after = ALLOCATIONS.load(Ordering::SeqCst);

    assert!(sum > 0.0);
    assert_eq!(
        after - before,
        0,
        "the prediction path allocated {} times",
        after - before
    );
}

fn sample() -> Customer {
    let values = [
        670.0, 1.0, 38.0, 7.0, 0.0, 2.0, 1.0, 1.0, 77864.41, 1.0, 0.0, 0.0,
    ];
    Customer::from_vector(&values.map(Input::Number), At::named("data")).unwrap()
}

#[test]
fn explaining_a_customer_exactly_allocates_nothing() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let model = Model::bundled().unwrap();
    let customer = sample();
    let mut features = customer.features();
    features[3] = f32::NAN; // a missing value takes the default directions
    let mut scratch = ShapScratch::new();

    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let mut sum = 0.0;
    for _ in 0..1000 {
        let explanation = model.explanation(std::hint::black_box(&customer)).unwrap();
        sum += explanation.baseline + explanation.effects[0].effect;
        let approx = model
            .approx_explanation(std::hint::black_box(&customer))
            .unwrap();
        sum += approx.effects[0].effect;
        let values = model
            .forest()
            .shap_values(std::hint::black_box(&features), &mut scratch)
            .unwrap();
        sum += f64::from(values[0]);
    }
    let after = ALLOCATIONS.load(Ordering::SeqCst);

    assert!(sum.is_finite());
    assert_eq!(
        after - before,
        0,
        "the explanation path allocated {} times",
        after - before
    );
}

#[test]
fn the_recursive_method_allocates_only_its_scratch_buffer_once() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let model = Model::bundled().unwrap();
    let features = sample().features();
    let mut scratch = ShapScratch::new();

    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let mut sum = 0.0f32;
    for _ in 0..100 {
        sum += model
            .forest()
            .shap_values_recursive(std::hint::black_box(&features), &mut scratch)
            .unwrap()[0];
    }
    let after = ALLOCATIONS.load(Ordering::SeqCst);

    assert!(sum.is_finite());
    assert_eq!(
        after - before,
        1,
        "one allocation: the scratch buffer growing"
    );
}

#[test]
fn scoring_a_batch_allocates_only_its_answer() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let model = Model::bundled().unwrap();
    // 1,001 rows: 15 full chunks of margins, then 41 rows: 5 blocks and one row on its own.
    let rows: Vec<_> = (0..1001)
        .map(|i| {
            let mut features = sample().features();
            features[2] = 18.0 + (i % 70) as f32;
            features
        })
        .collect();

    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let probabilities = model.probabilities(std::hint::black_box(&rows));
    let after = ALLOCATIONS.load(Ordering::SeqCst);

    assert_eq!(probabilities.len(), rows.len());
    assert_eq!(after - before, 1, "one allocation: the answer");
}
