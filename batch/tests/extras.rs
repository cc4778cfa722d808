//! The columns `--explain` and `--levers` add: what each row's cells say, that they are the
//! model's own explanation and levers for the row, that a remote scorer's answers are what a
//! lever's probability says, and that rows allocate nothing more than their output.
//! (Its own test binary: it counts allocations with a global allocator.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{Context, Poll, Waker};

use batch::extras::{LEVER_COLUMNS, Levers, REASON_COLUMNS, Reasons};
use batch::{BatchError, Engine, HeaderError, Options, Quiet};
use model::scoring::{BoxFuture, FnScorer};
use model::{Backend, Customer, Model, ScoreError, Scores};

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

/// The allocation test counts every thread's allocations: the tests take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

static MODEL: LazyLock<Arc<Model>> =
    LazyLock::new(|| Arc::new(Model::bundled().expect("bundled model")));

const HEADER: &str = "RowNumber,CustomerId,Surname,CreditScore,Geography,Gender,Age,Tenure,\
                      Balance,NumOfProducts,HasCrCard,IsActiveMember,EstimatedSalary,Exited";

/// `rows` varied customers: every geography, both genders, inactive and active, 1 to 4
/// products, with and without a card, so that some have levers and some have none.
fn file(rows: usize) -> String {
    let mut text = format!("{HEADER}\n");
    for i in 0..rows {
        text.push_str(&format!(
            "{i},{},S{i},{},{},{},{},{},{}.5,{},{},{},{}.25,0\n",
            15_000_000 + i,
            350 + (i * 13) % 500,
            ["France", "Germany", "Spain"][i % 3],
            ["Female", "Male"][(i / 3) % 2],
            18 + (i * 7) % 75,
            i % 11,
            (i * 977) % 200_000,
            1 + (i / 2) % 4,
            i % 2,
            (i / 5) % 2,
            (i * 131) % 190_000
        ));
    }
    text
}

fn customer_of(line: &str) -> Customer {
    let cells: Vec<&str> = line.split(',').collect();
    let named = |name: &str| {
        let (i, _) = batch::schema::CHURN_MODELLING_NAMES
            .iter()
            .enumerate()
            .find(|(_, (field, _))| field.name == name)
            .unwrap();
        let cell = cells[3 + i];
        batch::row::input(cell)
    };
    Customer::from_named(named, model::fields::At::ROOT).unwrap()
}

fn run(input: &str, engine: Engine<'_>, options: &Options) -> Result<String, BatchError> {
    let mut out = Vec::new();
    batch::score(input.as_bytes(), &mut out, engine, options, &mut Quiet)?;
    Ok(String::from_utf8(out).unwrap())
}

fn options(explain: bool, levers: bool, rescore: bool) -> Options {
    let mut extras: Vec<Arc<dyn batch::ExtraColumns>> = Vec::new();
    if explain {
        extras.push(Arc::new(Reasons::new(MODEL.clone()).unwrap()));
    }
    if levers {
        extras.push(Arc::new(Levers::new(MODEL.clone(), rescore)));
    }
    Options {
        extras,
        chunk_rows: 97,
        workers: 2,
        ..Options::default()
    }
}

fn probability_text(p: f64) -> String {
    serde_json::to_string(&p).unwrap()
}

#[test]
fn reasons_are_the_three_strongest_fields_of_the_models_exact_explanation() {
    let _turn = turn();
    let input = file(600);
    let out = run(
        &input,
        Engine::InProcess(&MODEL),
        &options(true, false, false),
    )
    .unwrap();
    let mut lines = out.lines();
    assert_eq!(
        lines.next().unwrap(),
        format!("{HEADER},probability,result,reason_1,reason_2,reason_3")
    );
    let mut firsts = std::collections::BTreeSet::new();
    for (line, row) in input.lines().skip(1).zip(lines) {
        let customer = customer_of(line);
        let explanation = MODEL.explanation(&customer).unwrap();
        let expected: Vec<&str> = explanation.effects[..3]
            .iter()
            .map(|e| e.field.name)
            .collect();
        let cells: Vec<&str> = row.rsplitn(4, ',').collect();
        assert_eq!([cells[2], cells[1], cells[0]], expected[..], "{row}");
        firsts.insert(expected[0]);
        assert!(
            row.starts_with(line),
            "the input row comes first, untouched"
        );
    }
    assert!(
        firsts.len() >= 3,
        "the file's rows differ in reasons: {firsts:?}"
    );
}

