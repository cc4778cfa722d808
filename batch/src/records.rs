//! CSV records and fields (RFC 4180), on bytes, with nothing copied that need not be.
//!
//! - A record ends at a `\n` outside quotes; a `\r` before it is part of the line end (CRLF).
//! - A field that starts with `"` is quoted: it may hold the delimiter, line ends and `""` (one
//!   quote). After its closing quote, anything up to the delimiter is kept as written (as the
//!   `csv` crate and pandas do). A `"` inside an unquoted field is an ordinary character.
//! - Records are found by one thread ([`record_end`]); fields are split by the workers
//!   ([`split_fields`]), so the costly part runs in parallel.

use std::borrow::Cow;

use memchr::memchr;

/// Where the record at the start of a buffer ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Just past its `\n`; `one_line`: it holds no other `\n` (no quote at all).
    Complete { end: usize, one_line: bool },
    /// The buffer ends first: more input is needed, or, at the end of the input, the record
    /// runs to the end (`in_quotes`: inside a quoted field that was never closed).
    Incomplete { in_quotes: bool },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: the closing one, or the first of `""`.
    QuoteInQuoted,
}

/// Finds the end of the record that starts at `buf[0]`.
pub fn record_end(buf: &[u8], delimiter: u8) -> End {
    let newline = memchr(b'\n', buf);
    let line = &buf[..newline.unwrap_or(buf.len())];
    // Most records hold no quote at all: then the line is the record.
    if memchr(b'"', line).is_none() {
        return match newline {
            Some(i) => End::Complete {
                end: i + 1,
                one_line: true,
            },
            None => End::Incomplete { in_quotes: false },
        };
    }
    let mut state = State::FieldStart;
    let mut i = 0;
    while i < buf.len() {
        let b = buf[i];
        state = match state {
            State::Quoted => match memchr(b'"', &buf[i..]) {
                Some(q) => {
                    i += q;
                    State::QuoteInQuoted
                }
                None => return End::Incomplete { in_quotes: true },
            },
            State::FieldStart if b == b'"' => State::Quoted,
            State::QuoteInQuoted if b == b'"' => State::Quoted,
            _ if b == b'\n' => {
                return End::Complete {
                    end: i + 1,
                    one_line: false,
                };
            }
            _ if b == delimiter => State::FieldStart,
            _ => State::Unquoted,
        };
        i += 1;
    }
    End::Incomplete {
        in_quotes: state == State::Quoted,
    }
}

/// A record without its line end (`\n` or `\r\n`).
pub fn content(record: &[u8]) -> &[u8] {
    let record = record.strip_suffix(b"\n").unwrap_or(record);
    record.strip_suffix(b"\r").unwrap_or(record)
}

/// A record that holds nothing (an empty line): not a row.
pub fn is_blank(record: &[u8]) -> bool {
    content(record).is_empty()
}

/// Splits a record's content (see [`content`]) into its fields, unquoted, into `out`
/// (cleared first). Fields borrow from the record unless they held `""`.
pub fn split_fields<'a>(record: &'a [u8], delimiter: u8, out: &mut Vec<Cow<'a, [u8]>>) {
    out.clear();
    if memchr(b'"', record).is_none() {
        let mut start = 0;
        for end in memchr::memchr_iter(delimiter, record) {
            out.push(Cow::Borrowed(&record[start..end]));
            start = end + 1;
        }
        out.push(Cow::Borrowed(&record[start..]));
        return;
    }
    let mut rest = record;
    loop {
        let (field, next) = if rest.first() == Some(&b'"') {
            quoted_field(rest, delimiter)
        } else {
            match memchr(delimiter, rest) {
                Some(d) => (Cow::Borrowed(&rest[..d]), Some(d + 1)),
                None => (Cow::Borrowed(rest), None),
            }
        };
        out.push(field);
        match next {
            Some(n) => rest = &rest[n..],
            None => return,
        }
    }
}

/// A field that starts with `"`: its text, and where the next field starts (`None`: last).
fn quoted_field(field: &[u8], delimiter: u8) -> (Cow<'_, [u8]>, Option<usize>) {
    let mut text: Cow<'_, [u8]> = Cow::Borrowed(&[]);
    let mut start = 1;
    loop {
        let Some(q) = memchr(b'"', &field[start..]).map(|q| start + q) else {
            // Never closed (only at the end of the input): the rest is the field.
            append(&mut text, &field[start..]);
            return (text, None);
        };
        append(&mut text, &field[start..q]);
        if field.get(q + 1) == Some(&b'"') {
            // `""` is one quote.
            text.to_mut().push(b'"');
            start = q + 2;
            continue;
        }
        // Closed: what follows up to the delimiter is kept as written.
        let after = &field[q + 1..];
        return match memchr(delimiter, after) {
            Some(d) => {
                append(&mut text, &after[..d]);
                (text, Some(q + 1 + d + 1))
            }
            None => {
                append(&mut text, after);
                (text, None)
            }
        };
    }
}

