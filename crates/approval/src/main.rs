//! The approval Lambda: wiring only. Logging, configuration, keyward's secret, the AWS clients (built once per
//! instance), the OpenID provider under `APPROVER_AUTH=oidc` (its discovery document and keys, read
//! once per instance) and the HTTP runtime loop; the work is in [`approval::handler`].

use approval::handler::{Deps, Settings, handle, handle_event};
use approval::oidc::Provider;
use approval::session::{SignIn, SignInSettings};
use keyward_aws::lambda::LambdaSelfInvoke;
use keyward_aws::oidc::ProviderHttp;
use keyward_aws::os_random::OsRandom;
use keyward_aws::{
    dynamodb::DynamoApprovals, runtime, s3::S3Store, sdk, sfn::SfnCallbacks, slack::SlackWebhook, tokens::DynamoTokens,
};
use keyward_core::config::{Config, vars};
use keyward_core::run_store::RunStore;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_tracing();
    let config = runtime::config_from_env()?;
    let sdk = sdk::approval_sdk_config().await;
    let secrets = runtime::secrets_from(&sdk, &config).await?;
    let settings = Settings::from_config(&config, &secrets).map_err(runtime::init_error)?;
    let sign_in_settings = SignInSettings::from_config(&config, &secrets).map_err(runtime::init_error)?;
    let provider = match (&sign_in_settings.oidc, &sign_in_settings.client_secret) {
        (Some(oidc), Some(client_secret)) => {
            let discovered = Provider::discover(oidc, client_secret, ProviderHttp::new()?).await;
            Some(discovered.inspect_err(|err| {
                tracing::error!(error = %err, error_type = keyward_core::errors::INVALID_CONFIG, "OpenID provider unusable");
            })?)
        }
        _ => None,
    };
    let sign_in = SignIn { random: OsRandom, provider, base_url: sign_in_settings.base_url };
    // The decisions table only this function writes (docs/architecture.md, "Approval").
    let decisions_table =
        Config::require(&config.decisions_table, vars::DECISIONS_TABLE).map_err(runtime::init_error)?;
    let deps = Deps {
        runs: RunStore::new(S3Store::new(&sdk), settings.report_bucket.clone()),
        approvals: DynamoApprovals::new(&sdk, settings.approvals_table.clone(), decisions_table),
        callbacks: SfnCallbacks::new(&sdk),
        slack: SlackWebhook::new()?,
        self_invoke: LambdaSelfInvoke::new(&sdk, runtime::function_name()?),
        tokens: DynamoTokens::new(&sdk, settings.approvals_table.clone()),
        settings,
    };
    let function = (deps, sign_in);
    runtime::serve_http(
        &function,
        |(deps, sign_in), now, request| handle(deps, sign_in, now, request),
        |(deps, _), now, event| handle_event(deps, now, event),
    )
    .await
}
