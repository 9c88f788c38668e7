//! Parser for the IAM credential report (the decoded `Content` of `GetCredentialReport`): one CSV row
//! per IAM user plus the `<root_account>` row. Columns are found by header name, so columns AWS adds
//! later are tolerated, while a missing column keyward needs, a value it cannot read, a row of the
//! wrong width or a repeated user is an error naming the line, the column and the value. The parser
//! never panics, whatever the input.
//!
//! [`facts`] holds what the report says about one user, handed from list-users to check-user, and
//! the merge of those facts with live reads (and why that merge cannot make keyward act wrongly).

pub mod facts;
mod parser;

pub use parser::{
    CredentialReportError, CredentialReportRow, REQUIRED_COLUMNS, ROOT_USER, ReportKey, parse, parse_bytes,
};
