//! The servers' log writer: a request's line is copied into a shared buffer (no system call,
//! no thread woken per line), and a background thread writes what has gathered in one
//! `write(2)`, a few milliseconds later.
//!
//! Why not `tracing-appender`'s non-blocking writer, used before: it sends each line through a
//! channel to a thread that wakes for it, and writes it to the line-buffered stdout, so a busy
//! server paid a wake-up and a system call per request (about a tenth of its CPU on two cores,
//! docs/performance.md).
//!
//! Nothing is dropped: when the buffer holds [`CAPACITY`] bytes, loggers wait for the writer
//! (a stalled stdout slows requests down rather than filling memory). Dropping the returned
//! [`Flush`] guard writes what is left and stops the thread; lines logged after that, or after
//! the thread died, are dropped rather than waited for.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// The most bytes waiting to be written before loggers wait (about 8,000 access-log lines).
pub const CAPACITY: usize = 2 << 20;

/// How long the writer lets lines gather after the first one arrives: the longest a line
/// waits before it is written, when the output keeps up.
pub const GATHER: Duration = Duration::from_millis(5);

/// Where the formatter writes its lines (`tracing_subscriber::fmt().with_writer(...)`). Each
/// `write` is kept whole; the formatter writes an event's line in one, so lines from different
/// threads never interleave.
#[derive(Clone)]
pub struct BatchedWriter {
    shared: Arc<Shared>,
}

/// Stops the writer thread once the lines still waiting are written. Keep it alive (in `main`)
/// as long as anything may log.
#[must_use = "dropping the guard stops the log writer"]
pub struct Flush {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<Pending>,
    /// The writer waits here for a first line.
    lines_arrived: Condvar,
    /// Loggers wait here for room when the buffer is full.
    room_made: Condvar,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// The writer is asleep until a line arrives (so a logger wakes it only then).
    writer_idle: bool,
    closing: bool,
    /// The writer thread has ended (closed, or died): lines are dropped rather than waited
    /// for, so no logger can hang on a writer that is gone.
    stopped: bool,
}

impl BatchedWriter {
    /// Starts the writer thread, writing to `output`.
    pub fn spawn(output: impl Write + Send + 'static) -> std::io::Result<(BatchedWriter, Flush)> {
        let shared = Arc::new(Shared {
            state: Mutex::new(Pending::default()),
            lines_arrived: Condvar::new(),
            room_made: Condvar::new(),
        });
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn({
                let shared = shared.clone();
                move || shared.write_until_closed(output)
            })?;
        Ok((
            BatchedWriter {
                shared: shared.clone(),
            },
            Flush {
                shared,
                thread: Some(thread),
            },
        ))
    }

    fn append(&self, line: &[u8]) {
        let mut pending = self.shared.lock();
        // Wait for room, unless the buffer is empty (a single line larger than the capacity
        // is still taken whole rather than cut).
        while !pending.bytes.is_empty()
            && pending.bytes.len() + line.len() > CAPACITY
            && !pending.stopped
        {
            pending = self
                .shared
                .room_made
                .wait(pending)
                .unwrap_or_else(|e| e.into_inner());
        }
        if pending.stopped {
            return;
        }
        pending.bytes.extend_from_slice(line);
        if pending.writer_idle {
            pending.writer_idle = false;
            self.shared.lines_arrived.notify_one();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A logger that panicked mid-copy leaves at worst a partial line: keep logging.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write_until_closed(&self, mut output: impl Write) {
        // However this thread ends (closed, or a panic in `output`), loggers stop waiting.
        let _stopped = StopOnExit(self);
        let mut batch = Vec::with_capacity(BATCH_KEPT);
        let mut failure_reported = false;
        loop {
            let closing = {
                let mut pending = self.lock();
                while pending.bytes.is_empty() && !pending.closing {
                    pending.writer_idle = true;
                    pending = self
                        .lines_arrived
                        .wait(pending)
                        .unwrap_or_else(|e| e.into_inner());
                }
                pending.closing
            };
            if !closing {
                std::thread::sleep(GATHER);
            }
            {
                let mut pending = self.lock();
                std::mem::swap(&mut pending.bytes, &mut batch);
                // Once closing, this is the last batch: later lines are dropped, and a
                // logger that keeps logging cannot hold the exit up.
                pending.stopped = closing;
                self.room_made.notify_all();
            }
            // `write_all` retries short and interrupted writes; an error (stdout closed)
            // loses this batch, which is said once on stderr.
            if let Err(e) = output.write_all(&batch).and_then(|()| output.flush())
                && !failure_reported
            {
                failure_reported = true;
                eprintln!("log lines could not be written to stdout and are lost: {e}");
            }
            batch.clear();
            // A burst's buffer is not kept for good.
            batch.shrink_to(BATCH_KEPT);
            if closing {
                return;
            }
        }
    }
}

/// How much of a batch's buffer is kept between batches.
const BATCH_KEPT: usize = 64 << 10;

/// Marks the writer stopped and wakes any logger waiting for room.
struct StopOnExit<'a>(&'a Shared);

impl Drop for StopOnExit<'_> {
    fn drop(&mut self) {
        self.0.lock().stopped = true;
        self.0.room_made.notify_all();
    }
}

