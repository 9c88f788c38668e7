//! keyward-aws: the adapters behind `keyward-core`'s ports, over the AWS SDK (IAM, S3, SNS, SFN,
//! DynamoDB) and the Slack incoming webhook; one `SdkConfig` builder; and the Lambda runtime glue
//! shared by the six functions (logging, error names).

pub mod dynamodb;
mod error;
pub mod iam;
pub mod os_random;
pub mod rate_limit;
pub mod runtime;
pub mod s3;
pub mod sdk;
pub mod sfn;
pub mod slack;
pub mod sns;
#[cfg(feature = "moto")]
pub mod testing;
