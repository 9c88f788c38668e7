//! The validate-keys Lambda: wiring only (logging, configuration, clients built once, the runtime).

use keyward_aws::{runtime, s3::S3Store, sdk};
use keyward_core::run_store::RunStore;
use validate_keys::handler::{Deps, Settings, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_tracing();
    let config = runtime::config_from_env()?;
    let settings = Settings::from_config(&config).map_err(runtime::init_error)?;
    let sdk = sdk::sdk_config().await;
    let deps = Deps { runs: RunStore::new(S3Store::new(&sdk), settings.report_bucket.clone()), settings };
    runtime::serve(&deps, handle).await
}
