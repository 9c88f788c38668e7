//! The check-user Lambda: wiring only (logging, configuration, clients built once, the runtime).

use std::sync::Arc;

use keyward_aws::{iam::IamAdapter, runtime, s3::S3Store};
use keyward_core::config::vars;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_tracing();
    let config = runtime::config_from_env()?;
    runtime::require(&config.report_bucket, vars::REPORT_BUCKET)?;
    let sdk = keyward_aws::sdk::sdk_config().await;
    // The Map's children share the account's IAM budget: each takes IAM_MAX_RPS / MAX_CONCURRENCY.
    let iam = Arc::new(IamAdapter::new(&sdk, config.iam_rps_per_invocation()));
    let store = S3Store::new(&sdk);
    let (store, config) = (&store, &config);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let iam = Arc::clone(&iam);
        async move {
            check_user::handler::handle(iam, store, config, event.payload).await.map_err(|e| runtime::diagnostic(&e))
        }
    }))
    .await
}
