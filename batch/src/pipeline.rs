//! The run: one reader thread cuts the input into chunks of whole records, `workers` threads
//! validate, score and format each chunk, and the calling thread writes the chunks back in
//! input order.
//!
//! Memory is bounded by a window of tokens: the reader takes one before it hands out a chunk,
//! and the writer gives one back after writing a chunk, so at most [`window`] chunks exist at
//! any time, whatever the size of the input or the order in which workers finish.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Instant;

use model::{Customer, FEATURE_COUNT, Features, Label, Prediction};

use crate::records::{self, End};
use crate::row::{self, Defect};
use crate::schema::{BOM, Header, OUTPUT_COLUMNS};
use crate::{
    BatchError, Cells, ColumnWriter, Engine, Options, Progress, Rejection, Report, Summary,
};

/// Bytes read from the input at a time.
const BLOCK: usize = 256 * 1024;
/// Longest row accepted: far beyond any customer record, short enough that a quote opened and
/// never closed cannot make the reader hold a whole file.
pub const MAX_ROW_BYTES: usize = 1024 * 1024;

/// Chunks that may exist at once (being read, worked on, or waiting to be written).
fn window(workers: usize) -> usize {
    2 * workers + 2
}

/// One record in a chunk's bytes.
#[derive(Debug, Clone, Copy)]
struct Record {
    start: usize,
    end: usize,
    line: u64,
    unclosed_quote: bool,
}

/// Work for a worker: whole records, with the count of input bytes read up to their end.
struct Chunk {
    seq: u64,
    bytes: Vec<u8>,
    records: Vec<Record>,
    bytes_through: u64,
}

/// A worker's result for one chunk.
struct Done {
    out: Vec<u8>,
    rejections: Vec<Rejection>,
    rows: u64,
    scored: u64,
    exits: u64,
    bytes_through: u64,
}

/// The input, read in blocks.
struct Source<R> {
    input: R,
    buf: Vec<u8>,
    eof: bool,
    bytes_read: u64,
}

impl<R: Read> Source<R> {
    /// Reads one more block (at most); false at the end of the input.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let start = self.buf.len();
        self.buf.resize(start + BLOCK, 0);
        let n = loop {
            match self.input.read(&mut self.buf[start..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(start);
                    return Err(e);
                }
            }
        };
        self.buf.truncate(start + n);
        self.bytes_read += n as u64;
        self.eof = n == 0;
        Ok(n > 0)
    }

    /// Reads the header (after a BOM and any blank lines). Returns it, the line the rows start
    /// on, and leaves the rest of the input in `buf`.
    fn header(&mut self) -> Result<(Header, u64), BatchError> {
        let mut line = 1;
        let mut bom_checked = false;
        loop {
            if !bom_checked && (self.buf.len() >= BOM.len() || self.eof) {
                if self.buf.starts_with(BOM) {
                    self.buf.drain(..BOM.len());
                }
                bom_checked = true;
            }
            if bom_checked {
                // Blank lines before the header are skipped (and counted).
                loop {
                    let blank = match self.buf.as_slice() {
                        [b'\n', ..] => 1,
                        [b'\r', b'\n', ..] => 2,
                        _ => break,
                    };
                    self.buf.drain(..blank);
                    line += 1;
                }
                let delimiter = records::detect_delimiter(records::first_line(&self.buf));
                let end = match records::record_end(&self.buf, delimiter) {
                    End::Complete { end, .. } => Some(end),
                    End::Incomplete { .. } if self.eof => Some(self.buf.len()),
                    End::Incomplete { .. } => None,
                };
                if let Some(n) = end {
                    if n == 0 {
                        return Err(BatchError::Header(crate::HeaderError::Empty));
                    }
                    let record: Vec<u8> = self.buf.drain(..n).collect();
                    let header = Header::parse(&record)?;
                    return Ok((header, line + records::newlines(&record)));
                }
            }
            if self.buf.len() > MAX_ROW_BYTES {
                return Err(BatchError::RowTooLong {
                    line,
                    limit: MAX_ROW_BYTES,
                });
            }
            self.fill().map_err(BatchError::Read)?;
        }
    }
}

