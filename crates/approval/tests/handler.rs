//! The approval handler against in-memory ports: the confirm page, the form decision and its
//! refusals, and Slack's buttons. Every test asserts outcomes: the record's state, the run report,
//! the callbacks Step Functions received, what was posted to Slack.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use chrono::Duration;
use keyward_core::decision::{Approver, Decision};
use keyward_core::errors::APPROVAL_REJECTED;
use keyward_core::fakes::Callback;
use keyward_core::model::KeyRef;
use keyward_core::org::{AccountFailure, AccountId};
use keyward_core::ports::{ApprovalState, DecisionOutcome, DecisionStore, PortError, RecordedDecision};
use keyward_core::run_report::{Coverage, FailedAccount, RunReport, SweptAccount};
use keyward_core::slack::{ACTION_APPROVE_ALL, ACTION_REJECT_ALL, ACTION_REVIEW};
use support::*;

fn key(user: &str, id: &str) -> KeyRef {
    KeyRef { account_id: keyward_core::fixtures::account(), user_name: user.into(), access_key_id: id.into() }
}

/// The Decision SendTaskSuccess carried.
#[track_caller]
fn only_success(world: &World) -> Decision {
    match world.callbacks().as_slice() {
        [Callback::Success(token, output)] => {
            assert_eq!(token, TASK_TOKEN);
            serde_json::from_value(output.clone()).unwrap()
        }
        other => panic!("expected one SendTaskSuccess, got {other:?}"),
    }
}

// ---- GET / HEAD ---------------------------------------------------------------------------------

