//! template.yaml's logging configuration against what the code and the docs rely on: JSON lines
//! (Lambda's level filtering reads each line's `level`), an application level Lambda hands the code
//! as `AWS_LAMBDA_LOG_LEVEL` (`keyward_aws::runtime::init_tracing`), and a system level that keeps
//! Lambda's `platform.report` lines (duration, memory, init), which the cost section of
//! docs/benchmarks.md is measured from.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use keyward_tests::template::{Template, scalar};
use serde_norway::Value;

/// The values Lambda accepts for `ApplicationLogLevel` (API `LoggingConfig`).
const APPLICATION_LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

/// The `SystemLogLevel` values that keep `platform.start` and `platform.report`: Lambda emits them
/// at INFO, and sends system lines at the chosen level and less detailed ones (DEBUG, INFO, WARN
/// from most to least detail), so WARN drops them.
const SYSTEM_LEVELS_WITH_REPORT: [&str; 2] = ["DEBUG", "INFO"];

/// A `LoggingConfig` key's value, as text.
fn setting(config: &serde_norway::Mapping, key: &str) -> Option<String> {
    config.get(key).and_then(scalar)
}

#[test]
fn globals_log_json_at_an_application_level_and_keep_the_report_lines() {
    let template = Template::load().unwrap();
    let globals = template.global_function_property("LoggingConfig").and_then(Value::as_mapping).unwrap();

    assert_eq!(setting(globals, "LogFormat").as_deref(), Some("JSON"), "{globals:?}");
    let application = setting(globals, "ApplicationLogLevel").expect("Globals LoggingConfig.ApplicationLogLevel");
    assert!(APPLICATION_LEVELS.contains(&application.as_str()), "ApplicationLogLevel {application}");
    let system = setting(globals, "SystemLogLevel").expect("Globals LoggingConfig.SystemLogLevel");
    assert!(SYSTEM_LEVELS_WITH_REPORT.contains(&system.as_str()), "SystemLogLevel {system} drops the REPORT lines");
}

#[test]
fn no_function_overrides_the_logging_levels_or_format() {
    // SAM merges a function's LoggingConfig map over Globals' key by key: a function setting one of
    // these would undo the global choice for it alone. Functions set only their LogGroup.
    let template = Template::load().unwrap();
    let functions = template.functions();
    assert_eq!(functions.len(), 6);
    for function in functions {
        let own = function.property("LoggingConfig").and_then(Value::as_mapping);
        for key in ["LogFormat", "ApplicationLogLevel", "SystemLogLevel"] {
            assert!(own.and_then(|own| own.get(key)).is_none(), "{}: LoggingConfig.{key}", function.logical_id);
        }
    }
}
