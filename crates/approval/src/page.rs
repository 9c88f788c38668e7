//! The approval function's HTML: the confirm page (the plan with one checkbox per key) and the
//! one-message pages (refusals and results).
//!
//! Every dynamic string goes through [`escape`] here, so callers pass plain text only. The pages have
//! no script and load nothing: one inline stylesheet (allowed by the CSP `response` sends), a form
//! that posts back to the page's own URL, and plain buttons, so they work without JavaScript.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use keyward_core::model::{KeyRef, KeyUse};
use keyward_core::org::AccountId;
use keyward_core::policy::{Plan, PlannedDeactivation, Rule};
use keyward_core::run_report::Coverage;

/// Name of the form field carrying the form token.
pub const FIELD_TOKEN: &str = "token";
/// Name of the form field carrying the button pressed.
pub const FIELD_DECISION: &str = "decision";
/// Name of the form field carrying one ticked access key id (repeated per key).
pub const FIELD_KEY: &str = "key";
/// Value of [`FIELD_DECISION`] for "Deactivate selected".
pub const DECISION_APPROVE: &str = "approve";
/// Value of [`FIELD_DECISION`] for "Reject all".
pub const DECISION_REJECT: &str = "reject";

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:72rem;\
padding:0 1rem;color:#1b1b1b;line-height:1.45}h1{font-size:1.5rem}table{border-collapse:collapse;width:100%;\
margin:1rem 0}th,td{border-bottom:1px solid #ddd;padding:.4rem .5rem;text-align:left;vertical-align:top}\
th{background:#f4f4f4}code{font-family:ui-monospace,monospace}dl{display:grid;grid-template-columns:max-content auto;\
gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}button{font-size:1rem;padding:.5rem 1rem;margin-right:1rem;\
cursor:pointer}.approve{background:#b3261e;color:#fff;border:0}.reject{background:#fff;border:1px solid #555}\
.note{color:#555}";

/// Escapes text for HTML element content and double- or single-quoted attribute values:
/// `&`, `<`, `>`, `"` and `'` become character references.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A time as the pages show it: `2026-11-21 07:00 UTC`.
pub fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// What the confirm page shows.
pub struct Confirm<'a> {
    /// The AWS account swept, when the run report knows it.
    pub account_id: Option<&'a str>,
    /// The run (Step Functions execution name).
    pub execution_name: &'a str,
    /// Where the run report is, e.g. `s3://bucket/runs/x/report.json`.
    pub report_location: &'a str,
    /// The run's evaluation time.
    pub evaluated_at: DateTime<Utc>,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
    /// The plan; one row and one checkbox per key.
    pub plan: &'a Plan,
    /// Which accounts of the organisation the run covered (`KEYWARD_SCOPE=organization`): the keys
    /// are then grouped by account, each group headed `<account id> (<name>)`.
    pub coverage: Option<&'a Coverage>,
    /// The hidden form token (`approval::form_token`).
    pub form_token: &'a str,
    /// Who decides with this page.
    pub decider: Decider<'a>,
}

/// Who the confirm page says decides.
pub enum Decider<'a> {
    /// `APPROVER_AUTH=link`: anyone who holds the link.
    LinkHolder,
    /// The approver signed in with the OpenID provider, named by e-mail or `sub:`.
    SignedIn(&'a str),
}

/// The confirm page: run, evaluation time, expiry, one row per planned key with a ticked checkbox
/// (in an organisation's run, one table per account), and the two buttons. The form has no `action`, so it posts to the URL the page was served from.
pub fn confirm(view: &Confirm<'_>) -> String {
    let count = view.plan.keys.len();
    let mut body = String::new();
    body.push_str("<h1>Approve access key deactivation</h1>\n");
    body.push_str("<dl>\n");
    if let Some(account) = view.account_id {
        definition(&mut body, "Account", &format!("<code>{}</code>", escape(account)));
    }
    definition(&mut body, "Run", &format!("<code>{}</code>", escape(view.execution_name)));
    definition(&mut body, "Evaluated at", &escape(&when(view.evaluated_at)));
    definition(&mut body, "Link expires", &escape(&when(view.expires_at)));
    definition(&mut body, "Run report", &format!("<code>{}</code>", escape(view.report_location)));
    body.push_str("</dl>\n");
    match view.decider {
        Decider::LinkHolder => body.push_str(
            "<p><strong>Anyone who holds this link can decide.</strong> keyward does not know who opened this page: \
             the decision is recorded as made by the link holder.</p>\n",
        ),
        Decider::SignedIn(who) => body.push_str(&format!(
            "<p>Signed in as <strong>{}</strong>: the decision is recorded under that name.</p>\n",
            escape(who)
        )),
    }
    body.push_str(&format!(
        "<p>keyward proposes to deactivate {}. Untick a key to keep it active. Nothing is deleted: a \
         deactivated key can be made active again in IAM. Every approved key is re-checked live just before \
         it is deactivated, and skipped if it no longer breaks the policy.</p>\n",
        escape(&plural(count, "access key", "access keys"))
    ));
    body.push_str("<form method=\"post\">\n");
    body.push_str(&format!("<input type=\"hidden\" name=\"{FIELD_TOKEN}\" value=\"{}\">\n", escape(view.form_token)));
    match view.coverage {
        None => table(&mut body, view.plan.keys.iter().enumerate()),
        Some(coverage) => by_account(&mut body, coverage, view.plan),
    }
    body.push_str(&format!(
        // Reject comes first: it is the form's default button, so Enter, or a tool that submits the
        // form without choosing, rejects rather than approves.
        "<p><button type=\"submit\" class=\"reject\" name=\"{FIELD_DECISION}\" value=\"{DECISION_REJECT}\">\
         Reject all</button>\
         <button type=\"submit\" class=\"approve\" name=\"{FIELD_DECISION}\" value=\"{DECISION_APPROVE}\">\
         Deactivate selected</button></p>\n"
    ));
    body.push_str("</form>\n");
    body.push_str(
        "<p class=\"note\">This page decides nothing by being opened. A decision is final: the link works \
         once.</p>\n",
    );
    document("keyward: approve key deactivation", &body)
}

/// One table of keys, each row numbered by its place in the plan (so ids stay unique across tables).
fn table<'a>(body: &mut String, keys: impl Iterator<Item = (usize, &'a PlannedDeactivation)>) {
    body.push_str(
        "<table>\n<thead><tr><th>Deactivate</th><th>User</th><th>Access key</th><th>Rules</th><th>Age (days)</th>\
         <th>Last used</th><th>Evidence</th></tr></thead>\n<tbody>\n",
    );
    for (index, key) in keys {
        body.push_str(&row(index, key));
    }
    body.push_str("</tbody>\n</table>\n");
}

