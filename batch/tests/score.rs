//! The core end to end on files made here: what goes in, what comes out, and what is refused.

use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, Waker};

use batch::{
    BatchError, Cells, ColumnWriter, Engine, ExtraColumns, HeaderError, Options, Rejection, Report,
    Summary,
};
use model::scoring::{BoxFuture, FnScorer};
use model::{Customer, Model, ScoreError, Scores};

static MODEL: LazyLock<Model> = LazyLock::new(|| Model::bundled().expect("bundled model"));

const HEADER: &str = "RowNumber,CustomerId,Surname,CreditScore,Geography,Gender,Age,Tenure,\
                      Balance,NumOfProducts,HasCrCard,IsActiveMember,EstimatedSalary,Exited";
const SAMPLE: &str = "1,15634602,Hargrave,670,France,Male,38,7,0.0,2,1,1,77864.41,0";

#[derive(Default)]
struct Collect {
    rejections: Vec<Rejection>,
}

impl Report for Collect {
    fn rejected(&mut self, rejection: &Rejection) {
        self.rejections.push(rejection.clone());
    }
}

fn run_with(
    input: &str,
    engine: Engine<'_>,
    options: &Options,
) -> (Result<Summary, BatchError>, String, Vec<Rejection>) {
    let mut out = Vec::new();
    let mut report = Collect::default();
    let result = batch::score(input.as_bytes(), &mut out, engine, options, &mut report);
    (result, String::from_utf8(out).unwrap(), report.rejections)
}

fn run(input: &str) -> (Summary, String, Vec<Rejection>) {
    let (result, out, rejections) = run_with(input, Engine::InProcess(&MODEL), &Options::default());
    (result.expect("the run completes"), out, rejections)
}

/// The probability of the sample customer, as the JSON API writes it.
fn sample_probability() -> String {
    let p = f64::from(MODEL.probability(&Customer::sample().features()));
    serde_json::to_string(&p).unwrap()
}

#[test]
fn a_raw_file_keeps_its_columns_and_gains_probability_and_result() {
    let input = format!("{HEADER}\n{SAMPLE}\n");
    let (summary, out, rejections) = run(&input);
    assert!(rejections.is_empty());
    assert_eq!(
        out,
        format!(
            "{HEADER},probability,result\n{SAMPLE},{},Will Not Exit\n",
            sample_probability()
        )
    );
    assert_eq!((summary.rows, summary.scored, summary.rejected), (1, 1, 0));
    assert_eq!(summary.threshold, MODEL.threshold());
}

#[test]
fn bom_crlf_semicolons_quotes_and_our_field_names_are_read() {
    let header = "\"customer id\";credit_score;GEOGRAPHY;gender;age;tenure;balance;\
                  num_of_products;has_cr_card;is_active_member;estimated_salary;note";
    let row = "\"A;1\";670;France;Male;38;7;0;2;true;1;77864.41;\"two\r\nlines, \"\"quoted\"\"\"";
    let input = format!("\u{feff}{header}\r\n{row}\r\n");
    let (summary, out, rejections) = run(&input);
    assert!(rejections.is_empty(), "{rejections:?}");
    assert_eq!(summary.scored, 1);
    assert_eq!(
        out,
        format!(
            "{header};probability;result\r\n{row};{};Will Not Exit\r\n",
            sample_probability()
        ),
        "columns verbatim, same delimiter and line end, no BOM"
    );
}

