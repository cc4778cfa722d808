"""Write XGBoost's approximate feature contributions (Saabas, `approx_contribs=True`) for
synthetic customers, so the Rust evaluator's explanations can be checked against XGBoost.

Usage:
    python3 training/contrib_fixture.py --model model/churn-xgb.json \
        --out model/tests/fixtures/contribs.csv [--rows 500] [--seed 11]

CSV: the 12 feature names (empty = missing), then `contrib_<feature>` for each feature and
`contrib_bias` (log-odds; they sum to the margin).
"""

import argparse
import csv
from pathlib import Path

import numpy as np
import xgboost as xgb

from features import FEATURE_NAMES
from parity_fixture import fmt, load_trees, perturb, split_values, synthesize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    booster = xgb.Booster()
    booster.load_model(args.model)
    rng = np.random.default_rng(args.seed)
    X = synthesize(rng, args.rows)
    perturb(rng, X, split_values(load_trees(args.model)))
    X = X.astype(np.float32)
    contribs = booster.predict(
        xgb.DMatrix(X, missing=np.nan, feature_names=FEATURE_NAMES),
        pred_contribs=True,
        approx_contribs=True,
    )
    header = FEATURE_NAMES + [f"contrib_{n}" for n in FEATURE_NAMES] + ["contrib_bias"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        for x, c in zip(X, contribs):
            writer.writerow([fmt(float(v)) for v in x] + [repr(float(v)) for v in c])
    print(f"wrote {len(X)} rows to {args.out}")


if __name__ == "__main__":
    main()
