//! `template.yaml` (and the workspace's other CloudFormation template, `member/keyward-member.yaml`)
//! as data. CloudFormation's short-form tags (`!Ref`, `!GetAtt`, `!Sub`, …) stay
//! tagged values in the parsed document; [`intrinsic`] reads the two the contract depends on, in
//! short or long form. [`Constraint`] is a parameter's constraints, evaluated as CloudFormation
//! evaluates them before it creates anything.

use std::collections::BTreeMap;

use serde_norway::Value;

/// The template's path, relative to the workspace root.
pub const PATH: &str = "template.yaml";
/// The account id placed in ARNs when the template's substitutions are resolved offline.
pub const ACCOUNT: &str = "123456789012";
/// The region placed in ARNs when the template's substitutions are resolved offline.
pub const REGION: &str = "us-east-1";

/// The ARN of a function named `name` in [`ACCOUNT`] and [`REGION`].
pub fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
}

/// A reference to another part of the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intrinsic {
    /// `!Ref X` / `{Ref: X}`: a parameter, a resource or a pseudo parameter.
    Ref(String),
    /// `!GetAtt X.Attr` / `{Fn::GetAtt: [X, Attr]}`.
    GetAtt { resource: String, attribute: String },
    /// Any other intrinsic function (`!Sub`, `!If`, …), by its name.
    Other(String),
}

/// The intrinsic function `value` is, or `None` for a plain value.
pub fn intrinsic(value: &Value) -> Option<Intrinsic> {
    match value {
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let tag = tag.trim_start_matches('!');
            match (tag, &tagged.value) {
                ("Ref", Value::String(name)) => Some(Intrinsic::Ref(name.clone())),
                ("GetAtt", Value::String(dotted)) => dotted.split_once('.').map(|(resource, attribute)| {
                    Intrinsic::GetAtt { resource: resource.to_owned(), attribute: attribute.to_owned() }
                }),
                ("GetAtt", Value::Sequence(parts)) => get_att_parts(parts),
                _ => Some(Intrinsic::Other(tag.to_owned())),
            }
        }
        Value::Mapping(map) if map.len() == 1 => {
            let (key, inner) = map.iter().next()?;
            match (key.as_str()?, inner) {
                ("Ref", Value::String(name)) => Some(Intrinsic::Ref(name.clone())),
                ("Fn::GetAtt", Value::Sequence(parts)) => get_att_parts(parts),
                (name, _) if name.starts_with("Fn::") => {
                    Some(Intrinsic::Other(name.trim_start_matches("Fn::").to_owned()))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn get_att_parts(parts: &[Value]) -> Option<Intrinsic> {
    match parts {
        [Value::String(resource), Value::String(attribute)] => {
            Some(Intrinsic::GetAtt { resource: resource.clone(), attribute: attribute.clone() })
        }
        _ => None,
    }
}

/// `!If [Condition, a, b]` as its condition and the branches that are statements (mappings; a
/// branch `!Ref AWS::NoValue` drops the statement); `None` for anything else.
pub fn conditional(value: &Value) -> Option<(String, Vec<&Value>)> {
    let Value::Tagged(tagged) = value else { return None };
    if tagged.tag.to_string().trim_start_matches('!') != "If" {
        return None;
    }
    match tagged.value.as_sequence()?.as_slice() {
        [Value::String(condition), branches @ ..] => {
            Some((condition.clone(), branches.iter().filter(|b| b.is_mapping()).collect()))
        }
        _ => None,
    }
}

/// A scalar as the string CloudFormation would pass on (`90` → "90", `"10.0"` → "10.0").
pub fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A parameter's `Type`, as far as its constraints go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterType {
    /// `String`: `AllowedPattern`, `MinLength` and `MaxLength` apply.
    String,
    /// `Number`: an integer or a float (`1.5` included); `MinValue` and `MaxValue` apply.
    Number,
}

/// What CloudFormation checks of a parameter's value (the AWS CloudFormation User Guide,
/// "Parameters syntax"): the value is refused, before anything is created, unless it satisfies
/// every constraint the parameter declares.
#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    /// `Type` (`String` or `Number`; any other type is an error of [`Template::constraint`]).
    pub kind: ParameterType,
    /// `AllowedValues`, each as the string it is compared with.
    pub allowed_values: Option<Vec<String>>,
    /// `AllowedPattern`: a Java regular expression the whole value must match (String only).
    pub allowed_pattern: Option<String>,
    /// `MinValue` (Number only).
    pub min_value: Option<f64>,
    /// `MaxValue` (Number only).
    pub max_value: Option<f64>,
    /// `MinLength`, in characters (String only).
    pub min_length: Option<usize>,
    /// `MaxLength`, in characters (String only).
    pub max_length: Option<usize>,
}

impl Constraint {
    /// Whether CloudFormation accepts `value`. `whole_match(pattern, value)` says whether `value`
    /// matches `pattern` as a whole (Java's `Pattern.matches`); the caller brings the regex engine.
    pub fn admits(&self, value: &str, whole_match: impl Fn(&str, &str) -> bool) -> bool {
        if let Some(allowed) = &self.allowed_values
            && !allowed.iter().any(|a| a == value)
        {
            return false;
        }
        match self.kind {
            ParameterType::Number => {
                let Some(number) = cloudformation_number(value) else { return false };
                self.min_value.is_none_or(|min| number >= min) && self.max_value.is_none_or(|max| number <= max)
            }
            ParameterType::String => {
                let length = value.chars().count();
                self.min_length.is_none_or(|min| length >= min)
                    && self.max_length.is_none_or(|max| length <= max)
                    && self.allowed_pattern.as_deref().is_none_or(|pattern| whole_match(pattern, value))
            }
        }
    }
}

/// A Number parameter's value as CloudFormation reads it: an optionally signed integer or decimal.
fn cloudformation_number(value: &str) -> Option<f64> {
    let unsigned = value.strip_prefix('-').unwrap_or(value);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(whole) && digits(fraction)).then(|| value.parse().ok()).flatten()
}

/// One `AWS::Serverless::Function` of the template.
#[derive(Debug, Clone)]
pub struct Function<'a> {
    /// Its logical id, e.g. `ListUsersFunction`.
    pub logical_id: String,
    /// `Metadata.BuildProperties.Binary`: the binary cargo-lambda builds for it.
    pub binary: Option<String>,
    /// The whole resource.
    pub resource: &'a Value,
}

