#!/usr/bin/env bash
# HTTP benchmark of churn-predict against the floor (server/examples/floor.rs: bare axum +
# serde, no middleware), side by side on this machine. A benchmark, not a test: CI does not run
# it and nothing here asserts a time. See docs/performance.md for how to read the figures.
#
#   scripts/bench-http.sh               # 3 alternating rounds at 32 and at 64 connections, cold start
#   ROUNDS=5 DURATION=10 scripts/bench-http.sh
#   SKIP_BUILD=1 scripts/bench-http.sh  # reuse target/release as it is
#   OURS_ENV='RUST_LOG=warn' scripts/bench-http.sh   # extra settings for ours (default: none)
#   OURS_BIN=/tmp/churn-old SKIP_BUILD=1 scripts/bench-http.sh   # compare another build of ours
#   OURS_BIN=target/release/examples/floor OURS_ARGS=--frame scripts/bench-http.sh
#                                       # what our frame alone (ids, access log, metrics,
#                                       # security headers) costs over the bare floor
#
# What it does:
#   1. installs oha (pinned) from crates.io if it is missing (a few minutes to build);
#   2. builds churn-predict and the floor in release mode;
#   3. starts both on 127.0.0.1, ours with DEFAULT settings (access log on, text format, metrics
#      on, request ids, security headers, limits). Its stdout (the access log) goes to a file,
#      as under systemd/Docker/Lambda where stdout is captured: /dev/null would hide the cost of
#      the write;
#   4. runs ROUNDS alternating rounds (floor, ours) of `POST /predict` with the sample customer at
#      32 connections, then ROUNDS at 64 connections (the latency figure), DURATION s each, after
#      a 1 s warm-up of each server;
#   5. prints each round, the median ratio to the floor, p50/p99 of both, the CPU each server
#      spent per request, how busy the machine was with OTHER work during each round, the
#      binaries' sizes, and the cold start (exec → first 200 on /healthz, median of COLD_RUNS).
#
# oha shares the cores with the server (2 cores here), as in issue 11's figures. Take numbers
# only on a quiet machine: the "other load" column says how much CPU something else used.
set -euo pipefail
cd "$(dirname "$0")/.."

OHA_VERSION=1.16.0
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-6}
CONNECTIONS=${CONNECTIONS:-32}
LATENCY_CONNECTIONS=${LATENCY_CONNECTIONS:-64}
COLD_RUNS=${COLD_RUNS:-20}
OURS_ENV=${OURS_ENV:-}
OURS_ARGS=${OURS_ARGS:-}
BODY='{"data":[670,1,38,7,0.0,2,1,1,77864.41,1,0,0]}'
OURS=${OURS_BIN:-target/release/churn-predict}  # OURS_BIN: another build of ours, e.g. a copy of an older one
FLOOR=${FLOOR_BIN:-target/release/examples/floor}  # FLOOR_BIN: a floor built elsewhere
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-http.XXXXXX")

# ---- tools ------------------------------------------------------------------------------
if ! command -v oha >/dev/null || [[ "$(oha --version)" != *" $OHA_VERSION"* ]]; then
    echo "installing oha $OHA_VERSION from crates.io (takes a few minutes)..." >&2
    cargo install --locked "oha@$OHA_VERSION"
fi
command -v python3 >/dev/null || { echo "python3 is needed to read oha's JSON" >&2; exit 1; }

if [[ -z "${SKIP_BUILD:-}" ]]; then
    cargo build --release --locked -p server --bin churn-predict --example floor
fi

# ---- servers ----------------------------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

wait_healthy() { # port
    for _ in $(seq 200); do
        if python3 - "$1" <<'EOF' 2>/dev/null; then return 0; fi
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=1)
EOF
        sleep 0.05
    done
    echo "server on port $1 never answered /healthz" >&2
    exit 1
}

FLOOR_PORT=$(free_port)
"$FLOOR" --port "$FLOOR_PORT" 2>"$WORK/floor.err" &
PIDS+=($!); FLOOR_PID=$!
OURS_PORT=$(free_port)
# Defaults: no RUST_LOG, LOG_FORMAT, METRICS_ENABLED or API keys from the caller's shell.
# shellcheck disable=SC2086
env -u RUST_LOG -u LOG_FORMAT -u METRICS_ENABLED -u API_KEYS -u API_KEYS_FILE -u MODEL_PATH \
    -u ENDPOINT_NAME -u MAX_CONCURRENT_REQUESTS HOST=127.0.0.1 PORT="$OURS_PORT" $OURS_ENV \
    DRAIN_SECONDS=0 "$OURS" $OURS_ARGS >>"$WORK/ours.log" 2>&1 &
