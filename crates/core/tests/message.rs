//! Behaviour of message rendering: the same facts in the plain text (SNS) and in Slack, the
//! decision buttons, what each message says happens next, escaping, and the size limits at 5,000
//! users.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use chrono::Duration;
use keyward_core::config::{ApproverAuth, ExemptEntry, MfaScope, Mode, NoMfaAction, PolicyConfig, Screening};
use keyward_core::credential_report::UnreadableRow;
use keyward_core::decision::{Approver, Decision};
use keyward_core::exemption::{EXEMPT_REASON_TAG, EXEMPT_UNTIL_TAG, OLD_EXEMPT_TAG};
use keyward_core::fixtures::{key, now, user};
use keyward_core::journal::{Claim, Journal, KeyJournal};
use keyward_core::message::{
    DECISION_BLOCK_ID, MAX_SUBJECT_CHARS, Message, SLACK_LIST_LINES, SLACK_MAX_BLOCKS, SLACK_MAX_TEXT_CHARS,
    TEXT_LIST_LINES, approval_request, clean, deactivation_failed, digest, expired, outcome, rejected,
};
use keyward_core::model::{AccessKey, KeyRef, KeyStatus, User, UserArn};
use keyward_core::org::{
    AccountFailure, AccountId, AccountState, FilterEntry, NotSwept, OrgAccount, OuId, UnmatchedEntry, Unswept,
};
use keyward_core::policy::{PlanStatus, evaluate};
use keyward_core::recheck::SkipReason;
use keyward_core::run_report::{
    ActionOutcome, ActionRecord, Coverage, FailedAccount, REPORT_SCHEMA_VERSION, RunReport, SweptAccount,
};
use keyward_core::slack::{ACTION_APPROVE_ALL, ACTION_REJECT_ALL, ACTION_REVIEW};
use serde_json::Value;

const LOCATION: &str = "s3://keyward-reports/runs/keyward-2026-11-21/report.json";
const LINK: &str = "https://abc123.lambda-url.eu-west-1.on.aws/approvals/0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const APPROVAL_ID: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

fn with_keys(mut u: User, keys: Vec<AccessKey>) -> User {
    u.access_keys = keys;
    u
}

fn no_mfa(mut u: User, console: bool) -> User {
    u.mfa_devices.clear();
    u.has_console_password = console;
    u
}

/// `u` tagged `keyward:exempt-until` = `until` and, when given, `keyward:exempt-reason` = `reason`.
fn tagged(mut u: User, until: &str, reason: Option<&str>) -> User {
    u.tags.insert(EXEMPT_UNTIL_TAG.into(), until.into());
    if let Some(reason) = reason {
        u.tags.insert(EXEMPT_REASON_TAG.into(), reason.into());
    }
    u
}

fn report_of(users: &[User], config: PolicyConfig) -> RunReport {
    let evaluation = evaluate(users, &config, now());
    RunReport {
        schema_version: REPORT_SCHEMA_VERSION,
        execution_name: "keyward-2026-11-21".into(),
        account_id: None,
        config,
        screening: Screening::CredentialReport,
        users_listed: 5000,
        users_checked: users.len(),
        users_gone: vec![],
        users_not_evaluated: vec![],
        unreadable_report_rows: vec![],
        report_unavailable: None,
        evaluation,
        decision: None,
        actions: vec![],
        api_calls: BTreeMap::new(),
        coverage: None,
    }
}

/// An account with one of everything the digest reports.
fn account() -> Vec<User> {
    let mut inactive = key("AKIAFRANKOFF", 700, None);
    inactive.status = KeyStatus::Inactive;
    let mut breakglass = with_keys(user("root-breakglass"), vec![key("AKIABREAK", 900, None)]);
    breakglass.path = "/breakglass/".into();
    vec![
        // Old and unused: key-too-old, key-unused.
        with_keys(user("alice"), vec![key("AKIAALICEOLD", 300, Some(200)), key("AKIAALICENEW", 5, Some(1))]),
        // No MFA with a console password; a never-used key.
        with_keys(no_mfa(user("bob"), true), vec![key("AKIABOBNEVER", 20, None)]),
        // Close to both limits.
        with_keys(user("carol"), vec![key("AKIACAROL", 80, Some(85))]),
        // Exempt by tag, with a reason.
        tagged(with_keys(user("dave"), vec![key("AKIADAVE", 500, None)]), "2026-12-31", Some("INC-42 migration")),
        // Expired tag: not exempt, and said so.
        tagged(with_keys(user("erin"), vec![key("AKIAERIN", 200, Some(1))]), "2026-01-31", None),
        // Inactive key only.
        with_keys(user("frank"), vec![inactive]),
        // Exempt by path prefix and by name.
        breakglass,
        with_keys(user("ci-deployer"), vec![key("AKIACI", 800, Some(0))]),
        // No MFA, programmatic only (reported with MFA_SCOPE=all).
        with_keys(no_mfa(user("svc-etl"), false), vec![key("AKIASVC", 10, Some(0))]),
    ]
}

fn account_config() -> PolicyConfig {
    PolicyConfig {
        mfa_scope: MfaScope::All,
        exempt_users: vec![ExemptEntry::PathPrefix("/breakglass/".into()), ExemptEntry::Name("ci-deployer".into())],
        ..Default::default()
    }
}

fn account_report() -> RunReport {
    let mut report = report_of(&account(), account_config());
    report.users_not_evaluated = vec!["gina".into()];
    report.users_gone = vec!["hank".into()];
    report
}

/// Every string in a JSON value (keys excluded).
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Object(map) => map.values().flat_map(strings).collect(),
        _ => vec![],
    }
}

fn slack_text(message: &Message) -> String {
    strings(&message.slack).join("\n")
}

