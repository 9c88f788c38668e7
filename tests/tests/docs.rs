//! The documentation against the repository. `README.md` and `docs/*.md` are the map a newcomer
//! opens first, so a stale path in them sends the reader to a file that is not there. These tests
//! check that:
//!
//! - every relative Markdown link resolves to a file in the repository, and its `#anchor` to a
//!   heading of that file;
//! - every backticked repository path exists (the rule is in [`repo_path`]), as does every path
//!   of the README's Layout block;
//! - the README's flow diagram and the architecture's flow table name exactly the states of
//!   `statemachine/keyward.asl.json`;
//! - the core module map names exactly the modules of `crates/core/src`;
//! - the headings that code comments cite, written `(docs/architecture.md, "Approval")`, exist.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use keyward_tests::asl;
use keyward_tests::template::Template;
use serde_json::Value;

/// The headings code comments cite; each must exist in `docs/architecture.md`.
const ARCHITECTURE_HEADINGS: [&str; 6] =
    ["Crate graph", "Core module map", "The flow", "Contracts between states", "Approval", "The IAM call budget"];

/// Top-level folders whose paths are checked when backticked. `target/`, `.venv/` and
/// `node_modules/` hold what the build and the tools write, so paths there are not checked.
const CHECKED_FOLDERS: [&str; 8] =
    ["crates/", "docs/", "events/", "scripts/", "statemachine/", "tests/", "tools/", ".ci/"];

/// Endings of root files (`template.yaml`, `pyproject.toml`, `requirements.lock`, …) checked when
/// backticked without a folder. `.json` is left out: a bare `report.json` names a run's object in
/// S3, not a file here.
const ROOT_FILE_ENDINGS: [&str; 5] = [".yaml", ".toml", ".lock", ".txt", ".md"];

/// The Markdown files checked, relative to the root: the README and every file in `docs/`.
fn documents() -> Vec<String> {
    let mut docs = vec!["README.md".to_owned()];
    let dir = keyward_tests::workspace_root().join("docs");
    let mut in_docs: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    in_docs.sort();
    docs.extend(in_docs);
    docs
}

fn read(relative: &str) -> String {
    keyward_tests::read(relative).unwrap()
}

fn exists(relative: &str) -> bool {
    keyward_tests::workspace_root().join(relative).exists()
}

/// The text outside fenced code blocks, as (line number, line).
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            out.push((index + 1, line));
        }
    }
    out
}

/// The lines of the first fenced code block after the heading `heading` (e.g. `## Layout`).
fn block_after<'a>(text: &'a str, heading: &str) -> Vec<&'a str> {
    let mut lines = text.lines().skip_while(|l| l.trim_end() != heading);
    assert!(lines.next().is_some(), "no heading {heading:?}");
    let mut lines = lines.skip_while(|l| !l.trim_start().starts_with("```"));
    assert!(lines.next().is_some(), "no code block after {heading:?}");
    lines.take_while(|l| !l.trim_start().starts_with("```")).collect()
}

/// GitHub's anchor of a heading: lowercase, spaces to `-`, anything but letters, digits, `-` and
/// `_` dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The headings (`#` to `######`) of a Markdown text, outside code blocks.
fn headings(text: &str) -> Vec<String> {
    prose(text)
        .into_iter()
        .filter_map(|(_, line)| {
            let hashes = line.len() - line.trim_start_matches('#').len();
            ((1..=6).contains(&hashes) && line[hashes..].starts_with(' ')).then(|| line[hashes..].trim().to_owned())
        })
        .collect()
}

/// The targets of the inline links `[text](target)` of one line.
fn link_targets(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        match after.find(')') {
            Some(end) => {
                out.push(after[..end].trim().to_owned());
                rest = &after[end..];
            }
            None => break,
        }
    }
    out
}

/// The inline code spans (`` `…` ``) of one line.
fn code_spans(line: &str) -> Vec<&str> {
    line.split('`').skip(1).step_by(2).collect()
}

/// Whether a backticked text names a file or folder of this repository, and which. The rule is
/// tight so that prose in backticks (`runs/<exec>/`, `keyward_core::errors`, `main.rs`) is not
/// taken for a path:
/// - no whitespace and no placeholder or pattern characters (`<`, `>`, `*`, `{`, `$`, `…`);
/// - it starts with one of [`CHECKED_FOLDERS`], or has no `/` and ends with one of
///   [`ROOT_FILE_ENDINGS`];
/// - a `::item` after a file (a pytest test id) is dropped.
fn repo_path(span: &str) -> Option<&str> {
    let path = span.split("::").next().unwrap_or(span);
    if path.is_empty() || path.chars().any(|c| c.is_whitespace() || "<>*{}$…".contains(c)) {
        return None;
    }
    let in_folder = CHECKED_FOLDERS.iter().any(|folder| path.starts_with(folder));
    let root_file = !path.contains('/') && ROOT_FILE_ENDINGS.iter().any(|ending| path.ends_with(ending));
    (in_folder || root_file).then_some(path)
}

