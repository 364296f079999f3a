"""The business-health score (经营好不好): a transparent 0-100 score and an A-E grade for
every entity, computed from the latest-value snapshot.

Method (docs/decisions/0007-consent-profile-and-score.md gives the reasoning):

Eight components, each a sub-score from 0 to 100 read off one or a few indicators, and a
fixed weight:

=================  ======  ==========================================================
component          weight  sub-score
=================  ======  ==========================================================
tax_trend            20    OPR_TAX_TOTAL_YOY g: 50 + 100·g, clipped to 0..100
sales_trend          15    OPR_INV_SALES_YOY g: 50 + 100·g, clipped
headcount_trend      15    OPR_SS_HEADCOUNT_YOY g: 50 + 150·g, clipped
scale                10    OPR_SS_HEADCOUNT_M n: 100·log10(1+n)/log10(201), at most 100
maturity              5    BAS_AGE_YEARS y: 10·y, at most 100
tax_credit           10    OPR_TAX_CREDIT_GRADE: A 100, B 80, M 60, C 30, D 0
judicial             15    dishonest debtor 0; else under enforcement 20; else
                           100 - 20 per lawsuit as defendant in 12 months (floor 0)
regulatory           10    serious violation or major tax violation 0; else on the
                           abnormal-operation list 30; else 100 - 15 per administrative
                           penalty in 36 months (floor 0)
=================  ======  ==========================================================

Missing data: a trend, scale, maturity or tax-credit component whose indicator has no
value is left out, and the score is the weighted mean of the components present (their
weights re-scaled to sum to 1). A negative-record indicator with no value means no record
is known (the departments send the records that exist), so judicial and regulatory are
always present. An entity with none of tax_trend, sales_trend, headcount_trend and scale
has too little operating data to judge: no score, no grade.

Grade: A >= 80, B >= 65, C >= 50, D >= 35, else E.

Reasons: a component's contribution is weight·(sub-score - 50) / (sum of present
weights), the points it moved the score away from a neutral 50; the largest positive
and negative contributions are the reasons shown.

Properties the tests hold it to: every sub-score is non-decreasing in the trends and the
headcount, so better tax and headcount trends never lower the score; the score moves by
at most 1.5 points per 0.01 change in one growth ratio (stability); and the same inputs
always give the same score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import polars as pl

SCORE_CODE = "CRE_HEALTH_SCORE"
GRADE_CODE = "CRE_HEALTH_GRADE"
GRADES = ("A", "B", "C", "D", "E")
GRADE_FLOORS = ((80.0, "A"), (65.0, "B"), (50.0, "C"), (35.0, "D"))
TAX_CREDIT_POINTS = {"A": 100.0, "B": 80.0, "M": 60.0, "C": 30.0, "D": 0.0}
SCALE_TOP = math.log10(201.0)


@dataclass(frozen=True)
class Component:
    name: str
    weight: float
    indicators: tuple[str, ...]
    evidence: bool  # counts as operating data (an entity needs one to be scored)


COMPONENTS = (
    Component("tax_trend", 20, ("OPR_TAX_TOTAL_YOY",), True),
    Component("sales_trend", 15, ("OPR_INV_SALES_YOY",), True),
    Component("headcount_trend", 15, ("OPR_SS_HEADCOUNT_YOY",), True),
    Component("scale", 10, ("OPR_SS_HEADCOUNT_M",), True),
    Component("maturity", 5, ("BAS_AGE_YEARS",), False),
    Component("tax_credit", 10, ("OPR_TAX_CREDIT_GRADE",), False),
    Component(
        "judicial", 15, ("NEG_DISHONEST", "NEG_ENFORCED", "NEG_LAWSUITS_DEFENDANT_12M"), False
    ),
    Component(
        "regulatory",
        10,
        (
            "NEG_SERIOUS_VIOLATION",
            "NEG_TAX_MAJOR_VIOLATION",
            "NEG_ABNORMAL_OPERATION",
            "NEG_ADMIN_PENALTIES_36M",
        ),
        False,
    ),
)
INPUTS = tuple(code for c in COMPONENTS for code in c.indicators)


def _clip(expr: pl.Expr) -> pl.Expr:
    return expr.clip(0.0, 100.0)


def _sub_scores() -> dict[str, pl.Expr]:
    """Each component's sub-score as an expression (null where its data is missing)."""
    col = pl.col

    def flag(code: str) -> pl.Expr:
        return col(code).cast(pl.Boolean).fill_null(False)

    def count(code: str) -> pl.Expr:
        return col(code).cast(pl.Float64).fill_null(0.0)

    headcount = col("OPR_SS_HEADCOUNT_M").cast(pl.Float64).clip(0.0, None)
    return {
        "tax_trend": _clip(50.0 + 100.0 * col("OPR_TAX_TOTAL_YOY").cast(pl.Float64)),
        "sales_trend": _clip(50.0 + 100.0 * col("OPR_INV_SALES_YOY").cast(pl.Float64)),
        "headcount_trend": _clip(50.0 + 150.0 * col("OPR_SS_HEADCOUNT_YOY").cast(pl.Float64)),
        "scale": _clip(100.0 * (headcount + 1.0).log10() / SCALE_TOP),
        "maturity": _clip(10.0 * col("BAS_AGE_YEARS").cast(pl.Float64)),
        "tax_credit": col("OPR_TAX_CREDIT_GRADE")
        .cast(pl.String)
        .replace_strict(TAX_CREDIT_POINTS, default=None, return_dtype=pl.Float64),
        "judicial": pl.when(flag("NEG_DISHONEST"))
        .then(0.0)
        .when(flag("NEG_ENFORCED"))
        .then(20.0)
        .otherwise(_clip(100.0 - 20.0 * count("NEG_LAWSUITS_DEFENDANT_12M"))),
        "regulatory": pl.when(flag("NEG_SERIOUS_VIOLATION") | flag("NEG_TAX_MAJOR_VIOLATION"))
        .then(0.0)
        .when(flag("NEG_ABNORMAL_OPERATION"))
        .then(30.0)
        .otherwise(_clip(100.0 - 15.0 * count("NEG_ADMIN_PENALTIES_36M"))),
    }


