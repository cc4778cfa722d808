#!/usr/bin/env bash
# The whole test suite: installs what it needs, then formatting, lints, and every test
# (unit, model parity, integration over real HTTP, the web form in Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
# Tests run python3, moto_server, cfn-lint and hadolint from the virtual environment.
export PATH="$PWD/.venv/bin:$PATH"

# Everything is installed now: a missing stylesheet compiler or browser is a failure, not a skip.
export CHURN_REQUIRE_CSS=1 CHURN_E2E_REQUIRED=1

cargo fmt --all -- --check
# Deployment files (deploy/): the SAM template and the container image definition.
cfn-lint deploy/template.yaml
hadolint deploy/Dockerfile
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo test --locked --workspace
