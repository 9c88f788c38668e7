//! The approval Lambda: wiring only (logging, configuration, clients built once, the HTTP runtime).
//! Everything else is in `approval::handler`.

use std::convert::Infallible;

use approval::handler::{Deps, Settings, handle};
use chrono::Utc;
use keyward_aws::dynamodb::DynamoApprovals;
use keyward_aws::{runtime, s3::S3Store, sdk, sfn::SfnCallbacks, slack::SlackWebhook};
use keyward_core::errors::INVALID_CONFIG;
use lambda_http::{Error, Request, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let config = runtime::config_from_env()?;
    // Logged and returned as its sentence, as runtime::config_from_env does with a bad value.
    let settings = Settings::from_config(&config).map_err(|err| {
        tracing::error!(error = %err, error_type = INVALID_CONFIG, "invalid configuration");
        err.to_string()
    })?;
    let sdk = sdk::sdk_config().await;
    let deps = Deps {
        objects: S3Store::new(&sdk),
        approvals: DynamoApprovals::new(&sdk, settings.approvals_table.clone()),
        callbacks: SfnCallbacks::new(&sdk),
        slack: SlackWebhook::new()?,
        settings,
    };
    let deps = &deps;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, Infallible>(handle(deps, Utc::now(), request).await)
    }))
    .await
}
