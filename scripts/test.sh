#!/usr/bin/env bash
# The whole test suite: installs what it needs, then formatting, lints, and every test
# (unit, model parity, integration over real HTTP).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test

cargo fmt --all -- --check
# Deployment files (deploy/): the SAM template and the container image definition.
cfn-lint deploy/template.yaml
hadolint deploy/Dockerfile
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo test --locked --workspace
