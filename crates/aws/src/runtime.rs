//! Lambda runtime glue shared by the six functions: JSON logging (each line tagged with the
//! invocation's request id, the level Lambda's logging configuration asks for), configuration
//! errors at init, keyward's secret read at init ([`secrets_from`]), the runtime loops ([`serve`]
//! for the five task functions, [`serve_http`] for the approval function: its URL and the events it
//! queues for itself) and the one conversion of a named error into the `Diagnostic` Lambda
//! reports (its `errorType` is what Step Functions catches).

use std::future::Future;

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use keyward_core::config::{Config, ConfigError};
use keyward_core::errors::NamedError;
use keyward_core::secrets::KeywardSecrets;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use lambda_http::http::header::SET_COOKIE;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::{FormatEvent, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormattedFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::secrets::SecretsManager;

/// The span lambda_runtime opens around each invocation (1.5: `layers::trace::request_span`), and
/// the target it is created under.
const INVOKE_SPAN: &str = "Lambda runtime invoke";
const INVOKE_SPAN_TARGET: &str = "lambda_runtime::layers::trace";

/// The field of [`INVOKE_SPAN`] that holds the invocation's request id, and the key our lines carry
/// it under: the same name Lambda's own JSON lines (`platform.report`'s `record.requestId`) and the
/// managed runtimes' JSON application logs use, so one Logs Insights filter finds both.
const REQUEST_ID: &str = "requestId";

/// Installs the global subscriber: one JSON object per line on stdout, event fields flattened into
/// it, no ANSI colours, and during an invocation a top-level `requestId` (every line inside it,
/// the AWS SDK's included; lines at init have none). Span fields are otherwise left out: the SDK's
/// spans add nothing an operator reads.
///
/// The level: `AWS_LAMBDA_LOG_LEVEL` (set by Lambda from `LoggingConfig.ApplicationLogLevel`:
/// `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`, any case; `FATAL` is `error`, tracing's
/// most severe; anything else `info`) is the default level. `RUST_LOG` (`keyward_aws=debug`,
/// `aws_smithy_runtime=warn`, …) refines it per target; its bare level (`warn` in `warn,x=debug`)
/// is the default only where `AWS_LAMBDA_LOG_LEVEL` is unset or empty (the local stack), and with
/// neither the default is `info`. A `RUST_LOG` that does not parse is ignored whole. On AWS, Lambda
/// also drops lines below `ApplicationLogLevel` (it reads each line's `level`), so a target raised
/// above it by `RUST_LOG` needs `ApplicationLogLevel` raised too. The invocation span passes at
/// every level, so a `WARN` line still carries the request id.
///
/// Calling it twice is harmless: the second call does nothing. The filter is a `Targets` rather
/// than an `EnvFilter`: the same directives without span and field matching, and without linking a
/// regex engine into every function.
pub fn init_tracing() {
    let lambda_level = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok();
    let rust_log = std::env::var("RUST_LOG").ok();
    // Err only if a subscriber is already installed, which is fine.
    let _ = subscriber(std::io::stdout, lambda_level.as_deref(), rust_log.as_deref()).try_init();
}

/// The subscriber [`init_tracing`] installs, writing to `writer`, with the level from the values
/// of `AWS_LAMBDA_LOG_LEVEL` and `RUST_LOG`.
fn subscriber<W>(writer: W, lambda_level: Option<&str>, rust_log: Option<&str>) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let json = tracing_subscriber::fmt::format()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_ansi(false);
    tracing_subscriber::fmt()
        .fmt_fields(JsonFields::new())
        .event_format(WithRequestId(json))
        .with_writer(writer)
        .finish()
        .with(log_filter(lambda_level, rust_log))
}

/// The filter for the values of `AWS_LAMBDA_LOG_LEVEL` and `RUST_LOG`, precedence as
/// [`init_tracing`] says; the invocation span always passes.
fn log_filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> Targets {
    let targets = rust_log.filter(|v| !v.trim().is_empty()).and_then(|v| v.parse::<Targets>().ok());
    let lambda_level = lambda_level.filter(|v| !v.trim().is_empty()).map(lambda_log_level);
    let default =
        lambda_level.or_else(|| targets.as_ref().and_then(Targets::default_level)).unwrap_or(LevelFilter::INFO);
    // The span is what puts the request id on a line: filtered out, it would leave WARN and ERROR
    // lines, the ones an operator looks for, without it.
    targets.unwrap_or_default().with_default(default).with_target(INVOKE_SPAN_TARGET, LevelFilter::INFO)
}

