"""Batch scoring benchmark helpers (run by scripts/bench-batch.sh, not a test).

    python3 scripts/bench_batch.py generate ROWS OUT.csv   # a synthetic raw-schema file
    python3 scripts/bench_batch.py pandas IN.csv OUT.csv   # what a user would write: pandas + xgboost
    python3 scripts/bench_batch.py explain IN.csv OUT.csv  # the same plus reason_1..3 from pred_contribs
    python3 scripts/bench_batch.py compare A.csv B.csv     # same probabilities, labels (and reasons)?

`generate` writes the public "Churn_Modelling" columns (RowNumber, CustomerId, Surname, ...,
Exited) with plausible values from a fixed seed, so every run times the same file. `pandas`
reads the CSV, one-hot encodes as training did, predicts with model/churn-xgb.json (nthread=2),
appends `probability` and `result`, and writes the CSV: the same job as `churn-predict score`,
without validation. `explain` also asks XGBoost for exact SHAP values (`pred_contribs=True`),
sums the three geography columns into one field, and writes the three fields with the largest
|value| as `reason_1..3` (ties in the field table's order): the same job as `--explain`. Each
prints one JSON line of figures on stdout.
"""

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

MODEL = Path(__file__).resolve().parent.parent / "model" / "churn-xgb.json"
SURNAMES = ["Hargrave", "Hill", "Onio", "Boni", "Mitchell", "Chu", "Bartlett", "Obinna",
            "He", "Bearce", "Andrews", "Kay", "Chin", "Scott", "Goforth", "Romeo",
            "Henderson", "Muldrow", "Hao", "McDonald", "Dellucci", "Gerasimov", "Mosman"]


def generate(rows: int, out: str) -> None:
    rng = np.random.default_rng(20240601)
    geography = rng.choice(["France", "Germany", "Spain"], size=rows, p=[0.5, 0.25, 0.25])
    has_balance = rng.random(rows) > 0.36
    frame = pd.DataFrame({
        "RowNumber": np.arange(1, rows + 1),
        "CustomerId": 15_565_701 + rng.permutation(rows),
        "Surname": rng.choice(SURNAMES, size=rows),
        "CreditScore": np.clip(rng.normal(650, 97, rows).round(), 350, 850).astype(int),
        "Geography": geography,
        "Gender": rng.choice(["Female", "Male"], size=rows, p=[0.45, 0.55]),
        "Age": np.clip(rng.gamma(9.0, 4.3, rows).round(), 18, 92).astype(int),
        "Tenure": rng.integers(0, 11, rows),
        "Balance": np.where(has_balance, rng.normal(119_800, 30_000, rows).clip(0).round(2), 0.0),
        "NumOfProducts": rng.choice([1, 2, 3, 4], size=rows, p=[0.51, 0.46, 0.027, 0.003]),
        "HasCrCard": (rng.random(rows) < 0.7).astype(int),
        "IsActiveMember": (rng.random(rows) < 0.51).astype(int),
        "EstimatedSalary": rng.uniform(11.58, 199_992.48, rows).round(2),
        "Exited": (rng.random(rows) < 0.2).astype(int),
    })
    frame.to_csv(out, index=False)
    print(json.dumps({"rows": rows, "bytes": Path(out).stat().st_size}))


# The field table's order (model/src/fields.rs), and each of the model's 12 columns' field.
FIELDS = ["credit_score", "geography", "gender", "age", "tenure", "balance", "num_of_products",
          "has_cr_card", "is_active_member", "estimated_salary"]
COLUMN_FIELD = [0, 2, 3, 4, 5, 6, 7, 8, 9, 1, 1, 1]


def pandas_score(inp: str, out: str, explain: bool = False) -> None:
    import xgboost as xgb

    started = time.perf_counter()
    frame = pd.read_csv(inp)
    features = pd.DataFrame({
        "CreditScore": frame["CreditScore"],
        "Gender": (frame["Gender"] == "Male").astype(int),
        "Age": frame["Age"],
        "Tenure": frame["Tenure"],
        "Balance": frame["Balance"],
        "NumOfProducts": frame["NumOfProducts"],
        "HasCrCard": frame["HasCrCard"],
        "IsActiveMember": frame["IsActiveMember"],
        "EstimatedSalary": frame["EstimatedSalary"],
        "Geography_France": (frame["Geography"] == "France").astype(int),
        "Geography_Germany": (frame["Geography"] == "Germany").astype(int),
        "Geography_Spain": (frame["Geography"] == "Spain").astype(int),
    })
    booster = xgb.Booster(model_file=str(MODEL))
    booster.set_param({"nthread": 2})
    matrix = features.to_numpy(dtype=np.float32)
    probability = booster.inplace_predict(matrix)
    frame["probability"] = probability.astype(np.float64)
    frame["result"] = np.where(probability >= 0.5, "Will Exit", "Will Not Exit")
    if explain:
        contributions = booster.predict(
            xgb.DMatrix(matrix, feature_names=booster.feature_names), pred_contribs=True
        )[:, :12]
        per_field = np.zeros((len(frame), len(FIELDS)), dtype=np.float64)
        for column, field in enumerate(COLUMN_FIELD):
            per_field[:, field] += contributions[:, column]
        order = np.argsort(-np.abs(per_field), axis=1, kind="stable")[:, :3]
        names = np.array(FIELDS)
        for k in range(3):
            frame[f"reason_{k + 1}"] = names[order[:, k]]
    frame.to_csv(out, index=False)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rows": len(frame), "seconds": seconds, "peak_rss_mib": peak_kib / 1024,
                      "xgboost": xgb.__version__, "pandas": pd.__version__}))


def compare(a: str, b: str) -> None:
    left, right = pd.read_csv(a), pd.read_csv(b)
    same_rows = len(left) == len(right)
    diff = float(np.max(np.abs(left["probability"] - right["probability"]))) if same_rows else None
    labels = bool((left["result"] == right["result"]).all()) if same_rows else False
    figures = {"rows": [len(left), len(right)], "max_probability_difference": diff,
               "same_labels": labels}
    if same_rows and "reason_1" in left and "reason_1" in right:
        reasons = [f"reason_{k}" for k in (1, 2, 3)]
        same = (left[reasons] == right[reasons]).all(axis=1)
        # Where they differ, two fields' effects are within float rounding of each other.
        figures["same_reasons_share"] = float(same.mean())
    print(json.dumps(figures))


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"generate": lambda: generate(int(args[0]), args[1]),
     "pandas": lambda: pandas_score(*args),
     "explain": lambda: pandas_score(*args, explain=True),
     "compare": lambda: compare(*args)}[command]()
