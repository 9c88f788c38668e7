//! `statemachine/keyward.asl.json`: its `${…}` placeholders and their substitution, the states of
//! every level (the top level and each Map's `ItemProcessor`), and the subset of JSONPath
//! processing (`Parameters`/`Payload` templates, `ResultSelector`, `ResultPath`) that the tests use
//! to build each task's payload from a simulated state, the way Step Functions does.
//!
//! The file is JSON only after substitution: numbers such as `"MaxConcurrency": ${MaxConcurrency}`
//! are written unquoted, so it is always parsed after [`substitute`].

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// The definition's path, relative to the workspace root.
pub const PATH: &str = "statemachine/keyward.asl.json";

/// The names of every `${Name}` placeholder in `text`.
pub fn placeholders(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                found.insert(after[..end].to_owned());
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    found
}

/// Replaces every `${Name}` with its value; a placeholder without a value is an error.
pub fn substitute(text: &str, values: &BTreeMap<String, String>) -> Result<String, String> {
    let missing: Vec<_> = placeholders(text).into_iter().filter(|p| !values.contains_key(p)).collect();
    if !missing.is_empty() {
        return Err(format!("no value for {missing:?}"));
    }
    let mut out = text.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("${{{name}}}"), value);
    }
    Ok(out)
}

/// One level of states: the top level (`scope` empty) or the `ItemProcessor` of the Map state named `scope`.
#[derive(Debug, Clone)]
pub struct Level<'a> {
    /// Empty for the top level, else the Map state's name.
    pub scope: String,
    /// `StartAt`.
    pub start_at: String,
    /// `States`.
    pub states: &'a Map<String, Value>,
}

/// Every level of the definition, the top level first.
pub fn levels(definition: &Value) -> Result<Vec<Level<'_>>, String> {
    let mut out = Vec::new();
    collect_levels("", definition, &mut out)?;
    Ok(out)
}

fn collect_levels<'a>(scope: &str, machine: &'a Value, out: &mut Vec<Level<'a>>) -> Result<(), String> {
    let where_ = if scope.is_empty() { "the top level".to_owned() } else { format!("the ItemProcessor of {scope:?}") };
    let start_at = machine.get("StartAt").and_then(Value::as_str).ok_or_else(|| format!("{where_} has no StartAt"))?;
    let states = machine.get("States").and_then(Value::as_object).ok_or_else(|| format!("{where_} has no States"))?;
    out.push(Level { scope: scope.to_owned(), start_at: start_at.to_owned(), states });
    for (name, state) in states {
        for key in ["ItemProcessor", "Iterator"] {
            if let Some(processor) = state.get(key) {
                collect_levels(name, processor, out)?;
            }
        }
        if let Some(branches) = state.get("Branches").and_then(Value::as_array) {
            for branch in branches {
                collect_levels(name, branch, out)?;
            }
        }
    }
    Ok(())
}

/// The states a state can move to: `Next`, `Default`, each choice's `Next` and each catcher's `Next`.
pub fn transitions(state: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |v: Option<&Value>| {
        if let Some(next) = v.and_then(Value::as_str) {
            out.push(next.to_owned());
        }
    };
    push(state.get("Next"));
    push(state.get("Default"));
    for rule in state.get("Choices").and_then(Value::as_array).into_iter().flatten() {
        push(rule.get("Next"));
    }
    for catcher in state.get("Catch").and_then(Value::as_array).into_iter().flatten() {
        push(catcher.get("Next"));
    }
    out
}

/// Whether a state is a Task that invokes a Lambda function through the optimized integration.
pub fn is_lambda_task(state: &Value) -> bool {
    state.get("Type").and_then(Value::as_str) == Some("Task")
        && state
            .get("Resource")
            .and_then(Value::as_str)
            .is_some_and(|r| r.starts_with("arn:aws:states:::lambda:invoke"))
}

/// Whether a Lambda task waits for a task token (`lambda:invoke.waitForTaskToken`).
pub fn waits_for_task_token(state: &Value) -> bool {
    state.get("Resource").and_then(Value::as_str) == Some("arn:aws:states:::lambda:invoke.waitForTaskToken")
}

/// Every Lambda task of every level: (level scope, state name, state).
pub fn lambda_tasks<'a>(levels: &[Level<'a>]) -> Vec<(String, String, &'a Value)> {
    levels
        .iter()
        .flat_map(|level| {
            level.states.iter().filter(|(_, s)| is_lambda_task(s)).map(|(n, s)| (level.scope.clone(), n.clone(), s))
        })
        .collect()
}

/// Every error name a state retries (`Retry[].ErrorEquals`) and catches (`Catch[].ErrorEquals`).
pub fn error_names(state: &Value) -> (Vec<String>, Vec<String>) {
    let names = |key: &str| -> Vec<String> {
        state
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("ErrorEquals").and_then(Value::as_array))
            .flatten()
            .filter_map(|e| e.as_str().map(str::to_owned))
            .collect()
    };
    (names("Retry"), names("Catch"))
}

