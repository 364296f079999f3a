"""Rule evaluation, vectorised: pure functions over numpy arrays, no database, no lake.

Observations come as :class:`Pairs` — one row per (entity, indicator, period) to judge,
with the value of that period, the value of the entity's previous reported period of the
indicator and the value of the same month a year before (NaN where there is none) —
sorted by (indicator, entity, period). A rule is judged on the rows of its indicator
whose entity is on its institution's monitored list, with ``np.searchsorted`` against
both sorted arrays, so the cost is that of the watched rows, not of the city.

What each kind measures (``op`` and ``threshold`` then decide):

- ``threshold``: the value itself;
- ``change_abs``: value − previous; ``change_pct``: (value − previous) / |previous| × 100
  (undefined when the previous value is missing or zero);
- ``yoy_abs`` and ``yoy_pct``: the same against the value a year before;
- ``new_event``: a record appeared — a count of new records above zero, or a flag that
  is set now and was not set (or not reported) in the previous period. ``op`` and
  ``threshold`` are not used.

A comparison with an undefined measure never fires.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from puhui.monitoring.schemas import Kind, Op, Severity

KINDS = tuple(k.value for k in Kind)
OPS = tuple(o.value for o in Op)
SEVERITIES = tuple(s.value for s in Severity)
_NEEDS_PREVIOUS = frozenset({"change_abs", "change_pct", "new_event"})
_NEEDS_YEAR_AGO = frozenset({"yoy_abs", "yoy_pct"})


@dataclass(frozen=True)
class RuleSpec:
    id: int
    institution_id: int
    indicator_id: int
    kind: str
    op: str
    threshold: float
    severity: str
    counts_records: bool = False  # the indicator counts new records (else: a flag/level)


@dataclass
class Pairs:
    """Observations sorted by (indicator_id, entity_id, period)."""

    entity_id: np.ndarray  # int64
    indicator_id: np.ndarray  # int64
    period: np.ndarray  # int64 YYYYMM
    value: np.ndarray  # float64, NaN: none
    previous: np.ndarray  # float64
    year_ago: np.ndarray  # float64
    batch_id: np.ndarray  # int64, 0: unknown

    @classmethod
    def build(
        cls,
        entity_id: Sequence[int] | np.ndarray,
        indicator_id: Sequence[int] | np.ndarray,
        period: Sequence[int] | np.ndarray,
        value: Sequence[float] | np.ndarray,
        previous: Sequence[float] | np.ndarray | None = None,
        year_ago: Sequence[float] | np.ndarray | None = None,
        batch_id: Sequence[int] | np.ndarray | None = None,
    ) -> Pairs:
        e = np.asarray(entity_id, dtype=np.int64)
        n = e.size
        i = np.asarray(indicator_id, dtype=np.int64)
        p = np.asarray(period, dtype=np.int64)
        v = np.asarray(value, dtype=np.float64)
        prev = np.full(n, np.nan) if previous is None else np.asarray(previous, np.float64)
        ago = np.full(n, np.nan) if year_ago is None else np.asarray(year_ago, np.float64)
        b = np.zeros(n, np.int64) if batch_id is None else np.asarray(batch_id, np.int64)
        if not all(a.shape == (n,) for a in (i, p, v, prev, ago, b)):
            raise ValueError("every column of the pairs must have the same length")
        order = np.lexsort((p, e, i))
        return cls(e[order], i[order], p[order], v[order], prev[order], ago[order], b[order])

    def __len__(self) -> int:
        return int(self.entity_id.size)


@dataclass
class Hits:
    """Rules that fired: one row per (rule, entity, period)."""

    rule_id: np.ndarray
    institution_id: np.ndarray
    entity_id: np.ndarray
    indicator_id: np.ndarray
    period: np.ndarray
    value: np.ndarray
    base_value: np.ndarray
    measure: np.ndarray
    batch_id: np.ndarray

    def __len__(self) -> int:
        return int(self.rule_id.size)

    def rows(self) -> list[dict[str, object]]:
        return [
            {
                "rule_id": int(self.rule_id[k]),
                "institution_id": int(self.institution_id[k]),
                "entity_id": int(self.entity_id[k]),
                "indicator_id": int(self.indicator_id[k]),
                "period": int(self.period[k]),
                "value": _opt(self.value[k]),
                "base_value": _opt(self.base_value[k]),
                "measure": _opt(self.measure[k]),
                "batch_id": int(self.batch_id[k]) or None,
            }
            for k in range(len(self))
        ]


def _opt(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def measure(
    kind: str, value: np.ndarray, previous: np.ndarray, year_ago: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(measure, base)`` of ``kind`` for each row (NaN where undefined)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "threshold":
            return value, np.full(value.shape, np.nan)
        if kind in ("change_abs", "change_pct"):
            base = previous
        elif kind in ("yoy_abs", "yoy_pct"):
            base = year_ago
        elif kind == "new_event":
            return value, previous
        else:
            raise ValueError(f"unknown rule kind {kind!r}")
        diff = value - base
        if kind.endswith("_pct"):
            pct = np.where(base != 0, diff / np.abs(base) * 100.0, np.nan)
            return pct, base
        return diff, base


def compare(op: str, x: np.ndarray, threshold: float) -> np.ndarray:
    """``x op threshold`` element-wise; NaN never passes."""
    with np.errstate(invalid="ignore"):
        if op == "gt":
            out = x > threshold
        elif op == "ge":
            out = x >= threshold
        elif op == "lt":
            out = x < threshold
        elif op == "le":
            out = x <= threshold
        else:
            raise ValueError(f"unknown comparison {op!r}")
    return np.asarray(out & ~np.isnan(x), dtype=bool)


def fires(
    rule: RuleSpec, value: np.ndarray, previous: np.ndarray, year_ago: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mask, measure, base)`` of one rule over aligned arrays."""
    x, base = measure(rule.kind, value, previous, year_ago)
    if rule.kind == "new_event":
        with np.errstate(invalid="ignore"):
            now = ~np.isnan(value) & (value > 0)
            if rule.counts_records:
                return now, x, base
            before = ~np.isnan(previous) & (previous > 0)
        return now & ~before, x, base
    return compare(rule.op, x, rule.threshold), x, base


