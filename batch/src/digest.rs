//! What a scored file holds, in a few figures, read from the output as it is written
//! ([`crate::Report::written`]), so a summary needs no second copy of the file: how the
//! probabilities spread (a histogram of [`BINS`] equal bands) and the riskiest rows.

use std::borrow::Cow;

use crate::records::{self, End};
use crate::schema::Header;

/// Bands of the histogram: 0–5%, 5–10%, …, 95–100% (1.0 counts in the last).
pub const BINS: usize = 20;

/// One of the riskiest rows: its output row (the input's cells as written, then the added
/// ones) and where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Risky {
    pub probability: f64,
    /// Its place among the scored rows, from 1.
    pub row: u64,
    /// The output row, without its line end.
    pub record: Vec<u8>,
}

impl Risky {
    /// The row's cells (the input's first, then `probability`, `result`, …).
    pub fn cells(&self, delimiter: u8) -> Vec<Cow<'_, [u8]>> {
        let mut cells = Vec::new();
        records::split_fields(&self.record, delimiter, &mut cells);
        cells
    }
}

/// Reads scored rows: counts each in its band and keeps the `top` most probable (on a tie, the
/// earlier row).
#[derive(Debug, Clone)]
pub struct Digest {
    /// The probability's column: after the input's.
    column: usize,
    delimiter: u8,
    top: usize,
    bins: [u64; BINS],
    rows: u64,
    /// The riskiest so far, in no order.
    riskiest: Vec<Risky>,
}

impl Digest {
    /// For the output of a file with this (input) header.
    pub fn new(header: &Header, top: usize) -> Digest {
        Digest {
            column: header.names.len(),
            delimiter: header.delimiter,
            top,
            bins: [0; BINS],
            rows: 0,
            riskiest: Vec::with_capacity(top + 1),
        }
    }

    /// Reads whole output rows (what one chunk wrote).
    pub fn add(&mut self, mut rows: &[u8]) {
        let mut cells = Vec::new();
        while !rows.is_empty() {
            let n = match records::record_end(rows, self.delimiter) {
                End::Complete { end, .. } => end,
                End::Incomplete { .. } => rows.len(),
            };
            let record = records::content(&rows[..n]);
            rows = &rows[n..];
            records::split_fields(record, self.delimiter, &mut cells);
            let probability = cells
                .get(self.column)
                .and_then(|cell| std::str::from_utf8(cell).ok()?.parse::<f64>().ok());
            let Some(probability) = probability else {
                // Not a scored row (a features-only output): nothing to count.
                continue;
            };
            self.rows += 1;
            let bin = ((probability * BINS as f64) as usize).min(BINS - 1);
            self.bins[bin] += 1;
            self.keep(probability, record);
        }
    }

    fn keep(&mut self, probability: f64, record: &[u8]) {
        if self.top == 0 {
            return;
        }
        if self.riskiest.len() == self.top {
            // The least risky kept; the later of equals goes first.
            let (at, least) = self
                .riskiest
                .iter()
                .enumerate()
                .min_by(|(_, a), (_, b)| {
                    a.probability
                        .total_cmp(&b.probability)
                        .then(b.row.cmp(&a.row))
                })
                .map(|(i, r)| (i, r.probability))
                .unwrap_or((0, f64::INFINITY));
            if probability <= least {
                return;
            }
            self.riskiest.swap_remove(at);
        }
        self.riskiest.push(Risky {
            probability,
            row: self.rows,
            record: record.to_vec(),
        });
    }

    /// Scored rows read.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// How many rows fell in each band.
    pub fn bins(&self) -> [u64; BINS] {
        self.bins
    }

    /// The riskiest rows, most probable first (equals in file order).
    pub fn riskiest(&self) -> Vec<Risky> {
        let mut riskiest = self.riskiest.clone();
        riskiest.sort_by(|a, b| {
            b.probability
                .total_cmp(&a.probability)
                .then(a.row.cmp(&b.row))
        });
        riskiest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_counted_in_their_band_and_the_riskiest_kept_in_order() {
        let header = Header::parse(
            b"Id;CreditScore;Geography;Gender;Age;Tenure;Balance;NumOfProducts;HasCrCard;\
              IsActiveMember;EstimatedSalary\n",
        )
        .unwrap();
        let mut digest = Digest::new(&header, 3);
        let row = |id: &str, p: &str| format!("{id};1;2;3;4;5;6;7;8;9;10;{p};Will Exit\r\n");
        let first: String = [
            row("a", "0.01"),
            row("\"b;\nquoted\"", "0.97"),
            row("c", "0.5"),
        ]
        .concat();
        digest.add(first.as_bytes());
        digest.add(
            [row("d", "0.97"), row("e", "1"), row("f", "0.2")]
                .concat()
                .as_bytes(),
        );
        assert_eq!(digest.rows(), 6);
        let bins = digest.bins();
        assert_eq!(bins.iter().sum::<u64>(), 6);
        assert_eq!((bins[0], bins[4], bins[10], bins[19]), (1, 1, 1, 3));
        let riskiest = digest.riskiest();
        let ids: Vec<(f64, u64)> = riskiest.iter().map(|r| (r.probability, r.row)).collect();
        assert_eq!(ids, [(1.0, 5), (0.97, 2), (0.97, 4)]);
        assert_eq!(riskiest[1].cells(b';')[0].as_ref(), b"b;\nquoted");
    }
}
