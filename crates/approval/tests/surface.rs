//! The approval function's public surface against in-memory ports: the headers of every response,
//! the refusal of cross-site POSTs and oversized bodies before anything is read, a signed Slack
//! request accepted once (its follow-up let through once) and only from keyward's workspace, and
//! the page after a decision saying what happened to it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use chrono::Duration;
use keyward_core::fakes::Callback;
use keyward_core::form::encode_form_component;
use keyward_core::ports::{ApprovalState, PortError};
use keyward_core::slack::{ACTION_APPROVE_ALL, ACTION_REVIEW};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use support::*;

/// The host of the fixture's requests (`support::request`): the Function URL's own.
const OWN_ORIGIN: &str = "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws";
/// `guard::MAX_BODY_BYTES`.
const MAX_BODY_BYTES: usize = 512 * 1024;

// ---- Headers ------------------------------------------------------------------------------------

/// The isolation headers every response carries, with today's page headers.
#[track_caller]
fn assert_every_response_header(response: &Response<Body>) {
    let status = response.status();
    assert_eq!(header(response, "strict-transport-security"), "max-age=63072000; includeSubDomains", "{status}");
    assert_eq!(header(response, "cross-origin-opener-policy"), "same-origin", "{status}");
    assert_eq!(header(response, "cross-origin-resource-policy"), "same-origin", "{status}");
    let permissions = header(response, "permissions-policy");
    for feature in ["camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"] {
        assert!(permissions.contains(feature), "{status}: {permissions}");
    }
    assert!(permissions.split(", ").all(|p| p.ends_with("=()")), "a feature is granted: {permissions}");
    assert!(header(response, "content-security-policy").starts_with("default-src 'none'"), "{status}");
    assert_eq!(header(response, "x-content-type-options"), "nosniff", "{status}");
    assert_eq!(header(response, "cache-control"), "no-store", "{status}");
    assert_eq!(header(response, "x-frame-options"), "DENY", "{status}");
    assert_eq!(header(response, "referrer-policy"), "no-referrer", "{status}");
}

#[tokio::test]
async fn every_kind_of_response_carries_the_isolation_headers() {
    let world = World::new();
    let cross_site = post_with(&[("sec-fetch-site", "cross-site")], &form(&good_token(), "reject", &[]));
    let oversized = post_with(&[], &"a".repeat(MAX_BODY_BYTES + 1));
    let responses = [
        world.send(get(&approval_path())).await,
        world.send(head(&approval_path())).await,
        world.send(get("/nowhere")).await,
        world.send(request("DELETE", &approval_path(), &[], None, false)).await,
        world.send(cross_site).await,
        world.send(oversized).await,
        world.send(slack_request(&slack_payload(APPROVER, ACTION_REVIEW, ID, RESPONSE_URL), "wrong", 0)).await,
        world.send(signed(&slack_payload(APPROVER, ACTION_APPROVE_ALL, ID, RESPONSE_URL))).await,
        world.send(post_form(&form(&good_token(), "reject", &[]))).await,
    ];
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses, [200, 200, 404, 405, 403, 413, 401, 200, 200]);
    for response in &responses {
        assert_every_response_header(response);
    }
    // The HTML pages keep their type; the Slack acknowledgement stays empty.
    assert_html_headers(&responses[0]);
    assert!(responses[7].body().is_empty());
}

// ---- Where a POST comes from --------------------------------------------------------------------

fn post_with(headers: &[(&str, &str)], body: &str) -> Request {
    let mut all = vec![("content-type", "application/x-www-form-urlencoded")];
    all.extend_from_slice(headers);
    request("POST", &approval_path(), &all, Some(body.as_bytes()), false)
}