def evaluate(
    pairs: Pairs,
    rules: Sequence[RuleSpec],
    monitored: Mapping[int, np.ndarray],
    *,
    snoozed: Mapping[int, np.ndarray] | None = None,
) -> Hits:
    """Every (rule, entity, period) that fires. ``monitored[institution]``: the sorted
    entity ids the institution may monitor now; ``snoozed[rule]``: sorted entity ids the
    rule is silenced for."""
    bounds = _indicator_bounds(pairs)
    maps: dict[int, np.ndarray | None] = {}
    out: dict[str, list[np.ndarray]] = {f: [] for f in Hits.__dataclass_fields__}
    for rule in rules:
        span = bounds.get(rule.indicator_id)
        watched = monitored.get(rule.institution_id)
        if span is None or watched is None or watched.size == 0:
            continue
        lo, hi = span
        if rule.indicator_id not in maps:
            maps[rule.indicator_id] = _position_map(pairs.entity_id[lo:hi], watched.size)
        dense = maps[rule.indicator_id]
        if dense is not None:
            found = dense[watched[watched < dense.size]]
            rows = found[found >= 0].astype(np.int64) + lo
        else:
            rows = _rows_of(pairs.entity_id[lo:hi], watched) + lo
        if snoozed and rule.id in snoozed and rows.size:
            rows = rows[~_member(pairs.entity_id[rows], snoozed[rule.id])]
        if rows.size == 0:
            continue
        # gather only the columns the kind reads: the gathers are most of the cost
        value = pairs.value[rows]
        unused = np.empty(0)
        previous = pairs.previous[rows] if rule.kind in _NEEDS_PREVIOUS else unused
        year_ago = pairs.year_ago[rows] if rule.kind in _NEEDS_YEAR_AGO else unused
        if previous is unused:
            previous = np.full(rows.size, np.nan)
        if year_ago is unused:
            year_ago = np.full(rows.size, np.nan)
        mask, x, base = fires(rule, value, previous, year_ago)
        if not mask.any():
            continue
        hit = rows[mask]
        k = hit.size
        out["rule_id"].append(np.full(k, rule.id, np.int64))
        out["institution_id"].append(np.full(k, rule.institution_id, np.int64))
        out["entity_id"].append(pairs.entity_id[hit])
        out["indicator_id"].append(pairs.indicator_id[hit])
        out["period"].append(pairs.period[hit])
        out["value"].append(pairs.value[hit])
        out["base_value"].append(base[mask])
        out["measure"].append(x[mask])
        out["batch_id"].append(pairs.batch_id[hit])
    return Hits(**{f: (np.concatenate(v) if v else np.zeros(0, _dtype(f))) for f, v in out.items()})


def _dtype(field: str) -> type:
    return np.float64 if field in ("value", "base_value", "measure") else np.int64


def _indicator_bounds(pairs: Pairs) -> dict[int, tuple[int, int]]:
    if len(pairs) == 0:
        return {}
    ind = pairs.indicator_id  # sorted: runs are found in one pass, no sort
    starts = np.concatenate(([0], np.flatnonzero(ind[1:] != ind[:-1]) + 1))
    ids = ind[starts]
    ends = np.append(starts[1:], len(pairs))
    return {int(i): (int(s), int(t)) for i, s, t in zip(ids, starts, ends, strict=True)}


def _position_map(entities: np.ndarray, watched: int) -> np.ndarray | None:
    """entity id → its row in the sorted ``entities`` (-1: none), when every entity has one
    row (one period: a full re-evaluation, most batches) and the column is large next to a
    watchlist: then a watchlist's rows are one gather instead of a binary search each."""
    if entities.size < 4 * watched or entities.size == 0:
        return None
    if entities.size > 1 and not bool(np.all(entities[1:] != entities[:-1])):
        return None
    top = int(entities[-1]) + 1
    if top > 8 * entities.size:  # sparse ids: the map would be mostly empty
        return None
    dense = np.full(top, -1, np.int32)
    dense[entities] = np.arange(entities.size, dtype=np.int32)
    return dense


def _rows_of(entities: np.ndarray, watched: np.ndarray) -> np.ndarray:
    """Positions in the sorted ``entities`` (repeats allowed: several periods) whose id is
    in the sorted ``watched``."""
    if entities.size == 0:
        return np.zeros(0, np.int64)
    if watched.size * 8 < entities.size:
        # few watched entities: find each one's run in the sorted column
        left = np.searchsorted(entities, watched, "left")
        right = np.searchsorted(entities, watched, "right")
        present = right > left
        left, right = left[present], right[present]
        if not left.size:
            return np.zeros(0, np.int64)
        if np.all(right - left == 1):
            return left.astype(np.int64)
        return np.concatenate([np.arange(a, b) for a, b in zip(left, right, strict=True)])
    return np.flatnonzero(_member(entities, watched)).astype(np.int64)


def _member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    if sorted_set.size == 0:
        return np.zeros(values.shape, bool)
    pos = np.searchsorted(sorted_set, values)
    pos[pos >= sorted_set.size] = sorted_set.size - 1
    return np.asarray(sorted_set[pos] == values, dtype=bool)
