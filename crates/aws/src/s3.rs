//! The report bucket over S3 ([`S3Store`] implements [`ObjectStore`]).

use crate::error::{error_chain, sdk_error};
use aws_config::SdkConfig;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::put_object::PutObjectError;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use keyward_core::ports::{Creation, ObjectStore, PortError};

/// The report bucket over S3. Objects are written as `application/json`; encryption at rest is the
/// bucket's default (the template sets it), so no per-object encryption header is sent.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
}

impl S3Store {
    /// An S3 store over the shared SDK configuration. When the configuration points at a custom
    /// endpoint (`AWS_ENDPOINT_URL`: the local emulator), path-style addressing is used, since
    /// `<bucket>.<host>` names do not resolve there.
    pub fn new(sdk: &SdkConfig) -> S3Store {
        let config = aws_sdk_s3::config::Builder::from(sdk).force_path_style(sdk.endpoint_url().is_some()).build();
        S3Store { client: aws_sdk_s3::Client::from_conf(config) }
    }

    /// An S3 store over an existing client (tests build one with `aws-smithy-mocks`).
    pub fn from_client(client: aws_sdk_s3::Client) -> S3Store {
        S3Store { client }
    }
}

/// Whether a GetObject error means "there is no such object".
fn is_missing(err: &SdkError<GetObjectError, HttpResponse>) -> bool {
    match err.as_service_error() {
        Some(GetObjectError::NoSuchKey(_)) => true,
        Some(other) => matches!(other.code(), Some("NoSuchKey" | "NotFound")),
        None => false,
    }
}

/// Whether a conditional PutObject found an object already there: `412 PreconditionFailed`. (A
/// `409 ConditionalRequestConflict`, a write racing ours, is not: it stays an error, so the caller
/// never takes a write that may have lost for one that was refused.)
fn already_exists(err: &SdkError<PutObjectError, HttpResponse>) -> bool {
    err.as_service_error().and_then(ProvideErrorMetadata::code) == Some("PreconditionFailed")
        || err.raw_response().is_some_and(|r| r.status().as_u16() == 412)
}

impl ObjectStore for S3Store {
    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), PortError> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| sdk_error("PutObject", &e))?;
        Ok(())
    }

    async fn create(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<Creation, PortError> {
        let written = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .if_none_match("*")
            .body(ByteStream::from(body))
            .send()
            .await;
        match written {
            Ok(_) => Ok(Creation::Created),
            Err(e) if already_exists(&e) => Ok(Creation::AlreadyExists),
            Err(e) => Err(sdk_error("PutObject", &e)),
        }
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        let output = match self.client.get_object().bucket(bucket).key(key).send().await {
            Ok(output) => output,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(sdk_error("GetObject", &e)),
        };
        let body = output.body.collect().await.map_err(|e| PortError::Failed {
            operation: "GetObject",
            message: format!("reading the object body failed: {}", error_chain(&e)),
        })?;
        Ok(Some(body.into_bytes().to_vec()))
    }
}