fn append<'a>(text: &mut Cow<'a, [u8]>, more: &'a [u8]) {
    if more.is_empty() {
        return;
    }
    match text {
        Cow::Borrowed([]) => *text = Cow::Borrowed(more),
        _ => text.to_mut().extend_from_slice(more),
    }
}

/// The delimiter of a file, from its first line: `;` when it holds more semicolons than commas
/// outside quotes, `,` otherwise.
pub fn detect_delimiter(first_line: &[u8]) -> u8 {
    let (mut commas, mut semicolons, mut in_quotes) = (0usize, 0usize, false);
    let mut rest = first_line;
    while let Some(i) = memchr::memchr3(b'"', b',', b';', rest) {
        match rest[i] {
            b'"' => in_quotes = !in_quotes,
            b',' if !in_quotes => commas += 1,
            b';' if !in_quotes => semicolons += 1,
            _ => {}
        }
        rest = &rest[i + 1..];
    }
    if semicolons > commas { b';' } else { b',' }
}

/// Counts the `\n` in a record: how many physical lines it spans.
pub fn newlines(record: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', record).count() as u64
}

/// The first line of a buffer (up to, not including, its `\n`).
pub fn first_line(buf: &[u8]) -> &[u8] {
    &buf[..memchr(b'\n', buf).unwrap_or(buf.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(record: &str, delimiter: u8) -> Vec<String> {
        let mut out = Vec::new();
        split_fields(record.as_bytes(), delimiter, &mut out);
        out.iter()
            .map(|f| String::from_utf8(f.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn plain_and_crlf_records_end_at_their_newline() {
        assert_eq!(
            record_end(b"a,b\nc,d\n", b','),
            End::Complete {
                end: 4,
                one_line: true
            }
        );
        assert_eq!(
            record_end(b"a,b\r\nc", b','),
            End::Complete {
                end: 5,
                one_line: true
            }
        );
        assert_eq!(content(b"a,b\r\n"), b"a,b");
        assert_eq!(
            record_end(b"a,b", b','),
            End::Incomplete { in_quotes: false }
        );
    }

    #[test]
    fn a_quoted_field_may_hold_newlines_delimiters_and_doubled_quotes() {
        let text = "1,\"Smith, \"\"Jr\"\"\nline two\",3\nnext\n";
        let End::Complete { end, .. } = record_end(text.as_bytes(), b',') else {
            panic!("complete")
        };
        let record = &text[..end];
        assert_eq!(newlines(record.as_bytes()), 2);
        assert_eq!(
            fields(
                std::str::from_utf8(content(record.as_bytes())).unwrap(),
                b','
            ),
            ["1", "Smith, \"Jr\"\nline two", "3"]
        );
    }

    #[test]
    fn an_unclosed_quote_runs_to_the_end_of_the_input() {
        assert_eq!(
            record_end(b"1,\"open\n2,3\n", b','),
            End::Incomplete { in_quotes: true }
        );
        assert_eq!(fields("1,\"open", b','), ["1", "open"]);
    }

    #[test]
    fn quotes_inside_unquoted_fields_and_after_a_closing_quote_are_kept() {
        assert!(matches!(
            record_end(b"ab\"c,d\ne", b','),
            End::Complete { end: 7, .. }
        ));
        assert_eq!(fields("ab\"c,d", b','), ["ab\"c", "d"]);
        assert_eq!(fields("\"ab\"c,d", b','), ["abc", "d"]);
        assert_eq!(fields("\"\",x,\"\"", b','), ["", "x", ""]);
        assert_eq!(fields("a;\"b;c\";d", b';'), ["a", "b;c", "d"]);
    }

    #[test]
    fn empty_fields_are_kept_in_place() {
        assert_eq!(fields(",a,,", b','), ["", "a", "", ""]);
        assert_eq!(fields("", b','), [""]);
    }

    #[test]
    fn the_delimiter_is_the_more_frequent_of_comma_and_semicolon_outside_quotes() {
        assert_eq!(detect_delimiter(b"a,b,c"), b',');
        assert_eq!(detect_delimiter(b"a;b;c"), b';');
        assert_eq!(detect_delimiter(b"\"a,b,c\";d;e"), b';');
        assert_eq!(detect_delimiter(b"single"), b',');
    }
}