/// Reads a reference path (`$`, `$.a.b`, `$$.Execution.Name`) from the state `input` or the
/// `context` object. Only plain field access is supported (all keyward uses); a missing field is an
/// error, as it is for Step Functions (`States.Runtime`).
pub fn resolve(path: &str, input: &Value, context: &Value) -> Result<Value, String> {
    let (root, rest) = if let Some(rest) = path.strip_prefix("$$") {
        (context, rest)
    } else if let Some(rest) = path.strip_prefix('$') {
        (input, rest)
    } else {
        return Err(format!("{path:?} is not a path"));
    };
    if rest.contains(['[', '*', '?', '@']) {
        return Err(format!("{path:?}: only plain field paths are supported here"));
    }
    let mut here = root;
    for field in rest.split('.').filter(|f| !f.is_empty()) {
        here = here.get(field).ok_or_else(|| format!("{path:?}: no field {field:?} in {here}"))?;
    }
    Ok(here.clone())
}

/// Builds a payload template (`Parameters`, `Payload`, `ItemSelector`, `ResultSelector`): each
/// `"key.$": "path"` becomes `"key": <value at path>`, nested objects are built the same way.
pub fn build(template: &Value, input: &Value, context: &Value) -> Result<Value, String> {
    match template {
        Value::Object(fields) => {
            let mut out = Map::new();
            for (key, value) in fields {
                match key.strip_suffix(".$") {
                    Some(name) => {
                        let path = value.as_str().ok_or_else(|| format!("{key}: a path must be a string"))?;
                        if path.starts_with("States.") {
                            return Err(format!("{key}: intrinsic functions are not used by keyward"));
                        }
                        out.insert(name.to_owned(), resolve(path, input, context)?);
                    }
                    None => {
                        out.insert(key.clone(), build(value, input, context)?);
                    }
                }
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => {
            items.iter().map(|i| build(i, input, context)).collect::<Result<_, _>>().map(Value::Array)
        }
        other => Ok(other.clone()),
    }
}

/// Places `result` into `input` as `ResultPath` says: `null` discards it, `$` replaces the input,
/// `$.a.b` sets that field (creating objects on the way).
pub fn apply_result_path(input: &Value, result_path: Option<&Value>, result: Value) -> Result<Value, String> {
    let path = match result_path {
        None => "$",
        Some(Value::Null) => return Ok(input.clone()),
        Some(Value::String(path)) => path.as_str(),
        Some(other) => return Err(format!("ResultPath {other} is neither null nor a path")),
    };
    if path == "$" {
        return Ok(result);
    }
    let fields: Vec<&str> = path.strip_prefix("$.").ok_or_else(|| format!("ResultPath {path:?}"))?.split('.').collect();
    let mut out = input.clone();
    let mut here = &mut out;
    for (i, field) in fields.iter().enumerate() {
        let object = here.as_object_mut().ok_or_else(|| format!("ResultPath {path:?}: not an object at {field:?}"))?;
        if i + 1 == fields.len() {
            object.insert((*field).to_owned(), result);
            break;
        }
        here = object.entry((*field).to_owned()).or_insert_with(|| Value::Object(Map::new()));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn placeholders_are_found_and_substituted() {
        let text = r#"{"a": ${One}, "b": "${Two}"}"#;
        assert_eq!(placeholders(text), BTreeSet::from(["One".to_owned(), "Two".to_owned()]));
        let values = BTreeMap::from([("One".to_owned(), "1".to_owned()), ("Two".to_owned(), "x".to_owned())]);
        assert_eq!(substitute(text, &values).unwrap(), r#"{"a": 1, "b": "x"}"#);
        assert!(substitute(text, &BTreeMap::new()).unwrap_err().contains("One"));
    }

    #[test]
    fn payload_templates_read_state_and_context() {
        let input = json!({"listed": {"run": {"bucket": "b"}}});
        let context = json!({"Execution": {"Name": "n"}});
        let built =
            build(&json!({"kind": "x", "run.$": "$.listed.run", "name.$": "$$.Execution.Name"}), &input, &context);
        assert_eq!(built.unwrap(), json!({"kind": "x", "run": {"bucket": "b"}, "name": "n"}));
        assert!(build(&json!({"x.$": "$.missing"}), &input, &context).unwrap_err().contains("missing"));
    }

    #[test]
    fn result_paths_discard_replace_or_set() {
        let input = json!({"a": 1});
        assert_eq!(apply_result_path(&input, Some(&Value::Null), json!(2)).unwrap(), input);
        assert_eq!(apply_result_path(&input, None, json!(2)).unwrap(), json!(2));
        assert_eq!(apply_result_path(&input, Some(&json!("$.b.c")), json!(2)).unwrap(), json!({"a": 1, "b": {"c": 2}}));
    }
}
