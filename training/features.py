"""Feature engineering shared by training and fixture generation.

Turns a raw Kaggle "Churn_Modelling" DataFrame into the 12-column float32
matrix the model (and the Rust evaluator) expects, in FEATURE_NAMES order.
"""

import numpy as np
import pandas as pd

FEATURE_NAMES = [
    "CreditScore",
    "Gender",
    "Age",
    "Tenure",
    "Balance",
    "NumOfProducts",
    "HasCrCard",
    "IsActiveMember",
    "EstimatedSalary",
    "Geography_France",
    "Geography_Germany",
    "Geography_Spain",
]

# The named field (model/src/fields.rs) each column comes from: explanations and the model
# card speak of fields; geography's three one-hot columns are one field.
FIELD_OF_FEATURE = {
    "CreditScore": "credit_score",
    "Gender": "gender",
    "Age": "age",
    "Tenure": "tenure",
    "Balance": "balance",
    "NumOfProducts": "num_of_products",
    "HasCrCard": "has_cr_card",
    "IsActiveMember": "is_active_member",
    "EstimatedSalary": "estimated_salary",
    "Geography_France": "geography",
    "Geography_Germany": "geography",
    "Geography_Spain": "geography",
}

GENDER_CODES = {"Female": 0.0, "Male": 1.0}
GEOGRAPHIES = ["France", "Germany", "Spain"]
NUMERIC_COLUMNS = [
    "CreditScore",
    "Age",
    "Tenure",
    "Balance",
    "NumOfProducts",
    "HasCrCard",
    "IsActiveMember",
    "EstimatedSalary",
]
LABEL = "Exited"


def _check_values(column: pd.Series, allowed) -> None:
    unknown = sorted(set(column.dropna().unique()) - set(allowed))
    if column.isna().any() or unknown:
        raise ValueError(
            f"column {column.name!r}: unknown values {unknown} "
            f"(missing: {int(column.isna().sum())}); expected one of {list(allowed)}"
        )


def build_features(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """Return (X, y): X is float32 of shape (n, 12) in FEATURE_NAMES order,
    y is the float32 `Exited` label vector (None if the column is absent).

    Raises ValueError on unknown/missing Gender or Geography values.
    """
    missing_cols = [c for c in NUMERIC_COLUMNS + ["Gender", "Geography"] if c not in df]
    if missing_cols:
        raise ValueError(f"missing columns: {missing_cols}")
    _check_values(df["Gender"], GENDER_CODES)
    _check_values(df["Geography"], GEOGRAPHIES)

    out = pd.DataFrame(index=df.index)
    for name in FEATURE_NAMES:
        if name == "Gender":
            out[name] = df["Gender"].map(GENDER_CODES)
        elif name.startswith("Geography_"):
            out[name] = (df["Geography"] == name.removeprefix("Geography_")).astype(float)
        else:
            out[name] = pd.to_numeric(df[name], errors="raise")
    X = out[FEATURE_NAMES].to_numpy(dtype=np.float32)

    y = df[LABEL].to_numpy(dtype=np.float32) if LABEL in df else None
    return X, y
