"""Generate a model in XGBoost 1.x's JSON layout plus its parity CSV.

Must run under XGBoost 1.7.6 (its JSON layout differs from 3.x). How it was run:
    python3 -m venv /tmp/xgb17
    /tmp/xgb17/bin/pip install xgboost==1.7.6 numpy pandas
    /tmp/xgb17/bin/python training/legacy_fixture.py

Writes model/tests/fixtures/legacy-1.7.json and legacy-1.7-parity.csv (same
format as parity.csv, SHAP columns included). Trained on synthetic churn-like customers with a
synthetic label (no real data): 20 trees, depth 4, explicit base_score 0.3,
and NaNs in the training data so learned default directions vary.
"""

import argparse
from pathlib import Path

import numpy as np
import xgboost as xgb

from features import FEATURE_NAMES
from parity_fixture import NAN_ROW_RATE, synthesize, write_parity_csv

FIXTURES = Path(__file__).resolve().parent.parent / "model" / "tests" / "fixtures"
SEED = 17
TRAIN_ROWS = 3000
TRAIN_NAN_RATE = 0.08  # per value; high enough that missing values steer splits
PARAMS = {
    "objective": "binary:logistic",
    "booster": "gbtree",
    "max_depth": 4,
    "eta": 0.3,
    "base_score": 0.3,
    "seed": SEED,
    "nthread": 1,
}
NUM_ROUNDS = 20


def synthetic_label(rng: np.random.Generator, X: np.ndarray) -> np.ndarray:
    """Churn-ish made-up rule: older, inactive, German, many products churn."""
    logit = (
        0.08 * (X[:, 2] - 45)           # Age
        - 1.0 * X[:, 7]                 # IsActiveMember
        + 0.8 * X[:, 10]                # Geography_Germany
        + 1.2 * (X[:, 5] >= 3)          # NumOfProducts
        + 0.000004 * X[:, 4]            # Balance
        - 0.003 * (X[:, 0] - 650)       # CreditScore
    )
    return (rng.random(len(X)) < 1 / (1 + np.exp(-logit))).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=FIXTURES)
    parser.add_argument("--rows", type=int, default=2000, help="parity CSV rows")
    args = parser.parse_args()
    if not xgb.__version__.startswith("1.7."):
        raise SystemExit(f"needs xgboost 1.7.x, found {xgb.__version__}")

    rng = np.random.default_rng(SEED)
    X = synthesize(rng, TRAIN_ROWS)
    y = synthetic_label(rng, X)
    X[rng.random(X.shape) < TRAIN_NAN_RATE] = np.nan
    dtrain = xgb.DMatrix(X.astype(np.float32), label=y, missing=np.nan,
                         feature_names=FEATURE_NAMES)
    booster = xgb.train(PARAMS, dtrain, num_boost_round=NUM_ROUNDS)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    model_path = args.out_dir / "legacy-1.7.json"
    booster.save_model(model_path)

    X_test = synthesize(rng, args.rows)
    nan_rows = rng.random(args.rows) < 4 * NAN_ROW_RATE  # more NaNs than parity.csv
    X_test[nan_rows, rng.integers(0, X_test.shape[1], nan_rows.sum())] = np.nan
    X_test = X_test.astype(np.float32)
    csv_path = args.out_dir / "legacy-1.7-parity.csv"
    write_parity_csv(booster, X_test, csv_path)
    print(f"xgboost {xgb.__version__}: wrote {model_path} and {csv_path} "
          f"({args.rows} rows, {int(nan_rows.sum())} with NaN)")


if __name__ == "__main__":
    main()
