"""Scorecards: a validated, immutable points table over indicators, and its three
evaluations — one row (:meth:`Scorecard.score`), a whole frame with numpy
(:meth:`Scorecard.score_frame`) and one SQL ``CASE`` expression for core-banking systems
(:meth:`Scorecard.to_sql_case`). All three give the same score for the same row.

The JSON form::

    {"base_points": 600, "max_reasons": 4,
     "features": [
       {"indicator": "OPR_TAX_TOTAL_12M", "kind": "numeric",
        "bins": [{"lo": null, "hi": 10000, "points": -20, "reason": "TAX_LOW"},
                 {"lo": 10000, "hi": null, "points": 15}],
        "missing": {"points": -10, "reason": "TAX_NONE"}},
       {"indicator": "OPR_TAX_CREDIT_GRADE", "kind": "categorical",
        "bins": [{"values": ["A", "B"], "points": 20},
                 {"values": ["M", "C", "D"], "points": -30, "reason": "TAX_GRADE"}],
        "missing": {"points": 0}, "other": {"points": -5}}],
     "cutoffs": [{"label": "approve", "min_score": 620}, {"label": "review", "min_score": 560}],
     "reasons": {"TAX_LOW": "Low tax paid", "TAX_NONE": "No tax record", ...}}

Invariants
- Numeric bins are half-open ``[lo, hi)``; ``null`` is −∞ for the first ``lo`` and +∞ for
  the last ``hi``; each bin starts where the previous one ends, so the bins are ordered,
  never overlap and cover the whole line. An empty cell (or NaN) takes the ``missing`` bin.
- Categorical bins hold disjoint sets of code values; a value in none of them takes
  ``other`` (the ``missing`` bin when there is no ``other``). Flags are the codes ``"0"``
  and ``"1"`` for categorical features, and 0 and 1 for numeric ones.
- Every number is finite; every reason code used is defined in ``reasons``.
- The score is ``base_points`` plus each feature's points, added in feature order.
- Reason codes of a row: for each feature whose points fall short of that feature's best
  points and whose bin carries a code, ordered by the shortfall (largest first, then
  feature order), each code once, at most ``max_reasons``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl

from puhui.core.i18n import N_
from puhui.scoring.errors import InvalidScorecard

MAX_FEATURES = 50
MAX_BINS = 30
MAX_VALUES = 100
MAX_REASONS = 10
FEW_EDGES = 12
CODE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
INDICATOR_RE = re.compile(r"^[A-Z][A-Z0-9_]{1,63}$")
KINDS = ("numeric", "categorical")


@dataclass(frozen=True)
class Bin:
    points: float
    reason: str | None = None
    lo: float | None = None  # numeric: lower bound (inclusive), None is −∞
    hi: float | None = None  # numeric: upper bound (exclusive), None is +∞
    values: tuple[str, ...] = ()  # categorical

    def label(self) -> str:
        if self.values:
            return ",".join(self.values)
        lo = "-inf" if self.lo is None else f"{self.lo:g}"
        hi = "+inf" if self.hi is None else f"{self.hi:g}"
        return f"[{lo}, {hi})"


@dataclass(frozen=True)
class Feature:
    indicator: str
    kind: str
    bins: tuple[Bin, ...]
    missing: Bin
    other: Bin | None = None

    @property
    def all_bins(self) -> tuple[Bin, ...]:
        """Bins in the order of the bin index: value bins, missing, other (if any)."""
        return (*self.bins, self.missing, *((self.other,) if self.other else ()))

    @property
    def missing_index(self) -> int:
        return len(self.bins)

    @property
    def other_index(self) -> int:
        return len(self.bins) + (1 if self.other else 0)

    @property
    def best(self) -> float:
        return max(b.points for b in self.all_bins)

    def edges(self) -> np.ndarray:
        """The inner bounds (each bin's ``hi`` but the last), ascending."""
        return np.array([b.hi for b in self.bins[:-1]], dtype=np.float64)

    def bin_of(self, value: Any) -> int:
        """The bin index of one cell."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return self.missing_index
        if self.kind == "numeric":
            x = float(value)
            if math.isnan(x):
                return self.missing_index
            return int(np.searchsorted(self.edges(), x, side="right"))
        code = _code(value)
        for i, b in enumerate(self.bins):
            if code in b.values:
                return i
        return self.other_index


def _code(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


@dataclass(frozen=True)
class Cutoff:
    label: str
    min_score: float


@dataclass(frozen=True)
class Scorecard:
    """Immutable and validated: build it with :meth:`from_json`."""

    base_points: float
    feature_specs: tuple[Feature, ...]
    cutoffs: tuple[Cutoff, ...] = ()
    reasons: Mapping[str, str] = field(default_factory=dict)
    max_reasons: int = 4

    # ------------------------------------------------------------------ JSON

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scorecard:
        """Validate ``data``; raises :class:`InvalidScorecard` listing every problem found
        (each with its field path), not only the first."""
        v = _Validator()
        card = v.scorecard(data)
        if v.problems or card is None:
            first: dict[str, Any] = (
                v.problems[0] if v.problems else {"message": InvalidScorecard.default_message}
            )
            params: dict[str, Any] = first.get("params") or {}
            raise InvalidScorecard(str(first["message"]), details=v.problems, **params)
        return card

    def to_json(self) -> dict[str, Any]:
        return {
            "base_points": self.base_points,
            "max_reasons": self.max_reasons,
            "features": [_feature_json(f) for f in self.feature_specs],
            "cutoffs": [{"label": c.label, "min_score": c.min_score} for c in self.cutoffs],
            "reasons": dict(self.reasons),
        }

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(f.indicator for f in self.feature_specs)

    # ------------------------------------------------------------------ scoring

    def score(self, values: Mapping[str, Any]) -> tuple[float, list[str]]:
        """The score of one row (missing keys are empty cells) and its reason codes."""
        total = float(self.base_points)
        picked = []
        for f in self.feature_specs:
            b = f.all_bins[f.bin_of(values.get(f.indicator))]
            total = total + b.points
            picked.append(b)
        return total, self._reasons(picked)

    def band(self, score: float) -> str | None:
        """The first cut-off the score reaches (cut-offs run from the highest down)."""
        for c in self.cutoffs:
            if score >= c.min_score:
                return c.label
        return None

    def bin_indices(self, frame: pl.DataFrame) -> np.ndarray:
        """The bin index of every cell, shape ``(rows, features)`` (int16)."""
        # column-major: each feature's bins are contiguous for the lookups that follow
        out = np.empty((frame.height, len(self.feature_specs)), dtype=np.int16, order="F")
        for j, f in enumerate(self.feature_specs):
            out[:, j] = _bin_column(f, frame.get_column(f.indicator))
        return out

    def points_of(self, bins: np.ndarray) -> np.ndarray:
        """Scores from bin indices: base plus each feature's points, in feature order."""
        total = np.full(bins.shape[0], float(self.base_points), dtype=np.float64)
        for j, f in enumerate(self.feature_specs):
            table = np.array([b.points for b in f.all_bins], dtype=np.float64)
            total += table[bins[:, j]]
        return total

    def score_array(self, frame: pl.DataFrame) -> np.ndarray:
        """Scores only (the batch path): one ``searchsorted`` and one lookup per feature."""
        return self.points_of(self.bin_indices(frame))

    def score_frame(self, frame: pl.DataFrame) -> tuple[np.ndarray, list[list[str]]]:
        """Scores and reason codes of every row of ``frame`` (a column per feature)."""
        bins = self.bin_indices(frame)
        return self.points_of(bins), self.reasons_of(bins)

    def reasons_of(self, bins: np.ndarray) -> list[list[str]]:
        """Reason codes per row from bin indices (see :meth:`reason_table`)."""
        lists, inverse = self.reason_table(bins)
        return [list(lists[i]) for i in inverse.tolist()]

    def reason_table(self, bins: np.ndarray) -> tuple[list[list[str]], np.ndarray]:
        """The distinct reason lists of these rows and, per row, the index of its list.

        Vectorised over rows: each row's shortfalls are sorted (largest first, ties in
        feature order), repeated codes dropped, the first ``max_reasons`` kept, and the
        kept code ids packed into one integer per row so that ``np.unique`` finds the few
        distinct lists."""
        n, width = bins.shape
        if n == 0 or width == 0:
            return [[]], np.zeros(n, dtype=np.int64)
        codes = sorted({b.reason for f in self.feature_specs for b in f.all_bins if b.reason})
        code_id = {c: i + 1 for i, c in enumerate(codes)}
        gap = np.empty((n, width), dtype=np.float64)
        cid = np.empty((n, width), dtype=np.int16)
        for j, f in enumerate(self.feature_specs):
            shortfall = [f.best - b.points if b.reason else 0.0 for b in f.all_bins]
            gaps = np.array([g if g > 0 else 0.0 for g in shortfall], dtype=np.float64)
            ids = [
                code_id[b.reason] if b.reason and g > 0 else 0
                for b, g in zip(f.all_bins, shortfall, strict=True)
            ]
            gap[:, j] = gaps[bins[:, j]]
            cid[:, j] = np.array(ids, dtype=np.int16)[bins[:, j]]
        order = np.argsort(-gap, axis=1, kind="stable")
        ranked = np.take_along_axis(cid, order, axis=1)
        for j in range(1, width):
            seen = (ranked[:, :j] == ranked[:, j : j + 1]).any(axis=1)
            ranked[seen & (ranked[:, j] != 0), j] = 0
        left = np.argsort(ranked == 0, axis=1, kind="stable")
        kept = np.take_along_axis(ranked, left, axis=1)[:, : self.max_reasons].astype(np.int64)
        radix = len(codes) + 1
        if radix ** kept.shape[1] < 2**62:
            key = np.zeros(n, dtype=np.int64)
            for j in range(kept.shape[1]):
                key = key * radix + kept[:, j]
            _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        else:  # too many codes to pack: compare whole rows
            _, first, inverse = np.unique(kept, axis=0, return_index=True, return_inverse=True)
        lists = [[codes[c - 1] for c in kept[i].tolist() if c] for i in first.tolist()]
        return lists, inverse.reshape(-1)

    def _reasons(self, picked: Sequence[Bin]) -> list[str]:
        shortfalls = []
        for order, (f, b) in enumerate(zip(self.feature_specs, picked, strict=True)):
            gap = f.best - b.points
            if b.reason and gap > 0:
                shortfalls.append((-gap, order, b.reason))
        out: list[str] = []
        for _, _, code in sorted(shortfalls):
            if code not in out:
                out.append(code)
            if len(out) == self.max_reasons:
                break
        return out

    # ------------------------------------------------------------------ SQL

    def to_sql_case(self, column_for: Callable[[str], str] = lambda c: c) -> str:
        """One SQL expression of the score. ``column_for`` maps an indicator code to the
        column (or quoted identifier) that holds it. Numeric columns hold numbers (flags 0
        and 1), categorical columns hold the code text (flags ``'0'`` and ``'1'``)."""
        parts = [_sql_number(self.base_points)]
        for f in self.feature_specs:
            col = column_for(f.indicator)
            whens = [f"WHEN {col} IS NULL THEN {_sql_number(f.missing.points)}"]
            if f.kind == "numeric":
                for b in f.bins[:-1]:
                    assert b.hi is not None
                    edge = _sql_edge(b.hi)
                    whens.append(f"WHEN {col} < {edge} THEN {_sql_number(b.points)}")
                last = f.bins[-1].points
            else:
                for b in f.bins:
                    values = ", ".join(_sql_text(v) for v in b.values)
                    whens.append(f"WHEN {col} IN ({values}) THEN {_sql_number(b.points)}")
                last = (f.other or f.missing).points
            parts.append(f"(CASE {' '.join(whens)} ELSE {_sql_number(last)} END)")
        return "(" + " + ".join(parts) + ")"


def _sql_number(x: float) -> str:
    text = repr(float(x))
    return f"({text})" if text.startswith("-") else text


_MAX_DIVISOR = 2**62


def _sql_edge(x: float) -> str:
    """A bin edge as SQL that every engine reads as exactly this double. A short decimal
    that is the double itself (``0.5``, ``-30.25``, ``12``) is written as it is; any other
    value as its exact binary fraction, ``CAST(n AS DOUBLE PRECISION)`` divided by powers
    of two (each division exact), because decimal-to-double parsing is not correctly
    rounded everywhere (SQLite 3.40 misreads about 1 in 5 000 seventeen-digit literals by
    one unit in the last place, which would put a value on the wrong side of the edge)."""
    x = float(x)
    text = repr(x)
    if "e" not in text and "E" not in text and Decimal(text) == Decimal(x):
        return f"({text})" if text.startswith("-") else text
    n, d = x.as_integer_ratio()
    expr = f"CAST({n} AS DOUBLE PRECISION)"
    while d > 1:
        step = min(d, _MAX_DIVISOR)
        expr = f"{expr} / {step}"
        d //= step
    return f"({expr})"


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _bin_column(f: Feature, column: pl.Series) -> np.ndarray:
    """Bin indices of one column: ``searchsorted`` on the edges for numbers, a lookup
    table on the physical codes for the snapshot's Enum and Boolean columns."""
    if f.kind == "numeric":
        if column.dtype == pl.Boolean:
            column = column.cast(pl.Int8)
        x = column.cast(pl.Float64).to_numpy()  # empty cells come out as NaN
        edges = f.edges()
        idx: np.ndarray
        if edges.size <= FEW_EDGES:
            # the count of edges <= x is searchsorted(side="right"); with a few edges one
            # vectorised comparison per edge is ~10x faster than the binary search
            idx = np.zeros(x.size, dtype=np.int16)
            for edge in edges.tolist():
                idx += x >= edge
        else:
            idx = np.searchsorted(edges, x, side="right").astype(np.int16)
        if column.null_count():
            idx[np.isnan(x)] = f.missing_index
        return idx
    mapping = {v: i for i, b in enumerate(f.bins) for v in b.values}
    dtype = column.dtype
    if isinstance(dtype, pl.Enum) or dtype == pl.Boolean:
        if isinstance(dtype, pl.Enum):
            categories = dtype.categories.to_list()
            physical = column.to_physical()
        else:
            categories = ["0", "1"]
            physical = column.cast(pl.UInt8)
        lut = np.array(
            [mapping.get(c, f.other_index) for c in categories] + [f.missing_index],
            dtype=np.int16,
        )
        codes = physical.fill_null(len(categories)).to_numpy()
        out: np.ndarray = lut[codes]
        return out
    text = column.cast(pl.String)
    found = text.replace_strict(mapping, default=f.other_index, return_dtype=pl.Int16)
    out = found.to_numpy().astype(np.int16)
    if text.null_count():
        out[text.is_null().to_numpy()] = f.missing_index
    return out


def _bin_json(b: Bin, kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if kind == "numeric":
        out.update(lo=b.lo, hi=b.hi)
    elif b.values:
        out["values"] = list(b.values)
    out["points"] = b.points
    if b.reason:
        out["reason"] = b.reason
    return out


def _feature_json(f: Feature) -> dict[str, Any]:
    out: dict[str, Any] = {
        "indicator": f.indicator,
        "kind": f.kind,
        "bins": [_bin_json(b, f.kind) for b in f.bins],
        "missing": _bin_json(f.missing, "special"),
    }
    if f.other is not None:
        out["other"] = _bin_json(f.other, "special")
    return out


# --- validation ----------------------------------------------------------------------------


class _Validator:
    """Collects every problem with its path, so a form can show them all at once."""

    def __init__(self) -> None:
        self.problems: list[dict[str, Any]] = []
        self.used_reasons: list[tuple[str, str]] = []

    def fail(self, path: str, message: str, **params: Any) -> None:
        self.problems.append({"field": path, "message": message, "params": params})

    def scorecard(self, data: Any) -> Scorecard | None:
        if not isinstance(data, dict):
            self.fail("", N_("A scorecard is a JSON object."))
            return None
        allowed = {"base_points", "max_reasons", "features", "cutoffs", "reasons"}
        for key in sorted(set(data) - allowed):
            self.fail(key, N_("Unknown field {name}."), name=str(key)[:40])
        base = self.number(data.get("base_points", 0), "base_points")
        max_reasons = data.get("max_reasons", 4)
        if not isinstance(max_reasons, int) or isinstance(max_reasons, bool):
            self.fail("max_reasons", N_("Must be a whole number."))
            max_reasons = 4
        elif not 1 <= max_reasons <= MAX_REASONS:
            self.fail("max_reasons", N_("Must be between 1 and {max}."), max=MAX_REASONS)
        reasons = self.reasons(data.get("reasons", {}))
        features = self.features(data.get("features"))
        cutoffs = self.cutoffs(data.get("cutoffs", []))
        for path, code in self.used_reasons:
            if reasons is not None and code not in reasons:
                self.fail(path, N_("Reason code {code} is not defined in reasons."), code=code)
        if self.problems:
            return None
        return Scorecard(
            base_points=base,
            feature_specs=tuple(features),
            cutoffs=tuple(cutoffs),
            reasons=dict(reasons or {}),
            max_reasons=max_reasons,
        )

    def number(self, value: Any, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(path, N_("Must be a number."))
            return 0.0
        x = float(value)
        if not math.isfinite(x) or abs(x) > 1e12:
            self.fail(path, N_("Must be a finite number."))
            return 0.0
        return x

    def reasons(self, data: Any) -> dict[str, str] | None:
        if not isinstance(data, dict):
            self.fail("reasons", N_("Reasons map each code to its description."))
            return None
        out = {}
        for code, text in data.items():
            path = f"reasons.{code}"
            if not isinstance(code, str) or not CODE_RE.match(code):
                self.fail(path, N_("A reason code is a letter then up to 31 letters, digits or _."))
            elif not isinstance(text, str) or not text.strip() or len(text) > 200:
                self.fail(path, N_("A reason needs a description of 1 to 200 characters."))
            else:
                out[code] = text.strip()
        return out

    def features(self, data: Any) -> list[Feature]:
        if not isinstance(data, list) or not data:
            self.fail("features", N_("A scorecard needs at least one feature."))
            return []
        if len(data) > MAX_FEATURES:
            self.fail("features", N_("At most {max} features."), max=MAX_FEATURES)
            return []
        out, seen = [], set()
        for i, item in enumerate(data):
            f = self.feature(item, f"features.{i}")
            if f is None:
                continue
            if f.indicator in seen:
                self.fail(
                    f"features.{i}.indicator",
                    N_("{indicator} is used twice."),
                    indicator=f.indicator,
                )
            seen.add(f.indicator)
            out.append(f)
        return out

    def feature(self, data: Any, path: str) -> Feature | None:
        if not isinstance(data, dict):
            self.fail(path, N_("A feature is a JSON object."))
            return None
        for key in sorted(set(data) - {"indicator", "kind", "bins", "missing", "other"}):
            self.fail(f"{path}.{key}", N_("Unknown field {name}."), name=str(key)[:40])
        indicator = data.get("indicator")
        if not isinstance(indicator, str) or not INDICATOR_RE.match(indicator):
            self.fail(f"{path}.indicator", N_("An indicator code is required."))
            indicator = ""
        kind = data.get("kind")
        if kind not in KINDS:
            self.fail(f"{path}.kind", N_("kind is numeric or categorical."))
            return None
        raw_bins = data.get("bins")
        if not isinstance(raw_bins, list) or not raw_bins:
            self.fail(f"{path}.bins", N_("A feature needs at least one bin."))
            return None
        if len(raw_bins) > MAX_BINS:
            self.fail(f"{path}.bins", N_("At most {max} bins."), max=MAX_BINS)
            return None
        before = len(self.problems)
        bins = (
            self.numeric_bins(raw_bins, f"{path}.bins")
            if kind == "numeric"
            else self.categorical_bins(raw_bins, f"{path}.bins")
        )
        if "missing" not in data:
            self.fail(f"{path}.missing", N_("Every feature needs a bin for an empty value."))
        missing = self.special(data.get("missing"), f"{path}.missing")
        other = None
        if "other" in data:
            if kind == "numeric":
                self.fail(f"{path}.other", N_("Only categorical features have an other bin."))
            else:
                other = self.special(data["other"], f"{path}.other")
        if len(self.problems) > before or missing is None:
            return None
        return Feature(
            indicator=indicator, kind=kind, bins=tuple(bins), missing=missing, other=other
        )

    def _common(self, data: dict[str, Any], path: str) -> tuple[float, str | None]:
        points = self.number(data.get("points"), f"{path}.points")
        reason = data.get("reason")
        if reason is not None:
            if not isinstance(reason, str) or not CODE_RE.match(reason):
                self.fail(
                    f"{path}.reason",
                    N_("A reason code is a letter then up to 31 letters, digits or _."),
                )
                reason = None
            else:
                self.used_reasons.append((f"{path}.reason", reason))
        return points, reason

    def special(self, data: Any, path: str) -> Bin | None:
        if not isinstance(data, dict):
            self.fail(path, N_("A bin is a JSON object with points."))
            return None
        for key in sorted(set(data) - {"points", "reason"}):
            self.fail(f"{path}.{key}", N_("Unknown field {name}."), name=str(key)[:40])
        points, reason = self._common(data, path)
        return Bin(points=points, reason=reason)

    def numeric_bins(self, data: list[Any], path: str) -> list[Bin]:
        out: list[Bin] = []
        for i, item in enumerate(data):
            here = f"{path}.{i}"
            if not isinstance(item, dict):
                self.fail(here, N_("A bin is a JSON object with points."))
                continue
            for key in sorted(set(item) - {"lo", "hi", "points", "reason"}):
                self.fail(f"{here}.{key}", N_("Unknown field {name}."), name=str(key)[:40])
            lo = None if item.get("lo") is None else self.number(item["lo"], f"{here}.lo")
            hi = None if item.get("hi") is None else self.number(item["hi"], f"{here}.hi")
            points, reason = self._common(item, here)
            if i == 0 and lo is not None:
                self.fail(
                    f"{here}.lo",
                    N_("The first bin must start at minus infinity (lo: null)."),
                )
            if i > 0 and lo is None:
                self.fail(f"{here}.lo", N_("Only the first bin starts at minus infinity."))
            if i == len(data) - 1 and hi is not None:
                self.fail(f"{here}.hi", N_("The last bin must end at infinity (hi: null)."))
            if i < len(data) - 1 and hi is None:
                self.fail(f"{here}.hi", N_("Only the last bin ends at infinity."))
            if lo is not None and hi is not None and not lo < hi:
                self.fail(here, N_("A bin's lo must be less than its hi."))
            if out and lo is not None and out[-1].hi is not None and lo != out[-1].hi:
                message = (
                    N_("Bins overlap: this bin starts at {lo}, before the previous ends at {hi}.")
                    if lo < out[-1].hi
                    else N_("Bins leave a gap: this bin starts at {lo}, the previous ends at {hi}.")
                )
                self.fail(f"{here}.lo", message, lo=f"{lo:g}", hi=f"{out[-1].hi:g}")
            out.append(Bin(points=points, reason=reason, lo=lo, hi=hi))
        return out

    def categorical_bins(self, data: list[Any], path: str) -> list[Bin]:
        out: list[Bin] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(data):
            here = f"{path}.{i}"
            if not isinstance(item, dict):
                self.fail(here, N_("A bin is a JSON object with points."))
                continue
            for key in sorted(set(item) - {"values", "points", "reason"}):
                self.fail(f"{here}.{key}", N_("Unknown field {name}."), name=str(key)[:40])
            values = item.get("values")
            if (
                not isinstance(values, list)
                or not values
                or len(values) > MAX_VALUES
                or not all(isinstance(v, str) and 0 < len(v) <= 64 for v in values)
            ):
                self.fail(
                    f"{here}.values",
                    N_("A categorical bin lists 1 to {max} code values (text)."),
                    max=MAX_VALUES,
                )
                values = []
            for v in values:
                if v in seen:
                    self.fail(
                        f"{here}.values",
                        N_("{value} is already in bin {other}."),
                        value=v,
                        other=seen[v],
                    )
                seen[v] = i
            points, reason = self._common(item, here)
            out.append(Bin(points=points, reason=reason, values=tuple(dict.fromkeys(values))))
        return out

    def cutoffs(self, data: Any) -> list[Cutoff]:
        if not isinstance(data, list) or len(data) > 10:
            self.fail("cutoffs", N_("Cut-offs are a list of at most 10 labels with min_score."))
            return []
        out: list[Cutoff] = []
        for i, item in enumerate(data):
            here = f"cutoffs.{i}"
            if not isinstance(item, dict):
                self.fail(here, N_("A cut-off is a JSON object with label and min_score."))
                continue
            label = item.get("label")
            if not isinstance(label, str) or not CODE_RE.match(label):
                self.fail(
                    f"{here}.label",
                    N_("A cut-off label is a letter then up to 31 letters, digits or _."),
                )
                label = ""
            score = self.number(item.get("min_score"), f"{here}.min_score")
            if out and not score < out[-1].min_score:
                self.fail(
                    f"{here}.min_score",
                    N_("Cut-offs run from the highest score down, each lower than the last."),
                )
            if label and any(c.label == label for c in out):
                self.fail(f"{here}.label", N_("{label} is used twice."), label=label)
            out.append(Cutoff(label=label, min_score=score))
        return out
