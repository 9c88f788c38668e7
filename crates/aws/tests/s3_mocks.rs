//! S3Store over `aws-smithy-mocks`: what a get and a put send, and how S3's answers (a missing key,
//! a 404, a denial, throttling) map to the port's result.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::operation::put_object::{PutObjectError, PutObjectOutput};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::error::NoSuchKey;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use keyward_aws::s3::S3Store;
use keyward_core::ports::{ObjectStore, PortError};
use support::failed_message;

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
