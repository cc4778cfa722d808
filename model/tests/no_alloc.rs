//! The prediction path allocates nothing: a counting global allocator watches it.
//! (Its own test binary, so no other test's allocations are counted.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use model::fields::{At, Input};
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

#[test]
fn parsing_and_predicting_a_valid_customer_allocates_nothing() {
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