#[test]
fn bad_rows_are_reported_with_their_physical_line_column_value_and_rule() {
    let input = format!(
        "{HEADER}\n\
         {SAMPLE}\n\
         2,1,\"Multi\nLine\",670,France,Male,17,7,0,2,1,1,1,0\n\
         \n\
         3,1,X,670,Italy,Male,38,7,0,2,1,1,1,0\n\
         4,1,X,670,France\n\
         {SAMPLE}"
    );
    let (summary, out, rejections) = run(&input);
    assert_eq!(
        (summary.rows, summary.scored, summary.rejected),
        (5, 2, 3),
        "rows read = scored + rejected; blank lines are not rows"
    );
    assert_eq!(out.lines().count(), 3, "header and the two good rows");
    let lines: Vec<u64> = rejections.iter().map(|r| r.line).collect();
    assert_eq!(
        lines,
        [3, 6, 7],
        "a quoted field spanning lines: its first line"
    );
    assert_eq!(
        rejections[0].record,
        b"2,1,\"Multi\nLine\",670,France,Male,17,7,0,2,1,1,1,0"
    );
    assert_eq!(
        rejections[0].reason(),
        "Age: got 17; expected a whole number from 18 to 120"
    );
    assert_eq!(
        rejections[1].reason(),
        "Geography: got \"Italy\"; expected one of France, Germany, Spain"
    );
    assert_eq!(
        rejections[2].reason(),
        "5 fields; expected 14, as in the header"
    );
    assert_eq!(rejections[2].defects[0].code(), "column_count");
}

#[test]
fn every_problem_of_a_row_is_reported_and_long_values_are_shortened() {
    let long = "9".repeat(500);
    let input = format!("{HEADER}\n1,2,X,{long},France,Alien,38,,0,2,yes,1,77864.41,0\n");
    let (_, _, rejections) = run(&input);
    let [rejection] = rejections.as_slice() else {
        panic!("{rejections:?}")
    };
    let columns: Vec<&str> = rejection.defects.iter().map(|d| d.column()).collect();
    assert_eq!(columns, ["CreditScore", "Gender", "Tenure", "HasCrCard"]);
    let reason = rejection.reason();
    assert!(reason.contains("Tenure: got nothing"), "{reason}");
    assert!(reason.len() < 600, "values are echoed shortened: {reason}");
}

#[test]
fn an_unclosed_quote_rejects_the_last_row() {
    let input = format!("{HEADER}\n{SAMPLE}\n2,1,\"Open,670,France,Male,38,7,0,2,1,1,1,0\n");
    let (summary, _, rejections) = run(&input);
    assert_eq!((summary.scored, summary.rejected), (1, 1));
    assert_eq!(rejections[0].line, 3);
    assert_eq!(rejections[0].defects[0].code(), "unclosed_quote");
}

#[test]
fn missing_columns_stop_the_run_at_once_naming_them() {
    let header = HEADER.replace(",Gender", "").replace(",Tenure", "");
    let (result, out, _) = run_with(
        &format!("{header}\n{SAMPLE}\n"),
        Engine::InProcess(&MODEL),
        &Options::default(),
    );
    match result {
        Err(BatchError::Header(HeaderError::Missing(missing))) => {
            assert_eq!(missing, ["Gender (or gender)", "Tenure (or tenure)"])
        }
        other => panic!("{other:?}"),
    }
    assert!(out.is_empty(), "nothing written");
    let (result, _, _) = run_with("", Engine::InProcess(&MODEL), &Options::default());
    assert!(matches!(
        result,
        Err(BatchError::Header(HeaderError::Empty))
    ));
}

/// Rows different enough to give different probabilities, some of them bad.
fn varied_file(rows: usize) -> String {
    let mut text = format!("{HEADER}\n");
    for i in 0..rows {
        let age = 18 + (i * 7) % 80;
        let geography = ["France", "Germany", "Spain"][i % 3];
        let credit = if i % 97 == 5 {
            100
        } else {
            350 + (i * 13) % 500
        };
        text.push_str(&format!(
            "{i},{},S{i},{credit},{geography},{},{age},{},{}.5,{},{},{},{}.25,0\n",
            15_000_000 + i,
            ["Female", "Male"][i % 2],
            i % 11,
            (i * 977) % 200_000,
            1 + i % 4,
            i % 2,
            (i / 2) % 2,
            (i * 131) % 190_000
        ));
    }
    text
}