/// The plan's keys in one fieldset per account, in account order, each headed `<account id>
/// (<name>)`; a line first when some selected account was not swept.
fn by_account(body: &mut String, coverage: &Coverage, plan: &Plan) {
    if !coverage.is_complete() {
        body.push_str(&format!(
            "<p><strong>{} of {} swept.</strong> The plan holds keys of the swept accounts only; the digest and \
             the run report name the accounts not swept and why.</p>\n",
            coverage.swept.len(),
            escape(&plural(coverage.discovered, "account", "accounts"))
        ));
    }
    let mut accounts: BTreeMap<&AccountId, Vec<(usize, &PlannedDeactivation)>> = BTreeMap::new();
    for (index, key) in plan.keys.iter().enumerate() {
        accounts.entry(&key.key.account_id).or_default().push((index, key));
    }
    for (account, keys) in accounts {
        let name = coverage.name_of(account).map_or_else(|| "name unknown".to_owned(), escape);
        body.push_str(&format!("<fieldset>\n<legend><code>{}</code> ({name})</legend>\n", escape(account.as_str())));
        table(body, keys.into_iter());
        body.push_str("</fieldset>\n");
    }
}

fn definition(body: &mut String, term: &str, value_html: &str) {
    body.push_str(&format!("<dt>{}</dt><dd>{value_html}</dd>\n", escape(term)));
}