#[tokio::test]
async fn a_post_from_another_site_is_refused_before_anything_is_read() {
    let refused: [&[(&str, &str)]; 7] = [
        &[("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")],
        // A sibling subdomain of the Function URL's domain is same-site, not same-origin.
        &[("sec-fetch-site", "same-site"), ("origin", "https://attacker.lambda-url.us-east-1.on.aws")],
        &[("sec-fetch-site", "none")],
        // Fetch metadata without Sec-Fetch-Site is not a browser's: it says nothing of the site.
        &[("sec-fetch-mode", "navigate")],
        // An old browser without fetch metadata still names the page's origin.
        &[("origin", "https://evil.example")],
        // An opaque origin from a browser that does not say the site (a sandboxed frame, a data: page).
        &[("origin", "null")],
        &[("sec-fetch-site", "cross-site"), ("origin", "null")],
    ];
    for headers in refused {
        let world = World::new();
        let response = world.send(post_with(headers, &form(&good_token(), "approve", &[ALICE_KEY]))).await;
        assert_eq!(response.status(), 403, "{headers:?}");
        assert_eq!(header(&response, "content-type"), "text/plain; charset=utf-8");
        assert!(text(&response).contains("Nothing was decided"), "{}", text(&response));
        assert_eq!(world.gets(), 0, "{headers:?}: the approvals table was read");
        world.assert_nothing_decided();
    }
}

#[tokio::test]
async fn a_post_from_the_approval_page_itself_decides() {
    let accepted: [&[(&str, &str)]; 5] = [
        &[("sec-fetch-site", "same-origin"), ("sec-fetch-mode", "navigate"), ("origin", OWN_ORIGIN)],
        // What chromium sends from the confirm page: its `Referrer-Policy: no-referrer` makes the
        // form post's Origin `null`, and Sec-Fetch-Site still says same-origin.
        &[("sec-fetch-site", "same-origin"), ("sec-fetch-mode", "navigate"), ("origin", "null")],
        &[("sec-fetch-site", "same-origin")],
        // Not a browser (or a very old one): no fetch metadata, no Origin.
        &[],
        &[("origin", &OWN_ORIGIN.to_ascii_uppercase())],
    ];
    for headers in accepted {
        let world = World::new();
        let response = world.send(post_with(headers, &form(&good_token(), "approve", &[ALICE_KEY]))).await;
        assert_eq!(response.status(), 200, "{headers:?}: {}", text(&response));
        assert!(matches!(world.callbacks().as_slice(), [Callback::Success(..)]), "{headers:?}");
    }
}

#[tokio::test]
async fn with_its_base_url_configured_the_function_takes_its_origin_from_there() {
    // The local stack names the function's URL; the Host then proves nothing.
    let mut world = World::new();
    world.deps.settings.approval_base_url = Some("http://127.0.0.1:9180/lambda-url/approval".into());
    let body = form(&good_token(), "approve", &[ALICE_KEY]);
    let response = world.send(post_with(&[("origin", OWN_ORIGIN)], &body)).await;
    assert_eq!(response.status(), 403);
    world.assert_nothing_decided();
    let response = world.send(post_with(&[("origin", "http://127.0.0.1:9180")], &body)).await;
    assert_eq!(response.status(), 200, "{}", text(&response));
}

#[tokio::test]
async fn slacks_server_to_server_post_needs_no_origin() {
    let world = World::new();
    let response = world.click(signed(&slack_payload(APPROVER, ACTION_APPROVE_ALL, ID, RESPONSE_URL))).await;
    assert_eq!(response.status(), 200);
    assert!(matches!(world.callbacks().as_slice(), [Callback::Success(..)]));
}

// ---- Request size -------------------------------------------------------------------------------

#[tokio::test]
async fn an_oversized_body_is_413_before_anything_is_parsed_or_read() {
    let world = World::new();
    let mut body = form(&good_token(), "approve", &[ALICE_KEY]);
    body.push_str(&"&key=x".repeat(MAX_BODY_BYTES / 6));
    let response = world.send(post_with(&[], &body)).await;
    assert_eq!(response.status(), 413);
    assert!(text(&response).contains("512 KiB"), "{}", text(&response));
    assert_eq!(world.gets(), 0);
    world.assert_nothing_decided();

    let padded =
        format!("{}&pad={}", slack_payload(APPROVER, ACTION_APPROVE_ALL, ID, RESPONSE_URL), "x".repeat(MAX_BODY_BYTES));
    let response = world.send(signed(&padded)).await;
    assert_eq!(response.status(), 413);
    assert!(world.queued_events().is_empty());
}

