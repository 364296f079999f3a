"""Labelled samples whose true risk function is known: the training tests compare the
fitted scorecard's hold-out AUC with the true function's own."""

from __future__ import annotations

import numpy as np
import polars as pl

GRADES = ["A", "B", "M", "C", "D"]
GRADE_RISK = {"A": -0.8, "B": -0.3, "M": 0.0, "C": 0.5, "D": 1.0}
KINDS = {
    "OPR_TAX_TOTAL_12M": "numeric",
    "OPR_TAX_TOTAL_YOY": "numeric",
    "NEG_RECORDS_TOTAL": "numeric",
    "NEG_ABNORMAL_OPERATION": "categorical",
    "OPR_TAX_CREDIT_GRADE": "categorical",
    "PRP_TRADEMARKS": "numeric",  # noise
    "OPR_WATER_YOY": "numeric",  # noise
}


def sample(n: int, seed: int = 7) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """(features as the snapshot types them, bad labels, true log-odds of bad)."""
    rng = np.random.default_rng(seed)
    tax = rng.lognormal(11, 1.2, n)
    growth = rng.normal(0.05, 0.3, n)
    negatives = rng.poisson(0.4, n)
    abnormal = rng.random(n) < 0.1
    grade = rng.choice(GRADES, n, p=[0.3, 0.3, 0.2, 0.15, 0.05])
    tax_missing = rng.random(n) < 0.08
    z = (
        -1.6
        - 0.9 * (np.log(tax) - 11) / 1.2
        - 1.2 * np.clip(growth, -0.5, 0.5)
        + 0.6 * negatives
        + 0.9 * abnormal
        + np.vectorize(GRADE_RISK.get)(grade)
    )
    z = np.where(tax_missing, z + 0.9 * (np.log(tax) - 11) / 1.2 + 0.6, z)
    bad = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int8)
    frame = pl.DataFrame(
        {
            "OPR_TAX_TOTAL_12M": pl.Series(np.where(tax_missing, np.nan, tax))
            .fill_nan(None)
            .cast(pl.Float32),
            "OPR_TAX_TOTAL_YOY": pl.Series(growth, dtype=pl.Float32),
            "NEG_RECORDS_TOTAL": pl.Series(negatives, dtype=pl.Int32),
            "NEG_ABNORMAL_OPERATION": pl.Series(abnormal, dtype=pl.Boolean),
            "OPR_TAX_CREDIT_GRADE": pl.Series(grade.tolist(), dtype=pl.Enum(GRADES)),
            "PRP_TRADEMARKS": pl.Series(rng.poisson(1.0, n), dtype=pl.Int32),
            "OPR_WATER_YOY": pl.Series(rng.normal(0, 0.2, n), dtype=pl.Float32),
        }
    )
    return frame, bad, z