impl Function<'_> {
    /// A property of the function (after `Properties`).
    pub fn property(&self, name: &str) -> Option<&Value> {
        self.resource.get("Properties").and_then(|p| p.get(name))
    }
}

/// The parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    root: Value,
}

impl Template {
    /// Reads and parses `template.yaml` of the workspace.
    pub fn load() -> Result<Template, String> {
        Template::load_path(PATH)
    }

    /// Reads and parses another CloudFormation template of the workspace, by its path relative to
    /// the root (`member/keyward-member.yaml`).
    pub fn load_path(relative: &str) -> Result<Template, String> {
        let root =
            serde_norway::from_str(&crate::read(relative)?).map_err(|e| format!("{relative} is not YAML: {e}"))?;
        Ok(Template { root })
    }

    /// Parses a template's text.
    pub fn parse(text: &str) -> Result<Template, String> {
        let root: Value = serde_norway::from_str(text).map_err(|e| format!("{PATH} is not YAML: {e}"))?;
        Ok(Template { root })
    }

    /// The whole document.
    pub fn root(&self) -> &Value {
        &self.root
    }

    /// `Parameters.<name>`.
    pub fn parameter(&self, name: &str) -> Option<&Value> {
        self.root.get("Parameters").and_then(|p| p.get(name))
    }

    /// The constraints of parameter `name`.
    pub fn constraint(&self, name: &str) -> Result<Constraint, String> {
        let parameter = self.parameter(name).ok_or_else(|| format!("{name} is not a parameter of {PATH}"))?;
        let kind = match parameter.get("Type").and_then(Value::as_str) {
            Some("String") => ParameterType::String,
            Some("Number") => ParameterType::Number,
            other => return Err(format!("{name}: Type {other:?} is neither String nor Number")),
        };
        let number = |key: &str| parameter.get(key).and_then(Value::as_f64);
        let length = |key: &str| parameter.get(key).and_then(Value::as_u64).and_then(|n| usize::try_from(n).ok());
        Ok(Constraint {
            kind,
            allowed_values: parameter
                .get("AllowedValues")
                .and_then(Value::as_sequence)
                .map(|values| values.iter().filter_map(scalar).collect()),
            allowed_pattern: parameter.get("AllowedPattern").and_then(Value::as_str).map(str::to_owned),
            min_value: number("MinValue"),
            max_value: number("MaxValue"),
            min_length: length("MinLength"),
            max_length: length("MaxLength"),
        })
    }

    /// Every parameter's name.
    pub fn parameter_names(&self) -> Vec<String> {
        names(self.root.get("Parameters"))
    }

    /// `Parameters.<name>.Default` as the string CloudFormation would substitute.
    pub fn parameter_default(&self, name: &str) -> Option<String> {
        self.parameter(name).and_then(|p| p.get("Default")).and_then(scalar)
    }

