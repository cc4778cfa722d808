//! The header row: which column holds each field of the table, in either schema.
//!
//! - The public "Churn_Modelling" file's names (`CreditScore`, `Geography`, …) or the field
//!   table's own (`credit_score`, `geography`, …), matched case-insensitively, surrounding
//!   spaces ignored. Every other column (`RowNumber`, `CustomerId`, `Surname`, `Exited`, …)
//!   passes through untouched.
//! - A header without a needed column is refused at once, naming every missing one.

use std::fmt;

use model::fields::{self, Field, shorten};

use crate::records;

/// Each field of the table and its name in the public "Churn_Modelling" file.
pub const CHURN_MODELLING_NAMES: [(&Field, &str); 10] = [
    (&fields::CREDIT_SCORE, "CreditScore"),
    (&fields::GEOGRAPHY, "Geography"),
    (&fields::GENDER, "Gender"),
    (&fields::AGE, "Age"),
    (&fields::TENURE, "Tenure"),
    (&fields::BALANCE, "Balance"),
    (&fields::NUM_OF_PRODUCTS, "NumOfProducts"),
    (&fields::HAS_CR_CARD, "HasCrCard"),
    (&fields::IS_ACTIVE_MEMBER, "IsActiveMember"),
    (&fields::ESTIMATED_SALARY, "EstimatedSalary"),
];

/// The columns the output adds after the input's.
pub const OUTPUT_COLUMNS: [&str; 2] = ["probability", "result"];

/// The field table's count of fields.
pub const FIELD_COUNT: usize = fields::FIELDS.len();

/// Which names the header used for the fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// `CreditScore`, `Geography`, … (the public file).
    ChurnModelling,
    /// `credit_score`, `geography`, … (the API's names).
    Fields,
    /// Some of each.
    Mixed,
}

/// A file's header, understood.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// The header record as written, without its line end (and without a BOM).
    pub raw: Vec<u8>,
    pub delimiter: u8,
    /// The header's line end (`\r\n` or `\n`): output lines end the same way.
    pub line_end: &'static [u8],
    /// Column names as written (unquoted; invalid UTF-8 replaced).
    pub names: Vec<String>,
    /// For each field of the table (in [`fields::FIELDS`] order), its column.
    pub columns: [usize; FIELD_COUNT],
    pub schema: Schema,
}

/// Why a header cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("the input is empty: expected a header row naming the columns")]
    Empty,
    #[error(
        "the header lacks {}: {}. Name the columns as the public Churn_Modelling file does \
         (CreditScore, Geography, Gender, Age, Tenure, Balance, NumOfProducts, HasCrCard, \
         IsActiveMember, EstimatedSalary) or as the API does ({}); case does not matter",
        if .0.len() == 1 { "a column" } else { "columns" },
        .0.join(", "),
        fields::field_names()
    )]
    Missing(Vec<String>),
    #[error("two columns give {field}: {first:?} (column {}) and {second:?} (column {}); keep one", .columns.0 + 1, .columns.1 + 1)]
    Twice {
        field: &'static str,
        first: String,
        second: String,
        columns: (usize, usize),
    },
    #[error(
        "the input already has a {0:?} column (is it a scored file?); the output adds \
         probability and result after the input's columns: rename or drop it"
    )]
    OutputColumn(String),
}