def with_inputs(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every input column present (null where the snapshot lacks one)."""
    missing = [code for code in INPUTS if code not in frame.columns]
    return frame.with_columns(pl.lit(None).alias(code) for code in missing)


def components(frame: pl.DataFrame) -> pl.DataFrame:
    """One column per component: its sub-score, null where it is left out."""
    subs = _sub_scores()
    return with_inputs(frame).select(subs[c.name].alias(c.name) for c in COMPONENTS)


def score(frame: pl.DataFrame) -> pl.DataFrame:
    """``score`` (Float32, 0-100, one decimal) and ``grade`` (Enum A-E) of every row of
    ``frame`` (snapshot columns by indicator code); both null without enough data."""
    parts = components(frame)
    weights = {c.name: float(c.weight) for c in COMPONENTS}
    present = pl.sum_horizontal(
        pl.when(pl.col(n).is_not_null()).then(w).otherwise(0.0) for n, w in weights.items()
    )
    weighted = pl.sum_horizontal(pl.col(n).fill_null(0.0) * w for n, w in weights.items())
    evidence = pl.any_horizontal(pl.col(c.name).is_not_null() for c in COMPONENTS if c.evidence)
    value = pl.when(evidence).then((weighted / present).round(1)).otherwise(None)
    grade = pl.lit(None, dtype=pl.String)
    for floor, letter in reversed(GRADE_FLOORS):
        grade = pl.when(pl.col("score") >= floor).then(pl.lit(letter)).otherwise(grade)
    grade = pl.when(pl.col("score").is_null()).then(None).otherwise(grade.fill_null("E"))
    return parts.select(value.cast(pl.Float32).alias("score")).with_columns(
        grade.cast(pl.Enum(list(GRADES))).alias("grade")
    )


@dataclass(frozen=True)
class Reason:
    component: str
    points: float  # how far it moved the score from a neutral 50
    sub_score: float
    weight: float
    inputs: dict[str, Any]


def explain(row: dict[str, Any], *, top: int = 3) -> tuple[list[Reason], list[Reason]]:
    """(reasons that raised the score, reasons that lowered it) for one entity's row of
    snapshot values, largest first."""
    frame = with_inputs(pl.DataFrame([row]))
    parts = components(frame).row(0, named=True)
    present = sum(c.weight for c in COMPONENTS if parts[c.name] is not None)
    if not present:
        return [], []
    reasons = [
        Reason(
            component=c.name,
            points=round(c.weight * (parts[c.name] - 50.0) / present, 1),
            sub_score=round(parts[c.name], 1),
            weight=c.weight,
            inputs={code: _plain(frame[code][0]) for code in c.indicators},
        )
        for c in COMPONENTS
        if parts[c.name] is not None
    ]
    up = sorted((r for r in reasons if r.points > 0), key=lambda r: -r.points)[:top]
    down = sorted((r for r in reasons if r.points < 0), key=lambda r: r.points)[:top]
    return up, down


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    return value