    /// Every resource, by logical id.
    pub fn resources(&self) -> Vec<(String, &Value)> {
        match self.root.get("Resources").and_then(Value::as_mapping) {
            Some(map) => map.iter().filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v))).collect(),
            None => Vec::new(),
        }
    }

    /// One resource.
    pub fn resource(&self, logical_id: &str) -> Option<&Value> {
        self.root.get("Resources").and_then(|r| r.get(logical_id))
    }

    /// The `Type` of a resource.
    pub fn resource_type(&self, logical_id: &str) -> Option<&str> {
        self.resource(logical_id).and_then(|r| r.get("Type")).and_then(Value::as_str)
    }

    /// The logical ids of the resources of type `kind`.
    pub fn resources_of_type(&self, kind: &str) -> Vec<String> {
        self.resources()
            .into_iter()
            .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
            .map(|(id, _)| id)
            .collect()
    }

    /// Every `AWS::Serverless::Function`.
    pub fn functions(&self) -> Vec<Function<'_>> {
        self.resources()
            .into_iter()
            .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function"))
            .map(|(logical_id, resource)| Function {
                binary: resource
                    .get("Metadata")
                    .and_then(|m| m.get("BuildProperties"))
                    .and_then(|b| b.get("Binary"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                logical_id,
                resource,
            })
            .collect()
    }

    /// The function whose binary is `binary`.
    pub fn function_by_binary(&self, binary: &str) -> Option<Function<'_>> {
        self.functions().into_iter().find(|f| f.binary.as_deref() == Some(binary))
    }

    /// `Globals.Function.<name>`.
    pub fn global_function_property(&self, name: &str) -> Option<&Value> {
        self.root.get("Globals").and_then(|g| g.get("Function")).and_then(|f| f.get(name))
    }

    /// The environment a function runs with: `Globals.Function.Environment.Variables` merged with
    /// its own `Environment.Variables` (SAM's merge: the function's value wins).
    pub fn function_environment(&self, logical_id: &str) -> BTreeMap<String, Value> {
        let mut env = variables(self.global_function_property("Environment"));
        let own = self.resource(logical_id).and_then(|r| r.get("Properties")).and_then(|p| p.get("Environment"));
        env.extend(variables(own));
        env
    }

    /// Every IAM policy statement of a resource's role, a conditional one (`!If [Condition,
    /// statement, !Ref AWS::NoValue]`) included: see [`Template::raw_policy_statements`].
    pub fn policy_statements(&self, logical_id: &str) -> Vec<&Value> {
        self.raw_policy_statements(logical_id)
            .into_iter()
            .flat_map(|s| conditional(s).map_or(vec![s], |(_, b)| b))
            .collect()
    }

    /// The statements of a resource's role as written (a conditional one is its `!If`): its inline
    /// `Policies` (SAM functions and state machines: `- Statement: […]`; an `AWS::IAM::Role`:
    /// `- PolicyName: …, PolicyDocument: {Statement: […]}`), and the `AWS::IAM::Policy` resources
    /// attached to the role SAM generates for it (`<logical id>Role`), which is how a function's
    /// role can name the function itself.
    pub fn raw_policy_statements(&self, logical_id: &str) -> Vec<&Value> {
        let inline = self
            .resource(logical_id)
            .and_then(|r| r.get("Properties"))
            .and_then(|p| p.get("Policies"))
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten();
        let role = format!("{logical_id}Role");
        let attached = self
            .resources()
            .into_iter()
            .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::IAM::Policy"))
            .filter_map(|(_, r)| r.get("Properties"))
            .filter(|p| {
                p.get("Roles")
                    .and_then(Value::as_sequence)
                    .is_some_and(|roles| roles.iter().any(|v| intrinsic(v) == Some(Intrinsic::Ref(role.clone()))))
            })
            .filter_map(|p| p.get("PolicyDocument"));
        inline
            .map(|policy| policy.get("PolicyDocument").unwrap_or(policy))
            .chain(attached)
            .filter_map(|policy| policy.get("Statement").and_then(Value::as_sequence))
            .flatten()
            .collect()
    }

    /// The one `AWS::Serverless::StateMachine`'s logical id.
    pub fn state_machine(&self) -> Result<String, String> {
        match self.resources_of_type("AWS::Serverless::StateMachine").as_slice() {
            [one] => Ok(one.clone()),
            other => Err(format!("expected one AWS::Serverless::StateMachine, found {other:?}")),
        }
    }

    /// The state machine's `DefinitionSubstitutions`.
    pub fn definition_substitutions(&self) -> Result<BTreeMap<String, Value>, String> {
        let id = self.state_machine()?;
        let subs = self
            .resource(&id)
            .and_then(|r| r.get("Properties"))
            .and_then(|p| p.get("DefinitionSubstitutions"))
            .and_then(Value::as_mapping)
            .ok_or_else(|| format!("{id} has no DefinitionSubstitutions"))?;
        Ok(subs.iter().filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.clone()))).collect())
    }

    /// The substitutions as a deployment with the parameters' defaults would make them: a
    /// parameter's default for `!Ref`, and a function ARN named after the function's binary for
    /// `!GetAtt <Function>.Arn` (the local stack names its functions so, too).
    pub fn default_substitutions(&self) -> Result<BTreeMap<String, String>, String> {
        self.substitutions(&BTreeMap::new())
    }

    /// The substitutions as a deployment with these parameter values would make them: as
    /// [`Template::default_substitutions`], except that a parameter named in `parameters` has that
    /// value instead of its default. A name that is not a parameter of the template is an error.
    pub fn substitutions(&self, parameters: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, String> {
        if let Some(unknown) = parameters.keys().find(|p| self.parameter(p).is_none()) {
            return Err(format!("{unknown} is not a parameter of {PATH}"));
        }
        let mut out = BTreeMap::new();
        for (name, value) in self.definition_substitutions()? {
            let resolved = match intrinsic(&value) {
                Some(Intrinsic::Ref(parameter)) => parameters
                    .get(&parameter)
                    .cloned()
                    .or_else(|| self.parameter_default(&parameter))
                    .ok_or_else(|| format!("substitution {name}: parameter {parameter} has no default"))?,
                Some(Intrinsic::GetAtt { resource, attribute }) if attribute == "Arn" => {
                    let function =
                        self.functions().into_iter().find(|f| f.logical_id == resource).ok_or_else(|| {
                            format!("substitution {name}: {resource} is not a function of the template")
                        })?;
                    let binary = function.binary.ok_or_else(|| format!("{resource} has no BuildProperties.Binary"))?;
                    function_arn(&binary)
                }
                None => scalar(&value).ok_or_else(|| format!("substitution {name} is not a scalar"))?,
                other => return Err(format!("substitution {name}: cannot resolve {other:?} offline")),
            };
            out.insert(name, resolved);
        }
        Ok(out)
    }
}

