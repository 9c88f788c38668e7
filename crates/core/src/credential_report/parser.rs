//! The parser: CSV bytes to the [`CredentialReportRow`]s it could read and the [`UnreadableRow`]s
//! it could not, or, when the report as a whole is unusable, an error naming the line, the column
//! and the value.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::CredentialReportError;

/// The `user` value of the account's root row.
pub const ROOT_USER: &str = "<root_account>";

/// The columns keyward reads; a report without any of them is refused. Other columns
/// (`password_last_used`, `password_last_changed`, `password_next_rotation`, `cert_*`, and any AWS
/// adds later) may be absent.
pub const REQUIRED_COLUMNS: &[&str] = &[
    USER,
    ARN,
    USER_CREATION_TIME,
    PASSWORD_ENABLED,
    MFA_ACTIVE,
    KEY_COLUMNS[0].active,
    KEY_COLUMNS[0].last_rotated,
    KEY_COLUMNS[0].last_used_date,
    KEY_COLUMNS[0].last_used_region,
    KEY_COLUMNS[0].last_used_service,
    KEY_COLUMNS[1].active,
    KEY_COLUMNS[1].last_rotated,
    KEY_COLUMNS[1].last_used_date,
    KEY_COLUMNS[1].last_used_region,
    KEY_COLUMNS[1].last_used_service,
];

const USER: &str = "user";
const ARN: &str = "arn";
const USER_CREATION_TIME: &str = "user_creation_time";
const PASSWORD_ENABLED: &str = "password_enabled";
const PASSWORD_LAST_USED: &str = "password_last_used";
const MFA_ACTIVE: &str = "mfa_active";

struct KeyColumnNames {
    active: &'static str,
    last_rotated: &'static str,
    last_used_date: &'static str,
    last_used_region: &'static str,
    last_used_service: &'static str,
}

const KEY_COLUMNS: [KeyColumnNames; 2] = [
    KeyColumnNames {
        active: "access_key_1_active",
        last_rotated: "access_key_1_last_rotated",
        last_used_date: "access_key_1_last_used_date",
        last_used_region: "access_key_1_last_used_region",
        last_used_service: "access_key_1_last_used_service",
    },
    KeyColumnNames {
        active: "access_key_2_active",
        last_rotated: "access_key_2_last_rotated",
        last_used_date: "access_key_2_last_used_date",
        last_used_region: "access_key_2_last_used_region",
        last_used_service: "access_key_2_last_used_service",
    },
];

// Values longer than this are cut in error messages: the message becomes a Step Functions error
// cause, and a corrupt report can hold anything.
const MAX_VALUE_IN_ERROR: usize = 80;

/// One row of the credential report: an IAM user, or the account root (`is_root`), which keyward
/// reports but never acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialReportRow {
    /// The user name, or [`ROOT_USER`] for the root row.
    pub user: String,
    /// The user's ARN (`arn:aws:iam::<account>:root` for the root row).
    pub arn: String,
    /// When the user was created (the account, for the root row).
    pub user_creation_time: DateTime<Utc>,
    /// Whether the user has a console password. The root row's `not_supported` reads as `false`.
    pub password_enabled: bool,
    /// When the console password was last used; `None` for `N/A`, `no_information` or
    /// `not_supported`, or when the report has no `password_last_used` column.
    pub password_last_used: Option<DateTime<Utc>>,
    /// Whether the user has an MFA device.
    pub mfa_active: bool,
    /// Whether this is the `<root_account>` row.
    pub is_root: bool,
    /// Access key slots 1 and 2, in that order. A slot may hold no key (see [`ReportKey::exists`]).
    pub keys: [ReportKey; 2],
}

impl CredentialReportRow {
    /// The slots holding an active key.
    pub fn active_keys(&self) -> impl Iterator<Item = &ReportKey> {
        self.keys.iter().filter(|k| k.active)
    }
}

/// One access key slot of a report row. The report names no `AccessKeyId`: a slot says only what
/// the key in it looked like when the report was generated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportKey {
    /// 1 or 2.
    pub slot: u8,
    /// Whether the key in this slot is active. Always `false` for an empty slot.
    pub active: bool,
    /// When the key was created or last rotated; `None` (`N/A`) for an empty slot. Never `None`
    /// for an active key.
    pub last_rotated: Option<DateTime<Utc>>,
    /// When the key was last used; `None` if it never was (`N/A`) or IAM has no record.
    pub last_used: Option<DateTime<Utc>>,
    /// The region of the last use, when IAM knows it.
    pub last_used_region: Option<String>,
    /// The service of the last use, when IAM knows it.
    pub last_used_service: Option<String>,
}

impl ReportKey {
    /// Whether the slot holds a key at all: `active=false` with `last_rotated` `N/A` means no key.
    pub fn exists(&self) -> bool {
        self.active || self.last_rotated.is_some()
    }

    /// The instant from which unused-ness is counted: the last use, or the rotation (creation) for
    /// a never-used key; `None` for an empty slot.
    pub fn last_activity(&self) -> Option<DateTime<Utc>> {
        self.last_used.or(self.last_rotated)
    }
}

/// A credential report as list-users screens with it: the rows keyward could read, and the rows it
/// could not. One unreadable row costs a live check of its user, not the account's run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedReport {
    /// The rows read, root included (flagged `is_root`), in report order, each user once. A user
    /// named by an unreadable row has no row here, even if another of its rows could be read: which
    /// one tells the truth is unknown, so the user is read live.
    pub rows: Vec<CredentialReportRow>,
    /// The rows that could not be read, in report order.
    pub unreadable: Vec<UnreadableRow>,
}

/// A report row keyward could not read: a wrong number of fields (an unquoted comma in a user name
/// does that), a value the column does not accept, an active key without a rotation time, or a user
/// already seen on an earlier row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreadableRow {
    /// The row's line (the header is line 1).
    pub line: u64,
    /// The row's user, when it can be told: the `user` field of a row as wide as the header; of a
    /// row of another width, the name its ARN confirms (an unquoted comma in the name splits both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Why the row could not be read, naming the line, the column and the value.
    pub reason: String,
}

