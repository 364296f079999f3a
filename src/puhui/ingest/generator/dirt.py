"""Planting deliberate dirt at known rows, so an ingester's report can be checked exactly.

Each file carries the kinds listed in its ``FileSpec.dirt``: two rows of each kind (one in
small files), planted in the first chunk that has enough suitable rows. A planted row is
wrong in exactly one way, and no other row of the file is wrong in any of these ways:

- ``invalid_uscc``: the ``uscc`` has a wrong check character (and is not a registry code);
- ``unknown_uscc``: a valid USCC that is not in the registry;
- ``unknown_indicator``: an indicator code not in the catalog (long files);
- ``wrong_type``: text where the indicator's type is numeric;
- ``out_of_range``: a number below the indicator's ``min_value`` or above its ``max_value``;
- ``bad_period``: a period that is no month, quarter or year (``2026-13``, ``2025-Q5``, ``2O25``);
- ``duplicate_row``: an exact copy of the row before it (the copy is the planted row);
- ``bad_grade``: a grade outside the indicator's ``allowed_values``.

Rows are numbered from 1 after the header; ``column`` is the column holding the wrong value
(``uscc``, ``indicator``, ``period``, ``value`` or an indicator code) or ``None`` for a
duplicate row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import polars as pl

from puhui.entities import service as uscc
from puhui.ingest.generator.catalog import Indicator, load_catalog
from puhui.ingest.generator.feeds import FileSpec
from puhui.ingest.generator.registry import stream, unknown_codes

KINDS = (
    "invalid_uscc",
    "unknown_uscc",
    "unknown_indicator",
    "wrong_type",
    "out_of_range",
    "bad_period",
    "duplicate_row",
    "bad_grade",
)
# the rejection reason ingestion must report for each kind of planted fault (what
# `puhui ingest` names it in the quality report)
EXPECTED_REASON = {
    "invalid_uscc": "invalid_uscc_check",
    "unknown_uscc": "unknown_entity",
    "unknown_indicator": "unknown_indicator",
    "wrong_type": "wrong_type",
    "out_of_range": "out_of_range",
    "bad_period": "bad_period",
    "bad_grade": "not_allowed_value",
    "duplicate_row": "duplicate",
}
WORDS = ("不详", "暂无数据", "约5万", "12万元", "见附件")


@dataclass(frozen=True)
class Planted:
    row: int  # 0-based within the chunk frame as written
    column: str | None
    kind: str


class Planter:
    def __init__(self, *, seed: int, entities: int, enabled: bool) -> None:
        self.enabled = enabled
        self.rng = stream(seed, 2**31, "dirt")  # a chunk number no chunk has
        self.pending: dict[str, list[str]] = {}
        self.unknown = iter(unknown_codes(entities, 1_000, self.rng))
        self.catalog = load_catalog()

    def plant(self, spec: FileSpec, df: pl.DataFrame) -> tuple[pl.DataFrame, list[Planted]]:
        """Plant what is still pending for ``spec`` into this chunk's frame."""
        if not self.enabled or not spec.dirt:
            return df, []
        todo = self.pending.setdefault(spec.path, list(spec.dirt))
        if not todo or df.height < 4:
            return df, []
        per_kind = 2 if df.height >= 50 else 1
        self.df = df
        self.blocked = np.zeros(df.height + 1, dtype=bool)
        planted: list[Planted] = []
        sources: list[int] = []
        for kind in list(todo):
            hits = sum(self._one(kind, spec, planted, sources) for _ in range(per_kind))
            if hits:
                todo.remove(kind)
        out = self.df
        if sources:
            order = np.arange(out.height)
            for src in sorted(sources, reverse=True):
                order = np.insert(order, src + 1, src)
            out = out[order]
            shift = np.searchsorted(np.array(sorted(sources)), np.arange(df.height), side="left")
            planted = [Planted(p.row + int(shift[p.row]), p.column, p.kind) for p in planted]
            planted += [
                Planted(src + int(shift[src]) + 1, None, "duplicate_row") for src in sources
            ]
        return out, sorted(planted, key=lambda p: p.row)

    def _take_row(self, ok: np.ndarray | None = None) -> int | None:
        """A row not next to another planted row (so duplicates stay exact copies)."""
        n = self.df.height
        free = ~(self.blocked[:n] | np.r_[False, self.blocked[: n - 1]] | self.blocked[1 : n + 1])
        if ok is not None:
            free &= ok
        candidates = np.flatnonzero(free)
        if not len(candidates):
            return None
        row = int(candidates[self.rng.integers(0, len(candidates))])
        self.blocked[row] = True
        return row

    def _set(self, row: int, column: str, value: object) -> None:
        if isinstance(value, str) and self.df[column].dtype != pl.Utf8:
            self.df = self.df.with_columns(pl.col(column).cast(pl.Utf8))
        self.df[row, column] = value

    def _one(self, kind: str, spec: FileSpec, planted: list[Planted], sources: list[int]) -> bool:
        if kind in ("invalid_uscc", "unknown_uscc", "bad_period", "duplicate_row"):
            row = self._take_row()
            if row is None:
                return False
            if kind == "duplicate_row":
                self.blocked[row + 1] = True
                sources.append(row)
                return True
            if kind == "bad_period":
                self._set(row, "period", bad_period(str(self.df[row, "period"]), self.rng))
                planted.append(Planted(row, "period", kind))
                return True
            code = next(self.unknown)
            if kind == "invalid_uscc":
                shift = 1 + int(self.rng.integers(0, 30))
                code = code[:17] + uscc.ALPHABET[(uscc.VALUES[code[17]] + shift) % 31]
            self._set(row, "uscc", code)
            planted.append(Planted(row, "uscc", kind))
            return True
        if spec.layout == "long":
            return self._long_value(kind, planted)
        return self._wide_value(kind, spec, planted)

    def _suits(self, kind: str, ind: Indicator) -> bool:
        if kind == "wrong_type":
            return ind.value_type in ("amount", "count", "ratio")
        if kind == "out_of_range":
            return ind.value_type in ("amount", "count", "ratio") and (
                ind.min_value is not None or ind.max_value is not None
            )
        if kind == "bad_grade":
            return ind.value_type == "grade"
        return kind == "unknown_indicator"

    def _long_value(self, kind: str, planted: list[Planted]) -> bool:
        codes = [c for c, ind in self.catalog.items() if self._suits(kind, ind)]
        ok = (self.df["indicator"].is_in(codes) & self.df["value"].is_not_null()).to_numpy()
        row = self._take_row(ok)
        if row is None:
            return False
        ind = self.catalog[str(self.df[row, "indicator"])]
        if kind == "unknown_indicator":
            self._set(row, "indicator", unknown_indicator(ind.code, self.catalog))
            planted.append(Planted(row, "indicator", kind))
        else:
            as_text = self.df["value"].dtype == pl.Utf8
            self._set(
                row, "value", self._bad_value(kind, ind, self.df[row, "value"], as_text=as_text)
            )
            planted.append(Planted(row, "value", kind))
        return True

    def _wide_value(self, kind: str, spec: FileSpec, planted: list[Planted]) -> bool:
        if kind == "unknown_indicator" or (kind == "wrong_type" and spec.format == "parquet"):
            return False
        columns = [
            c for c in self.df.columns if c in self.catalog and self._suits(kind, self.catalog[c])
        ]
        for column in self.rng.permutation(columns).tolist() if columns else []:
            row = self._take_row(self.df[column].is_not_null().to_numpy())
            if row is None:
                continue
            ind = self.catalog[column]
            as_text = self.df[column].dtype == pl.Utf8
            self._set(
                row, column, self._bad_value(kind, ind, self.df[row, column], as_text=as_text)
            )
            planted.append(Planted(row, column, kind))
            return True
        return False

    def _bad_value(self, kind: str, ind: Indicator, current: object, *, as_text: bool) -> object:
        if kind == "wrong_type":
            return WORDS[int(self.rng.integers(0, len(WORDS)))]
        if kind == "bad_grade":
            return ind.allowed[0] + "+" if self.rng.random() < 0.5 else "未评级"
        # out of range: below the minimum when there is one, else above the maximum
        magnitude = abs(float(current)) if current not in (None, "") else 1.0  # type: ignore[arg-type]
        if ind.min_value is not None:
            bad = ind.min_value - max(magnitude, 1.0)
        else:
            bad = float(ind.max_value) * 10 + 1  # type: ignore[arg-type]
        if ind.value_type == "count":
            return str(int(np.floor(bad))) if as_text else int(np.floor(bad))
        bad = round(bad, ind.decimals)
        return format_number(bad) if as_text else bad


def format_number(x: float) -> str:
    """The way polars writes a float (shortest round-trip, ``.0`` for integral values)."""
    return str(pl.Series([x]).cast(pl.Utf8)[0])


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


def bad_period(period: str, rng: np.random.Generator) -> str:
    if _QUARTER.match(period):
        return period[:4] + ("-Q5" if rng.random() < 0.5 else "-Q0")
    if _MONTH.match(period):
        return period[:4] + ("-13" if rng.random() < 0.5 else "-00")
    return period[:1] + "O" + period[2:]


def unknown_indicator(code: str, catalog: dict[str, Indicator]) -> str:
    for candidate in (code[:-1] + "X", code + "_OLD", code.replace("_", "", 1), "X_" + code):
        if candidate not in catalog:
            return candidate
    raise ValueError(code)  # pragma: no cover