#[test]
fn the_lever_is_the_first_of_the_models_levers_or_three_empty_cells() {
    let _turn = turn();
    let input = file(600);
    let out = run(
        &input,
        Engine::InProcess(&MODEL),
        &options(false, true, false),
    )
    .unwrap();
    let mut lines = out.lines();
    assert_eq!(
        lines.next().unwrap(),
        format!("{HEADER},probability,result,lever_field,lever_to,lever_probability")
    );
    let (mut with, mut without) = (0, 0);
    for (line, row) in input.lines().skip(1).zip(lines) {
        let customer = customer_of(line);
        let cells: Vec<&str> = row.rsplitn(4, ',').collect();
        match MODEL.levers(&customer).first() {
            Some(lever) => {
                with += 1;
                assert_eq!(
                    [cells[2], cells[1], cells[0]],
                    [
                        lever.field.name,
                        &lever.to.to_string(),
                        &probability_text(lever.probability)
                    ],
                    "{row}"
                );
                let changed = lever.apply(&customer).unwrap();
                assert_eq!(
                    probability_text(f64::from(MODEL.probability(&changed.features()))),
                    cells[0],
                    "what POST /predict answers for the changed customer"
                );
            }
            None => {
                without += 1;
                assert!(row.ends_with(",,,"), "{row}");
            }
        }
    }
    assert!(with > 100 && without > 10, "{with} with, {without} without");
}

#[test]
fn reasons_then_levers_on_a_semicolon_file_with_crlf() {
    let _turn = turn();
    let input = file(50).replace(',', ";").replace('\n', "\r\n");
    let out = run(
        &input,
        Engine::InProcess(&MODEL),
        &options(true, true, false),
    )
    .unwrap();
    let header = out.lines().next().unwrap();
    let added: Vec<&str> = REASON_COLUMNS
        .iter()
        .chain(&LEVER_COLUMNS)
        .copied()
        .collect();
    assert_eq!(
        header,
        format!(
            "{};probability;result;{}",
            HEADER.replace(',', ";"),
            added.join(";")
        )
    );
    for row in out.lines().skip(1) {
        assert_eq!(row.matches(';').count(), 13 + 2 + 6, "{row}");
    }
}

#[test]
fn an_input_column_named_as_an_added_one_is_refused() {
    let _turn = turn();
    let input = file(3).replacen("Exited", "Reason_1", 1);
    let err = run(
        &input,
        Engine::InProcess(&MODEL),
        &options(true, false, false),
    )
    .unwrap_err();
    assert!(
        matches!(&err, BatchError::Header(HeaderError::OutputColumn(c)) if c == "reason_1"),
        "{err}"
    );
    // Without --explain, the column is one like any other.
    run(
        &input,
        Engine::InProcess(&MODEL),
        &options(false, true, false),
    )
    .unwrap();
}

#[test]
fn a_model_without_hessian_sums_cannot_give_reasons() {
    let _turn = turn();
    let mut document: serde_json::Value = serde_json::from_str(model::BUNDLED_MODEL_JSON).unwrap();
    for tree in document["learner"]["gradient_booster"]["model"]["trees"]
        .as_array_mut()
        .unwrap()
    {
        tree.as_object_mut().unwrap().remove("sum_hessian");
    }
    let bare = Model::from_bytes(&serde_json::to_vec(&document).unwrap(), 0.5).unwrap();
    assert!(Reasons::new(Arc::new(bare)).is_none());
    assert!(Reasons::new(MODEL.clone()).is_some());
}

/// Runs a future that is ready at once (every `FnScorer`'s is).
fn now<T>(future: impl Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("a stub scorer answers at once"),
    }
}

