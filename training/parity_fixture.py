"""Generate a prediction- and explanation-parity fixture for the Rust evaluator.

Usage:
    python3 training/parity_fixture.py --model model/churn-xgb.json \
        --out model/tests/fixtures/parity.csv [--rows 2500] [--seed 7] \
        [--ubj-out model/tests/fixtures/churn-xgb.ubj]

Synthesizes random customers (no real data), predicts and explains them with
XGBoost and writes a CSV: header = the 12 feature names, `probability`, then
`shap_<feature>` for each feature and `shap_bias`. Feature values are written
as repr() of the exact float32 value (so they parse to the same f32 whether
read as f32 or as f64-then-cast); missing values (NaN) are empty fields.
`probability` is repr() of XGBoost's float32 output. The `shap_*` columns are
XGBoost's exact SHAP values (`pred_contribs=True`, no `approx_contribs`;
log-odds, they sum to the margin), written as the shortest text that parses
back to the same float32 (lossless, about half the length of repr()).
"""

import argparse
import csv
import json
import math
from pathlib import Path

import numpy as np
import xgboost as xgb

from features import FEATURE_NAMES

NAN_ROW_RATE = 0.05       # rows with one or two features set to NaN
THRESHOLD_ROW_RATE = 0.10  # rows with one feature set exactly to a split value


def synthesize(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random customers in FEATURE_NAMES order, float64."""
    age = np.where(rng.random(n) < 0.9, rng.integers(18, 81, n), rng.integers(81, 101, n))
    products = np.where(rng.random(n) < 0.97, rng.integers(1, 5, n), rng.integers(5, 11, n))
    balance = np.where(rng.random(n) < 0.3, 0.0, np.round(rng.uniform(0, 260_000, n), 2))
    geography = np.eye(3)[rng.integers(0, 3, n)]
    columns = [
        rng.integers(300, 901, n),           # CreditScore
        rng.integers(0, 2, n),               # Gender
        age,                                 # Age
        rng.integers(0, 16, n),              # Tenure
        balance,                             # Balance
        products,                            # NumOfProducts
        rng.integers(0, 2, n),               # HasCrCard
        rng.integers(0, 2, n),               # IsActiveMember
        np.round(rng.uniform(0, 200_000, n), 2),  # EstimatedSalary
    ]
    return np.column_stack([np.asarray(c, dtype=np.float64) for c in columns] + [geography])


def load_trees(model_path: Path) -> list[dict]:
    return json.loads(model_path.read_text())["learner"]["gradient_booster"]["model"]["trees"]


def split_values(trees: list[dict]) -> dict[int, np.ndarray]:
    """Split thresholds used by the model, per feature index."""
    values: dict[int, set] = {}
    for tree in trees:
        for node, left in enumerate(tree["left_children"]):
            if left != -1:
                values.setdefault(tree["split_indices"][node], set()).add(tree["split_conditions"][node])
    return {f: np.array(sorted(v)) for f, v in values.items()}


def perturb(rng: np.random.Generator, X: np.ndarray, thresholds: dict[int, np.ndarray]) -> None:
    """In place: put some values exactly on split thresholds, and add NaNs."""
    n = len(X)
    split_features = sorted(thresholds)
    for row in np.flatnonzero(rng.random(n) < THRESHOLD_ROW_RATE):
        feature = split_features[rng.integers(len(split_features))]
        X[row, feature] = rng.choice(thresholds[feature])
    for row in np.flatnonzero(rng.random(n) < NAN_ROW_RATE):
        X[row, rng.choice(X.shape[1], size=rng.integers(1, 3), replace=False)] = np.nan


def fmt(value: float) -> str:
    return "" if math.isnan(value) else repr(value)


def fmt32(value: np.float32) -> str:
    """The shortest decimal text that parses back to exactly this float32."""
    text = str(np.float32(value))
    if np.float32(text) != np.float32(value):
        raise SystemExit(f"{text!r} does not round-trip")
    return text


def write_parity_csv(booster: xgb.Booster, X: np.ndarray, path: Path) -> np.ndarray:
    """Predict and explain float32 matrix X (NaN = missing), check inplace_predict
    against DMatrix predict, write the parity CSV and return the probabilities."""
    proba = booster.inplace_predict(X, missing=np.nan)
    dmatrix = xgb.DMatrix(X, missing=np.nan, feature_names=booster.feature_names)
    if not np.array_equal(proba, booster.predict(dmatrix)):
        raise SystemExit("inplace_predict and DMatrix predict disagree")
    # Exact path-dependent TreeSHAP (approx_contribs=False is the default).
    shap = booster.predict(dmatrix, pred_contribs=True)
    if shap.shape != (len(X), len(FEATURE_NAMES) + 1):
        raise SystemExit(f"unexpected pred_contribs shape {shap.shape}")

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(FEATURE_NAMES + ["probability"]
                        + [f"shap_{n}" for n in FEATURE_NAMES] + ["shap_bias"])
        for row, p, s in zip(X, proba, shap):
            writer.writerow([fmt(float(v)) for v in row] + [repr(float(p))]
                            + [fmt32(v) for v in s])
    return proba


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=2500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ubj-out", type=Path, help="also save the booster as UBJSON here")
    args = parser.parse_args()

    booster = xgb.Booster(model_file=str(args.model))
    trees = load_trees(args.model)
    rng = np.random.default_rng(args.seed)
    X64 = synthesize(rng, args.rows)
    perturb(rng, X64, split_values(trees))
    X = X64.astype(np.float32)

    proba = write_parity_csv(booster, X, args.out)

    if args.ubj_out:
        booster.save_model(args.ubj_out)

    # How many of the model's leaves the synthetic rows reach.
    dmatrix = xgb.DMatrix(X, missing=np.nan, feature_names=booster.feature_names)
    leaves = booster.predict(dmatrix, pred_leaf=True)
    total_leaves = sum(t["left_children"].count(-1) for t in trees)
    hit = sum(len(np.unique(leaves[:, t])) for t in range(leaves.shape[1]))
    print(f"wrote {args.rows} rows to {args.out} "
          f"({int(np.isnan(X).any(axis=1).sum())} with NaN); "
          f"leaf coverage {hit}/{total_leaves}; probability range "
          f"[{proba.min():.4f}, {proba.max():.4f}]")


if __name__ == "__main__":
    main()