#[tokio::test]
async fn the_form_approving_every_key_of_the_largest_plan_fits_the_limit() {
    // MAX_DEACTIVATIONS_PER_RUN allows 10,000 keys; access key ids are 20 characters, each named
    // with its 12-digit account.
    let ids: Vec<String> = (0..10_000).map(|n| format!("AKIA{n:016}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let body = form(&good_token(), "approve", &ids);
    assert!(body.len() <= MAX_BODY_BYTES, "{} bytes", body.len());
    let world = World::new();
    let response = world.send(post_with(&[], &body)).await;
    // Read and refused by the plan (its keys are not this plan's), not by the size limit.
    assert_eq!(response.status(), 400, "{}", text(&response));
}

// ---- A signed Slack request is accepted once ----------------------------------------------------

fn signed(body: &str) -> Request {
    slack_request(body, SIGNING_SECRET, now().timestamp())
}

fn approve_all() -> String {
    slack_payload(APPROVER, ACTION_APPROVE_ALL, ID, RESPONSE_URL)
}

#[tokio::test]
async fn a_replayed_click_is_refused_while_the_first_decides() {
    let world = World::new();
    let first = world.click(signed(&approve_all())).await;
    assert_eq!(first.status(), 200);
    assert!(matches!(world.callbacks().as_slice(), [Callback::Success(..)]));

    // The same bytes, signature and timestamp again, within Slack's five minutes.
    let replay = world.send_at(signed(&approve_all()), now() + Duration::seconds(60)).await;
    assert_eq!(replay.status(), 403);
    assert_eq!(header(&replay, "content-type"), "text/plain; charset=utf-8");
    assert!(text(&replay).contains("already received"), "{}", text(&replay));
    assert!(world.queued_events().is_empty(), "the replay queued a follow-up");
    assert_eq!(world.callbacks().len(), 1);
}

#[tokio::test]
async fn a_replay_before_the_follow_up_ran_is_refused_and_the_follow_up_decides_once() {
    let world = World::new();
    assert_eq!(world.send(signed(&approve_all())).await.status(), 200);
    assert_eq!(world.send(signed(&approve_all())).await.status(), 403);
    assert_eq!(world.run_followups().await, 1, "one follow-up queued");
    assert!(matches!(world.callbacks().as_slice(), [Callback::Success(..)]));
    assert_eq!(world.slack_posts().len(), 1);
}

#[tokio::test]
async fn the_follow_up_runs_once_however_often_it_is_invoked() {
    let world = World::new();
    world.send(signed(&approve_all())).await;
    let event = world.queued_events().pop().unwrap();
    world.invoke(event.clone(), now()).await;
    // Lambda delivering the event twice, or someone allowed to invoke the function replaying it.
    world.invoke(event, now() + Duration::seconds(5)).await;
    assert_eq!(world.callbacks().len(), 1);
    assert_eq!(world.slack_posts().len(), 1, "the second follow-up posted: {:?}", world.slack_posts());
}

#[tokio::test]
async fn a_replay_with_the_signature_in_upper_case_is_the_same_request() {
    let world = World::new();
    world.click(signed(&approve_all())).await;
    let ts = now().timestamp();
    let signature = keyward_core::slack::sign(SIGNING_SECRET.as_bytes(), ts, approve_all().as_bytes());
    let upper = format!("v0={}", signature.trim_start_matches("v0=").to_ascii_uppercase());
    let replay = request(
        "POST",
        "/slack/actions",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-slack-request-timestamp", &ts.to_string()),
            ("x-slack-signature", &upper),
        ],
        Some(approve_all().as_bytes()),
        false,
    );
    assert_eq!(world.send(replay).await.status(), 403);
    assert_eq!(world.callbacks().len(), 1);
}

#[tokio::test]
async fn the_record_of_a_request_lasts_as_long_as_its_signature() {
    let world = World::new();
    world.click(signed(&approve_all())).await;
    // Exactly 300 s later the signature still verifies: the record still refuses it.
    assert_eq!(world.send_at(signed(&approve_all()), now() + Duration::seconds(300)).await.status(), 403);
    // One second more and the signature itself is stale.
    assert_eq!(world.send_at(signed(&approve_all()), now() + Duration::seconds(301)).await.status(), 401);
}

#[tokio::test]
async fn a_replayed_review_click_is_refused_too() {
    let world = World::new();
    let review = slack_payload(APPROVER, ACTION_REVIEW, ID, RESPONSE_URL);
    assert_eq!(world.send(signed(&review)).await.status(), 200);
    assert_eq!(world.send(signed(&review)).await.status(), 403);
    assert!(world.queued_events().is_empty());
}

// ---- The Slack workspace ------------------------------------------------------------------------

/// A button press of `team`'s workspace.
fn press_from(team: &str) -> String {
    let payload = json!({
        "type": "block_actions",
        "user": { "id": APPROVER, "username": "dana", "name": "dana", "team_id": team },
        "team": { "id": team, "domain": "elsewhere" },
        "response_url": RESPONSE_URL,
        "actions": [{ "action_id": ACTION_APPROVE_ALL, "block_id": "keyward-decision", "value": ID, "type": "button" }],
    });
    format!("payload={}", encode_form_component(&payload.to_string()))
}

#[tokio::test]
async fn a_click_from_another_workspace_decides_nothing_and_says_why() {
    // The same app, installed in a second workspace, signs its clicks with the same secret; a
    // member id there can equal an approver's id here.
    let world = World::new();
    world.click(signed(&press_from("T0SOMEWHEREELSE"))).await;
    world.assert_nothing_decided();
    let posts = world.slack_posts();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0].1["response_type"], "ephemeral");
    assert!(posts[0].1["text"].as_str().unwrap().contains("SLACK_TEAM_ID"), "{posts:?}");

    let world = World::new();
    world.click(signed(&press_from(TEAM))).await;
    assert!(matches!(world.callbacks().as_slice(), [Callback::Success(..)]));
}

