//! The list-users Lambda: wiring only (logging, configuration, clients built once, the runtime).

use keyward_aws::{iam::IamAdapter, runtime, s3::S3Store, sdk};
use keyward_core::run_store::RunStore;
use list_users::handler::{Deps, Settings, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_tracing();
    let config = runtime::config_from_env()?;
    let settings = Settings::from_config(&config).map_err(runtime::init_error)?;
    let sdk = sdk::sdk_config().await;
    let deps = Deps {
        // list-users runs alone, before the Map: it may use the account's whole IAM budget.
        iam: IamAdapter::new(&sdk, config.iam_max_rps),
        runs: RunStore::new(S3Store::new(&sdk), settings.report_bucket.clone()),
        settings,
    };
    runtime::serve(&deps, handle).await
}