/// Every state name of the ASL, at every level.
fn asl_states() -> BTreeSet<String> {
    let subs = Template::load().unwrap().default_substitutions().unwrap();
    let text = asl::substitute(&read(asl::PATH), &subs).unwrap();
    let definition: Value = serde_json::from_str(&text).unwrap();
    asl::levels(&definition).unwrap().iter().flat_map(|level| level.states.keys().cloned()).collect()
}

#[test]
fn every_relative_link_resolves_to_a_file_and_a_heading() {
    let mut broken = Vec::new();
    for doc in documents() {
        let text = read(&doc);
        let dir = Path::new(&doc).parent().map(Path::to_path_buf).unwrap_or_default();
        for (number, line) in prose(&text) {
            for target in link_targets(line) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
                let resolved: PathBuf = if file.is_empty() { PathBuf::from(&doc) } else { normalise(&dir.join(file)) };
                let resolved = resolved.to_string_lossy().into_owned();
                if !exists(&resolved) {
                    broken.push(format!("{doc}:{number}: {target} (no file {resolved})"));
                } else if !anchor.is_empty() {
                    let slugs: Vec<String> = headings(&read(&resolved)).iter().map(|h| slug(h)).collect();
                    if !slugs.iter().any(|s| s == anchor) {
                        broken.push(format!("{doc}:{number}: {target} (no heading #{anchor} in {resolved})"));
                    }
                }
            }
        }
    }
    assert!(broken.is_empty(), "links that do not resolve:\n{}", broken.join("\n"));
}

/// `a/../b` → `b`, `./a` → `a`, so a link from `docs/` to `../README.md` names `README.md`.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn every_backticked_repo_path_exists() {
    let mut missing = BTreeSet::new();
    for doc in documents() {
        let text = read(&doc);
        for (number, line) in prose(&text) {
            for path in code_spans(line).into_iter().filter_map(repo_path) {
                if !exists(path) {
                    missing.insert(format!("{path} ({doc}:{number})"));
                }
            }
        }
    }
    assert!(missing.is_empty(), "paths named in the docs that do not exist:\n{}", Vec::from_iter(missing).join("\n"));
}

#[test]
fn every_path_of_the_readme_layout_exists() {
    let readme = read("README.md");
    let mut missing = Vec::new();
    for line in block_after(&readme, "## Layout") {
        // Continuation lines are indented; the path is the first word of the others.
        let Some(path) = line.split_whitespace().next().filter(|_| !line.starts_with(' ')) else { continue };
        if !path.contains(['<', '*']) && !exists(path) {
            missing.push(path.to_owned());
        }
    }
    assert!(missing.is_empty(), "README Layout names paths that do not exist: {missing:?}");
}

#[test]
fn the_readme_flow_diagram_names_exactly_the_states_of_the_asl() {
    let readme = read("README.md");
    let mut named = BTreeSet::new();
    for line in block_after(&readme, "## How it works") {
        // The first line is the schedule; a state line starts at column 0 or 2 (a Map's child) and
        // its name ends at the first double space; deeper lines continue the line above.
        let indent = line.len() - line.trim_start().len();
        if line.starts_with("EventBridge") || indent > 2 || line.trim().is_empty() {
            continue;
        }
        let name = line.trim_start().split("  ").next().unwrap_or_default().trim_end();
        named.insert(name.to_owned());
    }
    assert_eq!(named, asl_states(), "README flow diagram states (left) vs the ASL's states (right)");
}

#[test]
fn the_architecture_flow_table_names_exactly_the_states_of_the_asl() {
    let architecture = read("docs/architecture.md");
    let section: Vec<&str> = architecture
        .lines()
        .skip_while(|l| l.trim_end() != "## The flow")
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .collect();
    let named: BTreeSet<String> = section
        .iter()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(name, _)| name.to_owned())
        .collect();
    assert_eq!(named, asl_states(), "architecture flow table states (left) vs the ASL's states (right)");
}

