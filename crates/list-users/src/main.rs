//! The list-users Lambda: wiring only (logging, configuration, clients built once, the runtime).

use keyward_aws::{iam::IamAdapter, runtime, s3::S3Store};
use keyward_core::config::vars;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_tracing();
    let config = runtime::config_from_env()?;
    let bucket = runtime::require(&config.report_bucket, vars::REPORT_BUCKET)?.to_owned();
    let sdk = keyward_aws::sdk::sdk_config().await;
    // list-users runs alone, before the Map: it may use the account's whole IAM budget.
    let iam = IamAdapter::new(&sdk, config.iam_max_rps);
    let store = S3Store::new(&sdk);
    let (iam, store, config, bucket) = (&iam, &store, &config, bucket.as_str());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        list_users::handler::handle(iam, store, config, bucket, event.payload)
            .await
            .map_err(|e| runtime::diagnostic(&e))
    }))
    .await
}
