//! The list-users Lambda: wiring only (logging, configuration, clients built once, the runtime).

// The runtime's future holds each step's, down to the SDK's: deeper than rustc's default limit
// of 128 allows when it computes the future's layout.
#![recursion_limit = "256"]

use keyward_aws::organizations::OrganizationsAdapter;
use keyward_aws::sts::MemberAccounts;
use keyward_aws::{iam::IamAdapter, runtime, s3::S3Store, sdk};
use keyward_core::config::Scope;
use keyward_core::run_store::RunStore;
use list_users::handler::{Access, Deps, Settings, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_tracing();
    let config = runtime::config_from_env()?;
    let settings = Settings::from_config(&config).map_err(runtime::init_error)?;
    let sdk = sdk::sdk_config().await;
    // list-users sweeps an account alone, before that account's Map: it may use the account's
    // whole IAM budget (in organisation scope each member account's own).
    let access = match config.scope {
        Scope::Account => Access::Own(IamAdapter::new(&sdk, config.iam_max_rps)),
        Scope::Organization => Access::Members {
            organization: OrganizationsAdapter::new(&sdk),
            accounts: MemberAccounts::new(&sdk, config.iam_max_rps),
        },
    };
    let deps = Deps { access, runs: RunStore::new(S3Store::new(&sdk), settings.report_bucket.clone()), settings };
    runtime::serve(&deps, handle).await
}
