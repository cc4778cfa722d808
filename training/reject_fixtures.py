"""Generate models the Rust evaluator must reject: a dart booster and a
multi:softprob (multi-class) model. Tiny, synthetic data, no real data.

Usage:
    python3 training/reject_fixtures.py [--out-dir model/tests/fixtures]

Writes <out-dir>/dart.json and <out-dir>/softprob.json (XGBoost JSON).
"""

import argparse
from pathlib import Path

import numpy as np
import xgboost as xgb

from features import FEATURE_NAMES

FIXTURES = Path(__file__).resolve().parent.parent / "model" / "tests" / "fixtures"
SEED = 3
ROWS = 200
COMMON = {"max_depth": 2, "seed": SEED, "nthread": 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=FIXTURES)
    args = parser.parse_args()

    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(ROWS, len(FEATURE_NAMES))).astype(np.float32)
    binary = (X[:, 0] + X[:, 2] > 0).astype(np.float32)
    three_class = np.digitize(X[:, 0] + X[:, 2], [-0.5, 0.5]).astype(np.float32)

    models = {
        "dart.json": (
            {**COMMON, "objective": "binary:logistic", "booster": "dart", "rate_drop": 0.1},
            binary,
        ),
        "softprob.json": (
            {**COMMON, "objective": "multi:softprob", "num_class": 3},
            three_class,
        ),
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for filename, (params, label) in models.items():
        dtrain = xgb.DMatrix(X, label=label, feature_names=FEATURE_NAMES)
        booster = xgb.train(params, dtrain, num_boost_round=3)
        booster.save_model(args.out_dir / filename)
        print(f"wrote {args.out_dir / filename}")


if __name__ == "__main__":
    main()