impl Drop for Flush {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.lines_arrived.notify_one();
        self.shared.room_made.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Write for BatchedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedWriter {
    type Writer = BatchedWriter;

    fn make_writer(&'a self) -> BatchedWriter {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::tests::Recorded;

    #[test]
    fn every_line_is_written_whole_in_order_and_in_few_writes() {
        let output = Recorded::default();
        let (writer, flush) = BatchedWriter::spawn(output.clone()).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000 {
                        // One `write` per line, as the formatter writes an event.
                        let line = format!("thread={t} line={i} {}\n", "x".repeat(i % 50));
                        writer.write_all(line.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(flush);
        let writes = output.0.lock().unwrap();
        let text = String::from_utf8(writes.concat()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 20_000, "no line lost");
        for t in 0..4 {
            let numbers: Vec<usize> = lines
                .iter()
                .filter_map(|l| l.strip_prefix(&format!("thread={t} line=")))
                .map(|rest| rest.split(' ').next().unwrap().parse().unwrap())
                .collect();
            assert_eq!(
                numbers,
                (0..5_000).collect::<Vec<_>>(),
                "thread {t} in order"
            );
        }
        assert!(
            lines.iter().all(|l| {
                let (head, tail) = l.rsplit_once(' ').unwrap();
                let i: usize = head.rsplit('=').next().unwrap().parse().unwrap();
                tail.len() == i % 50
            }),
            "no line cut or interleaved"
        );
        assert!(
            writes.len() < 1_000,
            "lines are written in batches: {} writes for 20,000 lines",
            writes.len()
        );
    }

    #[test]
    fn a_full_buffer_makes_loggers_wait_rather_than_drop_lines() {
        /// An output that takes its time, so the buffer fills.
        struct Slow(Recorded);
        impl Write for Slow {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                std::thread::sleep(Duration::from_millis(20));
                self.0.write(buf)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let output = Recorded::default();
        let (mut writer, flush) = BatchedWriter::spawn(Slow(output.clone())).unwrap();
        let line = vec![b'y'; 100_000];
        for _ in 0..100 {
            writer.write_all(&line).unwrap();
            assert!(writer.shared.lock().bytes.len() <= CAPACITY, "bounded");
        }
        drop(flush);
        let written: usize = output.0.lock().unwrap().iter().map(Vec::len).sum();
        assert_eq!(written, 100 * 100_000);
    }

    #[test]
    fn loggers_do_not_wait_for_a_writer_that_died() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                panic!("the output broke");
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (mut writer, flush) = BatchedWriter::spawn(Broken).unwrap();
        let line = vec![b'z'; 100_000];
        // Far more than the capacity: without the stop, the loggers would wait for ever.
        for _ in 0..100 {
            writer.write_all(&line).unwrap();
        }
        assert!(writer.shared.lock().stopped);
        drop(flush);
    }

    #[test]
    fn lines_are_written_soon_without_waiting_for_more() {
        let output = Recorded::default();
        let (mut writer, _flush) = BatchedWriter::spawn(output.clone()).unwrap();
        writer.write_all(b"one line\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while output.0.lock().unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "never written");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(output.0.lock().unwrap().concat(), b"one line\n");
    }
}
