//! The names a session in a member account carries, as STS AssumeRole accepts them (2–64 of
//! `[\w+=,.@-]`, ASCII): [`SourceIdentity`], who approved, derived from the decision's
//! [`Approver`], so that the member account's CloudTrail names the person behind each
//! deactivation (STS keeps it for the whole session and every session chained from it); and
//! [`SessionName`], which function of which run holds the session.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::decision::Approver;

/// The shortest and longest value STS accepts for `SourceIdentity` and `RoleSessionName`.
const MIN_LEN: usize = 2;
const MAX_LEN: usize = 64;

/// Whether `c` is one of STS's characters: `\w` (ASCII letters, digits, `_`) and `+=,.@-`.
fn sts_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

/// Whether `text` is a value STS accepts as it is (and does not start with `aws:`, which STS
/// reserves; a `:` is not one of its characters anyway).
fn fits(text: &str) -> bool {
    (MIN_LEN..=MAX_LEN).contains(&text.len()) && text.chars().all(sts_char)
}

/// The first `len` hex digits of the SHA-256 of `parts`, each part ended by a NUL so that no two
/// lists of parts hash alike.
fn digest(parts: &[&str], len: usize) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let mut hex = hex::encode(hash.finalize());
    hex.truncate(len);
    hex
}

/// The `SourceIdentity` of a session acting on an approver's decision: always a value STS accepts,
/// the same for the same approver, and never the same for two approvers of different kinds.
///
/// - OpenID: the verified e-mail, lower-cased, when it fits (a long or non-ASCII address does
///   not); else `oidc-<subject>` when that fits (and the subject is not empty); else `oidc-sha256-<40 hex digits>` of the issuer
///   and subject. The subject is prefixed so that no subject can read as another kind below; an
///   e-mail cannot, since it is the only kind with an `@`.
/// - Slack: `slack-<user id>` (Slack ids are upper-case letters and digits); an id that does not
///   fit, `slack-sha256-<40 hex digits>` of the team and user ids.
/// - `KEYWARD_MODE=auto`: `keyward-auto`.
/// - Whoever held the approval link: `link-holder`, since the link names no person.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceIdentity(String);

impl SourceIdentity {
    /// The source identity of `approver`.
    pub fn of(approver: &Approver) -> SourceIdentity {
        let text = match approver {
            Approver::Oidc { issuer, subject, email, .. } => {
                let email = email.as_deref().map(str::to_ascii_lowercase).filter(|e| fits(e));
                let subject_form = format!("oidc-{subject}");
                match email {
                    Some(email) => email,
                    None if !subject.is_empty() && fits(&subject_form) => subject_form,
                    None => format!("oidc-sha256-{}", digest(&[issuer, subject], 40)),
                }
            }
            Approver::Slack { user_id, team_id } => {
                let id_form = format!("slack-{user_id}");
                if fits(&id_form) { id_form } else { format!("slack-sha256-{}", digest(&[team_id, user_id], 40)) }
            }
            Approver::Automatic => "keyward-auto".to_owned(),
            Approver::LinkHolder { .. } => "link-holder".to_owned(),
        };
        SourceIdentity(text)
    }

    /// The value, for AssumeRole's `SourceIdentity`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SourceIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The `RoleSessionName` of a session: `<function>.<execution name>`, so that a member account's
/// CloudTrail shows which keyward function of which run acted (`assumed-role/keyward-read/list-users.<exec>`).
/// A character STS does not take becomes `-`; a name longer than 64 keeps its first 47 characters
/// and ends with `.` and 16 hex digits of the whole name's SHA-256, so two long runs never share
/// a session name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionName(String);

impl SessionName {
    /// The session name of `function` (the binary, e.g. `check-user`) in the run `execution_name`.
    pub fn new(function: &str, execution_name: &str) -> SessionName {
        let whole = format!("{function}.{execution_name}");
        let mut name: String = whole.chars().map(|c| if sts_char(c) { c } else { '-' }).collect();
        if name.len() > MAX_LEN {
            let suffix = digest(&[&whole], 16);
            name.truncate(MAX_LEN - 1 - suffix.len());
            name.push('.');
            name.push_str(&suffix);
        }
        while name.len() < MIN_LEN {
            name.push('-');
        }
        SessionName(name)
    }

    /// The value, for AssumeRole's `RoleSessionName`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn oidc(subject: &str, email: Option<&str>) -> Approver {
        Approver::Oidc {
            issuer: "https://idp.example.com".into(),
            subject: subject.into(),
            email: email.map(str::to_owned),
            source_ip: Some("192.0.2.1".into()),
            user_agent: Some("test".into()),
        }
    }