#[test]
fn input_order_is_kept_whatever_the_chunks_and_threads() {
    let input = varied_file(5_000);
    let one = Options {
        workers: 1,
        chunk_rows: 100_000,
        ..Options::default()
    };
    let (reference, expected, _) = run_with(&input, Engine::InProcess(&MODEL), &one);
    let reference = reference.unwrap();
    assert!(
        reference.rejected > 0 && reference.exits > 0,
        "{reference:?}"
    );
    for (workers, chunk_rows) in [(4, 7), (2, 1), (3, 1000)] {
        let options = Options {
            workers,
            chunk_rows,
            ..Options::default()
        };
        let (summary, out, _) = run_with(&input, Engine::InProcess(&MODEL), &options);
        let summary = summary.unwrap();
        assert_eq!(out, expected, "{workers} workers, chunks of {chunk_rows}");
        assert_eq!(
            (
                summary.rows,
                summary.scored,
                summary.rejected,
                summary.exits
            ),
            (
                reference.rows,
                reference.scored,
                reference.rejected,
                reference.exits
            )
        );
    }
}

#[test]
fn the_threshold_decides_the_label() {
    let input = format!("{HEADER}\n{SAMPLE}\n");
    let low = Options {
        threshold: Some(0.01),
        ..Options::default()
    };
    let (result, out, _) = run_with(&input, Engine::InProcess(&MODEL), &low);
    assert_eq!(result.unwrap().exits, 1);
    assert!(out.ends_with(",Will Exit\n"), "{out}");
    let bad = Options {
        threshold: Some(1.0),
        ..Options::default()
    };
    let (result, _, _) = run_with(&input, Engine::InProcess(&MODEL), &bad);
    assert!(matches!(result, Err(BatchError::Threshold(_))));
}

/// Drives futures that are ready at once (the stub scorers here).
fn ready(future: BoxFuture<'_, Result<Scores, ScoreError>>) -> Result<Scores, ScoreError> {
    let mut future = future;
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => result,
        Poll::Pending => panic!("the stub scorers answer at once"),
    }
}

#[test]
fn a_remote_scorer_gets_chunks_and_its_answers_are_written_in_order() {
    let model = &*MODEL;
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let scorer = FnScorer::new("stub", model.threshold(), |rows| {
        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        assert!(rows.len() <= 64, "a call holds at most one chunk");
        Ok(rows
            .iter()
            .map(|r| f64::from(model.probability(r)))
            .collect())
    });
    let input = varied_file(1_000);
    let options = Options {
        workers: 3,
        chunk_rows: 64,
        ..Options::default()
    };
    let remote = Engine::Remote {
        scorer: &scorer,
        block_on: &ready,
    };
    let (_, expected, _) = run_with(&input, Engine::InProcess(model), &options);
    let (summary, out, _) = run_with(&input, remote, &options);
    summary.unwrap();
    assert_eq!(out, expected, "the same bytes as the in-process model");
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        1_000usize.div_ceil(64)
    );
}

#[test]
fn a_failed_chunk_stops_the_run_and_says_from_which_line_nothing_was_written() {
    let input = varied_file(1_000);
    let failing = FnScorer::new("stub", 0.5, |rows| {
        // The third chunk of 100 rows starts with row 200 (line 202).
        if rows[0] == third_chunk_first_row() {
            Err(ScoreError::Unavailable("throttled".into()))
        } else {
            Ok(vec![0.25; rows.len()])
        }
    });
    let options = Options {
        workers: 2,
        chunk_rows: 100,
        ..Options::default()
    };
    let engine = Engine::Remote {
        scorer: &failing,
        block_on: &ready,
    };
    let (result, out, _) = run_with(&input, engine, &options);
    let err = result.unwrap_err();
    let BatchError::Scoring { line, written, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(*line, 202);
    let written_rows = out.lines().count() as u64 - 1;
    assert_eq!(
        *written, written_rows,
        "the message counts what was written"
    );
    // Row 199 is one of the bad ones (credit score 100): row 198 is the last written.
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with("198,"),
        "rows before line 202 only: {last}"
    );
    let text = err.to_string();
    assert!(
        text.contains("from line 202") && text.contains("throttled"),
        "{text}"
    );
}

