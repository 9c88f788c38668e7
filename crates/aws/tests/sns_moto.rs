//! SnsTopic against a real moto server (`testing::MotoServer`; `cargo test -p keyward-aws --features
//! moto`): a publish with an over-long subject is accepted and returns a message id; the
//! subscriptions are counted over every page.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use keyward_aws::sns::SnsTopic;
use keyward_aws::testing::MotoServer;
use keyward_core::ports::Topic;

#[tokio::test]
async fn sns_publish_returns_a_message_id() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let topic_arn =
        aws_sdk_sns::Client::new(&sdk).create_topic().name("keyward").send().await.unwrap().topic_arn.unwrap();
    let topic = SnsTopic::new(&sdk);
    let long_subject = format!("keyward: {}", "stale key ".repeat(20));

    let id = topic.publish(&topic_arn, &long_subject, "3 keys to deactivate").await.unwrap();

    assert!(!id.is_empty());
}

#[tokio::test]
async fn every_subscription_is_counted_across_pages() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let topic_arn = sns.create_topic().name("keyward").send().await.unwrap().topic_arn.unwrap();
    let topic = SnsTopic::new(&sdk);
    assert_eq!(topic.confirmed_subscriptions(&topic_arn).await, Ok(0));
    // moto answers 100 subscriptions a page, and confirms an e-mail subscription at once.
    for n in 0..101 {
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("email")
            .endpoint(format!("a{n}@example.com"))
            .send()
            .await
            .unwrap();
    }

    assert_eq!(topic.confirmed_subscriptions(&topic_arn).await, Ok(101));
}
