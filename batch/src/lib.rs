//! Scores a CSV file of customers: the one streaming core behind every door that takes a file
//! (`churn-predict score`, `POST /score`, and later the `/batch` page), so they all write the
//! same bytes for the same file and options.
//!
//! ```text
//! input ─▶ reader ─chunks─▶ workers (validate with the field table, score, format) ─▶ writer ─▶ output
//!          (records,          N threads; the in-process model, or any model::Scorer       (input order,
//!           line numbers)      with a few calls in flight)                                  rejects, progress)
//! ```
//!
//! - **Input**: a header row, then one customer a row. Columns named as the public
//!   "Churn_Modelling" file or as the API (any case, see [`schema`]); `,` or `;` (from the
//!   header); a UTF-8 BOM, quoted fields and CRLF line ends are fine ([`records`]).
//! - **Validation**: each row goes through [`model::Customer::from_named`], the JSON API's own
//!   rules ([`row`]). A bad row is never altered or dropped silently: it is not scored, and
//!   [`Report::rejected`] gets its physical line number (the header is line 1; a row whose
//!   quoted field spans lines is numbered by its first), its verbatim text and every defect.
//! - **Output**: each scored row's input columns exactly as written, then `probability`
//!   (serde_json's formatting, as `POST /predict` answers) and `result`; same delimiter and
//!   line end; input order. Or, with [`Options::features_only`], the 12 model inputs of each
//!   valid row as the headerless CSV SageMaker's XGBoost container and Batch Transform take.
//! - **Memory** stays flat: chunks of at most [`Options::chunk_rows`] rows, and at most a
//!   fixed window of chunks in flight, whatever the file's size.
//!
//! No web crates and no async runtime: a remote [`Scorer`]'s futures are driven by the
//! caller's `block_on` ([`Engine::Remote`]).

pub mod digest;
pub mod extras;
pub mod records;
pub mod row;
pub mod schema;

mod pipeline;

use std::io;
use std::time::Duration;

use model::scoring::BoxFuture;
use model::{Customer, Model, ScoreError, Scorer, Scores};

pub use pipeline::{count_rows, score, write_probability};
pub use row::Defect;
pub use schema::{Header, HeaderError, Schema};

/// Drives one scoring future to completion on the caller's runtime (for example
/// `|f| handle.block_on(f)` with a tokio `Handle`). Called from the workers' threads.
pub type BlockOn<'a> = dyn for<'f> Fn(BoxFuture<'f, Result<Scores, ScoreError>>) -> Result<Scores, ScoreError>
    + Sync
    + 'a;

/// What scores the rows.
#[derive(Clone, Copy)]
pub enum Engine<'a> {
    /// The model in this process: each worker thread scores its chunks directly (no futures,
    /// no allocation per row).
    InProcess(&'a Model),
    /// Any [`Scorer`] (a SageMaker endpoint): one call per chunk, [`Options::workers`] calls in
    /// flight, each with the scorer's own retries and deadline. A failed call stops the run
    /// ([`BatchError::Scoring`] says from which line nothing was written).
    Remote {
        scorer: &'a dyn Scorer,
        block_on: &'a BlockOn<'a>,
    },
}

impl Engine<'_> {
    /// The threshold the model is served with.
    pub fn threshold(&self) -> f64 {
        match self {
            Engine::InProcess(model) => model.threshold(),
            Engine::Remote { scorer, .. } => scorer.describe().threshold,
        }
    }
}

/// More output columns after `probability` and `result`: how reasons (`--explain`,
/// [`extras::Reasons`]) and levers (`--levers`, [`extras::Levers`]) join the output.
pub trait ExtraColumns: Send + Sync {
    /// The columns' names, in order.
    fn names(&self) -> &[&str];
    /// A writer for one worker thread, kept for the whole run: what it reuses from row to row
    /// (a SHAP scratch buffer, a chunk's levers) lives in it, so rows allocate nothing more.
    fn writer(&self) -> Box<dyn ColumnWriter + '_>;
}

/// One worker's writer of an [`ExtraColumns`]' cells.
pub trait ColumnWriter {
    /// Called once per chunk, before its rows are written, with the chunk's scored customers
    /// and their probabilities, in order: where work for the whole chunk is done at once (one
    /// call to a remote scorer for every row's levers). An error stops the run as a failed
    /// scoring call does.
    fn chunk(
        &mut self,
        _engine: &Engine<'_>,
        _customers: &[Customer],
        _probabilities: &[f64],
    ) -> Result<(), ScoreError> {
        Ok(())
    }

    /// Writes one cell per name for the chunk's `row`-th scored customer, with
    /// [`Cells::push`].
    fn write(&mut self, row: usize, customer: &Customer, probability: f64, cells: &mut Cells<'_>);
}

/// Writes cells at the end of an output row, each after the delimiter, quoted when needed.
pub struct Cells<'a> {
    out: &'a mut Vec<u8>,
    delimiter: u8,
}

