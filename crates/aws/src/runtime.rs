//! Lambda runtime glue shared by the six functions: JSON logging, configuration errors at init,
//! the runtime loops ([`serve`] for the five task functions, [`serve_http`] for the approval
//! function's URL) and the one conversion of a named error into the `Diagnostic` Lambda reports
//! (its `errorType` is what Step Functions catches).

use std::convert::Infallible;
use std::future::Future;

use chrono::{DateTime, Utc};
use keyward_core::config::{Config, ConfigError};
use keyward_core::errors::NamedError;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Serialize;
use serde_json::Value;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the global subscriber: one JSON object per line on stdout, event fields flattened into
/// it, no ANSI colours, level from `RUST_LOG` (`info`, `keyward_aws=debug,info`, …; default `info`;
/// a value that does not parse is ignored whole). Calling it twice is harmless: the second call
/// does nothing. The filter is a `Targets` rather than an `EnvFilter`: the same directives without
/// span and field matching, and without linking a regex engine into every function.
pub fn init_tracing() {
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    // Err only if a subscriber is already installed, which is fine.
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_ansi(false)
        .with_writer(std::io::stdout)
        .finish()
        .with(filter)
        .try_init();
}

/// The filter `RUST_LOG` asks for, `info` for what it does not name; `info` alone when it is
/// unset, empty or unparsable.
fn log_filter(rust_log: Option<&str>) -> Targets {
    let parsed = rust_log.filter(|v| !v.trim().is_empty()).and_then(|v| v.parse::<Targets>().ok());
    match parsed {
        Some(targets) if targets.default_level().is_some() => targets,
        Some(targets) => targets.with_default(LevelFilter::INFO),
        None => Targets::new().with_default(LevelFilter::INFO),
    }
}

/// Reads the configuration at init. A bad value is logged (JSON, naming the variable and what it
/// accepts) and stops the function with that sentence, not a Rust `Debug` dump.
pub fn config_from_env() -> Result<Config, lambda_runtime::Error> {
    Config::from_env().map_err(init_error)
}

/// Stops the function at init with a configuration error (a function's `Settings::from_config`):
/// logged as `InvalidConfig` (JSON, naming the variable), returned as its sentence.
pub fn init_error(err: ConfigError) -> lambda_runtime::Error {
    tracing::error!(error = %err, error_type = keyward_core::errors::INVALID_CONFIG, "invalid configuration");
    err.to_string().into()
}

/// Runs the Lambda runtime loop of a task function: each invocation calls `handle(deps, now,
/// payload)`, `now` being the clock at the invocation's start. A handler error reaches Lambda
/// through [`diagnostic`], so Step Functions sees its stable name.
pub async fn serve<'d, D, H, F, O, E>(deps: &'d D, handle: H) -> Result<(), lambda_runtime::Error>
where
    H: Fn(&'d D, DateTime<Utc>, Value) -> F,
    F: Future<Output = Result<O, E>>,
    O: Serialize,
    E: NamedError,
{
    let handle = &handle;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| invoke(deps, handle, Utc::now(), event.payload)))
        .await
}

