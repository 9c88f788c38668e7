//! Lambda runtime glue shared by the six functions: JSON logging and the conversion of a named
//! error into the `Diagnostic` Lambda reports (its `errorType` is what Step Functions catches).

use keyward_core::config::{Config, ConfigError};
use keyward_core::errors::NamedError;
use lambda_runtime::Diagnostic;
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

/// A resource setting this function cannot start without (see [`Config::require`]).
pub fn require<'a>(value: &'a Option<String>, variable: &'static str) -> Result<&'a str, lambda_runtime::Error> {
    Config::require(value, variable).map_err(init_error)
}

fn init_error(err: ConfigError) -> lambda_runtime::Error {
    tracing::error!(error = %err, error_type = keyward_core::errors::INVALID_CONFIG, "invalid configuration");
    err.to_string().into()
}

/// The Lambda error for `err`: `errorType` is its stable name (one of `keyward_core::errors`),
/// `errorMessage` its `Display`. Never a Rust type name.
pub fn diagnostic(err: &dyn NamedError) -> Diagnostic {
    Diagnostic { error_type: err.error_name().to_owned(), error_message: err.to_string() }
}

#[cfg(test)]
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
