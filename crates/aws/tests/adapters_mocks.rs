//! Adapter tests over `aws-smithy-mocks` (S3, SNS, SFN, DynamoDB) and a local HTTP server (Slack):
//! what each adapter sends, and how each service answer maps to the port's result.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::operation::put_object::{PutObjectError, PutObjectOutput};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::error::NoSuchKey;
use aws_sdk_sfn::operation::send_task_failure::{SendTaskFailureError, SendTaskFailureOutput};
use aws_sdk_sfn::operation::send_task_success::{SendTaskSuccessError, SendTaskSuccessOutput};
use aws_sdk_sfn::types::error::{TaskDoesNotExist, TaskTimedOut};
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use chrono::{DateTime, TimeZone, Utc};
use keyward_aws::dynamodb::{DynamoApprovals, item_from_record};
use keyward_aws::s3::S3Store;
use keyward_aws::sfn::{MAX_CAUSE_CHARS, SfnCallbacks};
use keyward_aws::slack::SlackWebhook;
use keyward_aws::sns::{MAX_SUBJECT_CHARS, SnsTopic};
use keyward_core::contracts::RunRef;
use keyward_core::ports::{
    ApprovalRecord, ApprovalState, ApprovalStore, DecideError, ObjectStore, PortError, Slack, TaskCallback, Topic,
};

const TOKEN: &str = "AQCEAAAAKgAAAAMAAAAAAAAAAS3cr3tT0k3n";

fn at(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, h, 0, 0).unwrap()
}

fn failed_message(err: PortError) -> String {
    match err {
        PortError::Failed { message, .. } => message,
        other => panic!("expected Failed, got {other:?}"),
    }
}

// ---------------------------------------------------------------- S3

#[tokio::test]
async fn s3_get_of_a_missing_key_is_none() {
    let rule = mock!(aws_sdk_s3::Client::get_object).then_error(|| {
        GetObjectError::NoSuchKey(NoSuchKey::builder().message("The specified key does not exist.").build())
    });
    let store = S3Store::from_client(mock_client!(aws_sdk_s3, [&rule]));

    assert_eq!(store.get("bucket", "runs/x/report.json").await, Ok(None));
}

#[tokio::test]
async fn s3_get_of_a_not_found_404_is_none() {
    let rule = mock!(aws_sdk_s3::Client::get_object)
        .then_error(|| GetObjectError::generic(ErrorMetadata::builder().code("NotFound").build()));
    let store = S3Store::from_client(mock_client!(aws_sdk_s3, [&rule]));

    assert_eq!(store.get("bucket", "runs/x/report.json").await, Ok(None));
}

#[tokio::test]
async fn s3_get_returns_the_whole_body() {
    let big = vec![b'x'; 3 * 1024 * 1024];
    let served = big.clone();
    let rule = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|req| req.bucket() == Some("bucket") && req.key() == Some("runs/x/report.json"))
        .then_output(move || GetObjectOutput::builder().body(ByteStream::from(served.clone())).build());
    let store = S3Store::from_client(mock_client!(aws_sdk_s3, [&rule]));

    assert_eq!(store.get("bucket", "runs/x/report.json").await, Ok(Some(big)));
}

#[tokio::test]
async fn s3_access_denied_is_a_failure_naming_the_code() {
    let rule = mock!(aws_sdk_s3::Client::get_object).then_error(|| {
        GetObjectError::generic(ErrorMetadata::builder().code("AccessDenied").message("Access Denied").build())
    });
    let store = S3Store::from_client(mock_client!(aws_sdk_s3, [&rule]));

    let err = store.get("bucket", "k").await.unwrap_err();
    assert!(matches!(&err, PortError::Failed { operation: "GetObject", .. }), "{err:?}");
    assert!(failed_message(err).starts_with("AccessDenied: Access Denied"));
}

