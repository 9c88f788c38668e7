//! Prints `statemachine/keyward.asl.json` with template.yaml's DefinitionSubstitutions resolved to
//! a deployment (function ARNs named after their binaries; parameter defaults), as the external
//! validators of `make contract` (asl-validator, moto's parser) and the local stack need plain JSON.
//!
//! `substituted-asl [Parameter=Value ...]`: each argument gives a template parameter the value a
//! deployment would set instead of its default (the local stack passes the settings given at `up`,
//! e.g. `ApprovalTimeoutSeconds=60`).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use keyward_tests::{asl, template::Template};

fn main() -> ExitCode {
    let substituted = parameters(std::env::args().skip(1)).and_then(|parameters| {
        let subs = Template::load()?.substitutions(&parameters)?;
        asl::substitute(&keyward_tests::read(asl::PATH)?, &subs)
    });
    match substituted {
        Ok(text) => match std::io::stdout().write_all(text.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("substituted-asl: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("substituted-asl: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `Parameter=Value` arguments as a map.
fn parameters(arguments: impl Iterator<Item = String>) -> Result<BTreeMap<String, String>, String> {
    arguments
        .map(|argument| match argument.split_once('=') {
            Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
            _ => Err(format!("expected Parameter=Value, got {argument:?}")),
        })
        .collect()
}