    fn accepted(text: &str) -> bool {
        (2..=64).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
            && !text.starts_with("aws:")
    }

    #[test]
    fn an_oidc_approver_is_their_verified_e_mail_lower_cased() {
        let id = SourceIdentity::of(&oidc("00u1abc", Some("Alice.Smith+ops@Example.com")));
        assert_eq!(id.as_str(), "alice.smith+ops@example.com");
    }

    #[test]
    fn an_e_mail_that_does_not_fit_gives_way_to_the_subject() {
        let long = format!("{}@example.com", "a".repeat(60));
        assert_eq!(SourceIdentity::of(&oidc("00u1abc", Some(&long))).as_str(), "oidc-00u1abc");
        assert_eq!(SourceIdentity::of(&oidc("00u1abc", Some("jörg@example.com"))).as_str(), "oidc-00u1abc");
        assert_eq!(SourceIdentity::of(&oidc("00u1abc", Some("a b@example.com"))).as_str(), "oidc-00u1abc");
        assert_eq!(SourceIdentity::of(&oidc("00u1abc", None)).as_str(), "oidc-00u1abc");
    }

    #[test]
    fn a_subject_that_does_not_fit_is_hashed_with_its_issuer() {
        for subject in ["auth0|5f7c8ec7c33c6c004bbafe82", "ユーザー", "a b", &"x".repeat(60), ""] {
            let id = SourceIdentity::of(&oidc(subject, None));
            assert!(id.as_str().starts_with("oidc-sha256-"), "{subject:?}: {id}");
            assert_eq!(id.as_str().len(), "oidc-sha256-".len() + 40);
            assert!(accepted(id.as_str()), "{id}");
            assert_eq!(id, SourceIdentity::of(&oidc(subject, None)), "deterministic");
        }
        let other_issuer = Approver::Oidc {
            issuer: "https://other.example.com".into(),
            subject: "auth0|5f7c8ec7c33c6c004bbafe82".into(),
            email: None,
            source_ip: None,
            user_agent: None,
        };
        assert_ne!(
            SourceIdentity::of(&other_issuer),
            SourceIdentity::of(&oidc("auth0|5f7c8ec7c33c6c004bbafe82", None))
        );
    }

    #[test]
    fn the_request_details_do_not_change_the_identity() {
        let mut other = oidc("00u1abc", Some("alice@example.com"));
        if let Approver::Oidc { source_ip, user_agent, .. } = &mut other {
            *source_ip = Some("198.51.100.7".into());
            *user_agent = None;
        }
        assert_eq!(SourceIdentity::of(&other), SourceIdentity::of(&oidc("00u1abc", Some("alice@example.com"))));
    }

    #[test]
    fn slack_automatic_and_link_holder_have_fixed_forms() {
        let slack = Approver::Slack { user_id: "U012ABCDEF".into(), team_id: "T0001".into() };
        assert_eq!(SourceIdentity::of(&slack).as_str(), "slack-U012ABCDEF");
        let odd = Approver::Slack { user_id: "U 012".into(), team_id: "T0001".into() };
        assert!(SourceIdentity::of(&odd).as_str().starts_with("slack-sha256-"));
        assert_eq!(SourceIdentity::of(&Approver::Automatic).as_str(), "keyward-auto");
        let link = Approver::LinkHolder { source_ip: Some("192.0.2.1".into()), user_agent: None };
        assert_eq!(SourceIdentity::of(&link).as_str(), "link-holder");
    }

    #[test]
    fn no_subject_can_pose_as_another_kind_of_approver() {
        for subject in ["keyward-auto", "link-holder", "slack-U012ABCDEF"] {
            let id = SourceIdentity::of(&oidc(subject, None));
            assert_eq!(id.as_str(), format!("oidc-{subject}"));
        }
    }

    #[test]
    fn session_names_say_function_and_run_within_stss_limits() {
        assert_eq!(SessionName::new("check-user", "keyward-2026-12-01").as_str(), "check-user.keyward-2026-12-01");
        assert_eq!(SessionName::new("deactivate", "run 1/ä").as_str(), "deactivate.run-1--");
        let long = "e".repeat(80);
        let a = SessionName::new("check-user", &long);
        let b = SessionName::new("check-user", &format!("{}f", "e".repeat(79)));
        assert_eq!(a.as_str().len(), 64);
        assert!(a.as_str().starts_with("check-user.eeee"), "{a}");
        assert_ne!(a, b, "two long runs keep distinct names");
        assert!(accepted(a.as_str()) && accepted(b.as_str()));
        assert!(accepted(SessionName::new("", "").as_str()));
    }
}