impl ParsedReport {
    /// Reads the report as IAM returns it (bytes, after base64 decoding). Invalid UTF-8 is an error
    /// naming its line: the decoding went wrong, and no row boundary can be trusted.
    pub fn from_bytes(bytes: &[u8]) -> Result<ParsedReport, CredentialReportError> {
        ParsedReport::from_text(text_of(bytes)?)
    }

    /// Reads the report's CSV text. Fails only when the report as a whole is unusable: no header, a
    /// required column missing or repeated, CSV that cannot be read at all.
    pub fn from_text(csv_text: &str) -> Result<ParsedReport, CredentialReportError> {
        let (mut rows, problems) = read(csv_text)?;
        let unreadable_users: HashSet<&str> = problems.iter().filter_map(|p| p.user.as_deref()).collect();
        rows.retain(|row| !unreadable_users.contains(row.user.as_str()));
        let unreadable = problems
            .iter()
            .map(|p| UnreadableRow { line: p.line, user: p.user.clone(), reason: p.error.to_string() })
            .collect();
        Ok(ParsedReport { rows, unreadable })
    }
}

/// Parses a report that must be read whole, as [`parse`] does, from bytes.
pub fn parse_bytes(bytes: &[u8]) -> Result<Vec<CredentialReportRow>, CredentialReportError> {
    parse(text_of(bytes)?)
}

/// Parses a report every row of which must be readable (for checking that a report AWS or moto
/// wrote is understood whole): the first unreadable row is the error. A report with a header and no
/// rows parses to no rows. list-users reads with [`ParsedReport::from_bytes`] instead.
pub fn parse(csv_text: &str) -> Result<Vec<CredentialReportRow>, CredentialReportError> {
    let (rows, problems) = read(csv_text)?;
    match problems.into_iter().next() {
        Some(first) => Err(first.error),
        None => Ok(rows),
    }
}

fn text_of(bytes: &[u8]) -> Result<&str, CredentialReportError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = bytes.get(..e.valid_up_to()).unwrap_or_default();
        CredentialReportError::NotUtf8 { line: line_count(valid) }
    })
}

/// One row that could not be read.
struct RowProblem {
    line: u64,
    user: Option<String>,
    error: CredentialReportError,
}

/// The rows read (each user once, the first row of a repeated user) and the problems of the others,
/// or the error that makes the whole report unusable.
fn read(csv_text: &str) -> Result<(Vec<CredentialReportRow>, Vec<RowProblem>), CredentialReportError> {
    let text = csv_text.strip_prefix('\u{feff}').unwrap_or(csv_text);
    let mut reader =
        csv::ReaderBuilder::new().has_headers(true).flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());

    let mut lines = LineCounter::new(text);
    let header = reader.headers().map_err(|e| csv_error(&e, &mut lines))?.clone();
    if header.iter().all(str::is_empty) {
        return Err(CredentialReportError::Empty);
    }
    let header_line = lines.line_of(header.position());
    let columns = Columns::locate(&header, header_line)?;

    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut first_line_of: HashMap<String, u64> = HashMap::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            // The reader lost its place in the text: no later row boundary can be trusted.
            Err(e) => return Err(csv_error(&e, &mut lines)),
        }
        let line = lines.line_of(record.position());
        let read = if record.len() == header.len() {
            columns.read(&record, line)
        } else {
            Err(CredentialReportError::FieldCount { line, found: record.len(), expected: header.len() })
        };
        match read {
            Ok(row) => match first_line_of.get(&row.user) {
                Some(&first_line) => {
                    let user = excerpt(&row.user);
                    let error = CredentialReportError::DuplicateUser { line, user: user.clone(), first_line };
                    problems.push(RowProblem { line, user: Some(user), error });
                }
                None => {
                    first_line_of.insert(row.user.clone(), line);
                    rows.push(row);
                }
            },
            Err(error) => problems.push(RowProblem { line, user: columns.user_of(&record, header.len()), error }),
        }
    }
    Ok((rows, problems))
}

/// Where each column keyward reads sits in the header.
struct Columns {
    user: usize,
    arn: usize,
    user_creation_time: usize,
    password_enabled: usize,
    password_last_used: Option<usize>,
    mfa_active: usize,
    keys: [KeyColumns; 2],
}

struct KeyColumns {
    active: usize,
    last_rotated: usize,
    last_used_date: usize,
    last_used_region: usize,
    last_used_service: usize,
}

