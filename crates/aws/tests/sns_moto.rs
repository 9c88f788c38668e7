//! SnsTopic against a real moto server (`testing::MotoServer`; `cargo test -p keyward-aws --features
//! moto`): a publish with an over-long subject is accepted and returns a message id.
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
