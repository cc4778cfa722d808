#!/usr/bin/env bash
# Installs what is needed, builds, and starts churn-predict on the embedded model
# (http://127.0.0.1:3000 unless HOST/PORT say otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo run --release --locked -p server --bin churn-predict -- "$@"
