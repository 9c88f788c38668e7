//! SecretsManager over `aws-smithy-mocks`: each failure at init names the ARN and the AWS error
//! code or the wrong key, never the secret's value.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_secretsmanager::operation::get_secret_value::{GetSecretValueError, GetSecretValueOutput};
use aws_sdk_secretsmanager::types::error::ResourceNotFoundException;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use keyward_aws::secrets::SecretsManager;

const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:keyward-Ab12Cd";

#[tokio::test]
async fn a_missing_secret_names_the_arn_and_the_aws_error_code() {
    let rule = mock!(aws_sdk_secretsmanager::Client::get_secret_value).then_error(|| {
        GetSecretValueError::ResourceNotFoundException(
            ResourceNotFoundException::builder().message("Secrets Manager can't find the specified secret.").build(),
        )
    });
    let client = mock_client!(aws_sdk_secretsmanager, RuleMode::Sequential, [&rule]);

    let err = SecretsManager::from_client(client).read(ARN).await.unwrap_err().to_string();

    assert!(err.contains(ARN), "{err}");
    assert!(err.contains("ResourceNotFoundException"), "{err}");
    assert!(err.contains("KEYWARD_SECRET_ARN"), "{err}");
}

#[tokio::test]
async fn a_binary_secret_and_an_unknown_key_are_refused_without_the_value() {
    let binary = mock!(aws_sdk_secretsmanager::Client::get_secret_value).then_output(|| {
        GetSecretValueOutput::builder().secret_binary(aws_smithy_types::Blob::new("SECRETVALUE")).build()
    });
    let typo = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .then_output(|| GetSecretValueOutput::builder().secret_string(r#"{"slack_token": "SECRETVALUE"}"#).build());
    let client = mock_client!(aws_sdk_secretsmanager, RuleMode::Sequential, [&binary, &typo]);
    let reader = SecretsManager::from_client(client);

    let not_text = reader.read(ARN).await.unwrap_err().to_string();
    let unknown = reader.read(ARN).await.unwrap_err().to_string();

    assert!(not_text.contains("no SecretString") && not_text.contains(ARN), "{not_text}");
    assert!(unknown.contains("\"slack_token\"") && unknown.contains(ARN), "{unknown}");
    assert!(!not_text.contains("SECRETVALUE") && !unknown.contains("SECRETVALUE"));
}
