//! Logging through `tracing`. `RUST_LOG` filters (default `info`); `LOG_FORMAT=json` gives one
//! JSON object a line for log collectors such as CloudWatch.
//!
//! Logs carry values that clients chose (paths, names from URLs, header-derived ids). So that
//! no such value can forge a line or drive a terminal:
//! - JSON lines escape every value (serde_json);
//! - text lines go through [`EscapedFields`], which escapes control characters (newlines,
//!   `ESC`, C1 codes) and bidirectional-text overrides in every field, however it was recorded
//!   (`%` Display included), and quotes strings;
//! - colours (ANSI codes) only when stdout is a terminal and `NO_COLOR` is unset.
//!
//! Still, record untrusted strings as plain `&str` fields (`name = value.as_str()`), never with
//! `%`: the text format then quotes them, so they cannot pose as further `key=value` fields.

use std::fmt::{self, Write as _};
use std::io::IsTerminal;

use tracing::field::{Field, Visit};

mod batched_writer;
pub use batched_writer::{BatchedWriter, Flush};

use crate::config::Runtime;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FormatFields, MakeWriter};

/// The servers: `info` by default, on standard output. A plain or container server writes
/// its lines from a background thread in batches ([`BatchedWriter`]), so a request neither
/// waits for `write(2)` nor wakes a thread; nothing is dropped and the lines still waiting are
/// written when the returned guard is dropped, at exit. Under Lambda the lines are written at
/// once: the process is frozen between invocations, and lines still waiting could be lost.
pub fn init(format: &str, runtime: Runtime) -> Option<Flush> {
    let terminal = std::io::stdout().is_terminal();
    let default_filter = "info";
    let batched = match runtime {
        Runtime::Lambda => None,
        Runtime::Server | Runtime::SageMakerContainer => {
            match BatchedWriter::spawn(std::io::stdout()) {
                Ok(batched) => Some(batched),
                Err(e) => {
                    eprintln!("no log writer thread ({e}): writing log lines directly");
                    None
                }
            }
        }
    };
    match batched {
        Some((writer, flush)) => {
            install(format, default_filter, writer, terminal);
            Some(flush)
        }
        None => {
            install(format, default_filter, std::io::stdout, terminal);
            None
        }
    }
}

/// One-shot commands (`churn-predict score`), whose standard output may be data: `warn` by
/// default, on standard error.
pub fn init_for_command_line(format: &str) {
    let terminal = std::io::stderr().is_terminal();
    install(format, "warn", std::io::stderr, terminal);
}

fn install<W>(format: &str, default_filter: &str, writer: W, terminal: bool)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer);
    // A second init (several tests in one process) is harmless, so its error is ignored.
    let _ = match format {
        "json" => builder
            .json()
            .flatten_event(true)
            .with_span_list(false)
            .try_init(),
        _ => builder
            .with_ansi(terminal && colours_wanted())
            .fmt_fields(EscapedFields)
            .try_init(),
    };
}

/// ANSI colours only for a person at a terminal: never into files, pipes or log collectors.
/// Colours on a terminal unless `NO_COLOR` says otherwise.
fn colours_wanted() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The text format's fields, `message` first as written, then `name=value`, every value
/// escaped with [`escape`] (strings also quoted).
#[derive(Debug, Clone, Copy, Default)]
pub struct EscapedFields;

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut visitor = EscapingVisitor {
            writer: &mut writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct EscapingVisitor<'a, 'writer> {
    writer: &'a mut Writer<'writer>,
    first: bool,
    result: fmt::Result,
}

impl EscapingVisitor<'_, '_> {
    /// Writes ` name=` (or nothing before the message), then the value through [`Escaping`]:
    /// formatted straight into the line, with no string of its own.
    fn write(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.result.is_err() {
            return;
        }
        let separator = if self.first { "" } else { " " };
        self.first = false;
        self.result = if field.name() == "message" {
            self.writer.write_str(separator)
        } else {
            let name = field.name().strip_prefix("r#").unwrap_or(field.name());
            write!(self.writer, "{separator}{name}=")
        }
        .and_then(|()| Escaping(&mut self.writer).write_fmt(value));
    }
}

impl Visit for EscapingVisitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.write(field, format_args!("{value}"));
        } else {
            // Quoted, as the default format does, so a value cannot pose as another field.
            self.write(field, format_args!("{value:?}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%value` arrives here too, as Display dressed as Debug: escaped all the same.
        self.write(field, format_args!("{value:?}"));
    }
}

/// Writes its text with control characters and bidirectional overrides as `\u{..}` escapes.
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Escaping(f).write_str(self.0)
    }
}

/// A `fmt::Write` that passes text on with control characters and bidirectional overrides
/// escaped ([`needs_escape`]).
struct Escaping<W>(W);

impl<W: fmt::Write> fmt::Write for Escaping<W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // Most values are printable ASCII, passed on whole (a check the compiler vectorises).
        if text.bytes().all(|b| matches!(b, b' '..=b'~')) {
            return self.0.write_str(text);
        }
        let mut rest = text;
        while let Some((at, c)) = rest.char_indices().find(|&(_, c)| needs_escape(c)) {
            self.0.write_str(&rest[..at])?;
            write!(self.0, "\\u{{{:x}}}", u32::from(c))?;
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

/// Control characters (C0 with newline and `ESC`, `DEL`, C1) and the Unicode marks that reorder
/// how a line is displayed.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// An output that keeps each `write` it is given (the log writer's tests count them).
    #[derive(Clone, Default)]
    pub(super) struct Recorded(pub(super) Arc<Mutex<Vec<Vec<u8>>>>);

    impl Recorded {
        pub(super) fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().concat()).unwrap()
        }
    }

    impl std::io::Write for Recorded {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn untrusted_values_cannot_forge_lines_or_drive_a_terminal() {
        let captured = Recorded::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .fmt_fields(EscapedFields)
            .with_writer(move || sink.clone())
            .finish();
        let hostile = "x\n2026-01-01T00:00:00Z  INFO forged=1 \u{1b}[31mred\u{202e}";
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", route = hostile);
            let _entered = span.enter();
            tracing::info!(endpoint = %hostile, debugged = ?hostile, "got {}", hostile);
        });
        let text = captured.text();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{202e}'),
            "{text}"
        );
        assert!(
            text.contains(r"\u{a}2026") && text.contains(r"\u{1b}[31m"),
            "{text}"
        );
        assert!(
            text.contains(r#"route="x\n2026"#),
            "strings are quoted: {text}"
        );
    }
}
