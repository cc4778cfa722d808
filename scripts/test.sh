#!/usr/bin/env bash
# The whole test suite: installs what it needs, then formatting, lints, and every test
# (unit, model parity, integration over real HTTP, the web form in Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test

# Everything is installed now: a missing stylesheet compiler or browser is a failure, not a skip.
export CHURN_REQUIRE_CSS=1 CHURN_E2E_REQUIRED=1

cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo test --locked --workspace