/// The tracing level for a value of `AWS_LAMBDA_LOG_LEVEL`; `info` for one Lambda does not set.
fn lambda_log_level(value: &str) -> LevelFilter {
    match value.trim().to_ascii_uppercase().as_str() {
        "TRACE" => LevelFilter::TRACE,
        "DEBUG" => LevelFilter::DEBUG,
        "WARN" => LevelFilter::WARN,
        "ERROR" | "FATAL" => LevelFilter::ERROR,
        _ => LevelFilter::INFO,
    }
}

/// A JSON line format that puts the request id of the enclosing invocation first, at top level,
/// in the line the inner format writes. Only the id: the span's other fields (X-Ray trace id,
/// tenant id) and no span of the SDK's are copied.
struct WithRequestId<F>(F);

impl<S, F> FormatEvent<S, JsonFields> for WithRequestId<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    F: FormatEvent<S, JsonFields>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match (request_id(ctx), line.strip_prefix('{')) {
            (Some(id), Some(rest)) => {
                let comma = if rest.starts_with('}') { "" } else { "," };
                write!(writer, "{{\"{REQUEST_ID}\":{}{comma}{rest}", Value::String(id))
            }
            _ => writer.write_str(&line),
        }
    }
}

/// The `requestId` of the nearest [`INVOKE_SPAN`] around the event being formatted. The fmt layer
/// keeps each span's fields as the JSON object `JsonFields` wrote.
fn request_id<S>(ctx: &FmtContext<'_, S, JsonFields>) -> Option<String>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let span = ctx.event_scope()?.find(|span| span.name() == INVOKE_SPAN)?;
    let extensions = span.extensions();
    let fields = extensions.get::<FormattedFields<JsonFields>>()?;
    let fields: serde_json::Map<String, Value> = serde_json::from_str(fields).ok()?;
    fields.get(REQUEST_ID)?.as_str().map(str::to_owned)
}

/// Reads the configuration at init. A bad value is logged (JSON, naming the variable and what it
/// accepts) and stops the function with that sentence, not a Rust `Debug` dump.
pub fn config_from_env() -> Result<Config, lambda_runtime::Error> {
    Config::from_env().map_err(init_error)
}

/// Reads keyward's secret at init when `KEYWARD_SECRET_ARN` is set (no secret configured
/// otherwise), once per cold start. A secret that cannot be read or used is logged as
/// `InvalidConfig` (naming the ARN and the AWS error code or the key, never a value) and stops the
/// function with that sentence.
pub async fn secrets_from(sdk: &SdkConfig, config: &Config) -> Result<KeywardSecrets, lambda_runtime::Error> {
    let Some(arn) = config.secret_arn.as_deref() else { return Ok(KeywardSecrets::default()) };
    SecretsManager::new(sdk).read(arn).await.map_err(|err| {
        tracing::error!(error = %err, error_type = keyward_core::errors::INVALID_CONFIG, "keyward's secret cannot be used");
        err.to_string().into()
    })
}

/// Stops the function at init with a configuration error (a function's `Settings::from_config`):
/// logged as `InvalidConfig` (JSON, naming the variable), returned as its sentence.
pub fn init_error(err: ConfigError) -> lambda_runtime::Error {
    tracing::error!(error = %err, error_type = keyward_core::errors::INVALID_CONFIG, "invalid configuration");
    err.to_string().into()
}

/// The name of the running function, which Lambda sets in `AWS_LAMBDA_FUNCTION_NAME` (and
/// `cargo lambda watch` to the binary's name). Read at init: the approval function invokes itself.
pub fn function_name() -> Result<String, lambda_runtime::Error> {
    std::env::var(FUNCTION_NAME_VAR)
        .ok()
        .filter(|name| !name.trim().is_empty())
        .ok_or_else(|| format!("{FUNCTION_NAME_VAR} is not set: the Lambda runtime sets it for every function").into())
}

/// Set by Lambda for every function.
const FUNCTION_NAME_VAR: &str = "AWS_LAMBDA_FUNCTION_NAME";

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

/// Like [`serve`], for a handler that records which invocation acted (deactivate's claim):
/// `handle(deps, now, request_id, payload)`, `request_id` being the Lambda request id.
pub async fn serve_with_request_id<'d, D, H, F, O, E>(deps: &'d D, handle: H) -> Result<(), lambda_runtime::Error>
where
    H: Fn(&'d D, DateTime<Utc>, String, Value) -> F,
    F: Future<Output = Result<O, E>>,
    O: Serialize,
    E: NamedError,
{
    let handle = &handle;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let request_id = event.context.request_id.clone();
        handle(deps, Utc::now(), request_id, event.payload).await.map_err(|e| diagnostic(&e))
    }))
    .await
}

