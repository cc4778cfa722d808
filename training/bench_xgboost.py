"""Baseline latency of XGBoost's own predictor for the Rust evaluator to beat.

Usage:
    python3 training/bench_xgboost.py [--model model/churn-xgb.json] [--calls 20000]

Times, on one thread:
- booster.inplace_predict on one row (median and p99 µs per call) and on a
  1,000-row batch (rows per second);
- exact SHAP values, booster.predict(pred_contribs=True): one row per call
  (including the DMatrix it needs) and a 1,000-row DMatrix (µs per row: the
  C++ TreeSHAP cost, Python overhead amortised); the same for the approximate
  contributions (approx_contribs=True).
Compare with `cargo bench -p model` run in the same session.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import xgboost as xgb

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "model" / "churn-xgb.json"
ROW = [670, 1, 38, 7, 0, 2, 1, 1, 77864.41, 1, 0, 0]
WARMUP = 1_000
BATCH_ROWS = 1_000
BATCH_REPEATS = 200


def time_calls(fn, calls: int) -> np.ndarray:
    """Per-call wall time in microseconds."""
    samples = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter_ns()
        fn()
        samples[i] = (time.perf_counter_ns() - start) / 1_000
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()

    booster = xgb.Booster(model_file=str(args.model))
    booster.set_param({"nthread": 1})
    row = np.array([ROW], dtype=np.float32)
    batch = np.repeat(row, BATCH_ROWS, axis=0)

    def predict_row():
        return booster.inplace_predict(row, missing=np.nan)

    def predict_batch():
        return booster.inplace_predict(batch, missing=np.nan)

    time_calls(predict_row, WARMUP)
    single = time_calls(predict_row, args.calls)
    time_calls(predict_batch, 10)
    batch_us = np.median(time_calls(predict_batch, BATCH_REPEATS))

    print(f"xgboost {xgb.__version__}, {booster.num_boosted_rounds()} trees, "
          f"p(row) = {float(predict_row()[0])!r}")
    print(f"single row, {args.calls} calls: median {np.median(single):.2f} µs, "
          f"p99 {np.percentile(single, 99):.2f} µs")
    print(f"{BATCH_ROWS}-row batch: median {batch_us:.1f} µs/batch = "
          f"{batch_us * 1000 / BATCH_ROWS:.0f} ns/row, "
          f"{BATCH_ROWS / batch_us * 1e6:,.0f} rows/s")

    names = booster.feature_names
    batch_matrix = xgb.DMatrix(batch, missing=np.nan, feature_names=names, nthread=1)
    for label, approx in [("exact SHAP (pred_contribs)", False),
                          ("approximate contributions (approx_contribs)", True)]:
        def explain_row():
            matrix = xgb.DMatrix(row, missing=np.nan, feature_names=names, nthread=1)
            return booster.predict(matrix, pred_contribs=True, approx_contribs=approx)

        def explain_batch():
            return booster.predict(batch_matrix, pred_contribs=True, approx_contribs=approx)

        calls = max(args.calls // 10, 200)
        time_calls(explain_row, WARMUP // 10)
        one = time_calls(explain_row, calls)
        time_calls(explain_batch, 3)
        per_row = np.median(time_calls(explain_batch, 30)) / BATCH_ROWS
        print(f"{label}: one row per call (with its DMatrix), {calls} calls: "
              f"median {np.median(one):.1f} µs; {BATCH_ROWS}-row DMatrix: "
              f"{per_row:.2f} µs/row")


if __name__ == "__main__":
    main()
