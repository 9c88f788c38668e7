//! The deactivate Lambda: wiring only. Logging, configuration, the AWS clients (built once per
//! instance), its own credentials' access key id (from the SDK's credentials provider, no API
//! call), in organisation scope the member accounts' sessions, and the runtime loop; the work is in
//! [`deactivate::handler`].

use deactivate::handler::{Deps, Settings, handle};
use keyward_aws::{dynamodb::DynamoApprovals, iam::IamAdapter, runtime, s3::S3Store, sdk, sts::MemberAccounts};
use keyward_core::config::{Config, Scope, vars};
use keyward_core::run_store::RunStore;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_tracing();
    let config = runtime::config_from_env()?;
    let sdk = sdk::sdk_config().await;
    let settings = Settings::from_config(&config, sdk::own_access_key_id(&sdk).await).map_err(runtime::init_error)?;
    let approvals_table =
        Config::require(&config.approvals_table, vars::APPROVALS_TABLE).map_err(runtime::init_error)?;
    let decisions_table =
        Config::require(&config.decisions_table, vars::DECISIONS_TABLE).map_err(runtime::init_error)?;
    let deps = Deps {
        // deactivate runs alone (after the Map), so it may use the account's whole IAM budget.
        iam: IamAdapter::new(&sdk, config.iam_max_rps),
        // Only an organisation deployment ever assumes a role; each account's session has that
        // account's whole IAM budget.
        members: (config.scope == Scope::Organization).then(|| MemberAccounts::new(&sdk, config.iam_max_rps)),
        runs: RunStore::new(S3Store::new(&sdk), settings.report_bucket.clone()),
        // The decisions table, which only the approval function writes: the decision acted on.
        decisions: DynamoApprovals::new(&sdk, approvals_table, decisions_table),
        settings,
    };
    runtime::serve_with_request_id(&deps, handle).await
}