PIDS+=($!); OURS_PID=$!
wait_healthy "$FLOOR_PORT"
wait_healthy "$OURS_PORT"

# ---- load -------------------------------------------------------------------------------
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }           # user+system, clock ticks
busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; } # all CPUs, clock ticks
ticks_of_times() { # `times` output (last line: children) → clock ticks
    python3 -c "
import re, sys
line = open(sys.argv[1]).read().splitlines()[-1]
secs = [int(m) * 60 + float(s) for m, s in re.findall(r'(\d+)m([\d.]+)s', line)]
print(round(sum(secs) * $(getconf CLK_TCK)))" "$1"
}

run_oha() { # name port connections seconds → one JSON line in $WORK/rounds.jsonl
    local name=$1 port=$2 conns=$3 secs=$4 pid out
    pid=$([[ $name == floor ]] && echo "$FLOOR_PID" || echo "$OURS_PID")
    out="$WORK/$name-c$conns-$(date +%s%N).json"
    local s0 b0 s1 b1
    s0=$(cpu_ticks "$pid"); b0=$(busy_ticks)
    # A shell of its own, so that its `times` is oha's CPU alone.
    bash -c 'oha --no-tui --output-format json -z "$1s" -c "$2" -m POST \
        -H "content-type: application/json" -d "$3" "$4" >"$5"; times >"$5.times"' \
        oha "$secs" "$conns" "$BODY" "http://127.0.0.1:$port/predict" "$out"
    s1=$(cpu_ticks "$pid"); b1=$(busy_ticks)
    python3 - "$out" "$name" "$conns" "$((s1 - s0))" "$((b1 - b0))" "$(ticks_of_times "$out.times")" \
        "$(getconf CLK_TCK)" "$(nproc)" "$secs" >>"$WORK/rounds.jsonl" <<'EOF'
import json, sys
path, name, conns, server, busy, oha, hz, cores, secs = sys.argv[1:]
r = json.load(open(path))
s = r["summary"]
codes = r.get("statusCodeDistribution", {})
total = sum(codes.values())
ok = codes.get("200", 0)
lat = r["latencyPercentiles"]
hz, secs, cores = int(hz), float(s["total"]), int(cores)
other = max(0, int(busy) - int(server) - int(oha)) / hz / (secs * cores)
print(json.dumps({
    "name": name, "conns": int(conns), "rps": s["requestsPerSec"],
    "p50_ms": lat["p50"] * 1e3, "p99_ms": lat["p99"] * 1e3,
    # With -z, the requests in flight when time is up are "aborted due to deadline": not errors.
    "ok": ok, "total": total, "errors": sum(n for e, n in r.get("errorDistribution", {}).items()
                                            if "deadline" not in e),
    "server_us_per_req": int(server) / hz * 1e6 / max(total, 1),
    "other_load": other,
}))
EOF
}

warm() { oha --no-tui -z 1s -c 8 -m POST -H 'content-type: application/json' -d "$BODY" \
    "http://127.0.0.1:$1/predict" >/dev/null; }

echo "== $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, oha $OHA_VERSION; load before: $(uptime | sed 's/.*load average/load average/')"
echo "   ours: $OURS${OURS_ARGS:+ $OURS_ARGS} (defaults${OURS_ENV:+ + $OURS_ENV}; log → $WORK/ours.log), floor: $FLOOR"
warm "$FLOOR_PORT"; warm "$OURS_PORT"
for conns in "$CONNECTIONS" "$LATENCY_CONNECTIONS"; do
    for round in $(seq "$ROUNDS"); do
        echo "   round $round at $conns connections..." >&2
        run_oha floor "$FLOOR_PORT" "$conns" "$DURATION"
        : >"$WORK/ours.log" # keep the log file from growing across rounds (the writes still happen)
        run_oha ours "$OURS_PORT" "$conns" "$DURATION"
    done
done
echo "   load after: $(uptime | sed 's/.*load average/load average/')"

