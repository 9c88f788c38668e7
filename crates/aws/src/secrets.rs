//! keyward's secret in AWS Secrets Manager ([`SecretsManager`]): read once, at init, by the
//! functions that use a secret (notify: the Slack webhook; approval: Slack's signing secret), and
//! parsed into `keyward_core::secrets::KeywardSecrets`. A function instance keeps what it read for
//! its lifetime: a rotated secret reaches each function at its next cold start (README, "Deploy").
//! Every failure names the ARN, the AWS error code or the key that is wrong, never a value.

use aws_config::SdkConfig;
use keyward_core::secrets::{self, KeywardSecrets, SecretsError};

use crate::error::describe;

/// Why keyward's secret could not be read at init. Each names the secret's ARN.
#[derive(Debug, thiserror::Error)]
pub enum SecretReadError {
    /// `GetSecretValue` failed: `cause` is the AWS error (`ResourceNotFoundException: …`,
    /// `AccessDeniedException: …`).
    #[error("cannot read the secret {arn} (KEYWARD_SECRET_ARN): {cause}")]
    Unreadable { arn: String, cause: String },
    /// The secret holds binary data, not text.
    #[error("the secret {arn} (KEYWARD_SECRET_ARN) has no SecretString: store keyward's secrets as JSON text")]
    NotText { arn: String },
    /// The text is not keyward's secret.
    #[error("the secret {arn} (KEYWARD_SECRET_ARN) cannot be used: {source}")]
    Invalid {
        arn: String,
        #[source]
        source: SecretsError,
    },
}

/// Reads keyward's secret from Secrets Manager.
#[derive(Debug, Clone)]
pub struct SecretsManager {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManager {
    /// A reader over the shared SDK configuration.
    pub fn new(sdk: &SdkConfig) -> SecretsManager {
        SecretsManager { client: aws_sdk_secretsmanager::Client::new(sdk) }
    }

    /// A reader over an existing client (tests build one with `aws-smithy-mocks`).
    pub fn from_client(client: aws_sdk_secretsmanager::Client) -> SecretsManager {
        SecretsManager { client }
    }

    /// The current version (`AWSCURRENT`) of the secret `arn`, parsed.
    pub async fn read(&self, arn: &str) -> Result<KeywardSecrets, SecretReadError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| SecretReadError::Unreadable { arn: arn.to_owned(), cause: describe(&e) })?;
        let text = output.secret_string().ok_or_else(|| SecretReadError::NotText { arn: arn.to_owned() })?;
        secrets::parse(text).map_err(|source| SecretReadError::Invalid { arn: arn.to_owned(), source })
    }
}
