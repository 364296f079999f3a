"""The evaluator against a naive reference: random condition trees over a random frame
(with empty cells), evaluated by ``filters.run`` and row by row in plain Python."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from puhui.acquisition import filters
from puhui.acquisition.filters import KeySpec
from puhui.acquisition.schemas import FilterRequest

GRADES = ("A", "B", "C", "D")
SPECS = {
    "AMT": KeySpec("AMT", "financial", "amount"),
    "RAT": KeySpec("RAT", "operating", "ratio"),
    "CNT": KeySpec("CNT", "negative", "count"),
    "FLG": KeySpec("FLG", "positive", "flag"),
    "GRD": KeySpec("GRD", "operating", "grade", GRADES),
}
NUMBERS = st.sampled_from([-1.5, -0.1, 0.0, 0.1, 0.5, 1.0, 2.0, 3.0, 7.25])

cells = st.fixed_dictionaries(
    {
        "AMT": st.none() | NUMBERS,
        "RAT": st.none() | NUMBERS,
        "CNT": st.none() | st.integers(0, 4),
        "FLG": st.none() | st.booleans(),
        "GRD": st.none() | st.sampled_from(GRADES),
    }
)


def _leaf() -> st.SearchStrategy[dict[str, Any]]:
    numeric = st.sampled_from(["AMT", "RAT", "CNT"])
    return st.one_of(
        st.builds(
            lambda i, lo, width: {"indicator": i, "op": "between", "lo": lo, "hi": lo + width},
            numeric,
            NUMBERS,
            st.sampled_from([0.0, 0.5, 2.0]),
        ),
        st.builds(
            lambda i, op, v: {"indicator": i, "op": op, "value": v},
            numeric,
            st.sampled_from(["gt", "ge", "lt", "le", "eq", "ne"]),
            NUMBERS,
        ),
        st.builds(
            lambda op, v: {"indicator": "GRD", "op": op, "value": v},
            st.sampled_from(["eq", "ne"]),
            st.sampled_from(GRADES),
        ),
        st.builds(
            lambda vs: {"indicator": "GRD", "op": "in", "values": vs},
            st.lists(st.sampled_from(GRADES), min_size=1, max_size=3),
        ),
        st.builds(
            lambda op: {"indicator": "FLG", "op": op}, st.sampled_from(["is_true", "is_false"])
        ),
        st.builds(
            lambda i, op: {"indicator": i, "op": op},
            st.sampled_from(list(SPECS)),
            st.sampled_from(["is_null", "not_null"]),
        ),
    )


trees = st.recursive(
    _leaf(),
    lambda inner: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1, max_size=3)),
    ),
    max_leaves=6,
)


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "AMT": pl.Series([r["AMT"] for r in rows], dtype=pl.Float32),
            "RAT": pl.Series([r["RAT"] for r in rows], dtype=pl.Float32),
            "CNT": pl.Series([r["CNT"] for r in rows], dtype=pl.Int32),
            "FLG": pl.Series([r["FLG"] for r in rows], dtype=pl.Boolean),
            "GRD": pl.Series([r["GRD"] for r in rows], dtype=pl.Enum(list(GRADES))),
        }
    )


def _cell(indicator: str, value: Any) -> Any:
    """What the snapshot holds: amounts and ratios as float32."""
    if value is not None and indicator in ("AMT", "RAT"):
        return np.float32(value)
    return value


def _threshold(indicator: str, value: float) -> Any:
    return np.float32(value) if indicator in ("AMT", "RAT") else value


def _holds(node: dict[str, Any], row: dict[str, Any]) -> bool:
    if "all" in node:
        return all(_holds(n, row) for n in node["all"])
    if "any" in node:
        return any(_holds(n, row) for n in node["any"])
    i, op = node["indicator"], node["op"]
    v = _cell(i, row[i])
    if op == "is_null":
        return v is None
    if op == "not_null":
        return v is not None
    if v is None:
        return False
    if op == "is_true":
        return v is True
    if op == "is_false":
        return v is False
    if op == "in":
        return v in node["values"]
    if op == "between":
        return _threshold(i, node["lo"]) <= v <= _threshold(i, node["hi"])
    x = node["value"] if isinstance(node["value"], str) else _threshold(i, node["value"])
    return {
        "gt": v > x,
        "ge": v >= x,
        "lt": v < x,
        "le": v <= x,
        "eq": v == x,
        "ne": v != x,
    }[op]


def _order(rows: list[dict[str, Any]], ids: list[int], sort: str, desc: bool) -> list[int]:
    def key(i: int) -> tuple[Any, ...]:
        v = rows[i][sort]
        if v is None:
            return (1, 0, i)
        if sort == "GRD":
            v = GRADES.index(v)
        v = float(_cell(sort, v)) if not isinstance(v, bool) else int(v)
        return (0, -v if desc else v, i)

    return sorted(ids, key=key)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(cells, min_size=0, max_size=40),
    conditions=st.lists(trees, min_size=0, max_size=3),
    match=st.sampled_from(["all", "any"]),
    sort=st.sampled_from(list(SPECS)),
    desc=st.booleans(),
    limit=st.integers(1, 7),
    offset=st.integers(0, 10),
    excluded=st.sets(st.integers(0, 39), max_size=5),
)
def test_filter_matches_the_naive_reference(
    rows, conditions, match, sort, desc, limit, offset, excluded
):
    request = FilterRequest.model_validate(
        {
            "conditions": conditions,
            "match": match,
            "sort": {"indicator": sort, "order": "desc" if desc else "asc"},
            "limit": limit,
            "offset": offset,
        }
    )
    eligible = np.array([i not in excluded for i in range(len(rows))], dtype=bool)
    got = filters.run(_frame(rows), filters.plan(request, SPECS), eligible=eligible)

    combine = all if match == "all" else any
    matching = [
        i
        for i, row in enumerate(rows)
        if eligible[i] and (not conditions or combine(_holds(c, row) for c in conditions))
    ]
    assert got.total == len(matching)
    assert got.ids == _order(rows, matching, sort, desc)[offset : offset + limit]


def test_a_partial_sort_agrees_with_a_full_one():
    """Many matches and a small page take the partial-sort path; ties at the page's edge
    are broken by id like the full sort."""
    n = 5000
    rng = np.random.default_rng(7)
    frame = pl.DataFrame(
        {
            "AMT": pl.Series(rng.integers(0, 20, n).astype(np.float32)),
            "CNT": pl.Series(
                [None if rng.random() < 0.2 else int(rng.integers(0, 5)) for _ in range(n)],
                dtype=pl.Int32,
            ),
        }
    )
    for order in ("asc", "desc"):
        for sort in ("AMT", "CNT"):
            request = FilterRequest.model_validate(
                {"sort": {"indicator": sort, "order": order}, "limit": 30, "offset": 40}
            )
            got = filters.run(frame, filters.plan(request, SPECS))
            full = (
                frame.with_row_index("id")
                .sort([sort, "id"], descending=[order == "desc", False], nulls_last=True)
                .get_column("id")
                .to_list()[40:70]
            )
            assert got.total == n and got.ids == full