/// Runs the Lambda runtime loop of the approval function, which Lambda invokes two ways: through
/// its Function URL, answered by `handle(deps, now, request)`, and with an event it queued itself
/// (Lambda `Invoke`, `InvocationType=Event`), given to `handle_event(deps, now, event)`. `now` is
/// the clock at the invocation's start.
///
/// An invocation whose payload is an `E` is an event, anything else a Function URL request: `E`
/// must be a shape no Function URL request has (the approval function's is an object with one key,
/// `slack_followup`). Neither handler fails: a refusal is a response, and an event's outcome is
/// logged and told to the person concerned; only a payload that is neither reaches Lambda as an
/// error (`InvalidInput`).
pub async fn serve_http<'d, D, H, F, E, G, GF>(
    deps: &'d D,
    handle: H,
    handle_event: G,
) -> Result<(), lambda_runtime::Error>
where
    D: Sync,
    H: Fn(&'d D, DateTime<Utc>, lambda_http::Request) -> F + Sync,
    F: Future<Output = lambda_http::Response<lambda_http::Body>> + Send,
    E: DeserializeOwned,
    G: Fn(&'d D, DateTime<Utc>, E) -> GF + Sync,
    GF: Future<Output = ()> + Send,
{
    let (handle, handle_event) = (&handle, &handle_event);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let now = Utc::now();
        match invocation::<E>(event.payload)? {
            Invocation::Event(event) => {
                // Boxed: the two handlers' futures nested in the runtime's exceed the compiler's
                // layout depth limit.
                Box::pin(handle_event(deps, now, event)).await;
                // Lambda discards what an Event invocation returns: `null`.
                Ok::<_, Diagnostic>(None)
            }
            Invocation::Http(request) => Ok(Some(function_url_response(Box::pin(handle(deps, now, *request)).await))),
        }
    }))
    .await
}

/// What the approval function was invoked with.
enum Invocation<E> {
    /// A Function URL request, converted by lambda_http.
    Http(Box<lambda_http::Request>),
    /// An event the function queued for itself.
    Event(E),
}

/// The invocation a payload is: an `E`, else a Function URL request, else refused.
fn invocation<E: DeserializeOwned>(payload: Value) -> Result<Invocation<E>, Diagnostic> {
    if let Ok(event) = E::deserialize(&payload) {
        return Ok(Invocation::Event(event));
    }
    lambda_http::request::from_str(&payload.to_string()).map(|request| Invocation::Http(Box::new(request))).map_err(
        |e| Diagnostic {
            error_type: keyward_core::errors::INVALID_INPUT.to_owned(),
            // serde's message names the field at fault, never a value.
            error_message: format!("neither a Function URL request nor an event of this function: {e}"),
        },
    )
}