#[tokio::test]
async fn s3_put_sends_the_body_as_json_without_a_kms_override() {
    let rule = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|req| {
            req.bucket() == Some("bucket")
                && req.key() == Some("runs/x/report.json")
                && req.body().bytes() == Some(br#"{"ok":true}"#.as_slice())
                && req.content_type() == Some("application/json")
                && req.server_side_encryption().is_none()
                && req.ssekms_key_id().is_none()
        })
        .then_output(|| PutObjectOutput::builder().build());
    let store = S3Store::from_client(mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule]));

    store.put("bucket", "runs/x/report.json", br#"{"ok":true}"#.to_vec()).await.unwrap();
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn s3_throttling_past_retries_is_throttled() {
    let rule = mock!(aws_sdk_s3::Client::put_object)
        .then_error(|| PutObjectError::generic(ErrorMetadata::builder().code("SlowDown").message("Reduce").build()));
    let store = S3Store::from_client(mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule]));

    let err = store.put("bucket", "k", b"{}".to_vec()).await.unwrap_err();
    assert_eq!(err, PortError::AwsThrottled { operation: "PutObject" });
    // Named for what throttled: S3, not IAM.
    assert_eq!(keyward_core::errors::NamedError::error_name(&err), "AwsThrottled");
}

// ---------------------------------------------------------------- SNS

#[tokio::test]
async fn sns_publish_truncates_a_long_subject_and_returns_the_message_id() {
    let sent: Arc<Mutex<Option<(String, String)>>> = Arc::default();
    let seen = sent.clone();
    let rule = mock!(aws_sdk_sns::Client::publish)
        .match_requests(move |req| {
            *seen.lock().unwrap() =
                Some((req.subject().unwrap_or_default().to_owned(), req.message().unwrap_or_default().to_owned()));
            req.topic_arn() == Some("arn:aws:sns:us-east-1:123456789012:keyward")
        })
        .then_output(|| PublishOutput::builder().message_id("m-1").build());
    let topic = SnsTopic::from_client(mock_client!(aws_sdk_sns, [&rule]));
    let subject = format!("keyward: {} stale keys ✓", "é".repeat(150));

    let id = topic.publish("arn:aws:sns:us-east-1:123456789012:keyward", &subject, "the text").await;

    assert_eq!(id, Ok("m-1".to_owned()));
    let (sent_subject, sent_text) = sent.lock().unwrap().clone().unwrap();
    assert_eq!(sent_subject.chars().count(), MAX_SUBJECT_CHARS);
    assert!(sent_subject.starts_with("keyward: éé"));
    assert!(sent_subject.ends_with('…'));
    assert_eq!(sent_text, "the text");
}

#[tokio::test]
async fn sns_subject_loses_line_breaks_and_a_short_one_is_kept() {
    let rule = mock!(aws_sdk_sns::Client::publish)
        .match_requests(|req| req.subject() == Some("keyward  digest"))
        .then_output(|| PublishOutput::builder().message_id("m-2").build());
    let topic = SnsTopic::from_client(mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&rule]));

    assert_eq!(topic.publish("arn:t", "keyward\r\ndigest\n", "text").await, Ok("m-2".to_owned()));
}

// ---------------------------------------------------------------- Step Functions

#[tokio::test]
async fn sfn_failure_on_a_timed_out_task_reads_as_expired_without_the_token() {
    let rule = mock!(aws_sdk_sfn::Client::send_task_failure).then_error(|| {
        SendTaskFailureError::TaskTimedOut(
            TaskTimedOut::builder().message(format!("Task Timed Out: '{TOKEN}'")).build(),
        )
    });
    let sfn = SfnCallbacks::from_client(mock_client!(aws_sdk_sfn, [&rule]));

    let err = sfn.fail(TOKEN, "ApprovalRejected", "rejected by alice").await.unwrap_err();

    assert!(
        matches!(&err, PortError::TaskGone { operation: "SendTaskFailure", code } if code == "TaskTimedOut"),
        "{err:?}"
    );
    assert!(!err.to_string().contains(TOKEN));
    assert!(!format!("{err:?}").contains(TOKEN));
}

#[tokio::test]
async fn sfn_success_on_an_answered_task_reads_as_expired() {
    let rule = mock!(aws_sdk_sfn::Client::send_task_success)
        .then_error(|| SendTaskSuccessError::TaskDoesNotExist(TaskDoesNotExist::builder().build()));
    let sfn = SfnCallbacks::from_client(mock_client!(aws_sdk_sfn, [&rule]));

    let err = sfn.succeed(TOKEN, &serde_json::json!({"approved": []})).await.unwrap_err();

    assert!(matches!(err, PortError::TaskGone { .. }), "{err:?}");
}

