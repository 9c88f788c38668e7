//! Prints `statemachine/keyward.asl.json` with template.yaml's DefinitionSubstitutions resolved to
//! a default deployment (parameter defaults; function ARNs named after their binaries), as the
//! external validators of `make contract` (asl-validator, moto's parser) need plain JSON.

use std::io::Write;
use std::process::ExitCode;

use keyward_tests::{asl, template::Template};

fn main() -> ExitCode {
    let substituted = Template::load()
        .and_then(|t| t.default_substitutions())
        .and_then(|subs| asl::substitute(&keyward_tests::read(asl::PATH)?, &subs));
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