fn third_chunk_first_row() -> [f32; 12] {
    let input = varied_file(201);
    let line = input.lines().nth(201).unwrap();
    let header = batch::Header::parse(format!("{HEADER}\n").as_bytes()).unwrap();
    let mut fields = Vec::new();
    batch::records::split_fields(line.as_bytes(), b',', &mut fields);
    batch::row::customer(&fields, &header).unwrap().features()
}

#[test]
fn features_only_writes_the_12_numbers_of_valid_rows() {
    let input = format!("{HEADER}\n{SAMPLE}\n2,1,X,670,Italy,Male,38,7,0,2,1,1,1,0\n");
    let options = Options {
        features_only: true,
        ..Options::default()
    };
    let (result, out, rejections) = run_with(&input, Engine::InProcess(&MODEL), &options);
    assert_eq!(result.unwrap().scored, 1);
    assert_eq!(rejections.len(), 1, "the same rules reject the same rows");
    assert_eq!(out, "670,1,38,7,0,2,1,1,77864.40625,1,0,0\n");
    let parsed: Vec<f32> = out
        .trim_end()
        .split(',')
        .map(|v| v.parse::<f64>().unwrap() as f32)
        .collect();
    assert_eq!(parsed, Customer::sample().features());
}

#[test]
fn features_only_may_lead_with_an_id_column_for_batch_transform_to_join_on() {
    let input = format!("{HEADER}\n{SAMPLE}\n2,\"9,9\",X,670,Germany,Female,40,1,0,1,0,0,5,0\n");
    let options = Options {
        features_only: true,
        id_column: Some("customerid".into()),
        ..Options::default()
    };
    let (result, out, _) = run_with(&input, Engine::InProcess(&MODEL), &options);
    result.unwrap();
    assert_eq!(
        out,
        "15634602,670,1,38,7,0,2,1,1,77864.40625,1,0,0\n\"9,9\",670,0,40,1,0,1,0,0,5,0,1,0\n"
    );
    let missing = Options {
        id_column: Some("ClientNo".into()),
        ..options
    };
    let (result, _, _) = run_with(&input, Engine::InProcess(&MODEL), &missing);
    assert!(
        matches!(result, Err(BatchError::Header(HeaderError::Missing(m))) if m == ["ClientNo"])
    );
}

struct Shouting;

impl ExtraColumns for Shouting {
    fn names(&self) -> &[&str] {
        &["geo", "note"]
    }
    fn writer(&self) -> Box<dyn ColumnWriter + '_> {
        Box::new(Shouting)
    }
}

impl ColumnWriter for Shouting {
    fn write(&mut self, _row: usize, customer: &Customer, p: f64, cells: &mut Cells<'_>) {
        cells.push(&customer.geography().name().to_uppercase());
        cells.push(&format!("p={p:.2}, \"quoted\""));
    }
}

#[test]
fn extra_column_groups_follow_probability_and_result() {
    let options = Options {
        extras: vec![Arc::new(Shouting)],
        ..Options::default()
    };
    let (result, out, _) = run_with(
        &format!("{HEADER}\n{SAMPLE}\n"),
        Engine::InProcess(&MODEL),
        &options,
    );
    result.unwrap();
    let mut lines = out.lines();
    assert_eq!(
        lines.next().unwrap(),
        format!("{HEADER},probability,result,geo,note")
    );
    let row = lines.next().unwrap();
    assert!(
        row.ends_with(",Will Not Exit,FRANCE,\"p=0.02, \"\"quoted\"\"\""),
        "{row}"
    );
}

#[test]
fn rows_are_counted_without_being_read_twice() {
    assert_eq!(batch::count_rows(varied_file(321).as_bytes()), 321);
    assert_eq!(
        batch::count_rows(format!("\u{feff}{HEADER}\r\n\r\n{SAMPLE}\r\n\"a\nb\",1").as_bytes()),
        2
    );
    assert_eq!(batch::count_rows(b""), 0);
}