impl Header {
    /// Reads a header record (its bytes up to and including its line end; a UTF-8 BOM already
    /// removed).
    pub fn parse(record: &[u8]) -> Result<Header, HeaderError> {
        let raw = records::content(record);
        if raw.is_empty() {
            return Err(HeaderError::Empty);
        }
        let line_end: &'static [u8] = if record.ends_with(b"\r\n") {
            b"\r\n"
        } else {
            b"\n"
        };
        let delimiter = records::detect_delimiter(records::first_line(raw));
        let mut cells = Vec::new();
        records::split_fields(raw, delimiter, &mut cells);
        let names: Vec<String> = cells
            .iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        // Each field's column, and whether its name was the API's (`Some(true)`), the public
        // file's (`Some(false)`) or both (`None`: `Age` and `age` differ only in case).
        let mut found: [Option<(usize, Option<bool>)>; FIELD_COUNT] = [None; FIELD_COUNT];
        for (column, name) in names.iter().enumerate() {
            let name = name.trim();
            if let Some(added) = OUTPUT_COLUMNS
                .iter()
                .find(|added| added.eq_ignore_ascii_case(name))
            {
                return Err(HeaderError::OutputColumn((*added).to_owned()));
            }
            for (i, (field, public)) in CHURN_MODELLING_NAMES.iter().enumerate() {
                let ours = field.name.eq_ignore_ascii_case(name);
                let theirs = public.eq_ignore_ascii_case(name);
                if !ours && !theirs {
                    continue;
                }
                if let Some((earlier, _)) = found[i] {
                    return Err(HeaderError::Twice {
                        field: field.name,
                        first: shorten(&names[earlier], 40).into_owned(),
                        second: shorten(name, 40).into_owned(),
                        columns: (earlier, column),
                    });
                }
                found[i] = Some((column, (ours != theirs).then_some(ours)));
            }
        }
        let missing: Vec<String> = CHURN_MODELLING_NAMES
            .iter()
            .zip(found)
            .filter(|(_, f)| f.is_none())
            .map(|((field, public), _)| format!("{public} (or {})", field.name))
            .collect();
        if !missing.is_empty() {
            return Err(HeaderError::Missing(missing));
        }
        let columns = found.map(|f| f.map_or(0, |(column, _)| column));
        let used = |which: bool| found.iter().flatten().any(|(_, ours)| *ours == Some(which));
        let schema = match (used(true), used(false)) {
            (true, true) => Schema::Mixed,
            (true, false) => Schema::Fields,
            _ => Schema::ChurnModelling,
        };
        Ok(Header {
            raw: raw.to_vec(),
            delimiter,
            line_end,
            names,
            columns,
            schema,
        })
    }

    /// The name of column `i` as written (shortened for messages).
    pub fn name(&self, i: usize) -> &str {
        self.names.get(i).map_or("", String::as_str)
    }
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Schema::ChurnModelling => "Churn_Modelling names",
            Schema::Fields => "the API's field names",
            Schema::Mixed => "a mix of Churn_Modelling and API names",
        })
    }
}

/// A UTF-8 byte order mark, which some programs (Excel) put at the start of a CSV file.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &str = "RowNumber,CustomerId,Surname,CreditScore,Geography,Gender,Age,Tenure,\
                       Balance,NumOfProducts,HasCrCard,IsActiveMember,EstimatedSalary,Exited\n";

    #[test]
    fn the_public_files_names_are_found_and_other_columns_pass() {
        let header = Header::parse(RAW.as_bytes()).unwrap();
        assert_eq!(header.schema, Schema::ChurnModelling);
        assert_eq!(header.delimiter, b',');
        assert_eq!(header.line_end, b"\n");
        assert_eq!(header.columns, [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(header.raw, RAW.trim_end().as_bytes());
    }

    #[test]
    fn our_names_any_case_semicolons_and_crlf() {
        let names: Vec<String> = fields::FIELDS
            .iter()
            .rev()
            .map(|f| f.name.to_ascii_uppercase())
            .collect();
        let line = format!("id;{}\r\n", names.join(";"));
        let header = Header::parse(line.as_bytes()).unwrap();
        assert_eq!(header.schema, Schema::Fields);
        assert_eq!(header.delimiter, b';');
        assert_eq!(header.line_end, b"\r\n");
        assert_eq!(header.columns, [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
        let mixed = RAW.replace("NumOfProducts", "num_of_products");
        assert_eq!(
            Header::parse(mixed.as_bytes()).unwrap().schema,
            Schema::Mixed
        );
    }

    #[test]
    fn every_missing_column_is_named_at_once() {
        let line = RAW.replace("Age,", "").replace(",Balance", "");
        let err = Header::parse(line.as_bytes()).unwrap_err();
        assert_eq!(
            err,
            HeaderError::Missing(vec![
                "Age (or age)".to_owned(),
                "Balance (or balance)".to_owned()
            ])
        );
        assert!(err.to_string().starts_with("the header lacks columns: Age"));
        assert_eq!(Header::parse(b"\n").unwrap_err(), HeaderError::Empty);
    }

    #[test]
    fn a_field_given_twice_or_an_output_column_is_refused() {
        let twice = RAW.replace("Exited", "age");
        assert!(matches!(
            Header::parse(twice.as_bytes()),
            Err(HeaderError::Twice { field: "age", .. })
        ));
        let scored = RAW.replace("Exited", "Probability");
        assert_eq!(
            Header::parse(scored.as_bytes()).unwrap_err(),
            HeaderError::OutputColumn("probability".to_owned())
        );
    }

    #[test]
    fn the_public_names_are_the_models_feature_names() {
        for (field, public) in CHURN_MODELLING_NAMES {
            let feature = model::FEATURE_NAMES
                .iter()
                .position(|n| n.starts_with(public))
                .unwrap_or_else(|| panic!("{public} is a feature name"));
            assert_eq!(
                model::customer::field_of_feature(feature).name,
                field.name,
                "{public}"
            );
        }
        let table: Vec<&str> = CHURN_MODELLING_NAMES.iter().map(|(f, _)| f.name).collect();
        assert_eq!(
            table,
            fields::FIELDS.map(|f| f.name),
            "in the table's order"
        );
    }
}