/// The Slack strings as a reader sees them: without mrkdwn markers, entities decoded.
fn slack_read(message: &Message) -> String {
    slack_text(message).replace(['`', '*'], "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

#[track_caller]
fn assert_in_both(message: &Message, fact: &str) {
    assert!(message.text.contains(fact), "text lacks {fact:?}:\n{}", message.text);
    assert!(slack_read(message).contains(fact), "slack lacks {fact:?}:\n{}", slack_text(message));
}

fn blocks(message: &Message) -> &Vec<Value> {
    message.slack["blocks"].as_array().expect("blocks")
}

fn actions_block(message: &Message) -> &Value {
    blocks(message).iter().find(|b| b["type"] == "actions").expect("an actions block")
}

/// Every Slack limit keyward relies on, and the subject's.
#[track_caller]
fn assert_within_limits(message: &Message) {
    assert!(message.subject.chars().count() <= MAX_SUBJECT_CHARS, "{}", message.subject);
    assert!(message.subject.chars().all(|c| c == ' ' || c.is_ascii_graphic()), "{}", message.subject);
    assert!(message.text.len() < 256 * 1024, "text is {} bytes", message.text.len());
    assert!(message.slack["text"].is_string(), "fallback text");
    let blocks = blocks(message);
    assert!(!blocks.is_empty() && blocks.len() <= SLACK_MAX_BLOCKS, "{} blocks", blocks.len());
    for block in blocks {
        match block["type"].as_str().unwrap() {
            "section" => {
                let text = block["text"]["text"].as_str().unwrap();
                assert!(!text.is_empty());
                assert!(text.chars().count() <= SLACK_MAX_TEXT_CHARS, "section of {} chars", text.chars().count());
            }
            "header" => assert!(block["text"]["text"].as_str().unwrap().chars().count() <= 150),
            "context" => {
                for element in block["elements"].as_array().unwrap() {
                    assert!(element["text"].as_str().unwrap().chars().count() <= SLACK_MAX_TEXT_CHARS);
                }
            }
            "divider" | "actions" => {}
            other => panic!("unexpected block type {other}"),
        }
    }
    let payload = serde_json::to_string(&message.slack).unwrap();
    assert!(payload.len() < 40_000, "slack payload is {} bytes", payload.len());
}

/// The number in "… and N more" on the line after a list's last shown item, and the items shown.
fn shown_and_more(lines: &[&str], title_prefix: &str, bullet: &str) -> (usize, usize) {
    let start = lines.iter().position(|l| l.contains(title_prefix)).expect("list title");
    let mut shown = 0;
    for line in &lines[start + 1..] {
        let line = line.trim_start();
        if line.starts_with(bullet) {
            shown += 1;
        } else if let Some(rest) = line.strip_prefix("… and ") {
            let n = rest.split(' ').next().unwrap().parse().unwrap();
            return (shown, n);
        } else if shown > 0 {
            break;
        }
    }
    (shown, 0)
}

// ---- digest ----

#[test]
fn digest_states_each_fact_in_both_text_and_slack() {
    let message = digest(&account_report(), LOCATION);
    for fact in [
        // time, mode, counts
        "2026-11-21 06:00 UTC",
        "approve",
        "5000 listed, 9 checked live",
        "keyward-2026-11-21",
        // keys to deactivate, with rules, age and last use
        "AKIAALICEOLD",
        "key-too-old, key-unused",
        "300 days old, last used 2026-05-05 via s3 in us-east-1 (200 days ago)",
        "AKIABOBNEVER",
        "20 days old, never used",
        "AKIAERIN",
        "AKIASVC",
        // users without MFA
        "bob",
        "console password, no MFA device",
        "svc-etl",
        "programmatic access only, no MFA device",
        // warnings with days left
        "AKIACAROL",
        "key-too-old in 11 days",
        "key-unused in 6 days",
        // inactive keys
        "1 inactive key",
        // exemptions honoured
        "dave",
        "tag keyward:exempt-until = 2026-12-31, reason: INC-42 migration",
        "root-breakglass",
        "path prefix",
        "/breakglass/",
        "ci-deployer",
        "listed by name in EXEMPT_USERS",
        "held back: key-too-old, key-unused",
        // exemption problems
        "erin",
        "keyward:exempt-until",
        "2026-01-31",
        "does not exempt: expired on 2026-01-31",
        // users not evaluated and gone
        "Users not evaluated (1)",
        "gina",
        "Users gone (1)",
        "hank",
        // what happens next
        "Next: approval needed.",
        "nothing is deactivated without a human decision",
        LOCATION,
    ] {
        assert_in_both(&message, fact);
    }
    // The compliant key of alice and the exempt keys are not proposed.
    assert!(!message.text.contains("AKIAALICENEW"));
    assert!(!message.text.contains("AKIADAVE —"));
    assert_within_limits(&message);
}

#[test]
fn digest_subject_names_the_account_state() {
    let message = digest(&account_report(), LOCATION);
    // The two warnings do not fit in the subject; the digest body has them.
    assert_eq!(
        message.subject,
        "keyward: 4 keys to deactivate, 2 users without MFA, 1 user not evaluated - approval needed"
    );
}

#[test]
fn every_message_of_a_run_names_the_account_when_it_is_known() {
    let report = RunReport { account_id: Some(keyward_core::fixtures::account()), ..account_report() };
    let request =
        approval_request(&report, LOCATION, LINK, APPROVAL_ID, now() + Duration::hours(24), ApproverAuth::Link);
    for message in [digest(&report, LOCATION), request, outcome(&report, LOCATION), rejected(&report, LOCATION)] {
        assert!(message.text.contains("Account 123456789012, run keyward-2026-11-21"), "{}", message.text);
        assert!(slack_text(&message).contains("123456789012"), "{}", message.subject);
        // Once, in the run's facts: every key of a single-account run is in it, so no line repeats it.
        assert_eq!(message.text.matches("123456789012").count(), 1, "{}", message.text);
    }
    // Without it (an account with no user, or a test), the run alone.
    assert!(digest(&account_report(), LOCATION).text.contains("Run keyward-2026-11-21"));
}

#[test]
fn cap_exceeded_says_nothing_will_be_deactivated() {
    let config = PolicyConfig { max_deactivations_per_run: 2, ..account_config() };
    let report = report_of(&account(), config);
    assert_eq!(report.evaluation.plan.status, PlanStatus::CapExceeded { planned: 4, cap: 2 });
    let message = digest(&report, LOCATION);
    assert_in_both(&message, "CAP EXCEEDED");
    assert_in_both(&message, "4 keys planned, over the cap of 2: nothing will be deactivated in this run");
    assert_in_both(&message, "None of these will be deactivated in this run.");
    assert!(message.subject.contains("CAP EXCEEDED") && message.subject.contains("nothing deactivated"));
    assert!(!message.text.contains("approval needed"));
    assert_within_limits(&message);
}

#[test]
fn account_cap_exceeded_names_the_account_and_its_cap() {
    let config = PolicyConfig { max_deactivations_per_account: 3, ..account_config() };
    let report = report_of(&account(), config);
    assert!(matches!(report.evaluation.plan.status, PlanStatus::AccountCapExceeded { planned: 4, cap: 3, .. }));
    let message = digest(&report, LOCATION);
    assert_in_both(&message, "ACCOUNT CAP EXCEEDED");
    assert_in_both(&message, "4 keys planned in account 123456789012, over the cap of 3 per account");
    assert_in_both(&message, "MAX_DEACTIVATIONS_PER_ACCOUNT");
    assert_in_both(&message, "None of these will be deactivated in this run.");
    assert!(message.subject.contains("ACCOUNT CAP EXCEEDED") && message.subject.contains("123456789012"));
    assert!(message.subject.contains("nothing deactivated"));
    assert!(!message.text.contains("approval needed"));
    assert_within_limits(&message);
}

#[test]
fn report_mode_says_dry_run() {
    let config = PolicyConfig { mode: Mode::ReportOnly, ..account_config() };
    let message = digest(&report_of(&account(), config), LOCATION);
    assert!(message.subject.contains("dry run"), "{}", message.subject);
    assert_in_both(&message, "dry run");
    assert_in_both(&message, "Report only (dry run):");
    assert_in_both(&message, "nothing will be deactivated");
    assert_in_both(&message, "4 keys would be proposed");
    assert!(!message.text.contains("approval needed"));
}

#[test]
fn auto_mode_says_keys_are_deactivated_without_approval() {
    let config = PolicyConfig { mode: Mode::Auto, ..account_config() };
    let message = digest(&report_of(&account(), config), LOCATION);
    assert_in_both(&message, "Next: automatic deactivation.");
    assert_in_both(&message, "re-checked live and deactivated without approval");
    assert!(message.subject.ends_with("deactivating (auto mode)"), "{}", message.subject);
}

#[test]
fn empty_plan_says_nothing_to_do() {
    let users = [with_keys(user("carol"), vec![key("AKIACAROL", 80, Some(85))])];
    let message = digest(&report_of(&users, PolicyConfig::default()), LOCATION);
    assert_eq!(message.subject, "keyward: nothing to deactivate, 2 warnings");
    assert_in_both(&message, "Nothing to do:");
    assert_in_both(&message, "AKIACAROL");
    assert!(!message.text.contains("Keys proposed for deactivation"));
}

#[test]
fn no_mfa_warn_action_reports_users_only() {
    let config = PolicyConfig { no_mfa_action: NoMfaAction::Warn, ..Default::default() };
    let users = [with_keys(no_mfa(user("bob"), true), vec![key("AKIABOB", 5, Some(0))])];
    let message = digest(&report_of(&users, config), LOCATION);
    assert_in_both(&message, "console password, no MFA device; reported only");
    assert_in_both(&message, "NO_MFA_ACTION=warn");
    assert_eq!(message.subject, "keyward: nothing to deactivate, 1 user without MFA");
}

// ---- escaping ----

#[test]
fn user_controlled_strings_cannot_ping_or_link_in_slack() {
    let evil = with_keys(no_mfa(user("<!channel>"), true), vec![key("AKIAEVIL", 200, None)]);
    let mention = with_keys(user("<@U024BE7LH>&co"), vec![key("AKIAMENTION", 200, None)]);
    let reason = tagged(
        with_keys(user("tagged"), vec![key("AKIATAG", 200, None)]),
        "2026-12-31",
        Some("<!here> see <https://evil.example|docs>"),
    );
    let report = report_of(&[evil, mention, reason], PolicyConfig::default());
    let messages = [
        digest(&report, LOCATION),
        approval_request(&report, LOCATION, LINK, APPROVAL_ID, now() + Duration::hours(24), ApproverAuth::Link),
        rejected(&report, LOCATION),
        expired(&report, LOCATION),
        outcome(&report, LOCATION),
    ];
    for message in &messages {
        for s in strings(&message.slack) {
            for (i, _) in s.match_indices('<') {
                assert!(s[i..].starts_with(&format!("<{LINK}|")), "raw < in slack string: {s}");
            }
            assert!(!s.contains("<!channel>") && !s.contains("<!here>") && !s.contains("<@U024BE7LH>"), "{s}");
        }
    }
    let digest = &messages[0];
    let slack = slack_text(digest);
    assert!(slack.contains("`&lt;!channel&gt;`"), "{slack}");
    assert!(slack.contains("`&lt;@U024BE7LH&gt;&amp;co`"), "{slack}");
    assert!(slack.contains("reason: &lt;!here&gt; see &lt;https://evil.example|docs&gt;"), "{slack}");
    // The e-mail is plain text: names appear as they are.
    assert!(digest.text.contains("<!channel>"));
    assert!(digest.subject.is_ascii());
}

/// Every object of a Slack payload whose `text` holds `needle`, with the path to it.
fn objects_holding<'v>(value: &'v Value, needle: &str, found: &mut Vec<&'v serde_json::Map<String, Value>>) {
    match value {
        Value::Object(map) => {
            if map.get("text").and_then(Value::as_str).is_some_and(|t| t.contains(needle)) {
                found.push(map);
            }
            map.values().for_each(|v| objects_holding(v, needle, found));
        }
        Value::Array(items) => items.iter().for_each(|v| objects_holding(v, needle, found)),
        _ => {}
    }
}

#[test]
fn user_controlled_strings_never_become_links_or_mentions_in_slack_or_the_email() {
    // IAM allows `.`, `@` and `/`-free names like these; tag values allow `:` and `/` too.
    let names = ["www.evil.example", "alice@evil.example", "@channel", "@here"];
    let users: Vec<User> = names
        .iter()
        .enumerate()
        .map(|(i, name)| with_keys(user(name), vec![key(&format!("AKIAEVIL{i}"), 200, None)]))
        .chain([tagged(
            with_keys(user("tagged"), vec![key("AKIATAG", 200, None)]),
            "2026-12-31",
            Some("see https://evil.example/login or mail help@evil.example"),
        )])
        .collect();
    let report = report_of(&users, PolicyConfig::default());
    let messages = [
        digest(&report, LOCATION),
        approval_request(&report, LOCATION, LINK, APPROVAL_ID, now() + Duration::hours(24), ApproverAuth::Link),
        rejected(&report, LOCATION),
        expired(&report, LOCATION),
        outcome(&report, LOCATION),
    ];
    for message in &messages {
        // Slack: every mrkdwn object that carries a user string is verbatim, so Slack links and
        // mentions nothing keyward did not write as a link (`<url|label>`).
        for needle in ["evil", "@channel", "@here"] {
            let mut found = Vec::new();
            objects_holding(&message.slack, needle, &mut found);
            for object in found {
                assert_eq!(object.get("type").and_then(Value::as_str), Some("mrkdwn"), "{object:?}");
                assert_eq!(object.get("verbatim"), Some(&Value::Bool(true)), "not verbatim: {object:?}");
            }
        }
        // The e-mail: plain text, which mail clients scan for URLs, domains and addresses.
        for linkable in ["https://evil", "evil.example", "www.evil"] {
            assert!(!message.text.contains(linkable), "{linkable} in:\n{}", message.text);
        }
        // keyward's own link and run report location stay usable.
        assert!(message.text.contains(LOCATION) || message.text.contains("s3://"), "{}", message.text);
    }
    let digest = &messages[0];
    assert!(digest.text.contains("www[.]evil[.]example"), "{}", digest.text);
    assert!(digest.text.contains("alice@evil[.]example"), "{}", digest.text);
    assert!(digest.text.contains("see https[:]//evil[.]example/login or mail help@evil[.]example"), "{}", digest.text);
    assert!(messages[1].text.contains(LINK), "the approval link itself stays a link");
}

#[test]
fn line_breaks_in_user_strings_cannot_forge_lines() {
    let u =
        tagged(with_keys(user("x"), vec![key("AKIAX", 200, None)]), "2026-12-31", Some("ok\nNext: approve everything"));
    let message = digest(&report_of(&[u], PolicyConfig::default()), LOCATION);
    assert!(!message.text.lines().any(|l| l.starts_with("Next: approve everything")), "{}", message.text);
    assert_in_both(&message, "reason: ok Next: approve everything");
}

#[test]
fn each_exemption_problem_is_named_plainly() {
    let old_key = |name: &str| with_keys(user(name), vec![key(&format!("AKIA{}", name.to_uppercase()), 200, None)]);
    let mut reason_only = old_key("ivy");
    reason_only.tags.insert(EXEMPT_REASON_TAG.into(), "INC-7".into());
    let mut old = old_key("jo");
    old.tags.insert(OLD_EXEMPT_TAG.into(), "until=2026-12-31;reason=INC-7".into());
    let users = [
        tagged(old_key("fay"), "31/12/2026", None),
        tagged(old_key("gus"), "2026-11-20", None),
        tagged(old_key("hal"), "2027-06-09", Some("far")),
        reason_only,
        old,
    ];
    let message = digest(&report_of(&users, PolicyConfig::default()), LOCATION);
    for fact in [
        "Exemption problems (5)",
        "These tags do not exempt anyone.",
        "31/12/2026",
        "does not exempt: malformed date, not YYYY-MM-DD",
        "does not exempt: expired on 2026-11-20",
        "2027-06-09",
        "does not exempt: 2027-06-09 is too far ahead: more than MAX_EXEMPTION_DAYS=90 days from today (at most \
         2027-02-19)",
        "keyward:exempt-reason",
        "does not exempt: a reason without keyward:exempt-until = YYYY-MM-DD",
        "keyward:exempt",
        "until=2026-12-31;reason=INC-7",
        "does not exempt: the old single-tag format, no longer read: use the two tags keyward:exempt-until = \
         YYYY-MM-DD and (optional) keyward:exempt-reason instead",
    ] {
        assert_in_both(&message, fact);
    }
    assert!(!message.text.contains("Exemptions honoured"), "{}", message.text);
    assert_eq!(report_of(&users, PolicyConfig::default()).evaluation.plan.keys.len(), 5, "nobody is exempt");
}

#[test]
fn a_reason_with_characters_iam_would_refuse_is_shown_sanitised() {
    // IAM refuses these in a tag value; the code does not rely on it.
    let u = tagged(
        with_keys(user("x"), vec![key("AKIAX", 200, None)]),
        "2026-12-31",
        Some("ok\u{202E}txt.exe\r\n<!channel> & `tick`"),
    );
    let message = digest(&report_of(&[u], PolicyConfig::default()), LOCATION);
    let slack = slack_text(&message);
    for rendered in [&message.text, &slack] {
        assert!(!rendered.contains('\u{202E}') && !rendered.contains('\r'), "{rendered}");
    }
    assert!(message.text.contains("reason: ok?txt[.]exe  <!channel> & `tick`"), "{}", message.text);
    assert!(slack.contains("reason: ok?txt.exe  &lt;!channel&gt; &amp; `tick`"), "{slack}");
}

// ---- approval request ----

#[test]
fn the_approval_request_says_who_can_decide_with_its_link() {
    let report = account_report();
    let link = approval_request(&report, LOCATION, LINK, APPROVAL_ID, now(), ApproverAuth::Link);
    assert!(link.text.contains("Anyone who holds this link can decide"), "{}", link.text);
    assert!(!link.text.contains("sign in"), "{}", link.text);
    let oidc = approval_request(&report, LOCATION, LINK, APPROVAL_ID, now(), ApproverAuth::Oidc);
    assert!(oidc.text.contains("The page asks you to sign in with your organisation's account"), "{}", oidc.text);
    assert!(!oidc.text.contains("Anyone who holds this link"), "{}", oidc.text);
}

#[test]
fn approval_request_has_the_plan_link_expiry_and_buttons() {
    let report = account_report();
    let expires = now() + Duration::hours(24);
    let message = approval_request(&report, LOCATION, LINK, APPROVAL_ID, expires, ApproverAuth::Link);

    assert_eq!(message.subject, "keyward: approval needed to deactivate 4 keys - expires 2026-11-22 06:00 UTC");
    for fact in [
        "AKIAALICEOLD",
        "300 days old, last used 2026-05-05 via s3 in us-east-1",
        "AKIABOBNEVER",
        "never used",
        "user has no MFA device, console password",
        "Keys to deactivate (4)",
        "Expires 2026-11-22 06:00 UTC.",
        "If nobody decides by then, nothing is deactivated.",
        "opening it decides nothing by itself",
        "evaluated at 2026-11-21 06:00 UTC",
        LOCATION,
    ] {
        assert_in_both(&message, fact);
    }
    assert!(message.text.contains(LINK));
    let slack = slack_text(&message);
    assert!(slack.contains(&format!("<{LINK}|open the confirmation page>")), "{slack}");

    let actions = actions_block(&message);
    assert_eq!(actions["block_id"], DECISION_BLOCK_ID);
    let buttons = actions["elements"].as_array().unwrap();
    let ids: Vec<&str> = buttons.iter().map(|b| b["action_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [ACTION_APPROVE_ALL, ACTION_REJECT_ALL, ACTION_REVIEW]);
    assert_eq!(ids, ["keyward_approve_all", "keyward_reject_all", "keyward_review"]);
    for button in buttons {
        assert_eq!(button["type"], "button");
        assert_eq!(button["value"], APPROVAL_ID);
    }
    assert_eq!(buttons[0]["style"], "primary");
    assert_eq!(buttons[0]["text"]["text"], "Approve all");
    assert_eq!(buttons[1]["style"], "danger");
    assert_eq!(buttons[1]["text"]["text"], "Reject all");
    assert_eq!(buttons[2]["url"], LINK);
    assert_eq!(buttons[2]["text"]["text"], "Review");
    assert!(buttons[1].get("url").is_none() && buttons[0].get("url").is_none());

    let confirm = &buttons[0]["confirm"];
    assert_eq!(confirm["title"]["text"], "Deactivate 4 keys?");
    assert_eq!(confirm["confirm"]["text"], "Deactivate 4 keys");
    assert_eq!(confirm["deny"]["text"], "Cancel");
    assert!(confirm["text"]["text"].as_str().unwrap().len() <= 300);
    assert!(confirm["title"]["text"].as_str().unwrap().len() <= 100);
    assert!(confirm["confirm"]["text"].as_str().unwrap().len() <= 30);
    assert_within_limits(&message);
}

#[test]
fn approval_id_appears_only_in_the_link_and_the_buttons() {
    let message = approval_request(
        &account_report(),
        LOCATION,
        LINK,
        APPROVAL_ID,
        now() + Duration::hours(1),
        ApproverAuth::Link,
    );
    assert_eq!(message.text.matches(APPROVAL_ID).count(), message.text.matches(LINK).count());
    for block in blocks(&message).iter().filter(|b| b["type"] != "actions") {
        for s in strings(block) {
            assert_eq!(s.matches(APPROVAL_ID).count(), s.matches(LINK).count(), "{s}");
        }
    }
    assert!(!format!("{message:?}").contains(APPROVAL_ID), "Debug leaks the approval id");
    assert!(!message.text.to_lowercase().contains("token"));
}

#[test]
fn an_unsafe_link_is_not_embedded_as_a_slack_link() {
    let link = "https://x.example/approvals/abc|<!channel>";
    let message = approval_request(&account_report(), LOCATION, link, APPROVAL_ID, now(), ApproverAuth::Link);
    // The button's `url` is a plain JSON field, never parsed as mrkdwn; every mrkdwn text escapes it.
    let mrkdwn: Vec<String> = blocks(&message).iter().filter(|b| b["type"] != "actions").flat_map(strings).collect();
    let mrkdwn = mrkdwn.join("\n");
    assert!(!mrkdwn.contains("<!channel>"), "{mrkdwn}");
    assert!(mrkdwn.contains("`https://x.example/approvals/abc|&lt;!channel&gt;`"), "{mrkdwn}");
}

// ---- rejected, expired, outcome, clean ----

fn decided(report: &mut RunReport, approved: &[(&str, &str)], by: Approver) {
    report.decision = Some(Decision {
        approved: approved
            .iter()
            .map(|(u, k)| KeyRef {
                account_id: keyward_core::fixtures::account(),
                user_name: (*u).into(),
                access_key_id: (*k).into(),
            })
            .collect(),
        decided_by: by,
        decided_at: now() + Duration::minutes(42),
    });
}

fn slack_user() -> Approver {
    Approver::Slack { user_id: "U024BE7LH".into(), team_id: "T024BE7LG".into() }
}

#[test]
fn rejected_says_who_when_and_that_nothing_was_deactivated() {
    let mut report = account_report();
    decided(&mut report, &[], slack_user());
    let message = rejected(&report, LOCATION);
    assert_eq!(message.subject, "keyward: plan of 4 keys rejected - nothing deactivated");
    for fact in [
        "Rejected by Slack user U024BE7LH of workspace T024BE7LG at 2026-11-21 06:42 UTC.",
        "Nothing was deactivated:",
        "the 4 keys of the plan stay active",
        "Keys left active (4)",
        "AKIAALICEOLD",
        LOCATION,
    ] {
        assert_in_both(&message, fact);
    }
    assert!(actions_absent(&message));
    assert_within_limits(&message);

    report.decision = None;
    let message = rejected(&report, LOCATION);
    assert_in_both(&message, "The approver rejected the plan.");
    assert_in_both(&message, "Nothing was deactivated:");
}

fn actions_absent(message: &Message) -> bool {
    blocks(message).iter().all(|b| b["type"] != "actions")
}

#[test]
fn expired_says_nobody_decided_and_nothing_was_deactivated() {
    let message = expired(&account_report(), LOCATION);
    assert_eq!(message.subject, "keyward: approval expired for 4 keys - nothing deactivated");
    assert_in_both(&message, "Nobody decided before the approval request expired.");
    assert_in_both(&message, "Nothing was deactivated:");
    assert_in_both(&message, "AKIABOBNEVER");
    assert!(actions_absent(&message));
    assert_within_limits(&message);
}

#[test]
fn outcome_lists_deactivated_skipped_and_failed_keys() {
    let mut report = account_report();
    decided(
        &mut report,
        &[("alice", "AKIAALICEOLD"), ("bob", "AKIABOBNEVER"), ("erin", "AKIAERIN")],
        Approver::LinkHolder { source_ip: Some("203.0.113.7".into()), user_agent: Some("Mozilla/5.0".into()) },
    );
    let at = now() + Duration::minutes(50);
    report.actions = vec![
        ActionRecord {
            key: KeyRef {
                account_id: keyward_core::fixtures::account(),
                user_name: "alice".into(),
                access_key_id: "AKIAALICEOLD".into(),
            },
            at,
            outcome: ActionOutcome::Deactivated,
        },
        ActionRecord {
            key: KeyRef {
                account_id: keyward_core::fixtures::account(),
                user_name: "bob".into(),
                access_key_id: "AKIABOBNEVER".into(),
            },
            at,
            outcome: ActionOutcome::Skipped {
                reason: SkipReason::NoLongerViolates { detail: "the user has MFA now".into() },
            },
        },
        ActionRecord {
            key: KeyRef {
                account_id: keyward_core::fixtures::account(),
                user_name: "erin".into(),
                access_key_id: "AKIAERIN".into(),
            },
            at,
            outcome: ActionOutcome::Failed { error: "IamThrottled: Rate exceeded".into() },
        },
    ];
    let message = outcome(&report, LOCATION);
    assert_eq!(message.subject, "keyward: 1 key deactivated, 1 skipped, 1 FAILED");
    let reason = SkipReason::NoLongerViolates { detail: "the user has MFA now".into() }.describe();
    for fact in [
        "Approved by the holder of the approval link from 203.0.113.7, browser Mozilla/5.0 on the confirmation page at 2026-11-21 06:42 UTC: 3 keys of 4 planned.",
        "1 deactivated, 1 skipped, 1 failed.",
        "Deactivated (1)",
        "AKIAALICEOLD — deactivated at 2026-11-21 06:50 UTC — key-too-old, key-unused; 300 days old",
        "Skipped (1)",
        &format!("AKIABOBNEVER — skipped: {reason}"),
        "Failed (1)",
        "AKIAERIN — FAILED: IamThrottled: Rate exceeded",
        "Not approved, left active: 1 key.",
        "Not approved (left active) (1)",
        "AKIASVC",
        "keyward never deletes keys",
        LOCATION,
    ] {
        assert_in_both(&message, fact);
    }
    assert!(actions_absent(&message));
    assert_within_limits(&message);
}

#[test]
fn outcome_says_in_plain_words_that_a_key_not_yet_visible_was_deactivated_and_counts_it_apart() {
    let mut report = account_report();
    decided(
        &mut report,
        &[("alice", "AKIAALICEOLD"), ("bob", "AKIABOBNEVER")],
        Approver::LinkHolder { source_ip: Some("203.0.113.7".into()), user_agent: None },
    );
    let at = now() + Duration::minutes(50);
    report.actions = vec![
        ActionRecord {
            key: KeyRef {
                account_id: keyward_core::fixtures::account(),
                user_name: "alice".into(),
                access_key_id: "AKIAALICEOLD".into(),
            },
            at,
            outcome: ActionOutcome::DeactivatedNotYetVisible,
        },
        ActionRecord {
            key: KeyRef {
                account_id: keyward_core::fixtures::account(),
                user_name: "bob".into(),
                access_key_id: "AKIABOBNEVER".into(),
            },
            at,
            outcome: ActionOutcome::Deactivated,
        },
    ];
    let message = outcome(&report, LOCATION);
    assert_eq!(message.subject, "keyward: 1 key deactivated, 1 not yet visible in IAM");
    for fact in [
        "1 deactivated, 1 deactivated but not yet visible in IAM, 0 skipped, 0 failed.",
        "Deactivated, not yet visible in IAM (1)",
        "UpdateAccessKey succeeded for these keys, but IAM had not shown them as Inactive yet",
        "Check each key in IAM in a minute",
        "If it still reads Active, deactivate it by hand.",
        "AKIAALICEOLD — UpdateAccessKey succeeded at 2026-11-21 06:50 UTC — key-too-old, key-unused",
        "Deactivated (1)",
        "AKIABOBNEVER — deactivated at 2026-11-21 06:50 UTC",
        "keyward never deletes keys",
    ] {
        assert_in_both(&message, fact);
    }
    for absent in ["FAILED", "Failed ("] {
        assert!(!message.text.contains(absent), "{absent:?} in {}", message.text);
    }
    assert_within_limits(&message);
}

#[test]
fn outcome_in_auto_mode_says_no_human_decided() {
    let config = PolicyConfig { mode: Mode::Auto, ..account_config() };
    let mut report = report_of(&account(), config);
    report.actions = vec![ActionRecord {
        key: KeyRef {
            account_id: keyward_core::fixtures::account(),
            user_name: "alice".into(),
            access_key_id: "AKIAALICEOLD".into(),
        },
        at: now(),
        outcome: ActionOutcome::Skipped { reason: SkipReason::KeyDeleted },
    }];
    let message = outcome(&report, LOCATION);
    assert_eq!(message.subject, "keyward: 0 keys deactivated, 1 skipped");
    assert_in_both(&message, "Approved automatically (KEYWARD_MODE=auto): 4 keys planned.");
    assert_in_both(&message, "skipped: the key no longer exists");
}

#[test]
fn clean_says_all_users_compliant() {
    let message = clean(5000, now());
    assert_eq!(message.subject, "keyward: all 5000 IAM users compliant, nothing to do");
    assert_in_both(&message, "All 5000 IAM users are compliant.");
    assert_in_both(&message, "2026-11-21 06:00 UTC");
    assert_in_both(&message, "Nothing to do");
    assert_within_limits(&message);
    assert_eq!(clean(1, now()).subject, "keyward: the 1 IAM user is compliant, nothing to do");
    assert_eq!(clean(0, now()).subject, "keyward: no IAM users, nothing to do");
}

#[test]
fn slack_payload_is_a_complete_webhook_body() {
    for message in [
        digest(&account_report(), LOCATION),
        approval_request(&account_report(), LOCATION, LINK, APPROVAL_ID, now(), ApproverAuth::Link),
        clean(3, now()),
    ] {
        let object = message.slack.as_object().unwrap();
        // Compared as a set: key order depends on serde_json's `preserve_order`, which other
        // crates of the workspace may switch on.
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["blocks", "text"]);
        assert_eq!(message.slack["text"], message.subject.as_str());
        assert_eq!(blocks(&message)[0]["type"], "header");
        assert_eq!(blocks(&message)[0]["text"]["text"], message.subject.as_str());
    }
}

// ---- scale ----

/// 5,000 users, each without MFA, with a never-used old key, a key near its age limit, a malformed
/// exemption tag with a long value; plus 5,000 users not evaluated and 5,000 gone.
fn huge_report(mode: Mode) -> RunReport {
    let users: Vec<User> = (0..5000)
        .map(|i| {
            let name = format!("user-{i:04}-{}", "x".repeat(54));
            let u = with_keys(
                no_mfa(user(&name), true),
                vec![key(&format!("AKIA{i:016}"), 400, None), key(&format!("AKIB{i:016}"), 80, Some(1))],
            );
            tagged(u, &format!("someday {}", "r".repeat(230)), Some("scale"))
        })
        .collect();
    let config = PolicyConfig { mode, max_deactivations_per_run: 100_000, ..Default::default() };
    let mut report = report_of(&users, config);
    report.users_not_evaluated = (0..5000).map(|i| format!("ne-{i:04}-{}", "y".repeat(56))).collect();
    report.users_gone = (0..5000).map(|i| format!("gone-{i:04}-{}", "z".repeat(54))).collect();
    report
}

#[test]
fn lists_are_truncated_at_5000_users_and_say_how_many_more() {
    let report = huge_report(Mode::Approve);
    assert_eq!(report.evaluation.plan.keys.len(), 10_000);
    let message = digest(&report, LOCATION);
    assert_within_limits(&message);
    assert!(message.text.len() < 200 * 1024, "text is {} bytes", message.text.len());

    let more = format!("more — see the run report at {LOCATION}");
    assert_in_both(&message, &more);

    let text_lines: Vec<&str> = message.text.lines().collect();
    let slack_sections: Vec<&str> =
        blocks(&message).iter().filter_map(|b| b["text"]["text"].as_str()).collect::<Vec<_>>();
    let slack_lines: Vec<&str> = slack_sections.iter().flat_map(|s| s.lines()).collect();
    for (title, total) in [
        ("Keys proposed for deactivation (10000)", 10_000),
        ("Users without MFA (5000)", 5000),
        ("Warnings (5000)", 5000),
        ("Exemption problems (5000)", 5000),
        ("Users not evaluated (5000)", 5000),
        ("Users gone (5000)", 5000),
    ] {
        let (shown, more) = shown_and_more(&text_lines, title, "- ");
        assert!(shown > 0 && shown <= TEXT_LIST_LINES, "{title}: {shown} in text");
        assert_eq!(shown + more, total, "{title} in text");
        let (shown, more) = shown_and_more(&slack_lines, title, "• ");
        assert!(shown > 0 && shown <= SLACK_LIST_LINES, "{title}: {shown} in slack");
        assert_eq!(shown + more, total, "{title} in slack");
    }
    // Short lines show the full 200 / 25.
    assert_eq!(shown_and_more(&text_lines, "Users gone (5000)", "- "), (TEXT_LIST_LINES, 5000 - TEXT_LIST_LINES));
    assert_eq!(shown_and_more(&slack_lines, "Users gone (5000)", "• "), (SLACK_LIST_LINES, 5000 - SLACK_LIST_LINES));
}

#[test]
fn every_message_stays_within_limits_at_5000_users() {
    for mode in [Mode::ReportOnly, Mode::Approve, Mode::Auto] {
        let mut report = huge_report(mode);
        assert_within_limits(&digest(&report, LOCATION));
        assert_within_limits(&approval_request(&report, LOCATION, LINK, APPROVAL_ID, now(), ApproverAuth::Link));
        assert_within_limits(&expired(&report, LOCATION));
        let approved: Vec<KeyRef> = report.evaluation.plan.keys.iter().map(|k| k.key.clone()).collect();
        report.decision = Some(Decision { approved, decided_by: slack_user(), decided_at: now() });
        assert_within_limits(&rejected(&report, LOCATION));
        report.actions = report
            .evaluation
            .plan
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| ActionRecord {
                key: k.key.clone(),
                at: now(),
                outcome: match i % 4 {
                    0 => ActionOutcome::Deactivated,
                    1 => ActionOutcome::Skipped { reason: SkipReason::AlreadyInactive },
                    2 => ActionOutcome::DeactivatedNotYetVisible,
                    _ => ActionOutcome::Failed { error: "e".repeat(5000) },
                },
            })
            .collect();
        let message = outcome(&report, LOCATION);
        assert_within_limits(&message);
        assert_in_both(&message, "more — see the run report at");
    }
}

#[test]
fn subjects_fit_whatever_the_counts() {
    let report = huge_report(Mode::Approve);
    let mut report_cap = report.clone();
    report_cap.evaluation.plan.status = PlanStatus::CapExceeded { planned: usize::MAX, cap: u32::MAX };
    report_cap.users_not_evaluated = vec!["x".into(); 100_000];
    for message in [
        digest(&report, LOCATION),
        digest(&report_cap, LOCATION),
        approval_request(&report, LOCATION, LINK, APPROVAL_ID, now(), ApproverAuth::Link),
        rejected(&report, LOCATION),
        expired(&report, LOCATION),
        outcome(&report, LOCATION),
        clean(usize::MAX, now()),
    ] {
        assert!(message.subject.len() <= MAX_SUBJECT_CHARS, "{}", message.subject);
        assert!(message.subject.chars().all(|c| c == ' ' || c.is_ascii_graphic()), "{}", message.subject);
        assert!(message.subject.starts_with("keyward: "), "{}", message.subject);
    }
}

#[test]
fn digest_counts_and_names_the_credential_report_rows_it_could_not_read() {
    // GIVEN a run whose credential report had a comma user written unquoted and a row naming nobody
    let mut report = report_of(&[], PolicyConfig::default());
    report.unreadable_report_rows = vec![
        UnreadableRow {
            line: 4,
            user: Some("smith,john".into()),
            reason: "credential report line 4: 24 fields, but the header has 22".into(),
        },
        UnreadableRow {
            line: 9,
            user: None,
            reason: "credential report line 9: 3 fields, but the header has 22".into(),
        },
    ];

    let message = digest(&report, LOCATION);

    // THEN the digest says how many rows, whose, and why, in both renderings
    for fact in [
        "Credential report rows not read (2)",
        "Their users were checked live instead of screened with the report.",
        "line 4",
        "smith,john",
        "24 fields, but the header has 22",
        "line 9 — user unknown",
    ] {
        assert_in_both(&message, fact);
    }
    assert_eq!(message.subject, "keyward: nothing to deactivate, 2 report rows unreadable");
    assert_within_limits(&message);
    // AND a run whose every row was read says nothing about it
    let clean = digest(&report_of(&[], PolicyConfig::default()), LOCATION);
    assert!(!clean.text.contains("Credential report rows"), "{}", clean.text);
}

#[test]
fn digest_says_when_the_credential_report_was_not_ready_and_every_user_was_read_live() {
    let mut report = report_of(&[], PolicyConfig::default());
    report.report_unavailable = Some("IAM was still generating the report (state INPROGRESS) after 60 s".into());

    let message = digest(&report, LOCATION);

    for fact in [
        "the credential report was not ready: every user checked live",
        "Credential report: not ready within the wait (IAM was still generating the report (state INPROGRESS) after 60 s)",
        "this run read every user live instead of failing",
    ] {
        assert_in_both(&message, fact);
    }
    assert_within_limits(&message);
    // AND a run screened with the report says so, and nothing about a wait
    let screened = digest(&report_of(&[], PolicyConfig::default()), LOCATION);
    assert!(screened.text.contains("screened with the credential report"), "{}", screened.text);
    assert!(!screened.text.contains("not ready"), "{}", screened.text);
}

// ---- an organisation's messages ----

const PROD: &str = "111111111111";
const DEV: &str = "222222222222";
const SANDBOX: &str = "333333333333";
const LEGACY: &str = "444444444444";

fn account_id(id: &str) -> AccountId {
    AccountId::parse(id).unwrap()
}

/// `u` as a user of account `account`.
fn in_account(mut u: User, account: &str) -> User {
    u.arn = UserArn::parse(&format!("arn:aws:iam::{account}:user/{}", u.name)).unwrap();
    u
}

fn org_account(id: &str, name: &str) -> OrgAccount {
    OrgAccount { id: account_id(id), name: name.into(), state: AccountState::Active, ous: vec![] }
}

fn swept(id: &str, name: &str, users_listed: usize) -> SweptAccount {
    SweptAccount {
        account_id: account_id(id),
        name: name.into(),
        users_listed,
        users_checked: 2,
        users_not_evaluated: 0,
    }
}

/// An account whose read role refused keyward, as list-users' catch records it.
fn refused(id: &str, name: &str, reason: &str) -> FailedAccount {
    let cause = serde_json::json!({ "errorMessage": reason, "errorType": "MemberRoleRefused" }).to_string();
    FailedAccount {
        name: name.into(),
        failure: AccountFailure::new(account_id(id), "MemberRoleRefused", &cause, "keyward-read"),
    }
}

/// An organisation of four accounts: `prod` and `dev` swept (each with an alice holding an old key;
/// bob in prod without MFA), `sandbox` failed (its read role refused), `legacy` excluded, and an
/// `ORG_EXCLUDE` OU that names no account.
fn org_report() -> RunReport {
    let users = [
        in_account(with_keys(user("alice"), vec![key("AKIAPRODALICE", 300, Some(200))]), PROD),
        in_account(with_keys(no_mfa(user("bob"), true), vec![key("AKIAPRODBOB", 10, Some(1))]), PROD),
        in_account(with_keys(user("alice"), vec![key("AKIADEVALICE", 400, None)]), DEV),
    ];
    let config = PolicyConfig { mfa_scope: MfaScope::All, ..Default::default() };
    let mut report = report_of(&users, config);
    report.users_listed = 30;
    report.users_not_evaluated = vec![format!("{DEV}:gina")];
    report.users_gone = vec![format!("{PROD}:hank")];
    report.coverage = Some(Coverage {
        discovered: 4,
        swept: vec![swept(PROD, "prod", 20), swept(DEV, "dev", 10)],
        skipped: vec![Unswept {
            account: org_account(LEGACY, "legacy"),
            why: NotSwept::Excluded { by: FilterEntry::Account(account_id(LEGACY)) },
        }],
        failed: vec![refused(SANDBOX, "sandbox", "AssumeRole of keyward-read in 333333333333 refused: AccessDenied")],
        unmatched: vec![UnmatchedEntry {
            variable: "ORG_EXCLUDE".into(),
            entry: FilterEntry::Ou(OuId::parse("ou-ab12-cd34ef56").unwrap()),
        }],
    });
    report
}

/// Every message of a run of `report`: the digest, the approval request, rejected, expired, the
/// outcome and deactivation-failed (the last two after a decision approving the whole plan, and
/// one action per key).
fn every_message(report: &RunReport) -> Vec<Message> {
    let mut decided = report.clone();
    let approved: Vec<KeyRef> = decided.evaluation.plan.keys.iter().map(|k| k.key.clone()).collect();
    decided.actions = approved
        .iter()
        .map(|k| ActionRecord { key: k.clone(), at: now(), outcome: ActionOutcome::Deactivated })
        .collect();
    decided.decision = Some(Decision { approved, decided_by: slack_user(), decided_at: now() });
    vec![
        digest(report, LOCATION),
        approval_request(report, LOCATION, LINK, APPROVAL_ID, now() + Duration::hours(24), ApproverAuth::Link),
        rejected(&decided, LOCATION),
        expired(report, LOCATION),
        outcome(&decided, LOCATION),
        deactivation_failed(&decided, Some(&journal_of(&decided)), "IamThrottled", LOCATION, JOURNAL),
    ]
}

const JOURNAL: &str = "s3://keyward-reports/runs/keyward-2026-11-21/deactivation/";

/// The journal of a deactivation of `report`'s approved keys that stopped after the first one.
fn journal_of(report: &RunReport) -> Journal {
    let keys: Vec<KeyRef> = report.decision.as_ref().unwrap().approved.clone();
    Journal {
        claim: Claim { keys: keys.clone(), decided_by: slack_user(), claimed_at: now(), request_id: "r-1".into() },
        keys: keys
            .iter()
            .zip(&report.actions)
            .enumerate()
            .map(|(i, (key, action))| KeyJournal {
                key: key.clone(),
                intent_at: (i == 0).then(now),
                result: (i == 0).then(|| action.clone()),
            })
            .collect(),
        done: None,
    }
}

/// Where `needle` first is in `haystack`, at or after `from`.
#[track_caller]
fn position(haystack: &str, needle: &str, from: usize) -> usize {
    from + haystack[from..].find(needle).unwrap_or_else(|| panic!("{needle:?} not after {from} in:\n{haystack}"))
}

#[test]
fn an_organisation_digest_opens_with_coverage_then_groups_findings_by_account() {
    let message = digest(&org_report(), LOCATION);
    for fact in [
        "Coverage: 2 of 4 accounts swept (1 failed, 1 skipped).",
        "Accounts not swept (1)",
        "333333333333 (sandbox): AssumeRole of keyward-read in 333333333333 refused: AccessDenied — Fix: role keyward-read \
         missing or not trusting keyward",
        "Accounts skipped (1)",
        "444444444444 (legacy) — excluded (ORG_EXCLUDE names 444444444444)",
        "ou-ab12-cd34ef56 in ORG_EXCLUDE names no account",
        "111111111111 (prod) — 20 listed, 2 checked live",
        "the run ends AccountsNotSwept",
    ] {
        assert_in_both(&message, fact);
    }
    // The coverage section comes first, then the findings, each list grouped under its accounts in
    // account order: the two alices stay apart.
    for text in [message.text.clone(), slack_read(&message)] {
        let coverage = position(&text, "Coverage:", 0);
        let keys = position(&text, "Keys proposed for deactivation (3)", coverage);
        let prod = position(&text, "111111111111 (prod)", keys);
        let prod_alice = position(&text, "alice AKIAPRODALICE", prod);
        let prod_bob = position(&text, "bob AKIAPRODBOB", prod);
        let dev = position(&text, "222222222222 (dev)", prod_alice.max(prod_bob));
        position(&text, "alice AKIADEVALICE", dev);
        let no_mfa = position(&text, "Users without MFA (1)", dev);
        let bob = position(
            &text,
            "bob — console password, no MFA device; 1 active key proposed",
            position(&text, "111111111111 (prod)", no_mfa),
        );
        let not_evaluated = position(&text, "Users not evaluated (1)", bob);
        position(&text, "gina", position(&text, "222222222222 (dev)", not_evaluated));
        let gone = position(&text, "Users gone (1)", not_evaluated);
        position(&text, "hank", position(&text, "111111111111 (prod)", gone));
    }
    // Users are shown by name under their account, not as `<account>:<user>`.
    assert!(!message.text.contains("222222222222:gina"), "{}", message.text);
    assert!(message.text.contains("  111111111111 (prod):\n    - alice AKIAPRODALICE"), "{}", message.text);
    assert_within_limits(&message);
}

#[test]
fn an_organisation_digest_subject_says_first_how_many_accounts_were_not_swept() {
    let mut report = org_report();
    assert_eq!(
        digest(&report, LOCATION).subject,
        "keyward: 3 keys to deactivate, 1 account NOT SWEPT, 1 user without MFA - approval needed"
    );
    report.coverage.as_mut().unwrap().failed.clear();
    assert!(!digest(&report, LOCATION).subject.contains("NOT SWEPT"));
}

#[test]
fn users_without_mfa_count_their_keys_in_their_own_account() {
    // GIVEN a bob without MFA in prod (one key) and another bob without MFA in dev (two keys)
    let mut users = vec![
        in_account(with_keys(no_mfa(user("bob"), true), vec![key("AKIAPRODBOB", 10, Some(1))]), PROD),
        in_account(
            with_keys(
                no_mfa(user("bob"), true),
                vec![key("AKIADEVBOB1", 10, Some(1)), key("AKIADEVBOB2", 10, Some(1))],
            ),
            DEV,
        ),
    ];
    users.push(in_account(user("carol"), DEV));
    let mut report = report_of(&users, PolicyConfig::default());
    report.coverage = org_report().coverage;
    // THEN each bob's line counts only the keys of his account
    let text = digest(&report, LOCATION).text;
    let no_mfa = position(&text, "Users without MFA (2)", 0);
    let prod = position(&text, "111111111111 (prod)", no_mfa);
    let dev = position(&text, "222222222222 (dev)", prod);
    assert!(text[prod..dev].contains("no MFA device; 1 active key proposed"), "{text}");
    assert!(text[dev..].contains("no MFA device; 2 active keys proposed"), "{text}");
}

#[test]
fn every_organisation_message_names_the_coverage_and_groups_its_keys_by_account() {
    for message in every_message(&org_report()) {
        assert_in_both(&message, "Coverage: 2 of 4 accounts swept");
        assert_in_both(&message, "333333333333 (sandbox)");
        let text = &message.text;
        let dev =
            position(text, "222222222222 (dev)", position(text, "111111111111 (prod)", position(text, "Coverage:", 0)));
        assert!(text[dev..].contains("AKIADEVALICE"), "{text}");
        assert_within_limits(&message);
    }
}

#[test]
fn the_run_is_said_to_end_accounts_not_swept_only_when_an_account_failed() {
    let mut report = org_report();
    for message in every_message(&report) {
        assert_in_both(
            &message,
            "Not every selected account was swept: 1 account failed, so the run ends AccountsNotSwept",
        );
    }
    let coverage = report.coverage.as_mut().unwrap();
    coverage.failed.clear();
    coverage.discovered = 3;
    for message in every_message(&report) {
        assert_in_both(&message, "Coverage: 2 of 3 accounts swept (0 failed, 1 skipped).");
        assert!(!message.text.contains("AccountsNotSwept") && !slack_text(&message).contains("AccountsNotSwept"));
        assert!(!message.text.contains("Accounts not swept"), "{}", message.text);
    }
}

#[test]
fn an_account_name_unknown_to_coverage_is_said_so() {
    let mut report = org_report();
    report.coverage.as_mut().unwrap().swept.retain(|a| a.account_id.as_str() != DEV);
    assert_in_both(&digest(&report, LOCATION), "222222222222 (name unknown)");
}

#[test]
fn account_names_and_failure_reasons_never_become_links_or_mentions() {
    let mut report = org_report();
    let coverage = report.coverage.as_mut().unwrap();
    coverage.swept[0].name = "www.evil.example".into();
    coverage.swept[1].name = "<!channel> @here".into();
    coverage.skipped[0].account.name = "ops@evil.example".into();
    coverage.failed[0] = refused(SANDBOX, "https://evil.example/x", "refused, see https://evil.example/help <!here>");
    for message in every_message(&report) {
        for needle in ["evil", "@here", "channel"] {
            let mut found = Vec::new();
            objects_holding(&message.slack, needle, &mut found);
            assert!(!found.is_empty(), "{needle} not in slack");
            for object in found {
                assert_eq!(object.get("type").and_then(Value::as_str), Some("mrkdwn"), "{object:?}");
                assert_eq!(object.get("verbatim"), Some(&Value::Bool(true)), "not verbatim: {object:?}");
            }
        }
        for s in strings(&message.slack) {
            assert!(!s.contains("<!channel>") && !s.contains("<!here>") && !s.contains("<https://evil"), "{s}");
        }
        for linkable in ["https://evil", "evil.example", "www.evil"] {
            assert!(!message.text.contains(linkable), "{linkable} in:\n{}", message.text);
        }
        assert!(message.text.contains("111111111111 (www[.]evil[.]example)"), "{}", message.text);
        assert!(message.text.contains("333333333333 (https[:]//evil[.]example/x)"), "{}", message.text);
    }
}

/// `accounts` swept accounts of `users` users each (every user without MFA, an old never-used key
/// and a key near its age limit, a malformed exemption tag), with as many users not evaluated and
/// gone, plus 300 failed accounts with long reasons, 300 skipped and 100 unmatched filter entries.
fn huge_org_report(mode: Mode, accounts: usize, users: usize) -> RunReport {
    let ids: Vec<String> = (0..accounts).map(|a| format!("{:012}", 100_000_000_000 + a as u64)).collect();
    let all: Vec<User> = ids
        .iter()
        .enumerate()
        .flat_map(|(a, account)| {
            (0..users).map(move |i| {
                let name = format!("user-{i:04}-{}", "x".repeat(54));
                let u = with_keys(
                    no_mfa(user(&name), true),
                    vec![
                        key(&format!("AKIA{a:04}{i:012}"), 400, None),
                        key(&format!("AKIB{a:04}{i:012}"), 80, Some(1)),
                    ],
                );
                in_account(tagged(u, &format!("someday {}", "r".repeat(230)), Some("scale")), account)
            })
        })
        .collect();
    let config = PolicyConfig {
        mode,
        max_deactivations_per_run: 100_000,
        max_deactivations_per_account: 100_000,
        ..Default::default()
    };
    let mut report = report_of(&all, config);
    let per_account = |prefix: &str| -> Vec<String> {
        ids.iter().flat_map(|a| (0..users).map(move |i| format!("{a}:{prefix}-{i:04}-{}", "y".repeat(56)))).collect()
    };
    report.users_not_evaluated = per_account("ne");
    report.users_gone = per_account("gone");
    let other = |n: u64| format!("{:012}", 900_000_000_000 + n);
    report.coverage = Some(Coverage {
        discovered: accounts + 600,
        swept: ids.iter().map(|a| swept(a, &format!("account-{a}-{}", "n".repeat(40)), users)).collect(),
        skipped: (0..300)
            .map(|n| Unswept {
                account: org_account(&other(n), &format!("skipped-{n}-{}", "s".repeat(40))),
                why: NotSwept::NotIncluded,
            })
            .collect(),
        failed: (300..600)
            .map(|n| refused(&other(n), &format!("failed-{n}-{}", "f".repeat(40)), &"AccessDenied ".repeat(80)))
            .collect(),
        unmatched: (0..100)
            .map(|n| UnmatchedEntry {
                variable: "ORG_EXCLUDE".into(),
                entry: FilterEntry::Account(account_id(&other(1000 + n))),
            })
            .collect(),
    });
    report
}

/// For the list titled `title`: the items shown, the hidden ones its last line counts, and the
/// account headings shown (a group's own "… and N more in this account" lines are skipped).
fn grouped_counts(lines: &[&str], title: &str, bullet: &str) -> (usize, usize, usize) {
    let start = lines.iter().position(|l| l.contains(title)).expect("list title");
    let (mut shown, mut headings) = (0, 0);
    for line in &lines[start + 1..] {
        let line = line.trim_start();
        if line.starts_with(bullet) {
            shown += 1;
        } else if let Some(rest) = line.strip_prefix("… and ") {
            if !rest.ends_with("more in this account") {
                return (shown, rest.split(' ').next().unwrap().parse().unwrap(), headings);
            }
        } else if line.trim_start_matches('`').starts_with(|c: char| c.is_ascii_digit()) {
            headings += 1;
        } else if shown > 0 {
            break;
        }
    }
    (shown, 0, headings)
}

#[test]
fn organisation_messages_stay_within_limits_at_10_accounts_of_500_users() {
    for mode in [Mode::ReportOnly, Mode::Approve, Mode::Auto] {
        let report = huge_org_report(mode, 10, 500);
        assert_eq!(report.evaluation.plan.keys.len(), 10_000);
        for message in every_message(&report) {
            assert_within_limits(&message);
            assert!(message.text.len() < 240 * 1024, "text is {} bytes", message.text.len());
            assert_in_both(&message, "more — see the run report at");
        }
    }
    let message = digest(&huge_org_report(Mode::Approve, 10, 500), LOCATION);
    let text_lines: Vec<&str> = message.text.lines().collect();
    let slack_lines: Vec<&str> =
        blocks(&message).iter().filter_map(|b| b["text"]["text"].as_str()).flat_map(str::lines).collect();
    for (title, total) in [
        ("Keys proposed for deactivation (10000)", 10_000),
        ("Users without MFA (5000)", 5000),
        ("Warnings (5000)", 5000),
        ("Users not evaluated (5000)", 5000),
        ("Users gone (5000)", 5000),
        ("Accounts not swept (300)", 300),
        ("Accounts skipped (300)", 300),
    ] {
        let (shown, more, _) = grouped_counts(&text_lines, title, "- ");
        assert!(shown > 0 && shown <= TEXT_LIST_LINES, "{title}: {shown} in text");
        assert_eq!(shown + more, total, "{title} in text");
        let (shown, more, _) = grouped_counts(&slack_lines, title, "• ");
        assert!(shown > 0 && shown <= SLACK_LIST_LINES, "{title}: {shown} in slack");
        assert_eq!(shown + more, total, "{title} in slack");
    }
    // Every account gets its share of what fits: all ten are headed in the plan, not just the first.
    let (shown, _, headings) = grouped_counts(&text_lines, "Keys proposed for deactivation (10000)", "- ");
    assert!(shown > 10 * 10, "{shown} keys shown");
    assert_eq!(headings, 10, "{}", message.text);
}

#[test]
fn an_organisation_digest_names_the_account_of_each_exemption_and_exemption_problem() {
    let mut tagged = with_keys(user("erin"), vec![key("AKIADEVERIN", 300, Some(1))]);
    tagged.tags.insert(EXEMPT_UNTIL_TAG.into(), "2026-11-01".into());
    let users =
        [in_account(with_keys(user("carl"), vec![key("AKIAPRODCARL", 300, Some(1))]), PROD), in_account(tagged, DEV)];
    let config = PolicyConfig {
        exempt_users: vec![ExemptEntry::AccountName { account_id: account_id(PROD), name: "carl".into() }],
        ..Default::default()
    };
    let mut report = report_of(&users, config);
    report.coverage = org_report().coverage;
    let message = digest(&report, LOCATION);
    for text in [message.text.clone(), slack_read(&message)] {
        let exemptions = position(&text, "Exemptions honoured (1)", 0);
        position(&text, "carl", position(&text, "111111111111 (prod)", exemptions));
        let problems = position(&text, "Exemption problems (1)", exemptions);
        position(&text, "erin", position(&text, "222222222222 (dev)", problems));
    }
    assert_within_limits(&message);
}
