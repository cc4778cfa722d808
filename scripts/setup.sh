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
$want_tests && ! python3 -m venv --help >/dev/null 2>&1 && apt_packages+=(python3-venv)
# Node runs the Tailwind compiler for the web form's CSS (app/build.rs) and the Playwright driver.
command -v npm >/dev/null || apt_packages+=(nodejs npm)
# The end-to-end tests drive Debian's Chromium.
if $want_tests && [[ ! -x /usr/bin/chromium ]]; then apt_packages+=(chromium); fi
if ((${#apt_packages[@]})); then
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${apt_packages[@]}"
fi

command -v cargo >/dev/null || { echo "setup: cargo is missing; install Rust (rustup) first" >&2; exit 1; }
if $want_tests && command -v rustup >/dev/null; then
  # The test command runs cargo fmt and clippy; a minimal toolchain lacks them.
  rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed | grep -q '^clippy' || rustup component add clippy
fi

# The Tailwind compiler (@tailwindcss/oxide) needs Node 20 or newer.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ((node_major < 20)); then
  echo "setup: Node.js 20 or newer is needed for the web form's CSS (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

# npm packages from the lock files; skipped when node_modules already matches the lock.
npm_ci() {
  local dir=$1
  if [[ ! -f "$dir/node_modules/.package-lock.json" || "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
npm_ci .  # Tailwind CSS compiler
if $want_tests; then
  npm_ci end2end  # Playwright driver (playwright-core; downloads no browser) and axe-core
fi

if $want_tests; then
  # A virtual environment keeps the test tools apart from the system's Python (Debian's refuses
  # `pip install` outside one); it still sees packages already installed system-wide.
  python3 -m venv --system-site-packages .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -r scripts/requirements-test.txt
fi