impl Columns {
    fn locate(header: &csv::StringRecord, line: u64) -> Result<Self, CredentialReportError> {
        let find = |column: &'static str| -> Result<Option<usize>, CredentialReportError> {
            let mut found = header.iter().enumerate().filter(|(_, name)| *name == column).map(|(i, _)| i);
            let first = found.next();
            if found.next().is_some() {
                return Err(CredentialReportError::DuplicateColumn { line, column });
            }
            Ok(first)
        };
        let require = |column: &'static str| -> Result<usize, CredentialReportError> {
            find(column)?.ok_or(CredentialReportError::MissingColumn { line, column })
        };
        let key = |names: &KeyColumnNames| -> Result<KeyColumns, CredentialReportError> {
            Ok(KeyColumns {
                active: require(names.active)?,
                last_rotated: require(names.last_rotated)?,
                last_used_date: require(names.last_used_date)?,
                last_used_region: require(names.last_used_region)?,
                last_used_service: require(names.last_used_service)?,
            })
        };
        Ok(Columns {
            user: require(USER)?,
            arn: require(ARN)?,
            user_creation_time: require(USER_CREATION_TIME)?,
            password_enabled: require(PASSWORD_ENABLED)?,
            password_last_used: find(PASSWORD_LAST_USED)?,
            mfa_active: require(MFA_ACTIVE)?,
            keys: [key(&KEY_COLUMNS[0])?, key(&KEY_COLUMNS[1])?],
        })
    }

    /// The user of a row that could not be read, when it can be told. A row as wide as the header
    /// has its `user` field where the header says. IAM user names may hold commas, which a writer
    /// that does not quote splits into several fields (moto does): when the row has `2n` fields too
    /// many and the name is followed by its ARN, the `n + 1` fields from `user`, joined, are the name
    /// if the next `n + 1`, joined, are an ARN ending in `/<name>`. A wrong name would cost only an
    /// extra live check: a listed user without a readable row is checked live anyway.
    fn user_of(&self, record: &csv::StringRecord, expected: usize) -> Option<String> {
        let user = if record.len() == expected {
            record.get(self.user)?.to_owned()
        } else {
            let extra = record.len().saturating_sub(expected);
            if !extra.is_multiple_of(2) || (extra > 0 && self.arn != self.user + 1) {
                return None;
            }
            let joined = |from: usize| -> Option<String> {
                let fields: Option<Vec<&str>> = (from..=from + extra / 2).map(|i| record.get(i)).collect();
                Some(fields?.join(","))
            };
            let user = joined(self.user)?;
            let arn = joined(self.arn + extra / 2)?;
            if !(arn.starts_with("arn:") && arn.ends_with(&format!("/{user}"))) {
                return None;
            }
            user
        };
        (!user.is_empty()).then(|| excerpt(&user))
    }

    fn read(&self, record: &csv::StringRecord, line: u64) -> Result<CredentialReportRow, CredentialReportError> {
        let field = |index: usize| record.get(index).unwrap_or_default();
        let cell = |index: usize, column: &'static str| Cell { value: field(index), line, column };

        let user = cell(self.user, USER).non_empty("a user name")?;
        let is_root = user == ROOT_USER;
        let password_enabled = cell(self.password_enabled, PASSWORD_ENABLED);
        let password_enabled = match password_enabled.value {
            // Only the root row has no IAM-managed password; anywhere else the report is not what
            // keyward understands, and guessing `false` could hide a console user without MFA.
            "not_supported" if is_root => false,
            _ => password_enabled.boolean(if is_root { "true, false or not_supported" } else { "true or false" })?,
        };
        let password_last_used = match self.password_last_used {
            Some(index) => cell(index, PASSWORD_LAST_USED).optional_timestamp(
                &["N/A", "no_information", "not_supported"],
                "an ISO 8601 timestamp, N/A, no_information or not_supported",
            )?,
            None => None,
        };
        let key = |slot: u8,
                   columns: &KeyColumns,
                   names: &KeyColumnNames|
         -> Result<ReportKey, CredentialReportError> {
            let active = cell(columns.active, names.active).boolean("true or false")?;
            let rotated = cell(columns.last_rotated, names.last_rotated);
            let last_rotated = rotated.optional_timestamp(&["N/A"], "an ISO 8601 timestamp or N/A")?;
            if active && last_rotated.is_none() {
                return Err(CredentialReportError::ActiveKeyWithoutRotation {
                    line,
                    column: names.last_rotated,
                    value: excerpt(rotated.value),
                    active_column: names.active,
                });
            }
            Ok(ReportKey {
                slot,
                active,
                last_rotated,
                last_used: cell(columns.last_used_date, names.last_used_date)
                    .optional_timestamp(&["N/A", "no_information"], "an ISO 8601 timestamp, N/A or no_information")?,
                last_used_region: cell(columns.last_used_region, names.last_used_region).optional_text(),
                last_used_service: cell(columns.last_used_service, names.last_used_service).optional_text(),
            })
        };
        Ok(CredentialReportRow {
            user: user.to_owned(),
            arn: cell(self.arn, ARN).non_empty("an ARN")?.to_owned(),
            user_creation_time: cell(self.user_creation_time, USER_CREATION_TIME).timestamp("an ISO 8601 timestamp")?,
            password_enabled,
            password_last_used,
            mfa_active: cell(self.mfa_active, MFA_ACTIVE).boolean("true or false")?,
            is_root,
            keys: [key(1, &self.keys[0], &KEY_COLUMNS[0])?, key(2, &self.keys[1], &KEY_COLUMNS[1])?],
        })
    }
}

/// One value with where it came from, for error messages.
struct Cell<'a> {
    value: &'a str,
    line: u64,
    column: &'static str,
}

impl<'a> Cell<'a> {
    fn invalid(&self, expected: &'static str) -> CredentialReportError {
        CredentialReportError::InvalidValue {
            line: self.line,
            column: self.column,
            value: excerpt(self.value),
            expected,
        }
    }

    fn non_empty(&self, expected: &'static str) -> Result<&'a str, CredentialReportError> {
        if self.value.is_empty() { Err(self.invalid(expected)) } else { Ok(self.value) }
    }

    fn boolean(&self, expected: &'static str) -> Result<bool, CredentialReportError> {
        if self.value.eq_ignore_ascii_case("true") {
            Ok(true)
        } else if self.value.eq_ignore_ascii_case("false") {
            Ok(false)
        } else {
            Err(self.invalid(expected))
        }
    }

    fn timestamp(&self, expected: &'static str) -> Result<DateTime<Utc>, CredentialReportError> {
        DateTime::parse_from_rfc3339(self.value).map(|t| t.with_timezone(&Utc)).map_err(|_| self.invalid(expected))
    }

    fn optional_timestamp(
        &self,
        absent: &[&str],
        expected: &'static str,
    ) -> Result<Option<DateTime<Utc>>, CredentialReportError> {
        if absent.contains(&self.value) { Ok(None) } else { self.timestamp(expected).map(Some) }
    }

    // Region and service are free text; moto writes `not_supported` there, AWS `N/A`.
    fn optional_text(&self) -> Option<String> {
        match self.value {
            "" | "N/A" | "no_information" | "not_supported" => None,
            v => Some(v.to_owned()),
        }
    }
}

fn csv_error(error: &csv::Error, lines: &mut LineCounter<'_>) -> CredentialReportError {
    CredentialReportError::Csv { line: lines.line_of(error.position()), message: error.to_string() }
}

/// Physical line numbers (1-based) of record starts. The CSV reader's own line counter skips blank
/// lines and its record positions point just after the previous record, so lines are counted here
/// from byte offsets, incrementally because records arrive in order.
struct LineCounter<'a> {
    text: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        LineCounter { text: text.as_bytes(), offset: 0, line: 1 }
    }

    /// The line of the first non-blank byte at or after `position`.
    fn line_of(&mut self, position: Option<&csv::Position>) -> u64 {
        let byte = position.map_or(self.offset, |p| usize::try_from(p.byte()).unwrap_or(usize::MAX));
        let mut target = byte.clamp(self.offset, self.text.len());
        while matches!(self.text.get(target), Some(b'\r' | b'\n')) {
            target += 1;
        }
        let newlines = self.text.get(self.offset..target).map_or(0, |s| s.iter().filter(|&&b| b == b'\n').count());
        self.line = self.line.saturating_add(u64::try_from(newlines).unwrap_or(u64::MAX));
        self.offset = target;
        self.line
    }
}

