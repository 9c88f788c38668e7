//! SecretsManager against a real moto server (`testing::MotoServer`; `cargo test -p keyward-aws
//! --features moto`): keyward's secret, created as the README says, is read and parsed; a secret
//! that does not exist names its ARN and Secrets Manager's error code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use keyward_aws::secrets::SecretsManager;
use keyward_aws::testing::MotoServer;

#[tokio::test]
async fn the_secret_created_as_the_readme_says_is_read() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let created = aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name("keyward")
        .secret_string(r#"{"slack_signing_secret": "8f742231b10e", "slack_webhook_url": "https://hooks.slack.com/services/T0/B0/X"}"#)
        .send()
        .await
        .unwrap();
    let arn = created.arn.unwrap();

    let secrets = SecretsManager::new(&sdk).read(&arn).await.unwrap();

    assert_eq!(secrets.slack_signing_secret.unwrap().expose(), "8f742231b10e");
    assert_eq!(secrets.slack_webhook_url.unwrap().expose(), "https://hooks.slack.com/services/T0/B0/X");
}

#[tokio::test]
async fn a_secret_that_does_not_exist_names_the_arn_and_the_error_code() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:keyward-Ab12Cd";

    let err = SecretsManager::new(&sdk).read(arn).await.unwrap_err().to_string();

    assert!(err.contains(arn), "{err}");
    assert!(err.contains("ResourceNotFoundException"), "{err}");
}