#[tokio::test]
async fn sfn_other_errors_are_failures_not_expiry_and_never_echo_the_token() {
    let rule = mock!(aws_sdk_sfn::Client::send_task_success).then_error(|| {
        SendTaskSuccessError::generic(
            ErrorMetadata::builder().code("AccessDeniedException").message(format!("denied for {TOKEN}")).build(),
        )
    });
    let sfn = SfnCallbacks::from_client(mock_client!(aws_sdk_sfn, [&rule]));

    let err = sfn.succeed(TOKEN, &serde_json::json!({})).await.unwrap_err();

    assert!(!matches!(err, PortError::TaskGone { .. }), "{err:?}");
    let message = failed_message(err);
    assert!(message.starts_with("AccessDeniedException"), "{message}");
    assert!(!message.contains(TOKEN), "{message}");
}

#[tokio::test]
async fn sfn_success_sends_the_output_as_json() {
    let rule = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(|req| {
            req.task_token() == Some(TOKEN)
                && req.output().map(serde_json::from_str::<serde_json::Value>).and_then(Result::ok)
                    == Some(serde_json::json!({"approved": ["AKIAEXAMPLE"], "decided_by": "alice"}))
        })
        .then_output(|| SendTaskSuccessOutput::builder().build());
    let sfn = SfnCallbacks::from_client(mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&rule]));

    let output = serde_json::json!({"approved": ["AKIAEXAMPLE"], "decided_by": "alice"});
    assert_eq!(sfn.succeed(TOKEN, &output).await, Ok(()));
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn sfn_failure_cuts_a_long_cause_to_the_service_limit() {
    let rule = mock!(aws_sdk_sfn::Client::send_task_failure)
        .match_requests(|req| {
            req.error() == Some("ApprovalRejected") && req.cause().map(|c| c.chars().count()) == Some(MAX_CAUSE_CHARS)
        })
        .then_output(|| SendTaskFailureOutput::builder().build());
    let sfn = SfnCallbacks::from_client(mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&rule]));

    let cause = "ü".repeat(MAX_CAUSE_CHARS + 10);
    assert_eq!(sfn.fail(TOKEN, "ApprovalRejected", &cause).await, Ok(()));
    assert_eq!(rule.num_calls(), 1);
}

// ---------------------------------------------------------------- DynamoDB

fn pending_record() -> ApprovalRecord {
    ApprovalRecord {
        id_hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        task_token: TOKEN.into(),
        run: RunRef { bucket: "keyward-reports".into(), execution_name: "run-2026-03-02".into() },
        form_nonce: "nonce-1".into(),
        created_at: at(9),
        expires_at: at(21),
        state: ApprovalState::Pending,
    }
}

fn decided_record() -> ApprovalRecord {
    ApprovalRecord {
        state: ApprovalState::Decided { outcome: "approved".into(), decided_at: at(10) },
        ..pending_record()
    }
}

fn get_item_returning(item: Option<HashMap<String, AttributeValue>>) -> aws_smithy_mocks::Rule {
    mock!(aws_sdk_dynamodb::Client::get_item)
        .match_requests(|req| req.consistent_read() == Some(true) && req.table_name() == Some("approvals"))
        .then_output(move || GetItemOutput::builder().set_item(item.clone()).build())
}

fn conditional_check_failed() -> aws_smithy_mocks::Rule {
    mock!(aws_sdk_dynamodb::Client::update_item).then_error(|| {
        UpdateItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder().message("The conditional request failed").build(),
        )
    })
}