fn row(index: usize, key: &PlannedDeactivation) -> String {
    let id = escape(&key.key.access_key_id);
    // The value names the account too, so the decision is matched to the plan by (account, key id);
    // the account is shown once, in the run's facts above the table (in an organisation's run, in
    // the heading of its table).
    let value = escape(&key.key.selection());
    let rules: Vec<&str> = key.rules.iter().copied().map(Rule::as_str).collect();
    let age = key.evidence.key_age_days.map_or_else(|| "–".to_owned(), |d| d.to_string());
    format!(
        "<tr><td><input type=\"checkbox\" id=\"key-{index}\" name=\"{FIELD_KEY}\" value=\"{value}\" checked></td>\
         <td><label for=\"key-{index}\">{user}</label></td><td><code>{id}</code></td><td>{rules}</td>\
         <td>{age}</td><td>{last_used}</td><td>{summary}</td></tr>\n",
        user = escape(&key.key.user_name),
        rules = escape(&rules.join(", ")),
        age = escape(&age),
        last_used = escape(&format!(
            "{}{}",
            last_used(key.evidence.last_used.as_ref()),
            key.evidence.last_used_source.as_of_suffix()
        )),
        summary = escape(&key.evidence.summary),
    )
}

/// `2026-08-01 · s3 · us-east-1`, or `never`.
fn last_used(last: Option<&KeyUse>) -> String {
    match last {
        None => "never".to_owned(),
        Some(used) => {
            let mut parts = vec![used.at.format("%Y-%m-%d").to_string()];
            parts.extend(used.service.iter().cloned());
            parts.extend(used.region.iter().cloned());
            parts.join(" · ")
        }
    }
}

/// A list of keys shown on a result page, under a caption.
pub struct KeyList<'a> {
    /// E.g. "Approved for deactivation".
    pub caption: &'a str,
    /// The keys.
    pub keys: Vec<KeyRef>,
}

