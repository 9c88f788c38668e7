//! The approval handler over the real adapters against a moto server: the DynamoDB approvals and
//! decisions tables and an S3 report bucket. The decision's transaction (approval decided, decision
//! recorded), the run report left as it was, and single use hold against the emulated services. SendTaskSuccess goes to moto's executing Step Functions engine (as
//! in the local stack), which has no task waiting for the fixture's token and answers InvalidToken,
//! so the page says the approval had expired, and the record stays decided.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;

use ::approval::handler::{Deps, handle};
use aws_sdk_dynamodb::types::AttributeValue;
use keyward_aws::dynamodb::DynamoApprovals;
use keyward_aws::s3::S3Store;
use keyward_aws::sfn::SfnCallbacks;
use keyward_aws::testing::MotoServer;
use keyward_aws::tokens::DynamoTokens;
use keyward_core::fakes::{FakeSelfInvoke, FakeSlack};
use keyward_core::model::KeyRef;
use keyward_core::ports::{ApprovalState, ApprovalStore, DecisionStore, ObjectStore};
use keyward_core::run_store::RunStore;
use support::*;

/// Switches moto to its executing Step Functions engine (`stepfunctions.execute_state_machine`),
/// the one the local stack runs: unlike moto's default backend, it checks task tokens.
fn execute_state_machines(moto: &MotoServer) {
    let address = moto.endpoint().trim_start_matches("http://").to_owned();
    let body = r#"{"stepfunctions": {"execute_state_machine": true}}"#;
    let mut stream = TcpStream::connect(&address).unwrap();
    write!(
        stream,
        "POST /moto-api/config HTTP/1.0\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    // moto's answer echoes only its batch and lambda settings; the status says it took the body.
    assert!(answer.starts_with("HTTP/1.1 201") || answer.starts_with("HTTP/1.0 201"), "{answer}");
}

/// The approval function's ports over moto: S3, DynamoDB and Step Functions real, Slack and the
/// self-invocation fakes.
async fn moto_deps(
    moto: &MotoServer,
) -> Deps<S3Store, DynamoApprovals, SfnCallbacks, FakeSlack, FakeSelfInvoke, DynamoTokens> {
    let sdk = moto.sdk_config().await;
    Deps {
        runs: RunStore::new(S3Store::new(&sdk), BUCKET),
        approvals: DynamoApprovals::new(&sdk, TABLE, DECISIONS_TABLE),
        callbacks: SfnCallbacks::new(&sdk),
        slack: FakeSlack::default(),
        self_invoke: FakeSelfInvoke::default(),
        tokens: DynamoTokens::new(&sdk, TABLE),
        settings: settings(),
    }
}

#[tokio::test]
async fn form_decision_against_dynamodb_and_s3_is_recorded_and_single_use() {
    let moto = MotoServer::start();
    execute_state_machines(&moto);
    let sdk = moto.sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    moto.create_approvals_table(TABLE).await;
    moto.create_decisions_table(DECISIONS_TABLE).await;
    moto.create_report_bucket(BUCKET).await;
    let deps = moto_deps(&moto).await;
    let sign_in = link_sign_in();
    deps.approvals.put_pending(&pending_record()).await.unwrap();
    let report_as_notify_left_it = serde_json::to_vec_pretty(&report()).unwrap();
    deps.runs.store().put(BUCKET, &run().report_key(), report_as_notify_left_it.clone()).await.unwrap();

    // GIVEN the confirm page, fetched twice: it shows the plan and decides nothing.
    for _ in 0..2 {
        let page = handle(&deps, &sign_in, now(), get(&approval_path())).await;
        assert_eq!(page.status(), 200, "{}", text(&page));
        assert!(text(&page).contains(&good_token()));
    }
    assert_eq!(deps.approvals.get(&id_hash()).await.unwrap().unwrap().state, ApprovalState::Pending);

    // WHEN two of the three keys are approved
    let body = form(&good_token(), "approve", &[ALICE_KEY, CAROL_KEY]);
    let response = handle(&deps, &sign_in, now(), post_form(&body)).await;

    // THEN Step Functions refuses the token no task waits for, and the page, a day before the
    // approval expires, says the run no longer waits for the decision (not that it expired)
    let html = text(&response);
    assert_eq!(response.status(), 200, "{html}");
    assert!(html.contains("the run no longer waits for it"), "{html}");
    assert!(!html.contains("had expired"), "{html}");

    // AND the record is decided in DynamoDB, by the conditional write
    match deps.approvals.get(&id_hash()).await.unwrap().unwrap().state {
        ApprovalState::Decided { outcome, decided_at } => {
            assert_eq!(outcome, "approved");
            assert_eq!(decided_at, now());
        }
        ApprovalState::Pending => panic!("the record is still pending"),
    }
    // AND the table holds the id's hash, never the id
    let item = dynamodb
        .get_item()
        .table_name(TABLE)
        .key("id_hash", AttributeValue::S(id_hash()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert!(item.values().all(|v| v.as_s().map_or(true, |s| !s.contains(ID))));

    // AND the decisions table holds the decision, in the same transaction
    let recorded = deps.approvals.recorded(&run()).await.unwrap().unwrap();
    let approved = recorded.decision.approved;
    assert_eq!(
        approved,
        vec![
            KeyRef {
                account_id: keyward_core::fixtures::account(),
                user_name: "alice".into(),
                access_key_id: ALICE_KEY.into()
            },
            KeyRef {
                account_id: keyward_core::fixtures::account(),
                user_name: CAROL.into(),
                access_key_id: CAROL_KEY.into()
            },
        ]
    );
    assert_eq!(recorded.approval_id_hash, id_hash());
    // AND approval wrote nothing to S3: the run report is as notify left it
    let stored = deps.runs.store().get(BUCKET, &run().report_key()).await.unwrap().unwrap();
    assert_eq!(stored, report_as_notify_left_it);

    // AND a second decision is refused: the link is single-use
    for body in [form(&good_token(), "approve", &[BOB_KEY]), form(&good_token(), "reject", &[])] {
        let again = handle(&deps, &sign_in, now(), post_form(&body)).await;
        assert_eq!(again.status(), 409, "{}", text(&again));
    }
    assert_eq!(deps.approvals.recorded(&run()).await.unwrap().unwrap().decision.approved, approved);
}

#[tokio::test]
async fn a_slack_request_is_accepted_once_in_dynamodb() {
    let moto = MotoServer::start();
    moto.create_approvals_table(TABLE).await;
    moto.create_decisions_table(DECISIONS_TABLE).await;
    moto.create_report_bucket(BUCKET).await;
    let deps = moto_deps(&moto).await;
    let sign_in = link_sign_in();
    let body = slack_payload(APPROVER, keyward_core::slack::ACTION_REVIEW, ID, RESPONSE_URL);
    let click = || slack_request(&body, SIGNING_SECRET, now().timestamp());
    // GIVEN a click accepted, recorded beside the approvals
    assert_eq!(handle(&deps, &sign_in, now(), click()).await.status(), 200);
    // WHEN the same signed request comes again
    let replay = handle(&deps, &sign_in, now(), click()).await;
    // THEN it is refused, and the approval record's key space is untouched
    assert_eq!(replay.status(), 403, "{}", text(&replay));
    assert!(deps.approvals.get(&id_hash()).await.unwrap().is_none());
}