impl Cells<'_> {
    pub fn push(&mut self, text: &str) {
        self.out.push(self.delimiter);
        pipeline::write_cell(self.out, text.as_bytes(), self.delimiter);
    }

    /// A whole number.
    pub fn push_number(&mut self, n: u64) {
        self.out.push(self.delimiter);
        // Writing into a Vec cannot fail.
        let _ = std::io::Write::write_fmt(self.out, format_args!("{n}"));
    }

    /// A probability, written as the JSON API writes it (see [`write_probability`]).
    pub fn push_probability(&mut self, p: f64) {
        self.out.push(self.delimiter);
        write_probability(self.out, p);
    }

    /// An empty cell.
    pub fn push_empty(&mut self) {
        self.out.push(self.delimiter);
    }
}

/// How a run reads, scores and writes.
#[derive(Clone)]
pub struct Options {
    /// "Will Exit" when the probability reaches this; `None`: the engine's threshold.
    pub threshold: Option<f64>,
    /// Write only the 12 model inputs of each valid row, headerless, comma-separated (what
    /// SageMaker's XGBoost container and Batch Transform take); nothing is scored.
    pub features_only: bool,
    /// With [`Options::features_only`]: write this input column (named as in the header, any
    /// case) before the 12 numbers, so Batch Transform's `JoinSource` can carry it to the
    /// output and the scores can be joined back (`InputFilter` `$[1:]` drops it before the
    /// model).
    pub id_column: Option<String>,
    /// Most rows in one chunk: the unit of work, and of one call to a remote scorer.
    pub chunk_rows: usize,
    /// Chunks worked on at once: threads for the in-process model, calls in flight for a
    /// remote scorer.
    pub workers: usize,
    /// Columns after `probability` and `result` (none by default).
    pub extras: Vec<std::sync::Arc<dyn ExtraColumns>>,
}

/// Rows per chunk for the in-process model: a few milliseconds of work.
pub const CHUNK_ROWS: usize = 4096;

impl Default for Options {
    fn default() -> Options {
        Options {
            threshold: None,
            features_only: false,
            id_column: None,
            chunk_rows: CHUNK_ROWS,
            workers: std::thread::available_parallelism().map_or(1, usize::from),
            extras: Vec::new(),
        }
    }
}

/// A row that was not scored.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// Its first physical line in the file (the header is line 1).
    pub line: u64,
    /// The row exactly as written, without its line end.
    pub record: Vec<u8>,
    /// Everything wrong with it (at least one).
    pub defects: Vec<Defect>,
}

impl Rejection {
    /// Every defect, for people: `Age: got 17; expected …; Geography: got "Italy"; …`.
    pub fn reason(&self) -> String {
        row::describe(&self.defects)
    }
}

/// How far a run has got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Rows read (scored or rejected).
    pub rows: u64,
    /// Bytes of input read.
    pub bytes: u64,
}

/// What a run tells while it goes (on the thread that called [`score`]).
pub trait Report {
    /// The header was understood; rows follow.
    fn header(&mut self, _header: &Header) {}
    /// After each chunk written.
    fn progress(&mut self, _progress: Progress) {}
    /// Each row not scored, in input order.
    fn rejected(&mut self, _rejection: &Rejection) {}
    /// The output just written for one chunk: whole rows, each with its line end, in order
    /// (what [`digest::Digest`] reads).
    fn written(&mut self, _rows: &[u8]) {}
}

/// A report that listens to nothing.
pub struct Quiet;

impl Report for Quiet {}

/// What a finished run did. `rows == scored + rejected`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub rows: u64,
    /// Rows written (with their features only, under [`Options::features_only`]).
    pub scored: u64,
    pub rejected: u64,
    /// Rows labelled "Will Exit".
    pub exits: u64,
    pub threshold: f64,
    pub elapsed: Duration,
}

/// Why a run stopped before the end of its input.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    Header(#[from] HeaderError),
    #[error("reading the input: {0}")]
    Read(io::Error),
    #[error("writing the output: {0}")]
    Write(io::Error),
    #[error(
        "line {line}: a row longer than {limit} bytes (a quote opened and never closed?); \
         nothing from line {line} on was scored"
    )]
    RowTooLong { line: u64, limit: usize },
    /// A remote scorer failed on a chunk (after its own retries): the rows before `line` were
    /// written, none from `line` on.
    #[error(
        "the model backend failed on the rows from line {line}: {error}. The output holds \
         the {written} rows scored before line {line}; no row from line {line} to the end \
         of the input was scored or written"
    )]
    Scoring {
        error: ScoreError,
        line: u64,
        written: u64,
    },
    #[error("the threshold must be strictly between 0 and 1, not {0}")]
    Threshold(f64),
}
