//! The validate-keys Lambda: wiring only (logging, configuration, clients built once, the runtime).

use keyward_aws::{runtime, s3::S3Store};
use keyward_core::config::vars;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_tracing();
    let config = runtime::config_from_env()?;
    runtime::require(&config.report_bucket, vars::REPORT_BUCKET)?;
    let sdk = keyward_aws::sdk::sdk_config().await;
    let store = S3Store::new(&sdk);
    let (store, config) = (&store, &config);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        validate_keys::handler::handle(store, config, event.payload).await.map_err(|e| runtime::diagnostic(&e))
    }))
    .await
}
