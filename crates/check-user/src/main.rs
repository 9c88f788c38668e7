//! The check-user Lambda: wiring only (logging, configuration, clients built once, the runtime).

use check_user::handler::{Access, Deps, Settings, handle};
use keyward_aws::sts::MemberAccounts;
use keyward_aws::{iam::IamAdapter, runtime, s3::S3Store, sdk};
use keyward_core::config::Scope;
use keyward_core::run_store::RunStore;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_tracing();
    let config = runtime::config_from_env()?;
    let settings = Settings::from_config(&config).map_err(runtime::init_error)?;
    let sdk = sdk::sdk_config().await;
    // The Map's children share the account's IAM budget: each takes IAM_MAX_RPS / MAX_CONCURRENCY
    // (in organisation scope, of the member account's own budget).
    let rps = config.iam_rps_per_invocation();
    let access = match config.scope {
        Scope::Account => Access::Own(IamAdapter::new(&sdk, rps)),
        Scope::Organization => Access::Members(MemberAccounts::new(&sdk, rps)),
    };
    let deps = Deps { access, runs: RunStore::new(S3Store::new(&sdk), settings.report_bucket.clone()), settings };
    runtime::serve(&deps, handle).await
}
