//! The IAM policies of a template's roles as data: a statement's actions, the actions a role's
//! Allow statements grant, the resources they grant an action on (as written), and IAM's wildcard
//! match of an action pattern, so the contract tests can say what a role may and may never do.

use std::collections::BTreeSet;

use serde_norway::Value;

use crate::template::{Intrinsic, Template, intrinsic, scalar};

/// A policy element that is one string or a list of strings (`Action`, `Resource`), as a list; any
/// other value is an empty list.
pub fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Sequence(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

/// Every action the Allow statements of `logical_id`'s role name, as written (wildcards kept).
pub fn allowed_actions(template: &Template, logical_id: &str) -> Vec<String> {
    template
        .policy_statements(logical_id)
        .into_iter()
        .filter(|s| s["Effect"].as_str() == Some("Allow"))
        .flat_map(|s| strings(s.get("Action")))
        .collect()
}

/// The resources of `logical_id`'s Allow statements that grant `action`, as written: a `!Sub`'s
/// string, a `!GetAtt`'s `X.Attr`, a `!Ref`'s `Ref X`, a plain string.
pub fn resources_allowed(template: &Template, logical_id: &str, action: &str) -> BTreeSet<String> {
    let resource_text = |value: &Value| match (intrinsic(value), value) {
        (Some(Intrinsic::GetAtt { resource, attribute }), _) => format!("{resource}.{attribute}"),
        (Some(Intrinsic::Ref(name)), _) => format!("Ref {name}"),
        (Some(Intrinsic::Other(_)), Value::Tagged(tagged)) => scalar(&tagged.value).unwrap_or_default(),
        _ => scalar(value).unwrap_or_default(),
    };
    template
        .policy_statements(logical_id)
        .into_iter()
        .filter(|s| s["Effect"].as_str() == Some("Allow") && strings(s.get("Action")).iter().any(|a| a == action))
        .flat_map(|s| match s.get("Resource") {
            Some(Value::Sequence(items)) => items.iter().map(resource_text).collect::<Vec<_>>(),
            Some(one) => vec![resource_text(one)],
            None => vec![],
        })
        .collect()
}

/// Whether the IAM action pattern `pattern` (`*` any run, `?` one character; case-insensitive, as
/// IAM compares actions) matches `action`.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    fn matches(p: &[u8], a: &[u8]) -> bool {
        match (p.first(), a.first()) {
            (None, None) => true,
            (Some(b'*'), _) => matches(&p[1..], a) || (!a.is_empty() && matches(p, &a[1..])),
            (Some(b'?'), Some(_)) => matches(&p[1..], &a[1..]),
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => matches(&p[1..], &a[1..]),
            _ => false,
        }
    }
    matches(pattern.as_bytes(), action.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_action_pattern_matches_as_iam_does_whatever_the_case() {
        assert!(action_matches("iam:*LoginProfile", "iam:updateloginprofile"));
        assert!(action_matches("IAM:Update?ccessKey", "iam:UpdateAccessKey"));
        assert!(action_matches("iam:*", "iam:GetUser"));
        assert!(!action_matches("iam:Create*", "iam:GetLoginProfile"));
        assert!(!action_matches("iam:Get", "iam:GetUser"), "without a wildcard the whole action must match");
        assert!(!action_matches("iam:?", "iam:"), "? is exactly one character");
    }
}