/// Reads, scores and writes a whole input. See the crate's documentation.
pub fn score<R: Read + Send, W: Write>(
    input: R,
    mut output: W,
    engine: Engine<'_>,
    options: &Options,
    report: &mut dyn Report,
) -> Result<Summary, BatchError> {
    let started = Instant::now();
    let threshold = options.threshold.unwrap_or_else(|| engine.threshold());
    if !(threshold > 0.0 && threshold < 1.0) {
        return Err(BatchError::Threshold(threshold));
    }
    let mut source = Source {
        input,
        buf: Vec::with_capacity(BLOCK),
        eof: false,
        bytes_read: 0,
    };
    let (header, first_row_line) = source.header()?;
    let id_column = match &options.id_column {
        None => None,
        Some(name) => Some(
            header
                .names
                .iter()
                .position(|n| n.trim().eq_ignore_ascii_case(name.trim()))
                .ok_or_else(|| crate::HeaderError::Missing(vec![name.clone()]))?,
        ),
    };
    if !options.features_only {
        // An input column named as an added one would make two columns of one name.
        if let Some(added) = options.extras.iter().flat_map(|e| e.names()).find(|added| {
            header
                .names
                .iter()
                .any(|n| n.trim().eq_ignore_ascii_case(added))
        }) {
            return Err(BatchError::Header(crate::HeaderError::OutputColumn(
                (*added).to_owned(),
            )));
        }
    }
    report.header(&header);
    if !options.features_only {
        let mut line = header.raw.clone();
        for name in OUTPUT_COLUMNS
            .iter()
            .chain(options.extras.iter().flat_map(|e| e.names()))
        {
            line.push(header.delimiter);
            line.extend_from_slice(name.as_bytes());
        }
        line.extend_from_slice(header.line_end);
        output.write_all(&line).map_err(BatchError::Write)?;
    }

    let workers = options.workers.max(1);
    let chunk_rows = options.chunk_rows.max(1);
    let stop = AtomicBool::new(false);
    // Room for every chunk the window allows: the reader never waits on this channel, only
    // for a token, which it stops waiting for when the writer is gone.
    let (work_tx, work_rx) = sync_channel::<Result<Chunk, (u64, BatchError)>>(window(workers));
    let work_rx = Mutex::new(work_rx);
    let (done_tx, done_rx) = sync_channel::<(u64, Result<Done, BatchError>)>(workers);
    let (token_tx, token_rx) = sync_channel::<()>(window(workers));
    for _ in 0..window(workers) {
        // The channel holds exactly the window: these never block.
        let _ = token_tx.send(());
    }
    let job = Job {
        id_column,
        header: &header,
        engine,
        options,
        threshold,
    };

    let mut summary = Summary {
        rows: 0,
        scored: 0,
        rejected: 0,
        exits: 0,
        threshold,
        elapsed: Default::default(),
    };
    let result = std::thread::scope(|scope| {
        let stop = &stop;
        let delimiter = header.delimiter;
        scope.spawn(move || {
            read_chunks(
                source,
                first_row_line,
                delimiter,
                chunk_rows,
                &work_tx,
                &token_rx,
                stop,
            )
        });
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let work_rx = &work_rx;
            let job = &job;
            scope.spawn(move || {
                // This worker's writers of the added columns, kept from chunk to chunk.
                let mut writers: Vec<Box<dyn ColumnWriter + '_>> =
                    job.options.extras.iter().map(|e| e.writer()).collect();
                loop {
                    // The lock is held only while waiting for the next chunk.
                    let next = match work_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let (seq, result) = match next {
                        Ok(Ok(chunk)) => (chunk.seq, job.run(&chunk, &mut writers)),
                        Ok(Err((seq, error))) => (seq, Err(error)),
                        Err(_) => return,
                    };
                    if stop.load(Ordering::Relaxed) || done_tx.send((seq, result)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let result = write_in_order(&mut output, done_rx, token_tx, &mut summary, report);
        if result.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        result
    });
    result?;
    output.flush().map_err(BatchError::Write)?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// The reader thread: cuts the input into chunks of whole records, each taking a token.
fn read_chunks<R: Read>(
    mut source: Source<R>,
    mut line: u64,
    delimiter: u8,
    chunk_rows: usize,
    work: &SyncSender<Result<Chunk, (u64, BatchError)>>,
    tokens: &Receiver<()>,
    stop: &AtomicBool,
) {
    let mut seq = 0;
    let mut bytes_through = source.bytes_read - source.buf.len() as u64;
    loop {
        if stop.load(Ordering::Relaxed) || tokens.recv().is_err() {
            return;
        }
        let mut chunk = Vec::new();
        let mut pos = 0;
        let outcome = loop {
            if chunk.len() == chunk_rows {
                break Ok(());
            }
            match records::record_end(&source.buf[pos..], delimiter) {
                End::Complete { end: n, one_line } => {
                    chunk.push(Record {
                        start: pos,
                        end: pos + n,
                        line,
                        unclosed_quote: false,
                    });
                    line += if one_line {
                        1
                    } else {
                        records::newlines(&source.buf[pos..pos + n])
                    };
                    pos += n;
                }
                End::Incomplete { in_quotes } if source.eof => {
                    if pos < source.buf.len() {
                        chunk.push(Record {
                            start: pos,
                            end: source.buf.len(),
                            line,
                            unclosed_quote: in_quotes,
                        });
                        pos = source.buf.len();
                    }
                    break Ok(());
                }
                End::Incomplete { .. } if !chunk.is_empty() && source.buf.len() >= BLOCK => {
                    break Ok(());
                }
                End::Incomplete { .. } => {
                    if source.buf.len() - pos > MAX_ROW_BYTES {
                        break Err(BatchError::RowTooLong {
                            line,
                            limit: MAX_ROW_BYTES,
                        });
                    }
                    if let Err(e) = source.fill() {
                        break Err(BatchError::Read(e));
                    }
                }
            }
        };
        let message = match outcome {
            Err(error) => Err((seq, error)),
            Ok(()) if chunk.is_empty() => return,
            Ok(()) => {
                let rest = source.buf.split_off(pos);
                let bytes = std::mem::replace(&mut source.buf, rest);
                source.buf.reserve(BLOCK);
                bytes_through += bytes.len() as u64;
                Ok(Chunk {
                    seq,
                    bytes,
                    records: chunk,
                    bytes_through,
                })
            }
        };
        let failed = message.is_err();
        if work.send(message).is_err() || failed {
            return;
        }
        seq += 1;
    }
}

/// The calling thread: writes chunks in input order, tells the report, gives tokens back.
fn write_in_order<W: Write>(
    output: &mut W,
    done: Receiver<(u64, Result<Done, BatchError>)>,
    tokens: SyncSender<()>,
    summary: &mut Summary,
    report: &mut dyn Report,
) -> Result<(), BatchError> {
    let mut waiting = BTreeMap::new();
    let mut next = 0;
    for (seq, result) in done {
        waiting.insert(seq, result);
        while let Some(result) = waiting.remove(&next) {
            let done = match result {
                Ok(done) => done,
                Err(BatchError::Scoring { error, line, .. }) => {
                    return Err(BatchError::Scoring {
                        error,
                        line,
                        written: summary.scored,
                    });
                }
                Err(e) => return Err(e),
            };
            output.write_all(&done.out).map_err(BatchError::Write)?;
            report.written(&done.out);
            summary.rows += done.rows;
            summary.scored += done.scored;
            summary.exits += done.exits;
            summary.rejected += done.rejections.len() as u64;
            for rejection in &done.rejections {
                report.rejected(rejection);
            }
            report.progress(Progress {
                rows: summary.rows,
                bytes: done.bytes_through,
            });
            next += 1;
            // The reader may have stopped (end of input): a token nobody takes is harmless.
            let _ = tokens.try_send(());
        }
    }
    Ok(())
}

/// What every worker shares.
struct Job<'a> {
    /// The column written before the features (`Options::id_column`).
    id_column: Option<usize>,
    header: &'a Header,
    engine: Engine<'a>,
    options: &'a Options,
    threshold: f64,
}

impl Job<'_> {
    /// Validates, scores and formats one chunk.
    fn run(
        &self,
        chunk: &Chunk,
        writers: &mut [Box<dyn ColumnWriter + '_>],
    ) -> Result<Done, BatchError> {
        let delimiter = self.header.delimiter;
        let mut fields: Vec<Cow<'_, [u8]>> = Vec::with_capacity(self.header.names.len());
        // Each valid row's record (its index in the chunk) and customer.
        let mut valid_at: Vec<usize> = Vec::with_capacity(chunk.records.len());
        let mut valid: Vec<Customer> = Vec::with_capacity(chunk.records.len());
        // Under `features_only` with an id column: each valid row's id, as written.
        let mut ids: Vec<Vec<u8>> = Vec::new();
        let mut rejections = Vec::new();
        let mut rows = 0;
        for (i, record) in chunk.records.iter().enumerate() {
            let bytes = &chunk.bytes[record.start..record.end];
            if records::is_blank(bytes) {
                continue;
            }
            rows += 1;
            let content = records::content(bytes);
            let parsed = if record.unclosed_quote {
                Err(vec![Defect::UnclosedQuote])
            } else {
                records::split_fields(content, delimiter, &mut fields);
                row::customer(&fields, self.header)
            };
            match parsed {
                Ok(customer) => {
                    if let Some(column) = self.id_column.filter(|_| self.options.features_only) {
                        ids.push(fields[column].to_vec());
                    }
                    valid_at.push(i);
                    valid.push(customer);
                }
                Err(defects) => rejections.push(Rejection {
                    line: record.line,
                    record: content.to_vec(),
                    defects,
                }),
            }
        }
        let mut out = Vec::with_capacity(chunk.bytes.len() + valid.len() * 32);
        let mut exits = 0;
        if self.options.features_only {
            for (n, customer) in valid.iter().enumerate() {
                if let Some(id) = ids.get(n) {
                    write_cell(&mut out, id, b',');
                    out.push(b',');
                }
                write_features(&mut out, &customer.features());
            }
        } else {
            let probabilities = self.probabilities(&valid, chunk)?;
            let first_line = || chunk.records.first().map_or(0, |r| r.line);
            for writer in writers.iter_mut() {
                writer
                    .chunk(&self.engine, &valid, &probabilities)
                    .map_err(|error| BatchError::Scoring {
                        error,
                        line: first_line(),
                        written: 0,
                    })?;
            }
            for (row, ((&i, customer), &p)) in
                valid_at.iter().zip(&valid).zip(&probabilities).enumerate()
            {
                let record = &chunk.records[i];
                let label = Prediction::new(p, self.threshold).label;
                exits += u64::from(label == Label::WillExit);
                out.extend_from_slice(records::content(&chunk.bytes[record.start..record.end]));
                out.push(delimiter);
                write_probability(&mut out, p);
                out.push(delimiter);
                out.extend_from_slice(label.as_str().as_bytes());
                for writer in writers.iter_mut() {
                    writer.write(
                        row,
                        customer,
                        p,
                        &mut Cells {
                            out: &mut out,
                            delimiter,
                        },
                    );
                }
                out.extend_from_slice(self.header.line_end);
            }
        }
        Ok(Done {
            out,
            rejections,
            rows,
            scored: valid.len() as u64,
            exits,
            bytes_through: chunk.bytes_through,
        })
    }

    /// One probability per valid row, in order.
    fn probabilities(&self, valid: &[Customer], chunk: &Chunk) -> Result<Vec<f64>, BatchError> {
        let rows: Vec<Features> = valid.iter().map(Customer::features).collect();
        match self.engine {
            Engine::InProcess(model) => Ok(model.probabilities(&rows)),
            Engine::Remote { scorer, block_on } => {
                if valid.is_empty() {
                    return Ok(Vec::new());
                }
                block_on(scorer.score(&rows))
                    .map(|scores| scores.as_slice().to_vec())
                    .map_err(|error| BatchError::Scoring {
                        error,
                        line: chunk.records.first().map_or(0, |r| r.line),
                        written: 0,
                    })
            }
        }
    }
}

/// A probability exactly as the JSON API writes it (serde_json's float formatting).
pub fn write_probability(out: &mut Vec<u8>, p: f64) {
    serde_json::to_writer(&mut *out, &p).expect("a number always serialises into a Vec");
}

/// The 12 model inputs, comma-separated, each the `f32` feature printed in full as an `f64`
/// (so a reader that parses it as `f64` and narrows, as XGBoost does, gets the same `f32`).
pub fn write_features(out: &mut Vec<u8>, features: &[f32; FEATURE_COUNT]) {
    for (i, &v) in features.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Writing into a Vec cannot fail.
        let _ = write!(out, "{}", f64::from(v));
    }
    out.push(b'\n');
}

/// One CSV cell, quoted when it holds the delimiter, a quote or a line end.
pub(crate) fn write_cell(out: &mut Vec<u8>, cell: &[u8], delimiter: u8) {
    if cell
        .iter()
        .any(|&b| b == delimiter || matches!(b, b'"' | b'\n' | b'\r'))
    {
        out.push(b'"');
        for &b in cell {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(cell);
    }
}

/// Rows in a whole input held in memory (records after the header, blank lines not counted),
/// without validating them: what a request is charged for before it is scored.
pub fn count_rows(input: &[u8]) -> u64 {
    let input = input.strip_prefix(BOM).unwrap_or(input);
    let delimiter = records::detect_delimiter(records::first_line(input));
    let mut rest = input;
    let mut rows = 0u64;
    while !rest.is_empty() {
        let n = match records::record_end(rest, delimiter) {
            End::Complete { end, .. } => end,
            End::Incomplete { .. } => rest.len(),
        };
        rows += u64::from(!records::is_blank(&rest[..n]));
        rest = &rest[n..];
    }
    rows.saturating_sub(1)
}