#[tokio::test]
async fn dynamo_put_pending_writes_every_attribute_once_only() {
    let record = pending_record();
    let rule = mock!(aws_sdk_dynamodb::Client::put_item)
        .match_requests(|req| {
            let item = req.item().cloned().unwrap_or_default();
            req.condition_expression() == Some("attribute_not_exists(id_hash)")
                && item.get("expires_at_epoch") == Some(&AttributeValue::N(at(21).timestamp().to_string()))
                && item.get("state") == Some(&AttributeValue::S("pending".into()))
                && item.get("task_token") == Some(&AttributeValue::S(TOKEN.into()))
                && item.get("execution_name") == Some(&AttributeValue::S("run-2026-03-02".into()))
                && !item.contains_key("outcome")
        })
        .then_output(|| PutItemOutput::builder().build());
    let table = DynamoApprovals::from_client(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]), "approvals");

    assert_eq!(table.put_pending(&record).await, Ok(()));
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn dynamo_get_parses_a_stored_item() {
    let item = item_from_record(&decided_record());
    let rule = get_item_returning(Some(item));
    let table = DynamoApprovals::from_client(mock_client!(aws_sdk_dynamodb, [&rule]), "approvals");

    assert_eq!(table.get(&pending_record().id_hash).await, Ok(Some(decided_record())));
}

#[tokio::test]
async fn dynamo_times_round_trip_to_the_nanosecond() {
    let exact = at(9) + chrono::Duration::nanoseconds(123_456_789);
    let record = ApprovalRecord { created_at: exact, ..pending_record() };
    let rule = get_item_returning(Some(item_from_record(&record)));
    let table = DynamoApprovals::from_client(mock_client!(aws_sdk_dynamodb, [&rule]), "approvals");

    assert_eq!(table.get(&record.id_hash).await, Ok(Some(record)));
}

#[tokio::test]
async fn dynamo_get_of_an_unknown_id_is_none() {
    let rule = get_item_returning(None);
    let table = DynamoApprovals::from_client(mock_client!(aws_sdk_dynamodb, [&rule]), "approvals");

    assert_eq!(table.get("unknown").await, Ok(None));
}

#[tokio::test]
async fn dynamo_get_refuses_a_malformed_item_naming_the_attribute() {
    let mut item = item_from_record(&pending_record());
    item.insert("created_at".into(), AttributeValue::S("yesterday".into()));
    let rule = get_item_returning(Some(item));
    let table = DynamoApprovals::from_client(mock_client!(aws_sdk_dynamodb, [&rule]), "approvals");

    let err = table.get("x").await.unwrap_err();
    assert!(matches!(&err, PortError::Failed { operation: "GetItem", .. }));
    let message = failed_message(err);
    assert!(message.contains("`created_at`"), "{message}");
    assert!(!message.contains(TOKEN));
}

#[tokio::test]
async fn dynamo_get_refuses_a_token_of_the_wrong_type_without_showing_it() {
    let mut item = item_from_record(&pending_record());
    item.insert("task_token".into(), AttributeValue::Ss(vec![TOKEN.into()]));
    let rule = get_item_returning(Some(item));
    let table = DynamoApprovals::from_client(mock_client!(aws_sdk_dynamodb, [&rule]), "approvals");

    let message = failed_message(table.get("x").await.unwrap_err());
    assert!(message.contains("`task_token` is not a string"), "{message}");
    assert!(!message.contains(TOKEN));
}

#[tokio::test]
async fn dynamo_decide_is_a_conditional_write_from_pending() {
    let rule = mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(|req| {
            let values = req.expression_attribute_values().cloned().unwrap_or_default();
            let names = req.expression_attribute_names().cloned().unwrap_or_default();
            req.condition_expression() == Some("attribute_exists(id_hash) AND #s = :pending")
                && names.get("#s").map(String::as_str) == Some("state")
                && values.get(":pending") == Some(&AttributeValue::S("pending".into()))
                && values.get(":decided") == Some(&AttributeValue::S("decided".into()))
                && values.get(":outcome") == Some(&AttributeValue::S("approved".into()))
                && values.get(":decided_at") == Some(&AttributeValue::S("2026-03-02T10:00:00Z".into()))
        })
        .then_output(|| UpdateItemOutput::builder().build());
    let table = DynamoApprovals::from_client(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]), "approvals");

    assert_eq!(table.decide("x", "approved", at(10)).await, Ok(()));
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn dynamo_decide_of_a_decided_request_is_already_decided() {
    let update = conditional_check_failed();
    let get = get_item_returning(Some(item_from_record(&decided_record())));
    let table = DynamoApprovals::from_client(mock_client!(aws_sdk_dynamodb, [&update, &get]), "approvals");

    assert_eq!(table.decide("x", "rejected", at(11)).await, Err(DecideError::AlreadyDecided));
}