/// Runs the Lambda HTTP runtime loop of the approval function (its Function URL): each request is
/// answered by `handle(deps, now, request)`, `now` being the clock at the request's start. The
/// handler always answers (a refusal is a response, not an error), so nothing reaches Lambda as an
/// error.
pub async fn serve_http<'d, D, H, F>(deps: &'d D, handle: H) -> Result<(), lambda_runtime::Error>
where
    D: Sync,
    H: Fn(&'d D, DateTime<Utc>, lambda_http::Request) -> F + Sync,
    F: Future<Output = lambda_http::Response<lambda_http::Body>> + Send,
{
    let handle = &handle;
    lambda_http::run(lambda_http::service_fn(move |request: lambda_http::Request| async move {
        Ok::<_, Infallible>(handle(deps, Utc::now(), request).await)
    }))
    .await
}

/// One invocation of [`serve`]: the handler's output, or its error as a [`diagnostic`].
async fn invoke<'d, D, H, F, O, E>(deps: &'d D, handle: &H, now: DateTime<Utc>, payload: Value) -> Result<O, Diagnostic>
where
    H: Fn(&'d D, DateTime<Utc>, Value) -> F,
    F: Future<Output = Result<O, E>>,
    E: NamedError,
{
    handle(deps, now, payload).await.map_err(|e| diagnostic(&e))
}

/// The Lambda error for `err`: `errorType` is its stable name (one of `keyward_core::errors`),
/// `errorMessage` its `Display`. Never a Rust type name.
pub fn diagnostic(err: &dyn NamedError) -> Diagnostic {
    Diagnostic { error_type: err.error_name().to_owned(), error_message: err.to_string() }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use keyward_core::errors;
    use keyward_core::ports::PortError;

    use super::*;

    #[test]
    fn diagnostic_carries_the_stable_name_and_the_message() {
        let err = PortError::IamThrottled { operation: "ListAccessKeys" };
        let diag = diagnostic(&err);
        assert_eq!(diag.error_type, errors::IAM_THROTTLED);
        assert_eq!(diag.error_message, "ListAccessKeys was throttled past all retries");
    }

    /// A handler of the shape [`serve`] takes: it echoes its input, or fails on `{"fail": true}`.
    async fn echo(deps: &String, now: DateTime<Utc>, event: Value) -> Result<Value, PortError> {
        if event["fail"] == true {
            return Err(PortError::AwsThrottled { operation: "PutObject" });
        }
        Ok(serde_json::json!({"deps": deps, "now": now, "event": event}))
    }

    #[tokio::test]
    async fn an_invocation_hands_the_handler_deps_the_time_and_the_payload() {
        let (deps, now) = ("the deps".to_owned(), Utc::now());

        let out = invoke(&deps, &echo, now, serde_json::json!({"n": 1})).await.unwrap();

        assert_eq!(out, serde_json::json!({"deps": "the deps", "now": now, "event": {"n": 1}}));
    }

    #[tokio::test]
    async fn a_failed_invocation_reaches_lambda_with_the_stable_name() {
        let deps = String::new();

        let diag = invoke(&deps, &echo, Utc::now(), serde_json::json!({"fail": true})).await.unwrap_err();

        assert_eq!(diag.error_type, errors::AWS_THROTTLED);
        assert_eq!(diag.error_message, "PutObject was throttled past all retries");
    }

    /// What a function's `Deps` would be: the loops lend it to every invocation.
    struct Deps {
        greeting: &'static str,
    }

    async fn answer(
        deps: &Deps,
        _now: DateTime<Utc>,
        _request: lambda_http::Request,
    ) -> lambda_http::Response<lambda_http::Body> {
        lambda_http::Response::new(lambda_http::Body::from(deps.greeting))
    }

    #[test]
    fn the_loops_take_a_handler_of_the_shared_shape() {
        // Building the futures checks the bounds (Send, the borrow of deps) without a Lambda
        // runtime API to poll; they are dropped unpolled.
        let deps = Deps { greeting: "hello" };
        drop(serve_http(&deps, answer));
        let echo_deps = String::new();
        drop(serve(&echo_deps, echo));
    }

    #[test]
    fn a_configuration_error_at_init_is_logged_as_invalid_config_and_stops_the_function_with_its_sentence() {
        let err = Config::require(&None, "KEYWARD_REPORT_BUCKET").unwrap_err();
        let sentence = err.to_string();
        let logs = Logs::default();
        let subscriber = tracing_subscriber::fmt().json().with_writer(logs.clone()).finish();

        let stopped = tracing::subscriber::with_default(subscriber, || init_error(err));

        assert_eq!(stopped.to_string(), sentence);
        assert!(sentence.contains("KEYWARD_REPORT_BUCKET"), "{sentence}");
        let logged = logs.text();
        assert!(logged.contains(&format!("\"error_type\":\"{}\"", errors::INVALID_CONFIG)), "{logged}");
        assert!(logged.contains("KEYWARD_REPORT_BUCKET"), "{logged}");
    }

    /// Log lines written to memory.
    #[derive(Clone, Default)]
    struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Logs {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    impl std::io::Write for Logs {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
        type Writer = Logs;
        fn make_writer(&'a self) -> Logs {
            self.clone()
        }
    }

    #[test]
    fn rust_log_sets_levels_and_info_covers_the_rest() {
        use tracing::Level;
        let unset = log_filter(None);
        assert!(unset.would_enable("keyward_aws::iam", &Level::INFO));
        assert!(!unset.would_enable("keyward_aws::iam", &Level::DEBUG));
        for ignored in ["", "  ", "keyward_aws=loud"] {
            let filter = log_filter(Some(ignored));
            assert!(filter.would_enable("x", &Level::INFO) && !filter.would_enable("x", &Level::DEBUG), "{ignored:?}");
        }
        let targeted = log_filter(Some("keyward_aws=debug"));
        assert!(targeted.would_enable("keyward_aws::iam", &Level::DEBUG));
        assert!(targeted.would_enable("aws_smithy_runtime", &Level::INFO));
        assert!(!targeted.would_enable("aws_smithy_runtime", &Level::DEBUG));
        let quiet = log_filter(Some("warn"));
        assert!(!quiet.would_enable("keyward_aws", &Level::INFO));
    }

    #[test]
    fn init_tracing_twice_does_not_panic() {
        init_tracing();
        init_tracing();
        tracing::info!(user_count = 3, "logged after init");
    }
}
