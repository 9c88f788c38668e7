# keyward — the commands. README.md mirrors this file.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo

.PHONY: demo test tools lint fmt unit build deploy bench

## demo: a sweep on the local stack (emulated AWS), ending with the approval link and the outcome.
demo:
	@echo "make demo needs the state machine, SAM template and local stack (issue #4), which are not built yet." >&2
	@exit 1

## test: everything — fmt, clippy -D warnings, unit, property, adapter (aws-smithy-mocks), handler
## (in-memory fakes) and integration tests against a real moto server on 127.0.0.1.
test: tools lint unit

## tools: the project-local Python tools (.venv/: moto), pinned in requirements.txt.
tools:
	scripts/venv

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

unit:
	$(CARGO) test --workspace --all-features --locked

build:
	$(CARGO) build --workspace --locked

deploy:
	@echo "make deploy (sam build && sam deploy --guided) needs template.yaml (issue #4), which is not built yet." >&2
	@exit 1

bench:
	@echo "make bench needs the local stack (issues #4 and #6), which is not built yet." >&2
	@exit 1