/// A one-message page: a heading, paragraphs of plain text, and optional key lists (omitted when
/// empty).
pub fn notice(heading: &str, paragraphs: &[String], lists: &[KeyList<'_>]) -> String {
    let mut body = format!("<h1>{}</h1>\n", escape(heading));
    for paragraph in paragraphs {
        body.push_str(&format!("<p>{}</p>\n", escape(paragraph)));
    }
    for list in lists.iter().filter(|l| !l.keys.is_empty()) {
        body.push_str(&format!("<h2>{}</h2>\n<ul>\n", escape(list.caption)));
        for key in &list.keys {
            body.push_str(&format!(
                "<li>{} <code>{}</code></li>\n",
                escape(&key.user_name),
                escape(&key.access_key_id)
            ));
        }
        body.push_str("</ul>\n");
    }
    document(&format!("keyward: {heading}"), &body)
}

/// `1 access key`, `3 access keys`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {many}") }
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex, nofollow\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n\
         <body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use keyward_core::policy::{Evidence, PlanStatus};

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, h, 0, 0).unwrap()
    }

    fn planned(user: &str, key: &str, last: Option<KeyUse>) -> PlannedDeactivation {
        PlannedDeactivation {
            key: KeyRef {
                account_id: keyward_core::fixtures::account(),
                user_name: user.into(),
                access_key_id: key.into(),
            },
            rules: vec![Rule::KeyTooOld, Rule::KeyUnused],
            evidence: Evidence {
                key_age_days: Some(120),
                idle_days: Some(100),
                last_used: last,
                last_used_source: Default::default(),
                has_console_password: false,
                console_password_source: Default::default(),
                mfa_devices: 1,
                summary: "key created 120 days ago (limit 90) <b>".into(),
            },
        }
    }

    #[test]
    fn escape_replaces_every_html_special_character() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        assert_eq!(escape("plain ü"), "plain ü");
    }

    #[test]
    fn confirm_page_has_one_ticked_checkbox_per_key_and_escapes_every_field() {
        let plan = Plan {
            keys: vec![
                planned("alice", "AKIAONE", None),
                planned(
                    "x\"><script>alert(1)</script>",
                    "AKIATWO",
                    Some(KeyUse { at: at(1), service: Some("s3".into()), region: Some("us-east-1".into()) }),
                ),
            ],
            status: PlanStatus::AwaitingApproval,
        };
        let html = confirm(&Confirm {
            account_id: Some("123456789012"),
            execution_name: "run-1",
            report_location: "s3://b/runs/run-1/report.json",
            evaluated_at: at(7),
            expires_at: at(9),
            plan: &plan,
            coverage: None,
            form_token: "tok\"en",
            decider: Decider::LinkHolder,
        });
        assert!(html.contains("<dt>Account</dt><dd><code>123456789012</code></dd>"), "{html}");
        assert!(html.contains(r#"name="key" value="123456789012:AKIAONE" checked"#), "{html}");
        assert!(html.contains(r#"name="key" value="123456789012:AKIATWO" checked"#), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
        assert!(html.contains("(limit 90) &lt;b&gt;"), "{html}");
        assert!(html.contains(r#"name="token" value="tok&quot;en""#), "{html}");
        assert!(html.contains("never"));
        assert!(html.contains("2026-11-21 · s3 · us-east-1"));
        assert!(html.contains("2026-11-21 07:00 UTC") && html.contains("2026-11-21 09:00 UTC"));
        assert!(html.contains("key-too-old, key-unused"));
        assert!(html.contains(r#"<form method="post">"#));
        assert!(!html.to_lowercase().contains("<script"));
        assert!(html.contains("Anyone who holds this link can decide."), "{html}");
        // The form's default (first) submit button rejects: Enter or an auto-submit never approves.
        let first_submit = html.find(r#"type="submit""#).unwrap();
        assert!(
            html[first_submit..].starts_with(&format!(
                r#"type="submit" class="reject" name="{FIELD_DECISION}" value="{DECISION_REJECT}""#
            )),
            "{html}"
        );
    }

    #[test]
    fn the_confirm_page_names_the_signed_in_approver_and_not_the_link_holder() {
        let plan = Plan { keys: vec![planned("alice", "AKIAONE", None)], status: PlanStatus::AwaitingApproval };
        let html = confirm(&Confirm {
            account_id: None,
            execution_name: "run-1",
            report_location: "s3://b/runs/run-1/report.json",
            evaluated_at: at(7),
            expires_at: at(9),
            plan: &plan,
            coverage: None,
            form_token: "t",
            decider: Decider::SignedIn("alice<@example.com"),
        });
        assert!(html.contains("Signed in as <strong>alice&lt;@example.com</strong>"), "{html}");
        assert!(!html.contains("Anyone who holds this link"), "{html}");
    }

    #[test]
    fn notice_escapes_heading_paragraphs_and_keys() {
        let html = notice(
            "a<b",
            &["c&d".into()],
            &[KeyList {
                caption: "Approved",
                keys: vec![KeyRef {
                    account_id: keyward_core::fixtures::account(),
                    user_name: "<u>".into(),
                    access_key_id: "AKIA\"".into(),
                }],
            }],
        );
        assert!(html.contains("<h1>a&lt;b</h1>"));
        assert!(html.contains("<p>c&amp;d</p>"));
        assert!(html.contains("&lt;u&gt; <code>AKIA&quot;</code>"));
        assert!(html.contains("<title>keyward: a&lt;b</title>"));
    }

    #[test]
    fn empty_key_lists_are_left_out() {
        let html = notice("done", &[], &[KeyList { caption: "Approved", keys: vec![] }]);
        assert!(!html.contains("Approved"));
    }
}