#[test]
fn the_core_module_map_names_exactly_the_modules_of_keyward_core() {
    let architecture = read("docs/architecture.md");
    let mapped: BTreeSet<String> = architecture
        .lines()
        .skip_while(|l| l.trim_end() != "## Core module map")
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(module, _)| module.to_owned())
        .collect();
    let src = keyward_tests::workspace_root().join("crates/core/src");
    let missing: Vec<&String> = mapped.iter().filter(|m| !src.join(m).is_file()).collect();
    assert!(missing.is_empty(), "the core module map names modules that do not exist: {missing:?}");
    // Every module is on the map; `lib.rs` and a folder's `mod.rs` may stay off it.
    let mut folders = vec![src.clone()];
    let mut unmapped = Vec::new();
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            let relative = path.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                folders.push(path);
            } else if relative.ends_with(".rs")
                && relative != "lib.rs"
                && !relative.ends_with("/mod.rs")
                && !mapped.contains(&relative)
            {
                unmapped.push(relative);
            }
        }
    }
    unmapped.sort();
    assert!(unmapped.is_empty(), "modules of keyward-core missing from the core module map: {unmapped:?}");
}

#[test]
fn the_architecture_has_the_headings_code_comments_cite() {
    let found = headings(&read("docs/architecture.md"));
    for heading in ARCHITECTURE_HEADINGS {
        assert!(found.iter().any(|h| h == heading), "docs/architecture.md has no heading {heading:?}");
    }
}

/// The files whose comments may cite a doc: sources, scripts, the ASL, the template, the Makefile.
fn cited_from() -> Vec<PathBuf> {
    let root = keyward_tests::workspace_root();
    let mut files = vec![root.join("Makefile"), root.join("template.yaml")];
    let mut folders: Vec<PathBuf> =
        ["crates", "scripts", "statemachine", "tests"].iter().map(|f| root.join(f)).collect();
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "target" || name == "__pycache__" {
                continue;
            }
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The citations of a doc heading in one text: a Markdown file, a comma and the quoted heading, in
/// parentheses, as the module doc above shows. In a JSON string (the ASL's comments) the quotes
/// are escaped, `\"`, and are read the same.
fn citations(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices(".md, ") {
        let start = text[..at].rfind(['(', ' ', '`']).map_or(0, |i| i + 1);
        let stem = &text[start..at];
        if stem.is_empty() || !stem.chars().all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c)) {
            continue;
        }
        let file = format!("{stem}.md");
        let rest = &text[at + ".md, ".len()..];
        let quoted = ["\\\"", "\""].into_iter().find_map(|quote| Some((quote, rest.strip_prefix(quote)?)));
        if let Some((quote, heading)) = quoted
            && let Some(end) = heading.find(quote)
        {
            out.push((file, heading[..end].to_owned()));
        }
    }
    out
}

#[test]
fn every_doc_heading_the_code_cites_exists() {
    let root = keyward_tests::workspace_root();
    let mut broken = Vec::new();
    for file in cited_from() {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        for (doc, heading) in citations(&text) {
            let shown = file.strip_prefix(&root).unwrap_or(&file).display().to_string();
            if !exists(&doc) {
                broken.push(format!("{shown}: ({doc}, {heading:?}): no file {doc}"));
            } else if !headings(&read(&doc)).contains(&heading) {
                broken.push(format!("{shown}: ({doc}, {heading:?}): no such heading"));
            }
        }
    }
    assert!(broken.is_empty(), "citations of doc headings that do not resolve:\n{}", broken.join("\n"));
}

#[test]
fn the_path_rule_takes_paths_and_leaves_prose() {
    for path in [
        "crates/core/src/policy.rs",
        "scripts/local-stack",
        "tools/keyward_local/stack.py",
        "template.yaml",
        "requirements.lock",
        "docs/testing.md",
        ".ci/run",
    ] {
        assert_eq!(repo_path(path), Some(path));
    }
    assert_eq!(repo_path("tests/e2e/test_faults.py::test_x"), Some("tests/e2e/test_faults.py"));
    for prose in [
        "runs/<exec>/report.json",
        "report.json",
        "keyward_core::errors",
        "main.rs",
        "target/local-stack/env",
        "events/<fn>/",
        "tests/e2e/*.py",
        "make test",
        "${…}",
    ] {
        assert_eq!(repo_path(prose), None, "{prose:?} is not a repo path");
    }
    assert_eq!(slug("The IAM call budget"), "the-iam-call-budget");
    assert_eq!(slug("Clean-up"), "clean-up");
    assert_eq!(
        citations("see (docs/architecture.md, \"Approval\")."),
        [("docs/architecture.md".into(), "Approval".into())]
    );
    assert_eq!(
        citations(r#""Comment": "… acts (docs/architecture.md, \"The flow\"). JSONPath only.""#),
        [("docs/architecture.md".into(), "The flow".into())]
    );
    assert!(citations("see a.md, b.md and c.md").is_empty());
}
