//! The notify Lambda: wiring only. Logging, configuration, keyward's secret, the AWS clients (built once per
//! instance) and the runtime loop; the work is in [`notify::handler`].

use keyward_aws::dynamodb::DynamoApprovals;
use keyward_aws::os_random::OsRandom;
use keyward_aws::slack::SlackWebhook;
use keyward_aws::{runtime, s3::S3Store, sdk, sns::SnsTopic};
use keyward_core::run_store::RunStore;
use notify::handler::{Deps, Settings, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_tracing();
    let config = runtime::config_from_env()?;
    let sdk = sdk::sdk_config().await;
    let secrets = runtime::secrets_from(&sdk, &config).await?;
    let settings = Settings::from_config(&config, &secrets).map_err(runtime::init_error)?;
    let deps = Deps {
        topic: SnsTopic::new(&sdk),
        runs: RunStore::new(S3Store::new(&sdk), settings.report_bucket.clone()),
        slack: SlackWebhook::new()?,
        approvals: DynamoApprovals::new(&sdk, settings.approvals_table.clone(), settings.decisions_table.clone()),
        random: OsRandom,
        settings,
    };
    runtime::serve(&deps, handle).await
}