fn excerpt(value: &str) -> String {
    match value.char_indices().nth(MAX_VALUE_IN_ERROR) {
        Some((cut, _)) => format!("{}…", value.get(..cut).unwrap_or_default()),
        None => value.to_owned(),
    }
}

// 1-based line number of the position just after `bytes`.
fn line_count(bytes: &[u8]) -> u64 {
    let newlines = bytes.iter().filter(|&&b| b == b'\n').count();
    u64::try_from(newlines).unwrap_or(u64::MAX).saturating_add(1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::errors::NamedError;
    use chrono::TimeZone;
    use proptest::prelude::*;

    const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

    /// A realistic report: root, a console user with two keys, a never-used key, a name with a comma.
    fn report() -> String {
        [
            HEADER,
            "<root_account>,arn:aws:iam::123456789012:root,2019-03-01T08:00:00+00:00,not_supported,no_information,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
            "alice,arn:aws:iam::123456789012:user/alice,2020-05-04T12:00:00+00:00,true,2024-01-10T09:00:00+00:00,2023-06-01T00:00:00+00:00,N/A,true,true,2023-01-15T10:22:33+00:00,2024-01-14T18:00:00+00:00,us-east-1,s3,false,2022-02-01T00:00:00+00:00,2022-06-01T00:00:00+00:00,eu-west-1,ec2,false,N/A,false,N/A",
            "svc-ci,arn:aws:iam::123456789012:user/ci/svc-ci,2023-09-09T09:09:09+00:00,false,N/A,N/A,N/A,false,true,2023-09-09T09:10:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
            "\"smith,john\",\"arn:aws:iam::123456789012:user/smith,john\",2021-01-01T00:00:00+00:00,true,no_information,2021-01-01T00:00:00+00:00,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
        ]
        .join("\n")
            + "\n"
    }

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn err_of(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    /// The report with one field of one row (0 = header) replaced.
    fn with_field(row: usize, column: &str, value: &str) -> String {
        let text = report();
        let index = HEADER.split(',').position(|c| c == column).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let mut fields: Vec<String> = lines[row].split(',').map(str::to_owned).collect();
        fields[index] = value.to_owned();
        lines[row] = fields.join(",");
        lines.join("\n") + "\n"
    }

    #[test]
    fn realistic_report_parses_every_row() {
        let rows = parse(&report()).unwrap();
        assert_eq!(rows.len(), 4);

        let root = &rows[0];
        assert!(root.is_root);
        assert_eq!(root.user, ROOT_USER);
        assert!(!root.password_enabled, "root's not_supported reads as false");
        assert_eq!(root.password_last_used, None, "no_information");
        assert!(root.mfa_active);
        assert!(root.keys.iter().all(|k| !k.exists()));

        let alice = &rows[1];
        assert!(!alice.is_root);
        assert_eq!(alice.arn, "arn:aws:iam::123456789012:user/alice");
        assert_eq!(alice.user_creation_time, at(2020, 5, 4, 12, 0, 0));
        assert!(alice.password_enabled);
        assert_eq!(alice.password_last_used, Some(at(2024, 1, 10, 9, 0, 0)));
        assert_eq!(
            alice.keys[0],
            ReportKey {
                slot: 1,
                active: true,
                last_rotated: Some(at(2023, 1, 15, 10, 22, 33)),
                last_used: Some(at(2024, 1, 14, 18, 0, 0)),
                last_used_region: Some("us-east-1".into()),
                last_used_service: Some("s3".into()),
            }
        );
        assert_eq!(alice.keys[1].slot, 2);
        assert!(!alice.keys[1].active);
        assert!(alice.keys[1].exists(), "an inactive key is still a key");
        assert_eq!(alice.active_keys().count(), 1);

        let ci = &rows[2];
        assert!(!ci.password_enabled);
        assert_eq!(ci.password_last_used, None);
        let never_used = &ci.keys[0];
        assert!(never_used.active);
        assert_eq!(never_used.last_used, None);
        assert_eq!(never_used.last_used_region, None);
        assert_eq!(never_used.last_used_service, None);
        assert_eq!(never_used.last_activity(), Some(at(2023, 9, 9, 9, 10, 0)), "counts from rotation");

        let smith = &rows[3];
        assert_eq!(smith.user, "smith,john");
        assert_eq!(smith.arn, "arn:aws:iam::123456789012:user/smith,john");
        assert_eq!(smith.password_last_used, None);
        assert!(!smith.keys[0].exists() && !smith.keys[1].exists());
    }

    #[test]
    fn crlf_line_endings_parse_the_same() {
        let crlf = report().replace('\n', "\r\n");
        assert_eq!(parse(&crlf).unwrap(), parse(&report()).unwrap());
    }

    #[test]
    fn utf8_bom_is_ignored() {
        let bom = format!("\u{feff}{}", report());
        assert_eq!(parse(&bom).unwrap(), parse(&report()).unwrap());
    }

    #[test]
    fn bytes_parse_like_text() {
        assert_eq!(parse_bytes(report().as_bytes()).unwrap(), parse(&report()).unwrap());
    }

    #[test]
    fn invalid_utf8_names_its_line() {
        let mut bytes = report().into_bytes();
        let third_line = bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(1).unwrap().0 + 1;
        bytes[third_line] = 0xff;
        let err = parse_bytes(&bytes).unwrap_err();
        assert_eq!(err, CredentialReportError::NotUtf8 { line: 3 });
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn extra_unknown_columns_and_reordered_columns_are_tolerated() {
        // GIVEN a report where AWS appended a column and moved `arn` to the end
        let mut lines = Vec::new();
        for line in report().lines() {
            let mut fields = csv::ReaderBuilder::new().has_headers(false).from_reader(line.as_bytes());
            let mut fields: Vec<String> = fields.records().next().unwrap().unwrap().iter().map(str::to_owned).collect();
            let arn = fields.remove(1);
            fields.push(if lines.is_empty() { "access_key_3_active".to_owned() } else { "false".to_owned() });
            fields.push(arn);
            let mut out = csv::Writer::from_writer(Vec::new());
            out.write_record(&fields).unwrap();
            lines.push(String::from_utf8(out.into_inner().unwrap()).unwrap());
        }
        // THEN it parses to the same rows
        assert_eq!(parse(&lines.concat()).unwrap(), parse(&report()).unwrap());
    }

    #[test]
    fn optional_columns_may_be_absent() {
        let text = "user,arn,user_creation_time,password_enabled,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service\n\
                    bob,arn:aws:iam::1:user/bob,2024-01-01T00:00:00+00:00,false,false,true,2024-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A\n";
        let rows = parse(text).unwrap();
        assert_eq!(rows[0].password_last_used, None);
        assert!(rows[0].keys[0].active);
    }

    #[test]
    fn moto_report_parses() {
        // moto writes not_supported in password_last_used (no password) and in the region/service columns.
        let text = format!(
            "{HEADER}\nmoto-user,arn:aws:iam::123456789012:user/moto-user,2025-01-01T00:00:00+00:00,false,not_supported,2025-01-01T00:00:00+00:00,not_supported,false,true,2025-01-01T00:00:00+00:00,N/A,not_supported,not_supported,false,N/A,N/A,not_supported,not_supported,false,N/A,false,N/A\n"
        );
        let rows = parse(&text).unwrap();
        assert_eq!(rows[0].keys[0].last_used_region, None);
        assert_eq!(rows[0].keys[0].last_used_service, None);
        assert_eq!(rows[0].password_last_used, None);
    }

    #[test]
    fn header_only_report_has_no_rows() {
        assert_eq!(parse(&format!("{HEADER}\n")).unwrap(), vec![]);
    }

    #[test]
    fn empty_report_is_refused() {
        for text in ["", "\n", "\r\n\r\n", "   "] {
            assert_eq!(parse(text), Err(CredentialReportError::Empty), "{text:?}");
        }
        assert!(err_of("").contains("empty"));
    }

    #[test]
    fn missing_required_column_is_named() {
        let text = report().replace(",access_key_2_last_used_service,", ",something_else,");
        let err = parse(&text).unwrap_err();
        assert_eq!(err, CredentialReportError::MissingColumn { line: 1, column: "access_key_2_last_used_service" });
        let message = err.to_string();
        assert!(message.contains("line 1") && message.contains("access_key_2_last_used_service"), "{message}");
    }

    #[test]
    fn every_required_column_is_required() {
        for column in REQUIRED_COLUMNS {
            let text = with_field(0, column, "renamed");
            let err = parse(&text).unwrap_err();
            assert_eq!(err, CredentialReportError::MissingColumn { line: 1, column }, "{column}");
        }
    }

    #[test]
    fn duplicate_column_is_refused() {
        let text = with_field(0, "cert_2_last_rotated", "mfa_active");
        let err = err_of(&text);
        assert!(err.contains("line 1") && err.contains("mfa_active") && err.contains("more than once"), "{err}");
    }

    #[test]
    fn bad_timestamp_names_line_column_and_value() {
        let text = with_field(3, "access_key_1_last_rotated", "yesterday");
        assert_eq!(
            err_of(&text),
            "credential report line 4, column access_key_1_last_rotated: \"yesterday\" is not an ISO 8601 timestamp or N/A"
        );
    }

    #[test]
    fn bad_values_name_their_column() {
        for (row, column, value) in [
            (2, "user_creation_time", "N/A"),
            (2, "password_enabled", "yes"),
            (2, "password_enabled", "not_supported"),
            (1, "password_enabled", "maybe"),
            (2, "password_last_used", "last week"),
            (2, "mfa_active", ""),
            (2, "access_key_2_active", "1"),
            (2, "access_key_2_last_used_date", "2024-13-01T00:00:00+00:00"),
            (3, "user", ""),
            (3, "arn", ""),
        ] {
            let err = parse(&with_field(row, column, value)).unwrap_err();
            let line = u64::try_from(row).unwrap() + 1;
            assert!(
                matches!(&err, CredentialReportError::InvalidValue { line: l, column: c, value: v, .. }
                    if *l == line && *c == column && v == value),
                "{column}={value:?}: {err}"
            );
            let message = err.to_string();
            assert!(message.contains(&format!("line {line}, column {column}: {value:?}")), "{message}");
        }
    }

    #[test]
    fn active_key_without_rotation_time_is_refused() {
        let text = with_field(3, "access_key_1_last_rotated", "N/A");
        let err = err_of(&text);
        assert!(
            err.contains("line 4, column access_key_1_last_rotated") && err.contains("access_key_1_active"),
            "{err}"
        );
    }

    #[test]
    fn row_with_wrong_number_of_fields_is_refused() {
        let mut text = report();
        text.push_str("short,arn:aws:iam::1:user/short,2024-01-01T00:00:00+00:00\n");
        assert_eq!(parse(&text), Err(CredentialReportError::FieldCount { line: 6, found: 3, expected: 22 }));
        assert!(err_of(&text).starts_with("credential report line 6: 3 fields, but the header has 22"));

        // An unquoted comma in a name shifts every field: also refused, never misread.
        let unquoted = report().replace("\"smith,john\"", "smith,john");
        assert!(err_of(&unquoted).contains("line 5: 23 fields"), "{}", err_of(&unquoted));
    }

    #[test]
    fn duplicate_user_names_both_lines() {
        let mut text = report();
        let alice = text.lines().nth(2).unwrap().to_owned();
        text.push_str(&alice);
        text.push('\n');
        let err = parse(&text).unwrap_err();
        assert_eq!(err, CredentialReportError::DuplicateUser { line: 6, user: "alice".into(), first_line: 3 });
        assert!(err.to_string().contains("line 6, column user: \"alice\" already appears on line 3"), "{err}");
    }

    #[test]
    fn line_numbers_are_physical_lines_with_crlf_and_blank_lines() {
        let text = with_field(3, "mfa_active", "nope").replace('\n', "\r\n");
        assert!(err_of(&text).contains("line 4, column mfa_active"), "{}", err_of(&text));

        // A blank line is skipped but still counted.
        let text = with_field(3, "mfa_active", "nope").replacen("\nsvc-ci", "\n\nsvc-ci", 1);
        assert!(err_of(&text).contains("line 5, column mfa_active"), "{}", err_of(&text));

        // A quoted newline (here in a column AWS might add) makes a record span two lines.
        let good = report();
        let lines: Vec<&str> = good.lines().collect();
        let bad_ci = with_field(3, "mfa_active", "nope");
        let bad_ci = bad_ci.lines().nth(3).unwrap();
        let text = format!("{},note\n{},\n{},\"two\nlines\"\n{bad_ci},\n", lines[0], lines[1], lines[2]);
        assert!(err_of(&text).contains("line 5, column mfa_active"), "{}", err_of(&text));
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let long = "x".repeat(10_000);
        let err = err_of(&with_field(2, "mfa_active", &long));
        assert!(err.len() < 300, "{}", err.len());
    }

    #[test]
    fn error_name_is_credential_report_invalid() {
        assert_eq!(CredentialReportError::Empty.error_name(), "CredentialReportInvalid");
    }

    #[test]
    fn rows_round_trip_through_json() {
        let rows = parse(&report()).unwrap();
        let json = serde_json::to_string(&rows).unwrap();
        assert_eq!(serde_json::from_str::<Vec<CredentialReportRow>>(&json).unwrap(), rows);
    }

    /// `shared/credreports/moto-5.2.5-generated.csv`: what moto 5.2.5 writes for four users (one
    /// under the path `/ci/`, one named with IAM's other name characters).
    const MOTO_REPORT: &str = concat!(
        "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n",
        "console-mfa,arn:aws:iam::123456789012:user/console-mfa,2026-12-01T07:22:45+00:00,true,no_information,2026-12-01T07:22:45+00:00,not_supported,true,true,2026-12-01T07:22:45+00:00,N/A,not_supported,not_supported,false,N/A,N/A,not_supported,not_supported,false,N/A,false,N/A\n",
        "svc-two-keys,arn:aws:iam::123456789012:user/ci/svc-two-keys,2026-12-01T07:22:45+00:00,false,not_supported,2026-12-01T07:22:45+00:00,not_supported,false,false,2026-12-01T07:22:45+00:00,N/A,not_supported,not_supported,true,2026-12-01T07:22:45+00:00,N/A,not_supported,not_supported,false,N/A,false,N/A\n",
        "no-creds,arn:aws:iam::123456789012:user/no-creds,2026-12-01T07:22:45+00:00,false,not_supported,2026-12-01T07:22:45+00:00,not_supported,false,false,N/A,N/A,not_supported,not_supported,false,N/A,N/A,not_supported,not_supported,false,N/A,false,N/A\n",
        "a+b=c.d@e_f-g,arn:aws:iam::123456789012:user/a+b=c.d@e_f-g,2026-12-01T07:22:45+00:00,true,no_information,2026-12-01T07:22:45+00:00,not_supported,false,false,N/A,N/A,not_supported,not_supported,false,N/A,N/A,not_supported,not_supported,false,N/A,false,N/A\n",
    );

    /// `shared/credreports/moto-5.2.5-comma-user-unquoted.csv`: moto 5.2.5 with a user named
    /// `smith,john`, which it writes without quotes, so the row has 24 fields.
    const MOTO_COMMA_USER_REPORT: &str = concat!(
        "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n",
        "smith,john,arn:aws:iam::123456789012:user/smith,john,2026-12-01T07:26:06+00:00,false,not_supported,2026-12-01T07:26:06+00:00,not_supported,false,true,2026-12-01T07:26:06+00:00,N/A,not_supported,not_supported,false,N/A,N/A,not_supported,not_supported,false,N/A,false,N/A\n",
    );

    fn read(text: &str) -> ParsedReport {
        ParsedReport::from_text(text).unwrap()
    }

    fn users(report: &ParsedReport) -> Vec<&str> {
        report.rows.iter().map(|r| r.user.as_str()).collect()
    }

    #[test]
    fn moto_comma_user_row_is_one_unreadable_row_naming_its_user() {
        let report = read(MOTO_COMMA_USER_REPORT);
        assert_eq!(report.rows, vec![]);
        assert_eq!(
            report.unreadable,
            vec![UnreadableRow {
                line: 2,
                user: Some("smith,john".into()),
                reason: "credential report line 2: 24 fields, but the header has 22".into(),
            }]
        );
        // The report read whole is still refused.
        assert_eq!(
            parse(MOTO_COMMA_USER_REPORT),
            Err(CredentialReportError::FieldCount { line: 2, found: 24, expected: 22 })
        );
    }

    #[test]
    fn one_unreadable_row_leaves_the_other_rows_read() {
        // GIVEN moto's report of four users with the comma user's row among them
        let comma_row = MOTO_COMMA_USER_REPORT.lines().nth(1).unwrap();
        let mut lines: Vec<&str> = MOTO_REPORT.lines().collect();
        lines.insert(3, comma_row);
        let text = lines.join("\n") + "\n";

        // WHEN it is read for screening
        let report = ParsedReport::from_bytes(text.as_bytes()).unwrap();

        // THEN the four other rows are read as the report without that row, and the one is named
        assert_eq!(users(&report), vec!["console-mfa", "svc-two-keys", "no-creds", "a+b=c.d@e_f-g"]);
        assert_eq!(report.rows, parse(MOTO_REPORT).unwrap());
        assert_eq!(report.unreadable.len(), 1);
        assert_eq!((report.unreadable[0].line, report.unreadable[0].user.as_deref()), (4, Some("smith,john")));
    }

    #[test]
    fn unquoted_comma_rows_are_named_only_when_the_arn_confirms_the_name() {
        // Name and ARN unquoted: 24 fields, named.
        let both = report()
            .replace("\"smith,john\"", "smith,john")
            .replace("\"arn:aws:iam::123456789012:user/smith,john\"", "arn:aws:iam::123456789012:user/smith,john");
        let report_both = read(&both);
        assert_eq!(users(&report_both), vec![ROOT_USER, "alice", "svc-ci"]);
        assert_eq!(report_both.unreadable[0].user.as_deref(), Some("smith,john"));
        assert!(report_both.unreadable[0].reason.contains("line 5: 24 fields"), "{:?}", report_both.unreadable);

        // Only the name unquoted: 23 fields, no split makes the ARN end in the name.
        let name_only = report().replace("\"smith,john\"", "smith,john");
        let report_name_only = read(&name_only);
        assert_eq!(
            report_name_only.unreadable,
            vec![UnreadableRow {
                line: 5,
                user: None,
                reason: "credential report line 5: 23 fields, but the header has 22".into()
            }]
        );

        // Two commas: four fields too many.
        let two = both.replace("smith,john", "smith,j,r");
        assert_eq!(read(&two).unreadable[0].user.as_deref(), Some("smith,j,r"));
    }

    #[test]
    fn short_row_is_unreadable_and_named_when_its_arn_matches() {
        let mut text = report();
        text.push_str("short,arn:aws:iam::1:user/short,2024-01-01T00:00:00+00:00\n");
        text.push_str("x,y,z\n");
        let report = read(&text);
        assert_eq!(report.rows.len(), 4);
        let named: Vec<(u64, Option<&str>)> = report.unreadable.iter().map(|u| (u.line, u.user.as_deref())).collect();
        assert_eq!(named, vec![(6, Some("short")), (7, None)]);
        assert_eq!(report.unreadable[0].reason, "credential report line 6: 3 fields, but the header has 22");
    }

    #[test]
    fn unreadable_value_is_a_bad_row_naming_line_column_value_and_user() {
        let report = read(&with_field(3, "access_key_1_last_rotated", "yesterday"));
        assert_eq!(users(&report), vec![ROOT_USER, "alice", "smith,john"]);
        assert_eq!(
            report.unreadable,
            vec![UnreadableRow {
                line: 4,
                user: Some("svc-ci".into()),
                reason: "credential report line 4, column access_key_1_last_rotated: \"yesterday\" is not an ISO 8601 timestamp or N/A".into(),
            }]
        );
        // Every value problem is a bad row, never a refused report.
        for (row, column, value) in [
            (2, "user_creation_time", "N/A"),
            (2, "mfa_active", ""),
            (3, "arn", ""),
            (3, "access_key_1_last_rotated", "N/A"),
        ] {
            let report = read(&with_field(row, column, value));
            assert_eq!(report.rows.len(), 3, "{column}={value:?}");
            assert_eq!(report.unreadable.len(), 1, "{column}={value:?}");
            assert!(report.unreadable[0].reason.contains(column), "{:?}", report.unreadable);
        }
        // A row without a user name is unreadable and names nobody.
        assert_eq!(read(&with_field(3, "user", "")).unreadable[0].user, None);
    }

    #[test]
    fn repeated_user_is_a_bad_row_and_neither_of_its_rows_is_read() {
        let mut text = report();
        let alice = text.lines().nth(2).unwrap().to_owned();
        text.push_str(&alice);
        text.push('\n');
        let report = read(&text);
        assert_eq!(users(&report), vec![ROOT_USER, "svc-ci", "smith,john"], "alice is read live");
        assert_eq!(
            report.unreadable,
            vec![UnreadableRow {
                line: 6,
                user: Some("alice".into()),
                reason: "credential report line 6, column user: \"alice\" already appears on line 3".into(),
            }]
        );
        // A readable row of a user whose other row is unreadable is not read either.
        let mut text = with_field(2, "mfa_active", "maybe");
        text.push_str(&alice);
        text.push('\n');
        assert!(!users(&read(&text)).contains(&"alice"));
    }

    #[test]
    fn unusable_header_still_refuses_the_report() {
        let missing = report().replace(",access_key_2_last_used_service,", ",something_else,");
        assert_eq!(
            ParsedReport::from_text(&missing),
            Err(CredentialReportError::MissingColumn { line: 1, column: "access_key_2_last_used_service" })
        );
        for column in REQUIRED_COLUMNS {
            assert_eq!(
                ParsedReport::from_text(&with_field(0, column, "renamed")),
                Err(CredentialReportError::MissingColumn { line: 1, column }),
                "{column}"
            );
        }
        let repeated = with_field(0, "cert_2_last_rotated", "mfa_active");
        assert_eq!(
            ParsedReport::from_text(&repeated),
            Err(CredentialReportError::DuplicateColumn { line: 1, column: "mfa_active" })
        );
        for empty in ["", "\n", "   "] {
            assert_eq!(ParsedReport::from_text(empty), Err(CredentialReportError::Empty), "{empty:?}");
        }
        let html = ParsedReport::from_bytes(b"<html>Service Unavailable</html>\n").unwrap_err();
        assert!(matches!(html, CredentialReportError::MissingColumn { line: 1, .. }), "{html}");
        assert_eq!(ParsedReport::from_bytes(&[b'u', 0xff]), Err(CredentialReportError::NotUtf8 { line: 1 }));
    }

    #[test]
    fn unreadable_rows_round_trip_through_json_without_an_unknown_user() {
        let row = UnreadableRow { line: 7, user: None, reason: "why".into() };
        let json = serde_json::to_string(&row).unwrap();
        assert_eq!(json, r#"{"line":7,"reason":"why"}"#);
        assert_eq!(serde_json::from_str::<UnreadableRow>(&json).unwrap(), row);
    }

    fn timestamp() -> impl Strategy<Value = DateTime<Utc>> {
        (946_684_800i64..4_102_444_800).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
    }

    fn slot(n: u8) -> impl Strategy<Value = ReportKey> {
        let word = proptest::option::of("[a-z0-9-]{1,12}");
        (any::<bool>(), proptest::option::of(timestamp()), proptest::option::of(timestamp()), word.clone(), word)
            .prop_map(move |(active, rotated, last_used, region, service)| ReportKey {
                slot: n,
                active,
                last_rotated: if active { rotated.or(DateTime::from_timestamp(1_700_000_000, 0)) } else { rotated },
                last_used,
                last_used_region: region,
                last_used_service: service,
            })
    }

    fn row() -> impl Strategy<Value = CredentialReportRow> {
        (
            "[A-Za-z0-9+=,.@_-]{1,64}",
            timestamp(),
            any::<bool>(),
            proptest::option::of(timestamp()),
            any::<bool>(),
            slot(1),
            slot(2),
        )
            .prop_map(|(user, created, password, password_used, mfa, k1, k2)| CredentialReportRow {
                arn: format!("arn:aws:iam::123456789012:user/{user}"),
                user,
                user_creation_time: created,
                password_enabled: password,
                password_last_used: password_used,
                mfa_active: mfa,
                is_root: false,
                keys: [k1, k2],
            })
    }

    fn render(rows: &[CredentialReportRow]) -> String {
        let ts =
            |t: &Option<DateTime<Utc>>| t.map_or("N/A".to_owned(), |t| t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string());
        let text = |t: &Option<String>| t.clone().unwrap_or_else(|| "N/A".to_owned());
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(HEADER.split(',')).unwrap();
        for r in rows {
            let mut fields = vec![
                r.user.clone(),
                r.arn.clone(),
                ts(&Some(r.user_creation_time)),
                r.password_enabled.to_string(),
                ts(&r.password_last_used),
                "N/A".into(),
                "N/A".into(),
                r.mfa_active.to_string(),
            ];
            for k in &r.keys {
                fields.extend([
                    k.active.to_string(),
                    ts(&k.last_rotated),
                    ts(&k.last_used),
                    text(&k.last_used_region),
                    text(&k.last_used_service),
                ]);
            }
            fields.extend(["false", "N/A", "false", "N/A"].map(str::to_owned));
            out.write_record(&fields).unwrap();
        }
        String::from_utf8(out.into_inner().unwrap()).unwrap()
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC*") {
            let _ = parse(&text);
            let _ = ParsedReport::from_text(&text);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse_bytes(&bytes);
            let _ = ParsedReport::from_bytes(&bytes);
        }

        #[test]
        fn arbitrary_rows_after_a_valid_header_never_panic(body in "[a-zA-Z0-9,\"\r\n:+/<>_. -]{0,600}") {
            let text = format!("{HEADER}\n{body}");
            // Reading for screening refuses exactly what `parse` refuses for the header, and
            // otherwise names as unreadable the row `parse` refuses the report for.
            match (parse(&text), ParsedReport::from_text(&text)) {
                (Ok(rows), Ok(report)) => prop_assert_eq!(report, ParsedReport { rows, unreadable: vec![] }),
                (Err(e), Ok(report)) => {
                    prop_assert_eq!(report.unreadable.first().map(|u| u.reason.clone()), Some(e.to_string()));
                }
                (Err(a), Err(b)) => prop_assert_eq!(a, b),
                (Ok(_), Err(e)) => prop_assert!(false, "read whole but refused for screening: {}", e),
            }
        }

        #[test]
        fn mutated_reports_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, prop::sample::select(
                vec![b',', b'"', b'\n', b'\r', b' ', b'x', b'1', b'-', b':', 0xff, 0xe2, 0x00]
            )), 1..12)
        ) {
            let mut bytes = report().into_bytes();
            for (at, op, byte) in edits {
                let i = at.index(bytes.len() + 1);
                match op {
                    0 => bytes.insert(i, byte),
                    1 if i < bytes.len() => { bytes.remove(i); }
                    _ if i < bytes.len() => bytes[i] = byte,
                    _ => bytes.push(byte),
                }
            }
            let _ = parse_bytes(&bytes);
            let _ = ParsedReport::from_bytes(&bytes);
        }

        #[test]
        fn any_rendered_rows_parse_back(rows in proptest::collection::btree_map("[A-Za-z0-9+=,.@_-]{1,64}", row(), 0..8)) {
            let rows: Vec<CredentialReportRow> =
                rows.into_iter().map(|(user, r)| CredentialReportRow { arn: format!("arn:aws:iam::1:user/{user}"), user, ..r }).collect();
            prop_assert_eq!(parse(&render(&rows)).unwrap(), rows);
        }
    }
}
