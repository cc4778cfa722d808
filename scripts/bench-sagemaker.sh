#!/usr/bin/env bash
# What going through the SageMaker backend adds to an answer's latency (issue 11's goal: under
# 100 µs at p50): churn-predict A with ENDPOINT_NAME pointing at churn-predict B serving as a
# SageMaker container (`serve`) on loopback, against asking B directly. The same customer, one
# connection at a time (latency, not throughput), REQUESTS requests each, alternating ROUNDS.
# A benchmark, not a test: CI does not run it.
#
#   scripts/bench-sagemaker.sh                 # builds release first
#   SKIP_BUILD=1 OURS_BIN=/path/to/churn-predict scripts/bench-sagemaker.sh
set -euo pipefail
cd "$(dirname "$0")/.."

OHA_VERSION=1.16.0
ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-5000}
BODY='{"data":[670,1,38,7,0.0,2,1,1,77864.41,1,0,0]}'
OURS=${OURS_BIN:-target/release/churn-predict}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-sagemaker.XXXXXX")

if ! command -v oha >/dev/null || [[ "$(oha --version)" != *" $OHA_VERSION"* ]]; then
    cargo install --locked "oha@$OHA_VERSION"
fi
if [[ -z "${SKIP_BUILD:-}" ]]; then
    cargo build --release --locked -p server --bin churn-predict
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
wait_healthy() { # port
    for _ in $(seq 200); do
        curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return 0
        sleep 0.05
    done
    echo "port $1 never answered /healthz" >&2; exit 1
}

# B: the "endpoint", a SageMaker container on loopback. A: the server, scoring through B.
B_PORT=$(free_port); A_PORT=$(free_port)
env -i PATH="$PATH" HOST=127.0.0.1 PORT="$B_PORT" "$OURS" serve >"$WORK/b.log" 2>&1 &
PIDS+=($!)
wait_healthy "$B_PORT"
env -i PATH="$PATH" HOST=127.0.0.1 PORT="$A_PORT" ENDPOINT_NAME=bench \
    AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME="http://127.0.0.1:$B_PORT" AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_EC2_METADATA_DISABLED=true \
    "$OURS" >"$WORK/a.log" 2>&1 &
PIDS+=($!)
wait_healthy "$A_PORT"

p50() { # port → the p50 latency in µs of REQUESTS sequential requests
    oha --no-tui --output-format json -n "$REQUESTS" -c 1 -m POST \
        -H 'content-type: application/json' -d "$BODY" "http://127.0.0.1:$1/predict" \
        | python3 -c 'import json,sys; r=json.load(sys.stdin); print(round(r["latencyPercentiles"]["p50"]*1e6,1))'
}
echo "== $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores; load: $(uptime | sed 's/.*load average/load average/')"
p50 "$B_PORT" >/dev/null; p50 "$A_PORT" >/dev/null  # warm-up (connections, pools)
for round in $(seq "$ROUNDS"); do
    direct=$(p50 "$B_PORT"); through=$(p50 "$A_PORT")
    echo "round $round: direct p50 ${direct} µs, through the SageMaker backend ${through} µs, added $(python3 -c "print(round($through-$direct,1))") µs"
done
