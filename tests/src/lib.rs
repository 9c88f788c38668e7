//! keyward-tests: the contract between `statemachine/keyward.asl.json`, `template.yaml` and
//! `keyward-core`, and the cross-function tests (docs/testing.md, "The layers"). This library reads
//! the two files and offers the views the tests need: [`template`] (parameters, functions, their
//! environment and policies, the state machine's substitutions; `member/keyward-member.yaml` too),
//! [`policy`] (what a role's IAM statements allow, and IAM's wildcard match) and [`asl`]
//! (placeholders, substitution, the states of every level, and a small JSONPath evaluator to build
//! each task's payload the way Step Functions does). The tests themselves are in `tests/`.

pub mod asl;
pub mod policy;
pub mod template;

use std::path::{Path, PathBuf};

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(Path::to_path_buf).unwrap_or_else(|| here.to_path_buf())
}

/// Reads a file of the workspace by its path relative to the root.
pub fn read(relative: &str) -> Result<String, String> {
    let path = workspace_root().join(relative);
    std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}
