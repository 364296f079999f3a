"""The business-health score: monotonic in the trends, stable, transparent."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.profile import score

growth = st.floats(-1.0, 3.0, allow_nan=False)
maybe_growth = st.none() | growth


@st.composite
def entities(draw) -> dict:
    return {
        "OPR_TAX_TOTAL_YOY": draw(maybe_growth),
        "OPR_INV_SALES_YOY": draw(maybe_growth),
        "OPR_SS_HEADCOUNT_YOY": draw(maybe_growth),
        "OPR_SS_HEADCOUNT_M": draw(st.none() | st.integers(0, 5000)),
        "BAS_AGE_YEARS": draw(st.none() | st.floats(0, 60)),
        "OPR_TAX_CREDIT_GRADE": draw(st.none() | st.sampled_from(["A", "B", "M", "C", "D"])),
        "NEG_DISHONEST": draw(st.none() | st.booleans()),
        "NEG_ENFORCED": draw(st.none() | st.booleans()),
        "NEG_LAWSUITS_DEFENDANT_12M": draw(st.none() | st.integers(0, 10)),
        "NEG_SERIOUS_VIOLATION": draw(st.none() | st.booleans()),
        "NEG_TAX_MAJOR_VIOLATION": draw(st.none() | st.booleans()),
        "NEG_ABNORMAL_OPERATION": draw(st.none() | st.booleans()),
        "NEG_ADMIN_PENALTIES_36M": draw(st.none() | st.integers(0, 10)),
    }


def _score(row: dict) -> float | None:
    frame = pl.DataFrame([row], schema=_schema(row))
    return score.score(frame)["score"][0]


def _schema(row: dict) -> dict:
    return {
        k: (
            pl.String
            if k == "OPR_TAX_CREDIT_GRADE"
            else pl.Boolean
            if isinstance(v, bool) or k.startswith(("NEG_D", "NEG_E", "NEG_S", "NEG_T", "NEG_AB"))
            else pl.Float64
        )
        for k, v in row.items()
    }


@settings(max_examples=200, deadline=None)
@given(entities(), growth, growth, st.sampled_from(["OPR_TAX_TOTAL_YOY", "OPR_SS_HEADCOUNT_YOY"]))
def test_better_tax_and_headcount_trends_never_lower_the_score(row, a, b, code):
    low, high = sorted((a, b))
    worse, better = _score({**row, code: low}), _score({**row, code: high})
    assert worse is not None and better is not None  # a trend is operating data
    assert better >= worse


@settings(max_examples=200, deadline=None)
@given(
    entities(),
    growth,
    st.sampled_from(["OPR_TAX_TOTAL_YOY", "OPR_INV_SALES_YOY", "OPR_SS_HEADCOUNT_YOY"]),
)
def test_a_small_change_in_one_ratio_moves_the_score_a_little(row, g, code):
    a, b = _score({**row, code: g}), _score({**row, code: g + 0.01})
    assert abs(b - a) <= 1.5 + 0.1  # 150 points per unit x 0.01, plus rounding


@settings(max_examples=100, deadline=None)
@given(entities())
def test_the_same_inputs_give_the_same_score_and_a_grade_that_matches(row):
    first, second = _score(row), _score(row)
    assert first == second
    if first is not None:
        assert 0 <= first <= 100


def test_too_little_operating_data_gives_no_score():
    assert _score({"BAS_AGE_YEARS": 10.0, "NEG_DISHONEST": False}) is None


@settings(max_examples=150, deadline=None)
@given(entities())
def test_the_grade_follows_the_documented_floors(row):
    frame = pl.DataFrame([row], schema=_schema(row))
    out = score.score(frame)
    value, grade = out["score"][0], out["grade"][0]
    if value is None:
        assert grade is None
        return
    expected = next((g for floor, g in score.GRADE_FLOORS if value >= floor), "E")
    assert grade == expected


def test_reasons_name_what_raised_and_lowered_the_score():
    up, down = score.explain(
        {"OPR_TAX_TOTAL_YOY": 0.3, "NEG_DISHONEST": True, "OPR_SS_HEADCOUNT_M": 10}
    )
    assert up[0].component == "tax_trend" and up[0].points > 0
    assert down[0].component == "judicial" and down[0].inputs["NEG_DISHONEST"] is True