#[test]
fn with_a_remote_scorer_a_levers_probability_is_the_scorers_answer() {
    let _turn = turn();
    let local = MODEL.clone();
    let calls = Arc::new(AtomicUsize::new(0));
    let largest = Arc::new(AtomicUsize::new(0));
    let (counted, size) = (calls.clone(), largest.clone());
    // An endpoint serving the same model that answers a little lower: its numbers must win.
    let remote = FnScorer::new("sagemaker:churn", MODEL.threshold(), move |rows| {
        counted.fetch_add(1, Ordering::SeqCst);
        size.fetch_max(rows.len(), Ordering::SeqCst);
        Ok(rows
            .iter()
            .map(|r| f64::from(local.probability(r)) - 1e-3)
            .collect())
    });
    let block_on = |f: BoxFuture<'_, Result<Scores, ScoreError>>| now(f);
    let engine = Engine::Remote {
        scorer: &remote,
        block_on: &block_on,
    };
    let input = file(300);
    let out = run(&input, engine, &options(true, true, true)).unwrap();
    // Each chunk: one call for its rows, then its levers' changed customers in calls of at
    // most as many rows (the engine's call size).
    let chunks = 300usize.div_ceil(97);
    assert!(calls.load(Ordering::SeqCst) > 2 * chunks);
    assert!(
        largest.load(Ordering::SeqCst) <= 97,
        "{} rows in one call",
        largest.load(Ordering::SeqCst)
    );

    // The API's levers for the same customers through the same kind of backend.
    let backend = Backend {
        scorer: Arc::new(FnScorer::new("sagemaker:churn", 0.5, {
            let local = MODEL.clone();
            move |rows| {
                Ok(rows
                    .iter()
                    .map(|r| f64::from(local.probability(r)) - 1e-3)
                    .collect())
            }
        })),
        explainer: Some(MODEL.clone()),
    };
    let customers: Vec<Customer> = input.lines().skip(1).map(customer_of).collect();
    let predictions = now(backend.predict(&customers)).unwrap();
    let levers = now(backend.levers(&customers, &predictions)).unwrap();
    let mut with = 0;
    for ((row, prediction), levers) in out.lines().skip(1).zip(&predictions).zip(&levers) {
        let cells: Vec<&str> = row.rsplitn(9, ',').collect();
        assert_eq!(cells[7], probability_text(prediction.probability), "{row}");
        match levers.first() {
            Some(best) => {
                with += 1;
                assert_eq!(
                    [cells[2], cells[1], cells[0]],
                    [
                        best.field.name,
                        &best.to.to_string(),
                        &probability_text(best.probability)
                    ]
                );
            }
            None => assert!(row.ends_with(",,,"), "{row}"),
        }
    }
    assert!(with > 50, "{with}");
}

#[test]
fn a_failed_lever_call_stops_the_run_saying_from_which_line() {
    let _turn = turn();
    let local = MODEL.clone();
    let calls = AtomicUsize::new(0);
    // Answers the rows, then fails the levers' call.
    let flaky = FnScorer::new("sagemaker:churn", 0.5, move |rows| {
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            Ok(rows
                .iter()
                .map(|r| f64::from(local.probability(r)))
                .collect())
        } else {
            Err(ScoreError::Unavailable("throttled".into()))
        }
    });
    let block_on = |f: BoxFuture<'_, Result<Scores, ScoreError>>| now(f);
    let engine = Engine::Remote {
        scorer: &flaky,
        block_on: &block_on,
    };
    let one_worker = Options {
        workers: 1,
        ..options(false, true, true)
    };
    let err = run(&file(10), engine, &one_worker).unwrap_err();
    assert!(
        matches!(
            err,
            BatchError::Scoring {
                line: 2,
                written: 0,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn rows_allocate_nothing_for_their_reasons_and_levers() {
    let _turn = turn();
    let count = |rows: usize| {
        let input = file(rows);
        // One chunk and one worker, so only the rows' own work differs.
        let options = Options {
            chunk_rows: 100_000,
            workers: 1,
            ..options(true, true, false)
        };
        let mut out = Vec::with_capacity(input.len() * 3);
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        batch::score(
            input.as_bytes(),
            &mut out,
            Engine::InProcess(&MODEL),
            &options,
            &mut Quiet,
        )
        .unwrap();
        ALLOCATIONS.load(Ordering::SeqCst) - before
    };
    let (small, large) = (count(500), count(2_000));
    // Growing buffers (input blocks, the chunk's output) add a few, and the test harness's
    // own thread may add some; one allocation a row would add 1,500.
    assert!(
        large.saturating_sub(small) < 300,
        "{small} allocations for 500 rows, {large} for 2,000"
    );
}
