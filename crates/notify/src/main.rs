//! The notify Lambda: wiring only. Logging, configuration, the AWS clients (built once per
//! instance) and the runtime loop; the work is in [`notify::handler`].

use chrono::Utc;
use keyward_aws::dynamodb::DynamoApprovals;
use keyward_aws::os_random::OsRandom;
use keyward_aws::s3::S3Store;
use keyward_aws::slack::SlackWebhook;
use keyward_aws::sns::SnsTopic;
use keyward_aws::{runtime, sdk};
use keyward_core::config::vars;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use notify::handler::{self, NotifyPorts};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let config = runtime::config_from_env()?;
    let table = runtime::require(&config.approvals_table, vars::APPROVALS_TABLE)?;
    let sdk = sdk::sdk_config().await;
    let ports = NotifyPorts {
        topic: SnsTopic::new(&sdk),
        store: S3Store::new(&sdk),
        slack: SlackWebhook::new()?,
        approvals: DynamoApprovals::new(&sdk, table),
        random: OsRandom,
    };
    let (ports, config) = (&ports, &config);
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler::handle(ports, config, Utc::now(), event.payload).await.map_err(|e| runtime::diagnostic(&e))
    }))
    .await
}