#[tokio::test]
async fn dynamo_decide_of_a_missing_request_is_not_found() {
    let update = conditional_check_failed();
    let get = get_item_returning(None);
    let table = DynamoApprovals::from_client(mock_client!(aws_sdk_dynamodb, [&update, &get]), "approvals");

    assert_eq!(table.decide("x", "approved", at(11)).await, Err(DecideError::NotFound));
}

#[tokio::test]
async fn dynamo_throttling_on_decide_is_a_store_error() {
    let rule = mock!(aws_sdk_dynamodb::Client::update_item).then_error(|| {
        UpdateItemError::generic(ErrorMetadata::builder().code("ProvisionedThroughputExceededException").build())
    });
    let table = DynamoApprovals::from_client(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]), "approvals");

    assert_eq!(
        table.decide("x", "approved", at(11)).await,
        Err(DecideError::Store(PortError::AwsThrottled { operation: "UpdateItem" }))
    );
}

// ---------------------------------------------------------------- Slack

/// A one-shot HTTP server on 127.0.0.1: answers each of `statuses` on its own connection, in order,
/// and returns the request bodies it received. Gives up after 10 s.
fn http_server(statuses: Vec<(u16, &'static str)>) -> (SocketAddr, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut bodies = Vec::new();
        for (status, body) in statuses {
            let mut stream = loop {
                match listener.accept() {
                    Ok((stream, _)) => break stream,
                    Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                    Err(e) => panic!("no request arrived: {e}"),
                }
            };
            stream.set_nonblocking(false).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            let (head_end, length) = loop {
                let n = stream.read(&mut buf).unwrap();
                assert!(n > 0, "connection closed mid-request");
                request.extend_from_slice(&buf[..n]);
                if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&request[..end]).to_lowercase();
                    let length = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map(|v| v.trim().parse::<usize>().unwrap())
                        .unwrap_or(0);
                    break (end + 4, length);
                }
            };
            while request.len() < head_end + length {
                let n = stream.read(&mut buf).unwrap();
                assert!(n > 0, "connection closed mid-body");
                request.extend_from_slice(&buf[..n]);
            }
            bodies.push(String::from_utf8_lossy(&request[head_end..head_end + length]).into_owned());
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(response.as_bytes()).unwrap();
        }
        bodies
    });
    (addr, handle)
}

#[tokio::test]
async fn slack_post_succeeds_on_200_and_fails_on_500_without_the_url() {
    let (addr, server) = http_server(vec![(200, "ok"), (500, "no_service")]);
    let url = format!("http://{addr}/services/T0000/B0000/s3cr3tW3bh00kPath");
    let slack = SlackWebhook::new().unwrap();
    let payload = serde_json::json!({"text": "keyward digest"});

    assert_eq!(slack.post(&url, &payload).await, Ok(()));
    let err = slack.post(&url, &payload).await.unwrap_err();

    let bodies = server.join().unwrap();
    assert_eq!(bodies.len(), 2);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&bodies[0]).unwrap(), payload);
    let message = failed_message(err);
    assert!(message.contains("500"), "{message}");
    assert!(message.contains("no_service"), "{message}");
    assert!(!message.contains("s3cr3tW3bh00kPath"), "{message}");
}

#[tokio::test]
async fn slack_connection_failure_does_not_show_the_url() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{closed}/services/T0000/B0000/s3cr3tW3bh00kPath");
    let slack = SlackWebhook::new().unwrap();

    let err = slack.post(&url, &serde_json::json!({"text": "x"})).await.unwrap_err();

    assert!(matches!(&err, PortError::Failed { operation: "SlackWebhook", .. }));
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("s3cr3tW3bh00kPath"), "{shown}");
    assert!(!shown.contains("/services/"), "{shown}");
}
