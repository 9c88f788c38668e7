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

mod error;
pub mod facts;
mod parser;

pub use error::CredentialReportError;
pub use parser::{
    CredentialReportRow, ParsedReport, REQUIRED_COLUMNS, ROOT_USER, ReportKey, UnreadableRow, parse, parse_bytes,
};
