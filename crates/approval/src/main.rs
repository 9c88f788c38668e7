//! The approval function's binary: logging, configuration, the AWS clients and the Slack client
//! built once, then the Lambda HTTP runtime. Everything else is in `approval::handler`.

use std::convert::Infallible;

use approval::handler::{Ports, handle};
use chrono::Utc;
use keyward_aws::dynamodb::DynamoApprovals;
use keyward_aws::s3::S3Store;
use keyward_aws::sfn::SfnCallbacks;
use keyward_aws::slack::SlackWebhook;
use keyward_aws::{runtime, sdk};
use keyward_core::config::vars;
use lambda_http::{Error, Request, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let config = runtime::config_from_env()?;
    let table = runtime::require(&config.approvals_table, vars::APPROVALS_TABLE)?.to_owned();
    let sdk = sdk::sdk_config().await;
    let objects = S3Store::new(&sdk);
    let approvals = DynamoApprovals::new(&sdk, table);
    let callbacks = SfnCallbacks::new(&sdk);
    let slack = SlackWebhook::new()?;
    let ports = Ports { objects: &objects, approvals: &approvals, callbacks: &callbacks, slack: &slack };
    let (ports, config) = (&ports, &config);
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, Infallible>(handle(ports, config, Utc::now(), request).await)
    }))
    .await
}
