//! Every sample request in `events/approval/` (the files `cargo lambda invoke --data-file` uses)
//! goes through the handler against the fixture approval, with the status and outcome it must have;
//! `slack-followup.json`, the function's own event, is what the Slack sample queues.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;

use keyward_core::fakes::Callback;
use keyward_core::ports::ApprovalState;
use support::*;

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/approval")
}

fn event(name: &str) -> lambda_http::Request {
    let text = std::fs::read_to_string(events_dir().join(name)).unwrap();
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// (file, expected status).
const EXPECTED: &[(&str, u16)] = &[
    ("get-confirm.json", 200),
    ("head-confirm.json", 200),
    ("post-approve-subset.json", 200),
    ("post-reject.json", 200),
    ("post-forged-key.json", 400),
    ("slack-approve-all.json", 200),
    ("slack-approve-all-double-slash.json", 200),
];

#[test]
fn every_sample_event_is_covered() {
    let mut names: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != FOLLOW_UP)
        .collect();
    names.sort();
    let mut expected: Vec<String> = EXPECTED.iter().map(|(n, _)| (*n).to_owned()).collect();
    expected.sort();
    assert_eq!(names, expected);
}

/// The sample of the function's own event: the follow-up of `slack-approve-all.json`.
const FOLLOW_UP: &str = "slack-followup.json";

fn follow_up_sample() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(events_dir().join(FOLLOW_UP)).unwrap()).unwrap()
}

#[test]
fn sample_events_carry_the_fixture_form_token() {
    // The form token in the samples is the one the fixture's confirm page renders.
    let text = std::fs::read_to_string(events_dir().join("post-reject.json")).unwrap();
    assert!(text.contains(&good_token()));
}

#[tokio::test]
async fn every_sample_event_gets_its_status() {
    for (name, status) in EXPECTED {
        let world = World::new();
        let response = world.send(event(name)).await;
        assert_eq!(response.status().as_u16(), *status, "{name}: {}", text(&response));
        if !name.starts_with("slack-") {
            assert_html_headers(&response);
        }
    }
}

#[tokio::test]
async fn head_sample_has_no_body_and_get_sample_shows_the_plan() {
    let world = World::new();
    assert!(world.send(event("head-confirm.json")).await.body().is_empty());
    let html = text(&world.send(event("get-confirm.json")).await);
    assert!(html.contains(ALICE_KEY) && html.contains(BOB_KEY) && html.contains(CAROL_KEY));
    assert_eq!(world.record().state, ApprovalState::Pending);
}

#[tokio::test]
async fn base64_approve_sample_approves_alice_and_bob_only() {
    let world = World::new();
    world.send(event("post-approve-subset.json")).await;
    let approved: Vec<String> = world.decision().approved.into_iter().map(|k| k.access_key_id).collect();
    assert_eq!(approved, vec![ALICE_KEY, BOB_KEY]);
    assert!(matches!(world.callbacks().as_slice(), [Callback::Success(..)]));
}

#[tokio::test]
async fn reject_sample_rejects() {
    let world = World::new();
    world.send(event("post-reject.json")).await;
    assert!(matches!(world.callbacks().as_slice(), [Callback::Failure(..)]));
    assert!(matches!(world.record().state, ApprovalState::Decided { ref outcome, .. } if outcome == "rejected"));
}

#[tokio::test]
async fn forged_key_sample_decides_nothing() {
    let world = World::new();
    let response = world.send(event("post-forged-key.json")).await;
    assert!(text(&response).contains("AKIAFORGED0000000099"));
    world.assert_nothing_decided();
}

#[tokio::test]
async fn slack_sample_approves_every_key_as_the_signed_approver() {
    let world = World::new();
    world.click(event("slack-approve-all.json")).await;
    assert_eq!(world.decision().approved.len(), 3);
    assert_eq!(world.slack_posts().len(), 1);
    // Five minutes and one second later the same request is refused as a replay.
    let world = World::new();
    let response = world.send_at(event("slack-approve-all.json"), now() + chrono::Duration::seconds(301)).await;
    assert_eq!(response.status(), 401);
    world.assert_nothing_decided();
}

#[tokio::test]
async fn slack_sample_sent_to_the_pasted_double_slash_url_approves_the_same() {
    // `{ApprovalUrl}` ends with `/`, so `{ApprovalUrl}/slack/actions` pasted into Slack's settings
    // arrives as `//slack/actions`: the press still decides, as at `/slack/actions`.
    let world = World::new();
    let response = world.click(event("slack-approve-all-double-slash.json")).await;
    assert_eq!(response.status(), 200, "{}", text(&response));
    assert_eq!(world.decision().approved.len(), 3);
    assert!(matches!(world.callbacks().as_slice(), [Callback::Success(..)]));
    assert_eq!(world.slack_posts().len(), 1);
}

#[tokio::test]
async fn the_slack_sample_queues_the_follow_up_sample_which_decides() {
    let world = World::new();
    world.send(event("slack-approve-all.json")).await;
    assert_eq!(world.queued_events(), vec![follow_up_sample()]);
    world.assert_nothing_decided();

    world.invoke(follow_up_sample(), now()).await;
    assert_eq!(world.decision().approved.len(), 3);
    assert_eq!(world.slack_posts().len(), 1);
}

#[tokio::test]
async fn the_follow_up_sample_alone_decides_nothing() {
    // GIVEN no click was accepted (the sample invoked by hand, or a replay)
    let world = World::new();
    // WHEN the follow-up arrives, signed by Slack and in time
    world.invoke(follow_up_sample(), now()).await;
    // THEN it finds no ticket: nothing is decided and nothing is posted
    world.assert_nothing_decided();
    assert!(world.slack_posts().is_empty());
}
