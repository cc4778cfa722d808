//! The prediction path allocates nothing: a counting global allocator watches it.
//! (Its own test binary, so no other test's allocations are counted.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use model::{Customer, Model, fields::Input};

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
fn predicting_a_customer_allocates_nothing() {
    let model = Model::bundled().unwrap();
    let sample = [
        670.0, 1.0, 38.0, 7.0, 0.0, 2.0, 1.0, 1.0, 77864.41, 1.0, 0.0, 0.0,
    ]
    .map(Input::Number);
    let customer = Customer::from_vector(&sample, "data").unwrap();

    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let mut sum = 0.0;
    for _ in 0..1000 {
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
