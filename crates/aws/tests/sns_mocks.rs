//! SnsTopic over `aws-smithy-mocks`: the subject SNS receives (cut to SNS's limit, line breaks
//! gone, the message builder's subjects untouched) and the message id it returns; the confirmed
//! subscriptions counted over every page.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use aws_sdk_sns::operation::list_subscriptions_by_topic::ListSubscriptionsByTopicOutput;
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_sdk_sns::types::Subscription;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use keyward_aws::sns::{MAX_SUBJECT_CHARS, SnsTopic};
use keyward_core::ports::Topic;

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

#[tokio::test]
async fn sns_sends_a_subject_at_the_message_builders_limit_unchanged() {
    // The message builder's subjects are printable ASCII of at most its limit: SNS gets them whole.
    let subject = format!("keyward: {}", "x".repeat(keyward_core::message::MAX_SUBJECT_CHARS - "keyward: ".len()));
    let expected = subject.clone();
    let rule = mock!(aws_sdk_sns::Client::publish)
        .match_requests(move |req| req.subject() == Some(expected.as_str()))
        .then_output(|| PublishOutput::builder().message_id("m-3").build());
    let topic = SnsTopic::from_client(mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&rule]));

    assert_eq!(topic.publish("arn:t", &subject, "text").await, Ok("m-3".to_owned()));
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn only_confirmed_subscriptions_count_on_every_page() {
    let subscription = |arn: &str| Subscription::builder().subscription_arn(arn).build();
    let first = mock!(aws_sdk_sns::Client::list_subscriptions_by_topic)
        .match_requests(|req| req.next_token().is_none())
        .then_output(move || {
            ListSubscriptionsByTopicOutput::builder()
                .subscriptions(subscription("PendingConfirmation"))
                .subscriptions(subscription("arn:aws:sns:us-east-1:123456789012:keyward:1"))
                .next_token("page-2")
                .build()
        });
    let second = mock!(aws_sdk_sns::Client::list_subscriptions_by_topic)
        .match_requests(|req| req.next_token() == Some("page-2"))
        .then_output(move || {
            ListSubscriptionsByTopicOutput::builder()
                .subscriptions(subscription("Deleted"))
                .subscriptions(subscription("arn:aws:sns:us-east-1:123456789012:keyward:2"))
                .build()
        });
    let topic = SnsTopic::from_client(mock_client!(aws_sdk_sns, RuleMode::Sequential, [&first, &second]));

    let confirmed = topic.confirmed_subscriptions("arn:aws:sns:us-east-1:123456789012:keyward").await;

    assert_eq!(confirmed, Ok(2));
}

#[tokio::test]
async fn a_next_token_that_does_not_move_fails_instead_of_paging_forever() {
    let stuck = mock!(aws_sdk_sns::Client::list_subscriptions_by_topic)
        .then_output(|| ListSubscriptionsByTopicOutput::builder().next_token("same").build());
    let topic = SnsTopic::from_client(mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&stuck]));

    let err = topic.confirmed_subscriptions("arn:aws:sns:us-east-1:123456789012:keyward").await.unwrap_err();

    assert!(err.to_string().contains("same NextToken"), "{err}");
    assert_eq!(stuck.num_calls(), 2);
}