fn names(mapping: Option<&Value>) -> Vec<String> {
    match mapping.and_then(Value::as_mapping) {
        Some(map) => map.keys().filter_map(|k| k.as_str().map(str::to_owned)).collect(),
        None => Vec::new(),
    }
}

fn variables(environment: Option<&Value>) -> BTreeMap<String, Value> {
    match environment.and_then(|e| e.get("Variables")).and_then(Value::as_mapping) {
        Some(map) => map.iter().filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.clone()))).collect(),
        None => BTreeMap::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_number_parameter_admits_decimals_within_its_bounds() {
        let template = Template::parse("Parameters:\n  N: {Type: Number, MinValue: 1, MaxValue: 10}\n").unwrap();
        let n = template.constraint("N").unwrap();
        let no_pattern = |_: &str, _: &str| unreachable!("a Number has no pattern");
        for (value, admitted) in [("1", true), ("1.5", true), ("10", true), ("0", false), ("10.5", false), ("", false)]
        {
            assert_eq!(n.admits(value, no_pattern), admitted, "{value:?}");
        }
    }

    #[test]
    fn short_and_long_intrinsics_read_the_same() {
        let doc: Value = serde_norway::from_str(
            "a: !Ref Mode\nb: {Ref: Mode}\nc: !GetAtt F.Arn\nd: {'Fn::GetAtt': [F, Arn]}\ne: !Sub 'x'\nf: 5\n",
        )
        .unwrap();
        assert_eq!(intrinsic(doc.get("a").unwrap()), Some(Intrinsic::Ref("Mode".into())));
        assert_eq!(intrinsic(doc.get("b").unwrap()), Some(Intrinsic::Ref("Mode".into())));
        let arn = Some(Intrinsic::GetAtt { resource: "F".into(), attribute: "Arn".into() });
        assert_eq!(intrinsic(doc.get("c").unwrap()), arn);
        assert_eq!(intrinsic(doc.get("d").unwrap()), arn);
        assert_eq!(intrinsic(doc.get("e").unwrap()), Some(Intrinsic::Other("Sub".into())));
        assert_eq!(intrinsic(doc.get("f").unwrap()), None);
    }
}