# ---- cold start -------------------------------------------------------------------------
cleanup; PIDS=()
COLD=$(OURS_ARGS="$OURS_ARGS" python3 - "$OURS" "$FLOOR" "$COLD_RUNS" <<'EOF'
import os, socket, statistics, subprocess, sys, time
ours, floor, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
ours_args = os.environ.get("OURS_ARGS", "").split()

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def first_200(cmd, env):
    """Seconds from exec to the first 200 answer to GET /healthz (polled every ~100 µs)."""
    port = free_port()
    env = dict(env, PORT=str(port), HOST="127.0.0.1")
    start = time.perf_counter()
    proc = subprocess.Popen(cmd + ["--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < 10:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.0001)
        raise SystemExit(f"{cmd[0]} never answered")
    finally:
        proc.kill(); proc.wait()

env = {k: v for k, v in os.environ.items()
       if k not in ("RUST_LOG", "LOG_FORMAT", "MODEL_PATH", "ENDPOINT_NAME", "API_KEYS",
                    "API_KEYS_FILE", "METRICS_ENABLED", "MAX_CONCURRENT_REQUESTS")}
out = []
for name, cmd in (("floor", [floor]), ("ours", [ours] + ours_args)):
    first_200(cmd, env)  # page cache warm
    times = sorted(first_200(cmd, env) * 1e3 for _ in range(runs))
    out.append(f"{name} {statistics.median(times):.2f} {times[0]:.2f} {times[-1]:.2f}")
print("\n".join(out))
EOF
)

# ---- report -----------------------------------------------------------------------------
python3 - "$WORK/rounds.jsonl" "$CONNECTIONS" "$LATENCY_CONNECTIONS" "$OURS" "$FLOOR" "$COLD_RUNS" <<EOF
import json, os, statistics, sys
path, c1, c2, ours, floor, cold_runs = sys.argv[1:]
rows = [json.loads(l) for l in open(path)]
cold = {l.split()[0]: l.split()[1:] for l in """$COLD""".splitlines()}
med = statistics.median
print()
print(f"{'round':>5} {'conns':>5} {'server':>6} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
      f"{'CPU µs/req':>10} {'non-200':>7} {'other load':>10}")
for conns in (int(c1), int(c2)):
    sel = [r for r in rows if r["conns"] == conns]
    for i, r in enumerate(sel):
        print(f"{i // 2 + 1:>5} {conns:>5} {r['name']:>6} {r['rps']:>9.0f} {r['p50_ms']:>7.2f} "
              f"{r['p99_ms']:>7.2f} {r['server_us_per_req']:>10.1f} "
              f"{r['total'] - r['ok'] + r['errors']:>7} {r['other_load']:>9.0%}")
print()
for conns in (int(c1), int(c2)):
    f = [r for r in rows if r["conns"] == conns and r["name"] == "floor"]
    o = [r for r in rows if r["conns"] == conns and r["name"] == "ours"]
    ratio = med([b["rps"] / a["rps"] for a, b in zip(f, o)])
    p99 = med([b["p99_ms"] / a["p99_ms"] for a, b in zip(f, o)])
    print(f"{conns} connections: floor {med(r['rps'] for r in f):,.0f} req/s, "
          f"ours {med(r['rps'] for r in o):,.0f} req/s → median ratio {ratio:.2f}")
    print(f"   p50 floor {med(r['p50_ms'] for r in f):.2f} ms, ours {med(r['p50_ms'] for r in o):.2f} ms;"
          f" p99 floor {med(r['p99_ms'] for r in f):.2f} ms, ours {med(r['p99_ms'] for r in o):.2f} ms"
          f" (ours/floor {p99:.2f})")
    print(f"   server CPU per request: floor {med(r['server_us_per_req'] for r in f):.1f} µs, "
          f"ours {med(r['server_us_per_req'] for r in o):.1f} µs;"
          f" other load up to {max(r['other_load'] for r in f + o):.0%} of the machine")
bad = [r for r in rows if r["ok"] != r["total"] or r["errors"]]
if bad:
    print(f"WARNING: {len(bad)} round(s) had non-200 answers or errors: the figures are not valid")
for name, path in (("ours", ours), ("floor", floor)):
    size = os.path.getsize(path)
    print(f"{name} binary: {size:,} bytes ({size / 2**20:.1f} MiB, {size / 1e6:.1f} MB)"
          + (f"; cold start (exec → first 200 on /healthz) median {cold[name][0]} ms, "
             f"min {cold[name][1]}, max {cold[name][2]} over {cold_runs} runs" if name in cold else ""))
EOF
echo "   raw oha output: $WORK"
