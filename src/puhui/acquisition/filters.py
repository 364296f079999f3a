"""Compiling a filter request into one Polars expression and running it on a frame.

Pure functions of (request, key-indicator specs, frame): the service runs them on the
memory-mapped snapshot, the tests on any in-memory frame. Nothing here loads entities
into Python objects; only the page's ids come out.

Invariants
- Row ``i`` of the frame is entity ``i`` (the snapshot's layout); ``eligible`` (same
  length) masks the rows that may be returned at all (registered, not opted out).
- A condition on an empty cell is false, except ``is_null``. Groups combine conditions
  with AND / OR; there is no negation, so "empty is false" holds for whole trees.
- A number is compared in the column's type: a threshold on a ``Float32`` column is
  rounded to ``Float32`` first (what the snapshot stores is a ``Float32``), counts are
  compared exactly.
- Results are ordered by the sort indicator (empty cells last in both directions), then by
  entity id ascending, so pages are stable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from puhui.acquisition.errors import InvalidFilter
from puhui.acquisition.schemas import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    AllOf,
    AnyOf,
    Between,
    Compare,
    Equals,
    FilterRequest,
    Flag,
    InSet,
    Presence,
)
from puhui.core.i18n import N_

NUMERIC = ("amount", "ratio", "count")
CODED = ("grade", "code")
PRESENCE_OPS = ("is_null", "not_null")
OPS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(NUMERIC, ("between", "gt", "ge", "lt", "le", "eq", "ne", *PRESENCE_OPS)),
    **dict.fromkeys(CODED, ("in", "eq", "ne", *PRESENCE_OPS)),
    "flag": ("is_true", "is_false", *PRESENCE_OPS),
    "date": PRESENCE_OPS,
}


@dataclass(frozen=True)
class KeySpec:
    """What the filter needs to know of one key indicator."""

    code: str
    category: str
    value_type: str
    allowed_values: tuple[str, ...] = ()
    sensitivity: str = "C1"
    personal: bool = False
    name_zh: str = ""
    name_en: str = ""
    unit: str = ""

    @property
    def ops(self) -> tuple[str, ...]:
        return OPS.get(self.value_type, PRESENCE_OPS)

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_zh


@dataclass(frozen=True)
class Plan:
    """A validated request, ready to run on any frame holding ``columns``."""

    expr: pl.Expr | None  # None: no conditions, every eligible row matches
    columns: tuple[str, ...]  # indicators the conditions read, in first-use order
    sort: str
    descending: bool
    limit: int
    offset: int


@dataclass(frozen=True)
class Matches:
    total: int
    ids: list[int]  # the page's entity ids, in order


def plan(request: FilterRequest, specs: Mapping[str, KeySpec]) -> Plan:
    """Check every condition against ``specs`` (the key indicators) and compile the tree;
    raises :class:`InvalidFilter` naming the first failing condition by its path."""
    columns: dict[str, None] = {}
    leaves = _count(request.conditions, "conditions", 1)
    if leaves > MAX_CONDITIONS:
        raise InvalidFilter.at(
            "conditions",
            N_("A filter has at most {max} conditions; this one has {n}."),
            max=MAX_CONDITIONS,
            n=leaves,
        )
    parts = [
        _compile(node, f"conditions.{i}", specs, columns)
        for i, node in enumerate(request.conditions)
    ]
    expr = None
    if parts:
        expr = pl.all_horizontal(parts) if request.match == "all" else pl.any_horizontal(parts)
    sort = request.sort.indicator
    _spec(sort, "sort.indicator", specs)
    return Plan(
        expr=expr,
        columns=tuple(columns),
        sort=sort,
        descending=request.sort.order == "desc",
        limit=request.limit,
        offset=request.offset,
    )


def mask(frame: pl.DataFrame, plan: Plan, *, eligible: np.ndarray | None = None) -> np.ndarray:
    """True for the rows of ``frame`` that match and are eligible (a numpy bool array)."""
    if plan.expr is None:
        matched = np.ones(frame.height, dtype=bool)
    else:
        out = frame.lazy().select(plan.expr.alias("m")).collect()
        matched = true_bits(out.to_series())
    if eligible is not None:
        matched = np.logical_and(matched, eligible)
    return matched


def true_bits(series: pl.Series) -> np.ndarray:
    """A Boolean series as a numpy bool array, empty counted as false.

    Polars evaluates the tree in Kleene logic (empty cells make empty leaves). Without
    negation a tree is true with empty cells exactly when it is true with every empty leaf
    false, so empty results are simply false: the value bits AND the validity bits, read
    from the Arrow buffers (cheaper than filling the nulls, then converting)."""
    arr = series.rechunk().to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    validity, values = arr.buffers()[:2]
    n, offset = len(arr), arr.offset
    if values is None:
        return np.zeros(n, dtype=bool)
    packed = np.frombuffer(values, dtype=np.uint8)
    if validity is not None and arr.null_count:
        packed = packed & np.frombuffer(validity, dtype=np.uint8)[: packed.size]
    return np.unpackbits(packed, bitorder="little", count=offset + n)[offset:].view(bool)


def count(frame: pl.DataFrame, plan: Plan, *, eligible: np.ndarray | None = None) -> int:
    return int(np.count_nonzero(mask(frame, plan, eligible=eligible)))


def run(frame: pl.DataFrame, plan: Plan, *, eligible: np.ndarray | None = None) -> Matches:
    """Count the rows of ``frame`` that match and are eligible; return one sorted page."""
    rows = np.flatnonzero(mask(frame, plan, eligible=eligible))
    total = int(rows.size)
    if total == 0 or plan.offset >= total:
        return Matches(total=total, ids=[])
    key = sort_key(frame.get_column(plan.sort)).gather(pl.Series(rows, dtype=pl.UInt32))
    ids = best(rows, key, plan.offset + plan.limit, descending=plan.descending)
    return Matches(total=total, ids=[int(i) for i in ids[plan.offset :]])


def best(rows: np.ndarray, key: pl.Series, k: int, *, descending: bool) -> np.ndarray:
    """The first ``k`` of ``rows`` (ascending ids) ordered by ``key`` (aligned with them),
    empty keys last, ties by id: a partial sort, exact at the boundary."""
    values = np.asarray(key.cast(pl.Float64).to_numpy(), dtype=np.float64)  # empty: NaN
    present = ~np.isnan(values)
    ids, keys = rows[present], values[present]
    if descending:
        keys = -keys
    if k < keys.size:
        kth = np.partition(keys, k - 1)[k - 1]
        inside = keys <= kth  # every row tied with the k-th competes on its id
        ids, keys = ids[inside], keys[inside]
    best = ids[np.lexsort((ids, keys))[:k]]
    if best.size < k:
        best = np.concatenate([best, rows[~present][: k - best.size]])
    return best


def summary(request: FilterRequest) -> str:
    """A compact, stable text of the conditions for the audit record."""
    return _summary_list(request.conditions, request.match)


# --- compiling ------------------------------------------------------------------------------


def _count(nodes: Sequence[object], path: str, depth: int) -> int:
    if depth > MAX_DEPTH:
        raise InvalidFilter.at(path, N_("Groups nest at most {max} deep."), max=MAX_DEPTH)
    total = 0
    for i, node in enumerate(nodes):
        if isinstance(node, AllOf):
            total += _count(node.all, f"{path}.{i}.all", depth + 1)
        elif isinstance(node, AnyOf):
            total += _count(node.any, f"{path}.{i}.any", depth + 1)
        else:
            total += 1
    return total


def _spec(code: str, field: str, specs: Mapping[str, KeySpec]) -> KeySpec:
    spec = specs.get(code)
    if spec is None:
        raise InvalidFilter.at(
            field,
            N_("{indicator} is not one of the 50 key indicators that filters can use."),
            indicator=code,
        )
    return spec


def _compile(  # noqa: PLR0911, PLR0912 - one branch per op
    node: object, path: str, specs: Mapping[str, KeySpec], columns: dict[str, None]
) -> pl.Expr:
    if isinstance(node, AllOf | AnyOf):
        items = node.all if isinstance(node, AllOf) else node.any
        key = "all" if isinstance(node, AllOf) else "any"
        parts = [_compile(n, f"{path}.{key}.{i}", specs, columns) for i, n in enumerate(items)]
        return pl.all_horizontal(parts) if key == "all" else pl.any_horizontal(parts)
    assert isinstance(node, Between | Compare | Equals | InSet | Flag | Presence)
    spec = _spec(node.indicator, f"{path}.indicator", specs)
    if node.op not in spec.ops:
        raise InvalidFilter.at(
            f"{path}.op",
            N_("{op} does not apply to {indicator} (a {value_type}); use one of: {ops}."),
            op=node.op,
            indicator=spec.code,
            value_type=spec.value_type,
            ops=", ".join(spec.ops),
        )
    columns.setdefault(spec.code)
    col = pl.col(spec.code)
    if isinstance(node, Presence):
        return col.is_null() if node.op == "is_null" else col.is_not_null()
    if isinstance(node, Flag):
        return col if node.op == "is_true" else ~col
    if isinstance(node, Between):
        if node.lo > node.hi:
            raise InvalidFilter.at(
                path,
                N_("Empty range: lo {lo} is greater than hi {hi}."),
                lo=_text(node.lo),
                hi=_text(node.hi),
            )
        return col.is_between(_number(spec, node.lo), _number(spec, node.hi))
    if isinstance(node, Compare):
        value = _number(spec, node.value)
        compared = {"gt": col > value, "ge": col >= value, "lt": col < value, "le": col <= value}
        return compared[node.op]
    if isinstance(node, InSet):
        for j, code in enumerate(node.values):
            _allowed(spec, code, f"{path}.values.{j}")
        return col.is_in(list(dict.fromkeys(node.values)))
    # eq / ne
    if spec.value_type in CODED:
        if not isinstance(node.value, str):
            raise InvalidFilter.at(
                f"{path}.value",
                N_("{indicator} takes one of its codes here: {allowed}."),
                indicator=spec.code,
                allowed=", ".join(spec.allowed_values),
            )
        _allowed(spec, node.value, f"{path}.value")
        literal: pl.Expr = pl.lit(node.value)
    else:
        if isinstance(node.value, str):
            raise InvalidFilter.at(
                f"{path}.value", N_("{indicator} takes a number here."), indicator=spec.code
            )
        literal = _number(spec, node.value)
    return col == literal if node.op == "eq" else col != literal


def _allowed(spec: KeySpec, value: str, field: str) -> None:
    if value not in spec.allowed_values:
        raise InvalidFilter.at(
            field,
            N_("{value} is not a value of {indicator}; it takes: {allowed}."),
            value=value,
            indicator=spec.code,
            allowed=", ".join(spec.allowed_values),
        )


def _number(spec: KeySpec, value: float) -> pl.Expr:
    """A threshold in the column's type: Float32 for amounts and ratios (the snapshot's
    type), exact Float64 for counts (an Int32 column widens without loss)."""
    if spec.value_type == "count":
        return pl.lit(float(value), dtype=pl.Float64)
    return pl.lit(float(value), dtype=pl.Float32)


def _text(value: float) -> str:
    return f"{value:g}"


def sort_key(column: pl.Series) -> pl.Series:
    """A sortable key: codes by their catalog order (grade A before B), flags as 0/1."""
    if isinstance(column.dtype, pl.Enum | pl.Categorical):
        return column.to_physical()
    if column.dtype == pl.Boolean:
        return column.cast(pl.Int8)
    return column


# --- audit summary ------------------------------------------------------------------------


def _summary_list(nodes: Sequence[object], match: str) -> str:
    joiner = " AND " if match == "all" else " OR "
    return joiner.join(_summary(n) for n in nodes) or "*"


def _summary(node: object) -> str:
    if isinstance(node, AllOf):
        return f"({_summary_list(node.all, 'all')})"
    if isinstance(node, AnyOf):
        return f"({_summary_list(node.any, 'any')})"
    if isinstance(node, Between):
        return f"{node.indicator} between {_text(node.lo)}..{_text(node.hi)}"
    if isinstance(node, Compare | Equals):
        value = node.value if isinstance(node.value, str) else _text(node.value)
        return f"{node.indicator} {node.op} {value}"
    if isinstance(node, InSet):
        return f"{node.indicator} in {'|'.join(node.values)}"
    assert isinstance(node, Flag | Presence)
    return f"{node.indicator} {node.op}"