#[tokio::test]
async fn get_renders_every_planned_key_with_a_ticked_checkbox() {
    let world = World::new();
    let response = world.send(get(&approval_path())).await;
    assert_eq!(response.status(), 200);
    assert_html_headers(&response);
    let html = text(&response);
    for key in [ALICE_KEY, BOB_KEY, CAROL_KEY] {
        let value = format!(r#"name="key" value="{ACCOUNT}:{key}" checked"#);
        assert!(html.contains(&value), "{key} has no ticked checkbox naming its account");
    }
    assert_eq!(html.matches(r#"type="checkbox""#).count(), 3);
    assert!(html.contains(&format!(r#"name="token" value="{}""#, good_token())));
    assert!(html.contains(r#"<form method="post">"#));
    assert!(html.contains(r#"name="decision" value="approve">Deactivate selected</button>"#));
    assert!(html.contains(r#"name="decision" value="reject">Reject all</button>"#));
    assert!(html.contains(EXECUTION));
    let account = format!("<dt>Account</dt><dd><code>{ACCOUNT}</code></dd>");
    assert_eq!(html.matches(&account).count(), 1, "the account once, in the run's facts: {html}");
    assert_eq!(html.matches(&format!("<code>{ACCOUNT}</code>")).count(), 1, "and not on each line: {html}");
    assert!(html.contains("2026-11-21 07:00 UTC"), "evaluation time");
    assert!(html.contains("2026-11-22 07:05 UTC"), "expiry");
    assert!(html.contains("2026-05-05 · s3 · eu-west-1"), "alice's last use");
    assert!(html.contains("never"), "bob never used his key");
    assert!(html.contains("key-too-old, key-unused"));
    assert!(html.contains("<td>300</td>"), "alice's key age");
    assert!(!html.contains("<script"), "no script on the page");
}

#[tokio::test]
async fn get_escapes_user_names_and_evidence() {
    let world = World::new();
    let html = text(&world.send(get(&approval_path())).await);
    assert!(!html.contains(CAROL));
    assert!(html.contains("carol&lt;script&gt;&amp;&quot;quote&#39;"), "{html}");
    assert!(html.contains("no MFA &amp; a &lt;console&gt; password"));
}

#[tokio::test]
async fn get_never_shows_the_task_token_or_the_nonce() {
    let world = World::new();
    let html = text(&world.send(get(&approval_path())).await);
    assert!(!html.contains(TASK_TOKEN));
    assert!(!html.contains(NONCE));
}

#[tokio::test]
async fn get_and_head_twenty_times_change_nothing() {
    let world = World::new();
    for _ in 0..20 {
        assert_eq!(world.send(get(&approval_path())).await.status(), 200);
        assert_eq!(world.send(head(&approval_path())).await.status(), 200);
    }
    world.assert_nothing_decided();
    assert!(world.slack_posts().is_empty());
    // The link still works for the real decision.
    let response = world.send(post_form(&form(&good_token(), "approve", &[ALICE_KEY]))).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn head_has_the_status_and_headers_of_get_and_no_body() {
    let world = World::new();
    let response = world.send(head(&approval_path())).await;
    assert_eq!(response.status(), 200);
    assert_html_headers(&response);
    assert!(response.body().is_empty());
    let gone = world.send_at(head(&approval_path()), expires_at()).await;
    assert_eq!(gone.status(), 410);
    assert!(gone.body().is_empty());
}

#[tokio::test]
async fn malformed_id_is_an_unknown_link_without_a_lookup() {
    let world = World::new();
    for path in [
        "/approvals/".to_owned(),
        "/approvals/abc".to_owned(),
        format!("/approvals/{}", ID.to_uppercase()),
        format!("/approvals/{ID}0"),
        format!("/approvals/{ID}/"),
    ] {
        let response = world.send(get(&path)).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_html_headers(&response);
        assert!(text(&response).contains("Unknown link"), "{path}");
    }
    let response = world.send(request("POST", "/approvals/zz", &[], Some(b"decision=approve"), false)).await;
    assert_eq!(response.status(), 404);
    assert_eq!(world.gets(), 0, "a malformed id reached the table");
    world.assert_nothing_decided();
}

#[tokio::test]
async fn unknown_id_is_404() {
    let world = World::new();
    let other = "0".repeat(64);
    let response = world.send(get(&format!("/approvals/{other}"))).await;
    assert_eq!(response.status(), 404);
    assert!(text(&response).contains("Unknown link"));
    assert_eq!(world.gets(), 1);
}

#[tokio::test]
async fn expired_link_is_410_and_says_nothing_was_deactivated() {
    let world = World::new();
    let response = world.send_at(get(&approval_path()), expires_at()).await;
    assert_eq!(response.status(), 410);
    assert_html_headers(&response);
    let html = text(&response);
    assert!(html.contains("expired"), "{html}");
    assert!(html.contains("nothing was deactivated"), "{html}");
    let post = world.send_at(post_form(&form(&good_token(), "approve", &[ALICE_KEY])), expires_at()).await;
    assert_eq!(post.status(), 410);
    world.assert_nothing_decided();
    // One second earlier it still works.
    assert_eq!(world.send_at(get(&approval_path()), expires_at() - Duration::seconds(1)).await.status(), 200);
}

#[tokio::test]
async fn decided_link_is_409_with_outcome_and_time() {
    let world = World::new();
    let mut record = pending_record();
    record.state = ApprovalState::Decided { outcome: "rejected".into(), decided_at: now() - Duration::minutes(3) };
    world.set_record(record);
    let response = world.send(get(&approval_path())).await;
    assert_eq!(response.status(), 409);
    assert_html_headers(&response);
    let html = text(&response);
    assert!(html.contains("Already decided"));
    assert!(html.contains("rejected at 2026-11-21 07:07 UTC"), "{html}");
}

/// In AWS `rawPath` starts at the URL's root, and so does it in the local stack, whose front strips
/// `/lambda-url/approval` as the Function URL's host would be: a path that still carries the prefix is
/// not an address of the function.
#[tokio::test]
async fn a_path_under_the_local_stacks_prefix_is_not_found() {
    let world = World::new();
    let response = world.send(get(&format!("/lambda-url/approval{}", approval_path()))).await;
    assert_eq!(response.status(), 404);
    world.assert_nothing_decided();
}

// The Function URL (`{ApprovalUrl}`) ends with `/`: a link or a Slack Request URL joined as
// `{ApprovalUrl}/...` arrives with a doubled leading slash, and Function URLs deliver the path as
// typed.

#[tokio::test]
async fn doubled_leading_slashes_reach_the_confirm_page_and_its_form() {
    let world = World::new();
    let doubled = format!("/{}", approval_path());
    let response = world.send(get(&doubled)).await;
    assert_eq!(response.status(), 200, "{}", text(&response));
    assert_html_headers(&response);
    assert!(text(&response).contains(ALICE_KEY));
    let tripled = format!("//{}", approval_path());
    let response = world.send(head(&tripled)).await;
    assert_eq!(response.status(), 200);
    assert!(response.body().is_empty());
    world.assert_nothing_decided();
    // The page's form posts back to the address it was opened at.
    let body = form(&good_token(), "approve", &[BOB_KEY]);
    let post = request(
        "POST",
        &doubled,
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(body.as_bytes()),
        false,
    );
    assert_eq!(world.send(post).await.status(), 200);
    assert_eq!(only_success(&world).approved, vec![key("bob", BOB_KEY)]);
    assert_eq!(world.send(get(&doubled)).await.status(), 409, "single use holds at every spelling");
}

#[tokio::test]
async fn slack_actions_with_a_doubled_leading_slash_decide() {
    let world = World::new();
    let body = slack_button(APPROVER, ACTION_APPROVE_ALL);
    let response = world.click(slack_request_to("//slack/actions", &body, SIGNING_SECRET, now().timestamp())).await;
    assert_eq!(response.status(), 200, "{}", text(&response));
    assert_eq!(only_success(&world).approved.len(), 3);
    assert_eq!(world.slack_posts().len(), 1);
    let response = world.send(get("//slack/actions")).await;
    assert_eq!(response.status(), 405);
    assert_eq!(header(&response, "allow"), "POST");
    // The signature still guards the doubled address.
    let world = World::new();
    let forged = slack_request_to("//slack/actions", &body, "not-the-secret", now().timestamp());
    assert_eq!(world.send(forged).await.status(), 401);
    world.assert_nothing_decided();
}

#[tokio::test]
async fn only_leading_slashes_collapse_an_interior_double_slash_is_not_found() {
    // Only the leading run is what the trailing `/` of the base URL adds; anywhere else a `//` (or
    // an encoded slash) is another address, refused rather than made equal to a route or an id.
    let world = World::new();
    for path in [
        format!("/approvals//{ID}"),
        format!("//approvals//{ID}"),
        format!("/approvals/{ID}//"),
        format!("/%2Fapprovals/{ID}"),
        format!("/approvals/%2F{ID}"),
    ] {
        let response = world.send(get(&path)).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_html_headers(&response);
    }
    assert_eq!(world.gets(), 0, "a mangled id reached the table");
    for path in ["/slack//actions", "//slack//actions", "//slack/actions/", "/slack/actions//"] {
        let body = slack_button(APPROVER, ACTION_APPROVE_ALL);
        let response = world.send(slack_request_to(path, &body, SIGNING_SECRET, now().timestamp())).await;
        assert_eq!(response.status(), 404, "{path}");
    }
    for path in ["//", "///"] {
        assert_eq!(world.send(get(path)).await.status(), 404, "{path}");
    }
    world.assert_nothing_decided();
    assert!(world.slack_posts().is_empty());
    assert!(world.queued_events().is_empty());
}

#[tokio::test]
async fn other_paths_are_404_and_other_methods_405() {
    let world = World::new();
    for path in ["/", "/approvals", "/favicon.ico", "/slack/actions/x"] {
        let response = world.send(get(path)).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_html_headers(&response);
    }
    for method in ["PUT", "DELETE", "PATCH", "OPTIONS"] {
        let response = world.send(request(method, &approval_path(), &[], None, false)).await;
        assert_eq!(response.status(), 405, "{method}");
        assert_eq!(header(&response, "allow"), "GET, HEAD, POST");
        assert_html_headers(&response);
    }
    let response = world.send(get("/slack/actions")).await;
    assert_eq!(response.status(), 405);
    assert_eq!(header(&response, "allow"), "POST");
    world.assert_nothing_decided();
}

#[tokio::test]
async fn storage_failure_is_503_and_decides_nothing() {
    let world = World::new();
    *world.deps.runs.store().inner.broken.lock().unwrap() = true;
    assert_eq!(world.send(get(&approval_path())).await.status(), 503);
    let response = world.send(post_form(&form(&good_token(), "approve", &[ALICE_KEY]))).await;
    assert_eq!(response.status(), 503);
    assert!(text(&response).contains("Nothing was decided"));
    assert_eq!(world.record().state, ApprovalState::Pending);
    assert!(world.callbacks().is_empty());
}

#[tokio::test]
async fn missing_run_report_is_500_and_decides_nothing() {
    let world = World::new();
    world.deps.runs.store().inner.objects.lock().unwrap().clear();
    assert_eq!(world.send(get(&approval_path())).await.status(), 500);
    let response = world.send(post_form(&form(&good_token(), "reject", &[]))).await;
    assert_eq!(response.status(), 500);
    assert_eq!(world.record().state, ApprovalState::Pending);
    assert!(world.callbacks().is_empty());
}

/// bob's key in a second account, `dev`; the run's report names no account but its coverage:
/// `prod` (the fixture account) and `dev` swept, a third account failed.
const DEV: &str = "222222222222";

fn organisation_report() -> RunReport {
    let mut report = report();
    report.account_id = None;
    report.evaluation.plan.keys[1].key.account_id = AccountId::parse(DEV).unwrap();
    let swept = |id: &str, name: &str| SweptAccount {
        account_id: AccountId::parse(id).unwrap(),
        name: name.into(),
        users_listed: 20,
        users_checked: 2,
        users_not_evaluated: 0,
    };
    let failed = AccountId::parse("333333333333").unwrap();
    report.coverage = Some(Coverage {
        discovered: 3,
        swept: vec![swept(ACCOUNT, "prod <main>"), swept(DEV, "dev")],
        skipped: vec![],
        failed: vec![FailedAccount {
            name: "sandbox".into(),
            failure: AccountFailure::new(failed, "MemberRoleRefused", "", "keyward-read"),
        }],
        unmatched: vec![],
    });
    report
}

#[tokio::test]
async fn an_organisation_page_groups_the_keys_by_account_and_its_values_decide() {
    // GIVEN an organisation's run with keys in two accounts
    let world = World::new();
    world.put_report(&organisation_report());
    // WHEN the page is shown
    let html = text(&world.send(get(&approval_path())).await);
    // THEN one fieldset per account, in account order, each headed `<account id> (<name>)` and
    // holding exactly its keys, whose values still name the account
    let prod = html.find(&format!("<legend><code>{ACCOUNT}</code> (prod &lt;main&gt;)</legend>")).expect(&html);
    let dev = html.find(&format!("<legend><code>{DEV}</code> (dev)</legend>")).expect(&html);
    assert!(prod < dev, "{html}");
    assert_eq!(html.matches("<fieldset>").count(), 2, "{html}");
    for (key, account, inside) in
        [(ALICE_KEY, ACCOUNT, prod..dev), (CAROL_KEY, ACCOUNT, prod..dev), (BOB_KEY, DEV, dev..html.len())]
    {
        let at = html.find(&format!(r#"name="key" value="{account}:{key}" checked"#)).expect(&html);
        assert!(inside.contains(&at), "{key} outside its account's fieldset: {html}");
    }
    assert!(html.contains("2 of 3 accounts swept."), "{html}");
    assert!(!html.contains("<dt>Account</dt>"), "{html}");
    // WHEN the form posts the page's own values for alice and bob
    let body = form_naming(&good_token(), "approve", &[&format!("{ACCOUNT}:{ALICE_KEY}"), &format!("{DEV}:{BOB_KEY}")]);
    assert_eq!(world.send(post_form(&body)).await.status(), 200);
    // THEN exactly those keys, each in its own account, are approved
    let bob = KeyRef { account_id: AccountId::parse(DEV).unwrap(), ..key("bob", BOB_KEY) };
    assert_eq!(only_success(&world).approved, vec![key("alice", ALICE_KEY), bob]);
}

// ---- POST (the form) ----------------------------------------------------------------------------

#[tokio::test]
async fn post_approve_subset_sends_exactly_those_keys() {
    let world = World::new();
    let response = world.send(post_form(&form(&good_token(), "approve", &[CAROL_KEY, ALICE_KEY]))).await;
    assert_eq!(response.status(), 200);
    assert_html_headers(&response);

    let decision = only_success(&world);
    assert_eq!(decision.approved, vec![key("alice", ALICE_KEY), key(CAROL, CAROL_KEY)]);
    assert_eq!(decision.decided_at, now());
    assert_eq!(
        decision.decided_by,
        Approver::LinkHolder { source_ip: Some(SOURCE_IP.into()), user_agent: Some(USER_AGENT.into()) }
    );
    assert_eq!(world.record().state, ApprovalState::Decided { outcome: "approved".into(), decided_at: now() });
    assert_eq!(world.decision(), decision);
    world.assert_report_untouched();

    let html = text(&response);
    assert!(html.contains("Approved: 2 access keys will be deactivated"), "{html}");
    let (approved, kept) = html.split_once("Not approved").unwrap();
    assert!(approved.contains(ALICE_KEY) && approved.contains(CAROL_KEY));
    assert!(kept.contains(BOB_KEY) && !kept.contains(ALICE_KEY));
    assert!(html.contains("carol&lt;script&gt;"));
    assert!(!html.contains(CAROL));
}

#[tokio::test]
async fn the_decision_is_recorded_in_the_decisions_table_for_its_run_and_approval_only() {
    let world = World::new();
    world.send(post_form(&form(&good_token(), "approve", &[BOB_KEY]))).await;
    let recorded = world.recorded_decision().unwrap();
    assert_eq!(recorded.run, run());
    assert_eq!(recorded.approval_id_hash, id_hash());
    assert_eq!(recorded.outcome, DecisionOutcome::Approved);
    assert_eq!(recorded.decision.approved, vec![key("bob", BOB_KEY)]);
    // The audit record gets it from deactivate (or notify, for a rejection), never from approval.
    world.assert_report_untouched();
}

#[tokio::test]
async fn a_bucket_approval_cannot_write_does_not_stop_a_decision() {
    // Approval's role has no s3:PutObject: the decision needs none.
    let world = World::new();
    world.deps.runs.store().fail_puts.store(true, std::sync::atomic::Ordering::SeqCst);
    let response = world.send(post_form(&form(&good_token(), "approve", &[ALICE_KEY]))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(only_success(&world).approved, vec![key("alice", ALICE_KEY)]);
    assert_eq!(world.decision().approved, vec![key("alice", ALICE_KEY)]);
    world.assert_report_untouched();
}

#[tokio::test]
async fn second_post_is_409_and_sends_no_second_callback() {
    let world = World::new();
    assert_eq!(world.send(post_form(&form(&good_token(), "approve", &[ALICE_KEY]))).await.status(), 200);
    let report_after_first = world.stored_report();
    for body in [form(&good_token(), "approve", &[BOB_KEY]), form(&good_token(), "reject", &[])] {
        let response = world.send(post_form(&body)).await;
        assert_eq!(response.status(), 409);
        assert!(text(&response).contains("Already decided"));
    }
    assert_eq!(world.callbacks().len(), 1);
    assert_eq!(world.stored_report(), report_after_first);
    assert_eq!(world.decision().approved, vec![key("alice", ALICE_KEY)], "the first decision stands");
    assert_eq!(world.send(get(&approval_path())).await.status(), 409);
}

#[tokio::test]
async fn post_with_bad_token_is_403_and_decides_nothing() {
    let world = World::new();
    let other_nonce = keyward_core::approval_id::form_token(&id(), "another-nonce");
    let bodies = [
        form(&other_nonce, "approve", &[ALICE_KEY]),
        form("", "approve", &[ALICE_KEY]),
        format!("key={ALICE_KEY}&decision=approve"),
        format!("{}&token={}", form(&good_token(), "approve", &[ALICE_KEY]), good_token()),
    ];
    for body in bodies {
        let response = world.send(post_form(&body)).await;
        assert_eq!(response.status(), 403, "{body}");
        assert_html_headers(&response);
        assert!(text(&response).contains("This form is not valid for this approval"));
    }
    world.assert_nothing_decided();
}

#[tokio::test]
async fn post_with_forged_key_is_400_names_the_key_and_decides_nothing() {
    let world = World::new();
    let response = world.send(post_form(&form(&good_token(), "approve", &[ALICE_KEY, "AKIAFORGED0000000099"]))).await;
    assert_eq!(response.status(), 400);
    assert_html_headers(&response);
    assert!(text(&response).contains("AKIAFORGED0000000099"));
    world.assert_nothing_decided();
    assert_eq!(world.send(get(&approval_path())).await.status(), 200, "the link still works");
}

#[tokio::test]
async fn post_naming_a_planned_key_in_another_account_is_400_and_decides_nothing() {
    // GIVEN bob's key is planned in the run's account; WHEN a form names it with another account
    let world = World::new();
    let forged = format!("999999999999:{BOB_KEY}");
    let body = form_naming(&good_token(), "approve", &[&format!("{ACCOUNT}:{ALICE_KEY}"), &forged]);
    let response = world.send(post_form(&body)).await;
    // THEN the whole decision is refused, naming the entry; nothing is recorded or sent
    assert_eq!(response.status(), 400);
    assert!(text(&response).contains(&forged), "{}", text(&response));
    world.assert_nothing_decided();
    // and the real decision still works
    assert_eq!(world.send(post_form(&form(&good_token(), "approve", &[BOB_KEY]))).await.status(), 200);
    assert_eq!(only_success(&world).approved, vec![key("bob", BOB_KEY)]);
}

#[tokio::test]
async fn post_naming_a_bare_key_id_is_400_and_decides_nothing() {
    let world = World::new();
    let body = form_naming(&good_token(), "approve", &[&format!("{ACCOUNT}:{ALICE_KEY}"), BOB_KEY]);
    let response = world.send(post_form(&body)).await;
    assert_eq!(response.status(), 400);
    assert!(text(&response).contains(BOB_KEY), "{}", text(&response));
    world.assert_nothing_decided();
}

#[tokio::test]
async fn post_with_duplicate_key_is_400_and_decides_nothing() {
    let world = World::new();
    let response = world.send(post_form(&form(&good_token(), "approve", &[ALICE_KEY, ALICE_KEY]))).await;
    assert_eq!(response.status(), 400);
    assert!(text(&response).contains("more than once"));
    world.assert_nothing_decided();
}

#[tokio::test]
async fn post_with_no_key_ticked_is_400_and_decides_nothing() {
    let world = World::new();
    let response = world.send(post_form(&form(&good_token(), "approve", &[]))).await;
    assert_eq!(response.status(), 400);
    assert!(text(&response).contains("Tick at least one key or use Reject all"));
    world.assert_nothing_decided();
}

#[tokio::test]
async fn post_without_a_valid_decision_is_400_and_decides_nothing() {
    let world = World::new();
    for body in [
        format!("token={}&key={ALICE_KEY}", good_token()),
        form(&good_token(), "deactivate-everything", &[ALICE_KEY]),
        format!("{}&decision=reject", form(&good_token(), "approve", &[ALICE_KEY])),
        format!("token={}&decision=%zz", good_token()),
    ] {
        assert_eq!(world.send(post_form(&body)).await.status(), 400, "{body}");
    }
    world.assert_nothing_decided();
}

#[tokio::test]
async fn post_that_is_not_a_form_is_415_and_decides_nothing() {
    let world = World::new();
    let body = form(&good_token(), "approve", &[ALICE_KEY]);
    for content_type in [None, Some("application/json"), Some("text/plain")] {
        let headers: Vec<(&str, &str)> = content_type.iter().map(|c| ("content-type", *c)).collect();
        let response = world.send(request("POST", &approval_path(), &headers, Some(body.as_bytes()), false)).await;
        assert_eq!(response.status(), 415, "{content_type:?}");
    }
    world.assert_nothing_decided();
    let charset = request(
        "POST",
        &approval_path(),
        &[("content-type", "Application/X-WWW-Form-Urlencoded; charset=UTF-8")],
        Some(body.as_bytes()),
        false,
    );
    assert_eq!(world.send(charset).await.status(), 200);
}

#[tokio::test]
async fn post_reject_fails_the_task_with_approval_rejected() {
    let world = World::new();
    // The form sends the ticked boxes along with Reject all; they are ignored.
    let response = world.send(post_form(&form(&good_token(), "reject", &[ALICE_KEY, BOB_KEY]))).await;
    assert_eq!(response.status(), 200);
    assert!(text(&response).contains("Rejected: nothing will be deactivated"));
    match world.callbacks().as_slice() {
        [Callback::Failure(token, error, cause)] => {
            assert_eq!(token, TASK_TOKEN);
            assert_eq!(error, APPROVAL_REJECTED);
            assert!(cause.contains("rejected"), "{cause}");
        }
        other => panic!("expected one SendTaskFailure, got {other:?}"),
    }
    assert_eq!(world.record().state, ApprovalState::Decided { outcome: "rejected".into(), decided_at: now() });
    let recorded = world.recorded_decision().unwrap();
    assert_eq!(recorded.outcome, DecisionOutcome::Rejected);
    assert!(recorded.decision.approved.is_empty());
    assert!(
        matches!(recorded.decision.decided_by, Approver::LinkHolder { source_ip: Some(ref ip), .. } if ip == SOURCE_IP)
    );
    world.assert_report_untouched();
}

#[tokio::test]
async fn callback_on_a_timed_out_task_says_the_approval_had_expired() {
    let world = World::new();
    // As the SFN adapter reports a token Step Functions no longer accepts.
    *world.deps.callbacks.answer.lock().unwrap() =
        Some(PortError::TaskGone { operation: "SendTaskSuccess", code: "TaskTimedOut".into() });
    // In the approval's last seconds, when the task's own timer may have run out first.
    let at = expires_at() - Duration::seconds(30);
    let response = world.send_at(post_form(&form(&good_token(), "approve", &[ALICE_KEY])), at).await;
    assert_eq!(response.status(), 410);
    let html = text(&response);
    assert!(html.contains("This approval had expired"), "{html}");
    assert!(html.contains("nothing will be deactivated"), "{html}");
    // Single use holds: the record is decided and the decisions table says what was chosen.
    assert!(matches!(world.record().state, ApprovalState::Decided { .. }));
    assert!(world.recorded_decision().is_some());
    assert_eq!(world.send_at(post_form(&form(&good_token(), "approve", &[ALICE_KEY])), at).await.status(), 409);
}

#[tokio::test]
async fn callback_failing_otherwise_says_the_decision_could_not_be_delivered() {
    let world = World::new();
    *world.deps.callbacks.answer.lock().unwrap() =
        Some(PortError::Failed { operation: "SendTaskFailure", message: "service unavailable".into() });
    let response = world.send(post_form(&form(&good_token(), "reject", &[]))).await;
    assert_eq!(response.status(), 502);
    assert!(text(&response).contains("could not be delivered"));
    assert!(matches!(world.record().state, ApprovalState::Decided { .. }));
}

#[tokio::test]
async fn a_run_already_decided_through_another_link_is_already_decided() {
    // A retried notify can leave two links for one run; the decisions table holds the first decision.
    let world = World::new();
    let mut other_link = pending_record();
    other_link.id_hash = "0".repeat(64);
    world.set_record(other_link.clone());
    let first = RecordedDecision {
        run: run(),
        approval_id_hash: other_link.id_hash,
        outcome: DecisionOutcome::Rejected,
        decision: keyward_core::decision::Decision {
            approved: vec![],
            decided_by: Approver::LinkHolder { source_ip: None, user_agent: None },
            decided_at: now(),
        },
    };
    world.deps.approvals.inner.record(&first).await.unwrap();

    let response = world.send(post_form(&form(&good_token(), "approve", &[ALICE_KEY]))).await;
    assert_eq!(response.status(), 409);
    assert!(text(&response).contains("Already decided"));
    assert!(world.callbacks().is_empty());
    assert!(matches!(world.record().state, ApprovalState::Pending), "this link decided nothing");
    assert_eq!(world.recorded_decision(), Some(first), "the first decision stands");
    world.assert_report_untouched();
}

#[tokio::test]
async fn a_report_already_holding_a_decision_is_already_decided() {
    // The report holds a decision once deactivate or notify copied it there.
    let world = World::new();
    let mut report = world.stored_report();
    report.decision = Some(keyward_core::decision::Decision {
        approved: vec![],
        decided_by: keyward_core::decision::Approver::LinkHolder { source_ip: None, user_agent: None },
        decided_at: report.evaluation.evaluated_at,
    });
    world.put_report(&report);
    let response = world.send(post_form(&form(&good_token(), "approve", &[ALICE_KEY]))).await;
    assert_eq!(response.status(), 409);
    assert!(world.callbacks().is_empty());
    assert!(matches!(world.record().state, ApprovalState::Pending), "this link decided nothing");
}

// ---- Slack --------------------------------------------------------------------------------------

fn slack_button(user: &str, action_id: &str) -> String {
    slack_payload(user, action_id, ID, RESPONSE_URL)
}

fn signed(body: &str) -> lambda_http::Request {
    slack_request(body, SIGNING_SECRET, now().timestamp())
}

#[tokio::test]
async fn slack_approve_all_by_an_approver_decides_every_planned_key_and_updates_the_message() {
    let world = World::new();
    let response = world.click(signed(&slack_button(APPROVER, ACTION_APPROVE_ALL))).await;
    assert_eq!(response.status(), 200);
    assert!(response.body().is_empty(), "Slack's acknowledgement is an empty 200");
    let decision = only_success(&world);
    assert_eq!(decision.approved, vec![key("alice", ALICE_KEY), key("bob", BOB_KEY), key(CAROL, CAROL_KEY)]);
    assert_eq!(decision.decided_by, Approver::Slack { user_id: APPROVER.into(), team_id: TEAM.into() });
    assert_eq!(world.record().state, ApprovalState::Decided { outcome: "approved".into(), decided_at: now() });
    assert_eq!(world.decision(), decision);
    world.assert_report_untouched();
    let posts = world.slack_posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].0, RESPONSE_URL);
    assert_eq!(posts[0].1["replace_original"], true);
    let text = posts[0].1["text"].as_str().unwrap();
    assert!(text.contains(&format!("<@{APPROVER}>")), "{text}");
    assert!(text.contains("3 access keys"), "{text}");
}

#[tokio::test]
async fn slack_reject_all_fails_the_task_and_updates_the_message() {
    let world = World::new();
    let response = world.click(signed(&slack_button(APPROVER, ACTION_REJECT_ALL))).await;
    assert_eq!(response.status(), 200);
    match world.callbacks().as_slice() {
        [Callback::Failure(token, error, cause)] => {
            assert_eq!(token, TASK_TOKEN);
            assert_eq!(error, APPROVAL_REJECTED);
            assert!(cause.contains(APPROVER), "{cause}");
        }
        other => panic!("expected one SendTaskFailure, got {other:?}"),
    }
    assert_eq!(world.record().state, ApprovalState::Decided { outcome: "rejected".into(), decided_at: now() });
    assert!(world.decision().approved.is_empty());
    world.assert_report_untouched();
    let posts = world.slack_posts();
    assert!(posts[0].1["text"].as_str().unwrap().starts_with(&format!("Rejected by <@{APPROVER}>")));
}

#[tokio::test]
async fn slack_bad_signature_is_401_and_decides_nothing() {
    let world = World::new();
    let body = slack_button(APPROVER, ACTION_APPROVE_ALL);
    let wrong_secret = slack_request(&body, "not-the-secret", now().timestamp());
    let response = world.send(wrong_secret).await;
    assert_eq!(response.status(), 401);
    // A valid signature over another body does not carry over to this one.
    let signature = keyward_core::slack::sign(SIGNING_SECRET.as_bytes(), now().timestamp(), b"payload=%7B%7D");
    let ts = now().timestamp().to_string();
    let tampered = request(
        "POST",
        "/slack/actions",
        &[("x-slack-request-timestamp", &ts), ("x-slack-signature", &signature)],
        Some(body.as_bytes()),
        false,
    );
    assert_eq!(world.send(tampered).await.status(), 401);
    let unsigned = request("POST", "/slack/actions", &[], Some(body.as_bytes()), false);
    assert_eq!(world.send(unsigned).await.status(), 401);
    world.assert_nothing_decided();
    assert!(world.slack_posts().is_empty());
    assert_eq!(world.gets(), 0);
    assert!(world.queued_events().is_empty(), "a refused click queues no follow-up");
}

#[tokio::test]
async fn slack_old_timestamp_is_401_and_decides_nothing() {
    let world = World::new();
    let body = slack_button(APPROVER, ACTION_APPROVE_ALL);
    let old = slack_request(&body, SIGNING_SECRET, now().timestamp() - 301);
    let response = world.send(old).await;
    assert_eq!(response.status(), 401);
    assert!(text(&response).contains("X-Slack-Request-Timestamp"));
    world.assert_nothing_decided();
    assert!(world.queued_events().is_empty());
}

#[tokio::test]
async fn slack_stranger_is_told_privately_and_decides_nothing() {
    let world = World::new();
    let response = world.click(signed(&slack_button("U0STRANGER", ACTION_APPROVE_ALL))).await;
    assert_eq!(response.status(), 200);
    world.assert_nothing_decided();
    // The stranger is told, privately; the buttons stay.
    let posts = world.slack_posts();
    assert_eq!(posts.len(), 1);
    assert!(posts[0].1["text"].as_str().unwrap().contains("approver list"), "{posts:?}");
    for (_, payload) in posts {
        assert_eq!(payload["response_type"], "ephemeral");
        assert_eq!(payload["replace_original"], false);
    }
}

#[tokio::test]
async fn slack_without_a_signing_secret_is_403_and_decides_nothing() {
    let mut world = World::new();
    world.deps.settings.slack_signing_secret = None;
    let response = world.send(signed(&slack_button(APPROVER, ACTION_APPROVE_ALL))).await;
    assert_eq!(response.status(), 403);
    assert!(text(&response).contains("Slack actions are not configured"));
    world.assert_nothing_decided();
    assert!(world.queued_events().is_empty());
}

#[tokio::test]
async fn slack_review_is_200_and_decides_nothing() {
    let world = World::new();
    let response = world.send(signed(&slack_button(APPROVER, ACTION_REVIEW))).await;
    assert_eq!(response.status(), 200);
    assert!(response.body().is_empty());
    assert!(world.queued_events().is_empty(), "the Review button needs no follow-up");
    world.assert_nothing_decided();
    assert!(world.slack_posts().is_empty());
}

#[tokio::test]
async fn slack_on_an_expired_or_decided_approval_answers_privately_and_decides_nothing() {
    let world = World::new();
    let response = world
        .send_at(
            slack_request(&slack_button(APPROVER, ACTION_APPROVE_ALL), SIGNING_SECRET, expires_at().timestamp()),
            expires_at(),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(world.run_followups_at(expires_at()).await, 1);
    let last = world.slack_posts().pop().unwrap();
    assert!(last.1["text"].as_str().unwrap().contains("expired"), "{last:?}");
    assert_eq!(last.1["response_type"], "ephemeral");
    world.assert_nothing_decided();

    assert_eq!(world.send(post_form(&form(&good_token(), "reject", &[]))).await.status(), 200);
    let response = world.click(signed(&slack_button(APPROVER, ACTION_APPROVE_ALL))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(world.callbacks().len(), 1, "no second callback");
    let last = world.slack_posts().pop().unwrap();
    assert!(last.1["text"].as_str().unwrap().contains("already decided"), "{last:?}");
    assert_eq!(last.1["response_type"], "ephemeral");
}

#[tokio::test]
async fn slack_response_url_off_slack_is_refused_and_never_posted_to() {
    for url in [
        "https://attacker.example/hooks.slack.com/",
        "https://hooks.slack.com.attacker.example/actions/T0/1/x",
        "http://hooks.slack.com/actions/T0/1/x",
        "http://127.0.0.1:8080/actions",
    ] {
        let world = World::new();
        let response = world.click(signed(&slack_payload(APPROVER, ACTION_APPROVE_ALL, ID, url))).await;
        assert_eq!(response.status(), 400, "{url}");
        assert!(text(&response).contains("response_url"), "{}", text(&response));
        assert!(world.queued_events().is_empty(), "{url}");
        world.assert_nothing_decided();
        assert!(world.slack_posts().is_empty(), "{url}");
    }
}

#[tokio::test]
async fn a_loopback_response_url_is_accepted_only_where_the_prefix_names_it() {
    // The local stack sets SLACK_RESPONSE_URL_PREFIX to its stand-in for Slack; a deployment never does.
    let url = "http://127.0.0.1:8080/actions/T0/1/x";
    let mut world = World::new();
    world.deps.settings.slack_response_url_prefix = "http://127.0.0.1:8080/".into();
    let response = world.click(signed(&slack_payload(APPROVER, ACTION_APPROVE_ALL, ID, url))).await;
    assert_eq!(response.status(), 200, "{}", text(&response));
    assert_eq!(only_success(&world).approved.len(), 3);
    assert_eq!(world.slack_posts()[0].0, url);
    let other_port = signed(&slack_payload(APPROVER, ACTION_APPROVE_ALL, ID, "http://127.0.0.1:8081/x"));
    assert_eq!(World::new().send(other_port).await.status(), 400);
}

#[tokio::test]
async fn slack_malformed_approval_id_decides_nothing_without_a_lookup() {
    let world = World::new();
    let response = world.click(signed(&slack_payload(APPROVER, ACTION_APPROVE_ALL, "not-an-id", RESPONSE_URL))).await;
    assert_eq!(response.status(), 200);
    let posts = world.slack_posts();
    assert!(posts[0].1["text"].as_str().unwrap().contains("unknown"), "{posts:?}");
    assert_eq!(world.gets(), 0);
    world.assert_nothing_decided();
}

#[tokio::test]
async fn slack_body_that_is_not_a_button_press_is_400() {
    let world = World::new();
    let response = world.send(signed("payload=%7B%22type%22%3A%22view_submission%22%7D")).await;
    assert_eq!(response.status(), 400);
    world.assert_nothing_decided();
    assert!(world.queued_events().is_empty());
}

// ---- Slack's 3-second deadline: the click answers, the follow-up decides -------------------------

#[tokio::test]
async fn a_click_is_answered_without_a_lookup_a_decision_or_a_post_and_queues_its_follow_up() {
    let world = World::new();
    let body = slack_button(APPROVER, ACTION_APPROVE_ALL);

    let response = world.send(signed(&body)).await;

    assert_eq!(response.status(), 200);
    assert!(response.body().is_empty());
    assert_eq!(world.gets(), 0, "the click read the approvals table");
    world.assert_nothing_decided();
    assert!(world.slack_posts().is_empty(), "the click posted to the response_url");
    let events = world.queued_events();
    assert_eq!(events.len(), 1);
    let follow_up = &events[0]["slack_followup"];
    assert_eq!(follow_up["body"], body, "the body travels exactly as Slack signed it");
    assert_eq!(follow_up["timestamp"], now().timestamp().to_string());
    assert!(follow_up["signature"].as_str().unwrap().starts_with("v0="));

    // Then Lambda runs the follow-up: it decides and updates the message.
    assert_eq!(world.run_followups().await, 1);
    assert_eq!(only_success(&world).approved.len(), 3);
    assert_eq!(world.slack_posts().len(), 1);
    assert_eq!(world.slack_posts()[0].1["replace_original"], true);
}

#[tokio::test]
async fn a_click_whose_follow_up_cannot_be_queued_fails_visibly_and_decides_nothing() {
    let world = World::new();
    *world.deps.self_invoke.broken.lock().unwrap() = true;
    let response = world.send(signed(&slack_button(APPROVER, ACTION_APPROVE_ALL))).await;
    assert_eq!(response.status(), 503);
    assert!(text(&response).contains("nothing was decided"), "{}", text(&response));
    world.assert_nothing_decided();
    assert!(world.slack_posts().is_empty());
}

/// A follow-up event as someone allowed to invoke the function could send it.
fn follow_up_event(body: &str, timestamp: Option<String>, signature: Option<String>) -> serde_json::Value {
    serde_json::json!({ "slack_followup": { "body": body, "timestamp": timestamp, "signature": signature } })
}

#[tokio::test]
async fn a_forged_follow_up_decides_nothing_and_posts_nothing() {
    let world = World::new();
    let body = slack_button(APPROVER, ACTION_APPROVE_ALL);
    let ts = now().timestamp();
    let forged = [
        follow_up_event(&body, None, None),
        follow_up_event(&body, Some(ts.to_string()), None),
        follow_up_event(
            &body,
            Some(ts.to_string()),
            Some(keyward_core::slack::sign(b"not-the-secret", ts, body.as_bytes())),
        ),
        // Slack's signature over another body does not carry over.
        follow_up_event(
            &body,
            Some(ts.to_string()),
            Some(keyward_core::slack::sign(SIGNING_SECRET.as_bytes(), ts, b"payload=%7B%7D")),
        ),
    ];
    for event in forged {
        world.invoke(event, now()).await;
    }
    // Signed, but with a response_url off Slack: refused before any lookup, and never called.
    let off_slack = slack_payload(APPROVER, ACTION_APPROVE_ALL, ID, "https://attacker.example/x");
    let signature = keyward_core::slack::sign(SIGNING_SECRET.as_bytes(), ts, off_slack.as_bytes());
    world.invoke(follow_up_event(&off_slack, Some(ts.to_string()), Some(signature)), now()).await;

    assert_eq!(world.gets(), 0);
    world.assert_nothing_decided();
    assert!(world.slack_posts().is_empty(), "{:?}", world.slack_posts());
}

/// A genuine click whose follow-up runs past the five minutes (Lambda queued it that long, or it was
/// captured and replayed) decides nothing; the presser, whom Slack told the click was taken, is told
/// it was not.
#[tokio::test]
async fn a_late_follow_up_decides_nothing_and_tells_the_presser_to_press_again() {
    let world = World::new();
    let body = slack_button(APPROVER, ACTION_APPROVE_ALL);
    let ts = now().timestamp() - 301;
    let signature = keyward_core::slack::sign(SIGNING_SECRET.as_bytes(), ts, body.as_bytes());

    world.invoke(follow_up_event(&body, Some(ts.to_string()), Some(signature)), now()).await;

    assert_eq!(world.gets(), 0);
    world.assert_nothing_decided();
    let posts = world.slack_posts();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0].1["response_type"], "ephemeral");
    assert!(posts[0].1["text"].as_str().unwrap().contains("Press the button again"), "{posts:?}");
}

#[tokio::test]
async fn a_follow_up_is_decided_by_listed_approvers_only_even_when_slack_signed_it() {
    let world = World::new();
    world.click(signed(&slack_button("U0STRANGER", ACTION_APPROVE_ALL))).await;
    world.assert_nothing_decided();
    assert_eq!(world.slack_posts()[0].1["response_type"], "ephemeral");
}

#[tokio::test]
async fn a_follow_up_whose_decision_cannot_be_delivered_tells_the_approver() {
    let world = World::new();
    *world.deps.callbacks.answer.lock().unwrap() =
        Some(PortError::Failed { operation: "SendTaskSuccess", message: "test: AccessDenied".into() });
    world.click(signed(&slack_button(APPROVER, ACTION_APPROVE_ALL))).await;
    let posts = world.slack_posts();
    assert_eq!(posts.len(), 1);
    assert!(posts[0].1["text"].as_str().unwrap().contains("could not be delivered"), "{posts:?}");
}
