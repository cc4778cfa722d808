#!/usr/bin/env bash
# Installs what is needed, builds, and starts churn-predict on the embedded model
# (http://127.0.0.1:3000 unless HOST/PORT say otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CHURN_REQUIRE_CSS=1   # serve the real stylesheet or fail the build
exec cargo run --release --locked -p server --bin churn-predict -- "$@"
