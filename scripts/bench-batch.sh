#!/usr/bin/env bash
# Batch scoring benchmark (a script, not a test): a 1,000,000-row raw-schema file scored CSV to
# CSV by `churn-predict score` and by pandas + xgboost (nthread=2) in the same run, with wall
# time, rows/s and peak RSS of each, and a check that both give the same labels.
#
#   scripts/bench-batch.sh [ROWS]          # default 1000000; files in $BENCH_DIR (default /tmp)
#   SKIP_BUILD=1 OURS_BIN=/tmp/churn-predict scripts/bench-batch.sh
#
# Goals (issue 9): at least 10x pandas + xgboost's rows/s, at least 3x with reasons (`--explain`
# beside xgboost's exact `pred_contribs=True`, nthread=2), and a peak RSS under 64 MiB for
# 1,000,000 rows. Numbers depend on what else the machine runs: note the load average printed
# with them. Needs a release build (built here) and the Python of training/requirements.txt
# (.venv/bin/python if present).
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS="${1:-1000000}"
DIR="${BENCH_DIR:-/tmp}/churn-bench"
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
mkdir -p "$DIR"

# SKIP_BUILD=1 OURS_BIN=/path/to/churn-predict: measure a build made elsewhere (as bench-http.sh).
if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release --locked -p server --bin churn-predict
fi
BIN=${OURS_BIN:-target/release/churn-predict}

INPUT="$DIR/customers-$ROWS.csv"
[ -s "$INPUT" ] || "$PYTHON" scripts/bench_batch.py generate "$ROWS" "$INPUT" >/dev/null

# Peak RSS (KiB) and CPU seconds (user + system) from GNU time when installed, else the
# kernel's VmHWM of the process (and no CPU figure). CPU time is what a busy machine distorts
# least: wall time shrinks only when the cores are free.
measure() {
  local name=$1; shift
  local started ended kib cpu=0
  started=$(date +%s.%N)
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f '%M %U %S' -o "$DIR/$name.rss" "$@" 2>"$DIR/$name.err"
    read -r kib user system < <(tail -1 "$DIR/$name.rss")
    cpu=$(awk -v u="$user" -v s="$system" 'BEGIN{print u+s}')
  else
    "$@" 2>"$DIR/$name.err" & local pid=$! peak=0
    while kill -0 "$pid" 2>/dev/null; do
      kib=$(awk '/VmHWM/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
      [ "${kib:-0}" -gt "$peak" ] && peak=$kib
      sleep 0.05
    done
    wait "$pid"; kib=$peak
  fi
  ended=$(date +%s.%N)
  "$PYTHON" -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); r=int(sys.argv[3]); print(f'{sys.argv[4]:<24} {s:8.2f} s {r/s:12,.0f} rows/s  CPU {float(sys.argv[6]):6.2f} s  peak RSS {int(sys.argv[5])/1024:7.1f} MiB')" \
    "$started" "$ended" "$ROWS" "$name" "$kib" "$cpu"
  echo "$started $ended $kib $cpu" > "$DIR/$name.figures"
}

echo "rows: $ROWS ($(du -h "$INPUT" | cut -f1)); cores: $(nproc); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
measure churn-predict "$BIN" score "$INPUT" -o "$DIR/scored-rust.csv"
measure churn-predict-1-thread taskset -c 0 "$BIN" score "$INPUT" -o "$DIR/scored-rust-1.csv"
measure pandas+xgboost "$PYTHON" scripts/bench_batch.py pandas "$INPUT" "$DIR/scored-pandas.csv"
measure churn-predict--explain "$BIN" score "$INPUT" --explain -o "$DIR/explained-rust.csv"
measure pandas+pred_contribs "$PYTHON" scripts/bench_batch.py explain "$INPUT" "$DIR/explained-pandas.csv"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

"$PYTHON" - "$DIR" <<'PY'
import sys
d = sys.argv[1]
def figures(name):
    a, b, _, cpu = open(f"{d}/{name}.figures").read().split()
    return float(b) - float(a), float(cpu)
for ours_name, theirs_name, goal in [("churn-predict", "pandas+xgboost", 10),
                                      ("churn-predict--explain", "pandas+pred_contribs", 3)]:
    (ours, our_cpu), (theirs, their_cpu) = figures(ours_name), figures(theirs_name)
    print(f"ratio {ours_name} / {theirs_name}: {theirs / ours:.1f}x in wall time (goal: {goal}x)"
          + (f", {their_cpu / our_cpu:.1f}x in CPU time" if our_cpu else ""))
PY
cmp -s "$DIR/scored-rust.csv" "$DIR/scored-rust-1.csv" && echo "one thread and all cores: identical output"
"$PYTHON" scripts/bench_batch.py compare "$DIR/scored-rust.csv" "$DIR/scored-pandas.csv"
"$PYTHON" scripts/bench_batch.py compare "$DIR/explained-rust.csv" "$DIR/explained-pandas.csv"
