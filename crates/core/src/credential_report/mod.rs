//! Parser for the IAM credential report (the decoded `Content` of `GetCredentialReport`): one CSV row
//! per IAM user plus the `<root_account>` row. Columns are found by header name, so columns AWS adds
//! later are tolerated. A report whose header is unusable (none, a column keyward needs missing or
//! repeated) or that is not text is refused with an error naming the line and the column. One row
//! that cannot be read (a value it cannot read, a row of the wrong width, a repeated user) is not a
//! failed run: it becomes an [`UnreadableRow`], named with its line, its user when that can be told
//! and why, and its user is checked live. The parser never panics, whatever the input.
//!
//! [`facts`] holds what the report says about one user, handed from list-users to check-user, and
//! the merge of those facts with live reads (and why that merge cannot make keyward act wrongly).

pub mod facts;
mod parser;

use crate::errors::{self, NamedError};

pub use parser::{
    CredentialReportRow, ParsedReport, REQUIRED_COLUMNS, ROOT_USER, ReportKey, UnreadableRow, parse, parse_bytes,
};

/// Why a credential report, or one row of it, could not be read. Every message names the line (the
/// header is line 1) and, where there is one, the column and the offending value. `FieldCount`,
/// `InvalidValue`, `ActiveKeyWithoutRotation` and `DuplicateUser` are about one row: reading a
/// report for screening ([`ParsedReport`]) records them as the row's reason and goes on;
/// [`parse`] refuses the report with them. The others make the report unusable. Its error
/// name is [`errors::CREDENTIAL_REPORT_INVALID`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialReportError {
    /// The report has no header line.
    #[error("credential report is empty: expected a header line starting with user,arn,user_creation_time")]
    Empty,
    /// The bytes are not UTF-8 text.
    #[error("credential report line {line}: not UTF-8 text")]
    NotUtf8 {
        /// The line holding the first invalid byte.
        line: u64,
    },
    /// A column keyward needs is not in the header.
    #[error("credential report line {line}: required column {column} is missing from the header")]
    MissingColumn {
        /// The header's line.
        line: u64,
        /// The missing column.
        column: &'static str,
    },
    /// A column keyward reads appears twice in the header, so which one to read is ambiguous.
    #[error("credential report line {line}: column {column} appears more than once in the header")]
    DuplicateColumn {
        /// The header's line.
        line: u64,
        /// The repeated column.
        column: &'static str,
    },
    /// A row does not have as many fields as the header.
    #[error("credential report line {line}: {found} fields, but the header has {expected}")]
    FieldCount {
        /// The row's line.
        line: u64,
        /// Fields in the row.
        found: usize,
        /// Fields in the header.
        expected: usize,
    },
    /// A value is not one the column accepts.
    #[error("credential report line {line}, column {column}: {value:?} is not {expected}")]
    InvalidValue {
        /// The row's line.
        line: u64,
        /// The column.
        column: &'static str,
        /// The value (cut to 80 characters).
        value: String,
        /// What the column accepts.
        expected: &'static str,
    },
    /// An active key without a rotation time: the report contradicts itself.
    #[error(
        "credential report line {line}, column {column}: {value:?} but {active_column} is true (an active key always has a rotation time)"
    )]
    ActiveKeyWithoutRotation {
        /// The row's line.
        line: u64,
        /// The `access_key_N_last_rotated` column.
        column: &'static str,
        /// The value found there.
        value: String,
        /// The `access_key_N_active` column.
        active_column: &'static str,
    },
    /// The same user appears on two rows.
    #[error("credential report line {line}, column user: {user:?} already appears on line {first_line}")]
    DuplicateUser {
        /// The second row's line.
        line: u64,
        /// The user name.
        user: String,
        /// The first row's line.
        first_line: u64,
    },
    /// The CSV itself could not be read.
    #[error("credential report line {line}: {message}")]
    Csv {
        /// The line where reading failed.
        line: u64,
        /// The CSV reader's explanation.
        message: String,
    },
}

impl NamedError for CredentialReportError {
    fn error_name(&self) -> &'static str {
        errors::CREDENTIAL_REPORT_INVALID
    }
}