/// A response in the Function URL (API Gateway v2) format, as lambda_http writes it: cookies in
/// their own field, repeated headers joined into `headers`, a binary body base64-encoded.
fn function_url_response(response: lambda_http::Response<lambda_http::Body>) -> ApiGatewayV2httpResponse {
    let (mut parts, body) = response.into_parts();
    let cookies = parts.headers.get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok().map(str::to_owned)).collect();
    parts.headers.remove(SET_COOKIE);
    let mut answer = ApiGatewayV2httpResponse::default();
    answer.status_code = i64::from(parts.status.as_u16());
    answer.headers = parts.headers;
    answer.cookies = cookies;
    answer.is_base64_encoded = matches!(body, lambda_http::Body::Binary(_));
    answer.body = match body {
        lambda_http::Body::Empty => None,
        other => Some(other),
    };
    answer
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
    async fn without_a_secret_arn_no_secret_is_read_and_slack_is_off() {
        // An SdkConfig without endpoint or credentials: any call would fail.
        let sdk = SdkConfig::builder().build();

        let secrets = secrets_from(&sdk, &Config::default()).await.unwrap();

        assert_eq!(secrets, KeywardSecrets::default());
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
        drop(serve_http(&deps, answer, |_: &Deps, _, _: FollowUp| async {}));
        let echo_deps = String::new();
        drop(serve(&echo_deps, echo));
    }

    /// An event of the shape the approval function queues for itself.
    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum FollowUp {
        SlackFollowup { body: String },
    }

    /// A Function URL request as Lambda delivers it.
    fn function_url_event() -> Value {
        serde_json::json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": "/slack/actions",
            "rawQueryString": "",
            "headers": { "host": "example.lambda-url.us-east-1.on.aws", "content-type": "text/plain" },
            "requestContext": {
                "accountId": "anonymous", "apiId": "example", "domainName": "example.lambda-url.us-east-1.on.aws",
                "http": { "method": "POST", "path": "/slack/actions", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "t" },
                "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "21/Nov/2026:07:10:00 +0000", "timeEpoch": 0
            },
            "body": "hello",
            "isBase64Encoded": false
        })
    }

    #[test]
    fn a_function_url_request_and_an_own_event_are_told_apart() {
        match invocation::<FollowUp>(function_url_event()).unwrap() {
            Invocation::Http(request) => {
                assert_eq!(request.uri().path(), "/slack/actions");
                assert_eq!(request.body().as_ref(), b"hello");
            }
            Invocation::Event(event) => panic!("a Function URL request read as an event: {event:?}"),
        }
        let event = serde_json::json!({"slack_followup": {"body": "payload=x"}});
        match invocation::<FollowUp>(event).unwrap() {
            Invocation::Event(event) => assert_eq!(event, FollowUp::SlackFollowup { body: "payload=x".into() }),
            Invocation::Http(_) => panic!("the event read as a request"),
        }
    }

    #[test]
    fn a_payload_that_is_neither_is_invalid_input() {
        let Err(diag) = invocation::<FollowUp>(serde_json::json!([1, 2])) else { panic!("accepted") };
        assert_eq!(diag.error_type, errors::INVALID_INPUT);
    }

    #[test]
    fn a_response_reaches_the_function_url_with_its_status_headers_cookies_and_body() {
        let response = lambda_http::Response::builder()
            .status(403)
            .header("content-type", "text/plain")
            .header("set-cookie", "a=1")
            .body(lambda_http::Body::Text("Refused.".into()))
            .unwrap();
        let answer = serde_json::to_value(function_url_response(response)).unwrap();
        assert_eq!(answer["statusCode"], 403);
        assert_eq!(answer["headers"]["content-type"], "text/plain");
        assert_eq!(answer["headers"].get("set-cookie"), None);
        assert_eq!(answer["cookies"], serde_json::json!(["a=1"]));
        assert_eq!(answer["body"], "Refused.");
        assert_eq!(answer["isBase64Encoded"], false);
        let binary = lambda_http::Response::new(lambda_http::Body::Binary(vec![0xff, 0x00]));
        let answer = serde_json::to_value(function_url_response(binary)).unwrap();
        assert_eq!((answer["body"].as_str(), answer["isBase64Encoded"].as_bool()), (Some("/wA="), Some(true)));
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
        let unset = log_filter(None, None);
        assert!(unset.would_enable("keyward_aws::iam", &Level::INFO));
        assert!(!unset.would_enable("keyward_aws::iam", &Level::DEBUG));
        for ignored in ["", "  ", "keyward_aws=loud"] {
            let filter = log_filter(None, Some(ignored));
            assert!(filter.would_enable("x", &Level::INFO) && !filter.would_enable("x", &Level::DEBUG), "{ignored:?}");
        }
        let targeted = log_filter(None, Some("keyward_aws=debug"));
        assert!(targeted.would_enable("keyward_aws::iam", &Level::DEBUG));
        assert!(targeted.would_enable("aws_smithy_runtime", &Level::INFO));
        assert!(!targeted.would_enable("aws_smithy_runtime", &Level::DEBUG));
        let quiet = log_filter(None, Some("warn"));
        assert!(!quiet.would_enable("keyward_aws", &Level::INFO));
    }

    /// The span lambda_runtime itself opens around an invocation with `request_id` (and an X-Ray
    /// trace id, which the lines must not copy).
    fn invocation_span(request_id: &str) -> tracing::Span {
        let mut context = lambda_runtime::Context::default();
        context.request_id = request_id.to_owned();
        context.xray_trace_id = Some("Root=1-5759e988-bd862e3fe1be46a994272793".to_owned());
        lambda_runtime::layers::trace::request_span(&context)
    }

    /// The lines `logs` holds, each parsed as the JSON object it must be.
    fn lines(logs: &Logs) -> Vec<serde_json::Map<String, Value>> {
        logs.text().lines().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))).collect()
    }

    #[test]
    fn every_line_of_an_invocation_carries_its_request_id_at_top_level() {
        let logs = Logs::default();
        let id = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

        tracing::subscriber::with_default(subscriber(logs.clone(), None, None), || {
            tracing::info!("at init");
            invocation_span(id).in_scope(|| {
                tracing::info!(user_count = 3, "screened");
                // What the AWS SDK logs from inside its own spans during a call.
                tracing::info_span!(target: "aws_smithy_runtime::client::orchestrator", "invoke", rpc.service = "IAM")
                    .in_scope(|| tracing::info!(target: "aws_smithy_runtime::client::orchestrator", "sent"));
            });
        });

        let lines = lines(&logs);
        assert_eq!(lines.len(), 3, "{}", logs.text());
        assert_eq!(lines[0].get("requestId"), None, "no invocation at init: {:?}", lines[0]);
        for line in &lines[1..] {
            assert_eq!(line.get("requestId").and_then(Value::as_str), Some(id), "{line:?}");
            let text = Value::Object(line.clone()).to_string();
            assert!(!text.contains("Root=1-") && !text.contains("rpc.service"), "only the id is copied: {text}");
        }
        assert_eq!(lines[1]["user_count"], 3, "event fields stay flattened: {:?}", lines[1]);
        assert_eq!(lines[1]["level"], "INFO", "Lambda filters on `level`: {:?}", lines[1]);
        assert_eq!(lines[2]["target"], "aws_smithy_runtime::client::orchestrator", "{:?}", lines[2]);
    }

    #[test]
    fn at_application_log_level_warn_a_warning_still_carries_the_request_id() {
        let logs = Logs::default();
        let id = "0a1b2c3d-0000-4000-8000-000000000000";

        tracing::subscriber::with_default(subscriber(logs.clone(), Some("WARN"), None), || {
            invocation_span(id).in_scope(|| {
                tracing::info!("below the level");
                tracing::warn!("throttled");
            });
        });

        let lines = lines(&logs);
        assert_eq!(lines.len(), 1, "{}", logs.text());
        assert_eq!(lines[0]["message"], "throttled");
        assert_eq!(lines[0].get("requestId").and_then(Value::as_str), Some(id), "{:?}", lines[0]);
    }

    #[test]
    fn aws_lambda_log_level_maps_onto_tracing_levels() {
        let table = [
            ("TRACE", LevelFilter::TRACE),
            ("DEBUG", LevelFilter::DEBUG),
            ("INFO", LevelFilter::INFO),
            ("WARN", LevelFilter::WARN),
            ("ERROR", LevelFilter::ERROR),
            ("FATAL", LevelFilter::ERROR),
            ("debug", LevelFilter::DEBUG),
            ("Warn", LevelFilter::WARN),
            ("fatal", LevelFilter::ERROR),
            (" ERROR ", LevelFilter::ERROR),
            ("WARNING", LevelFilter::INFO),
            ("verbose", LevelFilter::INFO),
        ];
        for (value, level) in table {
            assert_eq!(lambda_log_level(value), level, "{value:?}");
        }
    }

    #[test]
    fn aws_lambda_log_level_sets_the_default_and_rust_log_refines_it_per_target() {
        use tracing::Level;
        let warn = log_filter(Some("WARN"), None);
        assert!(warn.would_enable("keyward_aws::iam", &Level::WARN));
        assert!(!warn.would_enable("keyward_aws::iam", &Level::INFO));
        let debug = log_filter(Some("debug"), None);
        assert!(debug.would_enable("list_users", &Level::DEBUG) && !debug.would_enable("list_users", &Level::TRACE));
        let refined = log_filter(Some("WARN"), Some("keyward_aws=debug"));
        assert!(refined.would_enable("keyward_aws::iam", &Level::DEBUG));
        assert!(!refined.would_enable("aws_smithy_runtime", &Level::INFO));
        let bare = log_filter(Some("ERROR"), Some("info,keyward_aws=debug"));
        assert!(!bare.would_enable("list_users", &Level::WARN), "AWS_LAMBDA_LOG_LEVEL wins over a bare RUST_LOG level");
        assert!(bare.would_enable("keyward_aws", &Level::DEBUG));
        let empty = log_filter(Some(" "), Some("warn"));
        assert!(!empty.would_enable("list_users", &Level::INFO), "an empty AWS_LAMBDA_LOG_LEVEL is unset");
        let unknown = log_filter(Some("LOUD"), None);
        assert!(unknown.would_enable("x", &Level::INFO) && !unknown.would_enable("x", &Level::DEBUG));
        for level in ["ERROR", "FATAL", "WARN"] {
            let filter = log_filter(Some(level), None);
            assert!(
                filter.would_enable("lambda_runtime::layers::trace", &Level::INFO),
                "the invocation span at {level}"
            );
        }
    }

    #[test]
    fn init_tracing_twice_does_not_panic() {
        init_tracing();
        init_tracing();
        tracing::info!(user_count = 3, "logged after init");
    }
}
