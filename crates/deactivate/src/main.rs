//! The deactivate Lambda: wiring only. Logging, configuration, the AWS clients (built once per
//! instance) and the runtime loop; the work is in [`deactivate::handler`].

use deactivate::handler::{Deps, Settings, handle};
use keyward_aws::{iam::IamAdapter, runtime, s3::S3Store, sdk};
use keyward_core::run_store::RunStore;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_tracing();
    let config = runtime::config_from_env()?;
    let settings = Settings::from_config(&config).map_err(runtime::init_error)?;
    let sdk = sdk::sdk_config().await;
    let deps = Deps {
        // deactivate runs alone (after the Map), so it may use the account's whole IAM budget.
        iam: IamAdapter::new(&sdk, config.iam_max_rps),
        runs: RunStore::new(S3Store::new(&sdk), settings.report_bucket.clone()),
        settings,
    };
    runtime::serve(&deps, handle).await
}
