# keyward — the commands. README.md mirrors this file.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo

.PHONY: demo test tools lock node-tools browser lint fmt unit contract contract-checks build e2e deploy bench

## demo: a sweep on the local stack (emulated AWS), ending with the approval link and the outcome.
demo:
	scripts/demo

## test: everything — fmt, clippy -D warnings, ruff, mypy, unit, property, adapter (aws-smithy-mocks),
## handler (in-memory fakes) and integration tests against a real moto server on 127.0.0.1, the
## contract checks of the state machine and template.yaml, the release build of the six functions,
## and the end-to-end tests on the local stack (with the browser test in Debian's headless chromium).
test: tools lint unit contract-checks build e2e

## tools: the project-local Python environment (.venv/: moto, the tools, the package tools/keyward_local
## installed editable), every version pinned with its hash in requirements.lock.
tools:
	scripts/venv

## lock: rewrites requirements.lock from pyproject.toml (keeping today's pins where they still fit;
## `make lock UPGRADE=1` takes the newest versions), then reinstalls .venv/.
lock: tools
	.venv/bin/uv pip compile pyproject.toml --all-extras --generate-hashes --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 $(if $(UPGRADE),--upgrade) -o requirements.lock
	scripts/venv

## node-tools: the project-local Node tools (node_modules/: asl-validator, and oidc-provider for the
## local stack's OpenID provider), pinned exactly in package.json and package-lock.json; reinstalled
## with `npm ci` only when the lock file changed.
node-tools:
	@if [ ! -x node_modules/.bin/asl-validator ] || ! cmp -s package-lock.json node_modules/.keyward-package-lock.json; then \
	  echo "==> installing Node tools into node_modules/ (package-lock.json)"; \
	  npm ci --no-audit --no-fund; \
	  cp package-lock.json node_modules/.keyward-package-lock.json; \
	fi

lint: tools
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features --locked -- -D warnings
	.venv/bin/ruff check tools tests/e2e
	.venv/bin/ruff format --check tools tests/e2e
	.venv/bin/mypy

fmt: tools
	$(CARGO) fmt --all
	.venv/bin/ruff format tools tests/e2e

unit:
	$(CARGO) test --workspace --all-features --locked

## contract: the ASL through asl-validator and moto's parser, template.yaml (and the member template)
## through cfn-lint and sam validate (--lint), then the Rust contract tests (crate keyward-tests).
## `make test` runs only the first part (contract-checks): `unit` has run the Rust contract tests
## already, and `-p keyward-tests` alone resolves the dependencies' features differently, so cargo
## would build them again (3 minutes of CI) to run the same tests twice.
contract: contract-checks
	$(CARGO) test -p keyward-tests --all-features --locked

contract-checks: tools node-tools
	scripts/contract-checks

## The six functions: template.yaml's, as keyward_local.template reads them (expanded when a recipe
## runs, after `tools` has installed .venv/).
LAMBDA_BINS = $(shell .venv/bin/python -m keyward_local.template)

## build: release builds of the six functions → target/lambda/<fn>/bootstrap, each under the 10 MB
## budget, with the very command `sam build` runs for each (aws-lambda-builders' own, asked by
## keyward_local.build: cargo lambda build --release --arm64 --bin <fn>, zig pinned in the lock).
## Where rustup has no aarch64-unknown-linux-gnu (CI cannot download it), --arm64 becomes --x86-64.
build: tools
	.venv/bin/python -m keyward_local.build

## browser: Debian's chromium for the browser test, with apt-get when /usr/bin/chromium is missing.
## Not pinned to a version: Debian's security archive keeps only the current chromium build, so a
## pin would break on its next security update. Playwright (the driver) is pinned in requirements.lock.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "==> installing Debian's chromium (apt-get) for the browser test"; \
	  sudo=""; if [ "$$(id -u)" != 0 ]; then sudo="sudo"; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $$sudo apt-get install -y -qq chromium >/dev/null \
	    || { $$sudo apt-get update -qq && $$sudo apt-get install -y -qq chromium >/dev/null; }; \
	fi
	@echo "==> $$(/usr/bin/chromium --version 2>/dev/null)"

## e2e: the end-to-end tests (tests/e2e, pytest): the real state machine on moto's engine, the real
## handlers under cargo lambda watch, every path of the flow (docs/architecture.md, "The flow"), the
## approval page in chromium, injected faults and an IAM throttle. The tests bring the local stack up with each
## module's configuration and stop it at the end; a stack that does not come up fails them.
e2e: tools node-tools browser
	test -n "$(LAMBDA_BINS)" || { echo "no functions found in template.yaml" >&2; exit 1; }
	$(CARGO) build --locked $(addprefix --bin ,$(LAMBDA_BINS))
	.venv/bin/pytest

## deploy: build the six functions for arm64 with SAM (cargo-lambda from .venv/) and deploy the
## stack, asking for its parameters the first time (samconfig.toml keeps the answers).
deploy: tools
	PATH="$$PWD/.venv/bin:$$PATH" SAM_CLI_TELEMETRY=0 sam build
	PATH="$$PWD/.venv/bin:$$PATH" SAM_CLI_TELEMETRY=0 sam deploy --guided

## bench: sweeps of generated 1,000- and 5,000-user accounts on the local stack (report and live
## screening, and under an IAM throttle), then of emulated organisations (BENCH_ORG, default
## 10x1000,3x5000); prints the tables, writes target/bench/results.json and exits 0 only when every
## budget holds (tools/keyward_local/bench_run.py).
bench:
	scripts/bench