// ---- The page after a decision says what happened -----------------------------------------------

#[tokio::test]
async fn a_decision_the_run_no_longer_waits_for_before_expiry_is_never_called_expired() {
    // SendTaskSuccess reached Step Functions but its answer was lost; the SDK's retry then hears
    // that the task is gone. The approval had a day left: the run did not time out.
    let world = World::new();
    *world.deps.callbacks.answer.lock().unwrap() =
        Some(PortError::TaskGone { operation: "SendTaskSuccess", code: "TaskTimedOut".into() });
    let response = world.send(post_form(&form(&good_token(), "approve", &[ALICE_KEY]))).await;
    let page = text(&response);
    assert_eq!(response.status(), 200, "{page}");
    assert!(!page.contains("expired."), "{page}");
    assert!(!page.contains("had expired"), "{page}");
    assert!(!page.contains("nothing will be deactivated"), "{page}");
    assert!(page.contains("received this decision already"), "{page}");
    assert!(page.contains("Approved for deactivation"), "the approved keys are not shown as kept: {page}");
    assert!(matches!(world.record().state, ApprovalState::Decided { .. }));

    let world = World::new();
    *world.deps.callbacks.answer.lock().unwrap() =
        Some(PortError::TaskGone { operation: "SendTaskSuccess", code: "TaskDoesNotExist".into() });
    world.click(signed(&approve_all())).await;
    let reply = world.slack_posts()[0].1["text"].as_str().unwrap().to_owned();
    assert!(!reply.contains("expired and"), "{reply}");
    assert!(reply.contains("received this decision already"), "{reply}");
}

#[tokio::test]
async fn a_decision_refused_in_the_approvals_last_minute_is_too_late() {
    let world = World::new();
    *world.deps.callbacks.answer.lock().unwrap() =
        Some(PortError::TaskGone { operation: "SendTaskFailure", code: "TaskTimedOut".into() });
    let at = expires_at() - Duration::seconds(59);
    let response = world.send_at(post_form(&form(&good_token(), "reject", &[])), at).await;
    assert_eq!(response.status(), 410);
    assert!(text(&response).contains("This approval had expired"), "{}", text(&response));
}

#[tokio::test]
async fn a_user_named_like_a_link_is_text_on_the_confirm_page() {
    let world = World::new();
    let mut report = report();
    report.evaluation.plan.keys[0].key.user_name = "https://evil.example/login".into();
    report.evaluation.plan.keys[1].key.user_name = "<a href=\"https://evil.example\">bob</a>".into();
    world.put_report(&report);
    let page = text(&world.send(get(&approval_path())).await);
    assert!(page.contains("https://evil.example/login"), "{page}");
    assert!(!page.contains("<a ") && !page.contains("href=\""), "a link on the page: {page}");
    assert!(page.contains("&lt;a href=&quot;"), "{page}");
}
