//! The deactivate Lambda: wiring only. Logging, configuration, the AWS clients (built once per
//! instance) and the runtime loop; the work is in [`deactivate::handler`].

use chrono::Utc;
use deactivate::handler;
use keyward_aws::iam::IamAdapter;
use keyward_aws::s3::S3Store;
use keyward_aws::{runtime, sdk};
use keyward_core::config::vars;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let config = runtime::config_from_env()?;
    let bucket = runtime::require(&config.report_bucket, vars::REPORT_BUCKET)?;
    let sdk = sdk::sdk_config().await;
    // deactivate runs alone (after the Map), so it may use the account's whole IAM budget.
    let iam = IamAdapter::new(&sdk, config.iam_max_rps);
    let store = S3Store::new(&sdk);
    let (iam, store) = (&iam, &store);
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler::handle(iam, store, bucket, Utc::now(), event.payload).await.map_err(|e| runtime::diagnostic(&e))
    }))
    .await
}
