"""Turning model arrays into the rows a department sends, in wide or long layout.

Values are rounded and typed from the catalog here, once: amounts to the fen, ``ratio``
indicators with unit ``ratio`` to 4 decimals and other measures to 2, counts and flags as
integers, grades/dates/text as strings. Missing values (``nan``) produce no observation: an
empty cell in a wide row, no row at all in a long file.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from puhui.ingest.generator.calendar import PeriodAxis, month_label, quarter_label, year_label
from puhui.ingest.generator.catalog import Indicator, load_catalog
from puhui.ingest.generator.model import Model


def typed(ind: Indicator, values: np.ndarray) -> pl.Series:
    """A numeric array (nan = missing) as the catalog type of ``ind``."""
    v = np.asarray(values, dtype=float)
    if ind.value_type in ("count", "flag"):
        return pl.Series(ind.code, np.round(v), nan_to_null=True).cast(pl.Int64)
    return pl.Series(ind.code, np.round(v, ind.decimals) + 0.0, nan_to_null=True)


def labels(code: str, index: np.ndarray, names: tuple[str, ...] | list[str]) -> pl.Series:
    """Integer codes (-1 = missing) as their label strings."""
    idx = pl.Series(np.where(index >= 0, index, 0).astype(np.uint32))
    out = pl.Series(code, list(names), dtype=pl.Utf8).gather(idx)
    return out.set(pl.Series(index < 0), None) if (index < 0).any() else out


def dates(code: str, days: np.ndarray) -> pl.Series:
    """datetime64[D] values (NaT = missing) as ISO dates."""
    d = np.asarray(days, dtype="datetime64[D]")
    out = pl.Series(code, np.where(np.isnat(d), 0, d.astype(np.int64)).astype(np.int32))
    out = out.cast(pl.Date).cast(pl.Utf8)
    return out.set(pl.Series(np.isnat(d)), None) if np.isnat(d).any() else out


class Wide:
    """One row per (entity, period) for the chunk entities ``idx`` where ``present``.

    ``add`` accepts values shaped ``(n, S)`` (the whole chunk over simulated months),
    ``(k, S)``, ``(k, P)`` (the axis' periods) or ``(k,)`` (the same in every period)."""

    def __init__(
        self, m: Model, idx: np.ndarray, axis: PeriodAxis, present: np.ndarray | None = None
    ) -> None:
        self.m, self.idx, self.axis = m, np.asarray(idx), axis
        self.present = m.alive[self.idx][:, axis.sim] if present is None else present
        self.r, self.c = np.nonzero(self.present)
        self.flat = self.r * len(axis) + self.c
        self.cols: dict[str, pl.Series] = {}
        self.catalog = load_catalog()

    def pick(self, values: np.ndarray) -> np.ndarray:
        v = np.asarray(values)
        k, m = len(self.idx), self.m
        if v.ndim == 1:
            v = v[self.idx] if len(v) == m.n and k != m.n else v
            return v[self.r]
        if v.shape == (m.n, m.S):
            v = v[self.idx]
        if v.shape[1] == m.S:
            v = v[:, self.axis.sim]
        return np.take(v.reshape(-1), self.flat)

    def add(self, code: str, values: np.ndarray) -> None:
        self.cols[code] = typed(self.catalog[code], self.pick(values).astype(float))

    def add_labels(self, code: str, index: np.ndarray, names: tuple[str, ...] | list[str]) -> None:
        self.cols[code] = labels(code, self.pick(index).astype(np.int64), names)

    def add_dates(self, code: str, days: np.ndarray) -> None:
        self.cols[code] = dates(code, self.pick(days))

    def frame(self, columns: tuple[str, ...]) -> pl.DataFrame:
        ent = pl.Series(self.idx[self.r].astype(np.uint32))
        head = {"uscc": pl.Series("uscc", self.m.e.uscc).gather(ent)}
        head["period"] = pl.Series("period", list(self.axis.labels)).gather(
            pl.Series(self.c.astype(np.uint32))
        )
        missing = [c for c in columns if c not in self.cols]
        if missing:
            raise KeyError(f"wide frame lacks {missing}")
        return pl.DataFrame([*head.values(), *(self.cols[c] for c in columns)])


class Long:
    """Rows ``uscc, indicator, period, value`` gathered from many ``add`` calls, sorted by
    entity, period and catalog order. ``value`` is text (as written to CSV); ``num`` keeps
    the number for numeric indicators (for files whose value column is numeric)."""

    def __init__(self, m: Model) -> None:
        self.m = m
        self.parts: list[pl.DataFrame] = []
        self.catalog = load_catalog()
        self.order = {c: i for i, c in enumerate(self.catalog)}

    def _part(
        self,
        code: str,
        ent: np.ndarray,
        key: np.ndarray,
        period: list[str] | pl.Series,
        value: pl.Series,
    ) -> None:
        if not len(ent):
            return
        num = (
            value.cast(pl.Float64)
            if value.dtype != pl.Utf8
            else pl.Series([None] * len(ent), dtype=pl.Float64)
        )
        self.parts.append(
            pl.DataFrame(
                {
                    "ent": ent.astype(np.int64),
                    "key": np.asarray(key, dtype=np.int64),
                    "ord": np.full(len(ent), self.order[code], dtype=np.int32),
                    "indicator": pl.Series([code], dtype=pl.Utf8).gather(
                        np.zeros(len(ent), dtype=np.uint32)
                    ),
                    "period": period,
                    "value": value.cast(pl.Utf8),
                    "num": num,
                }
            )
        )

    def add(
        self, code: str, ent: np.ndarray, g: np.ndarray, values: np.ndarray, *, form: str = "M"
    ) -> None:
        """Values at month numbers ``g`` (the last month of the period for ``form`` Q/Y)."""
        keep = ~np.isnan(np.asarray(values, dtype=float))
        ent, g = np.asarray(ent)[keep], np.asarray(g)[keep]
        self._part(
            code,
            ent,
            g,
            period_labels(g, form),
            typed(self.catalog[code], np.asarray(values, dtype=float)[keep]),
        )

    def add_matrix(
        self,
        code: str,
        idx: np.ndarray,
        axis: PeriodAxis,
        values: np.ndarray,
        *,
        nonzero: bool = False,
        present: np.ndarray | None = None,
    ) -> None:
        """A ``(k, P)`` or ``(k, S)`` matrix for entities ``idx``; nan (and 0 if ``nonzero``)
        give no row, nor do periods where ``present`` (default: the entity exists) is false."""
        idx = np.asarray(idx)
        v = np.asarray(values, dtype=float)
        if v.shape[1] == self.m.S:
            v = v[:, axis.sim]
        ok = ~np.isnan(v)
        if nonzero:
            ok &= v != 0
        ok &= self.m.alive[idx][:, axis.sim] if present is None else present
        r, c = np.nonzero(ok)
        g = self.m.cal.sim_start + axis.sim[c]
        self._part(
            code,
            idx[r],
            g,
            pl.Series(list(axis.labels)).gather(c.astype(np.uint32)),
            typed(self.catalog[code], v[r, c]),
        )

    def add_labels(
        self,
        code: str,
        ent: np.ndarray,
        g: np.ndarray,
        index: np.ndarray,
        names: tuple[str, ...] | list[str],
        *,
        form: str = "M",
    ) -> None:
        keep = np.asarray(index) >= 0
        ent, g = np.asarray(ent)[keep], np.asarray(g)[keep]
        self._part(
            code, ent, g, period_labels(g, form), labels(code, np.asarray(index)[keep], names)
        )

    def add_dates(
        self, code: str, ent: np.ndarray, g: np.ndarray, days: np.ndarray, *, form: str = "M"
    ) -> None:
        keep = ~np.isnat(np.asarray(days, dtype="datetime64[D]"))
        ent, g = np.asarray(ent)[keep], np.asarray(g)[keep]
        self._part(code, ent, g, period_labels(g, form), dates(code, np.asarray(days)[keep]))

    def add_text(
        self, code: str, ent: np.ndarray, g: np.ndarray, text: list[str] | pl.Series
    ) -> None:
        self._part(
            code,
            np.asarray(ent),
            np.asarray(g),
            period_labels(np.asarray(g), "M"),
            pl.Series(code, text, dtype=pl.Utf8),
        )

    def frame(self, *, numeric: bool = False) -> pl.DataFrame:
        cols = ["uscc", "indicator", "period", "num" if numeric else "value"]
        if not self.parts:
            schema = {
                "uscc": pl.Utf8,
                "indicator": pl.Utf8,
                "period": pl.Utf8,
                "value": pl.Float64 if numeric else pl.Utf8,
            }
            return pl.DataFrame(schema=schema)
        df = pl.concat(self.parts)
        # one packed key (entity, the period's last month, catalog order) sorts much faster
        packed = (pl.col("ent") * (1 << 40)) + (pl.col("key") * (1 << 12)) + pl.col("ord")
        df = df.sort(packed, maintain_order=True)
        # two events of one kind in one month (two penalties repaired in the same month) are
        # one observation: a repeated key would be dirt that nobody planted
        df = df.filter(packed.is_first_distinct())
        df = df.with_columns(pl.Series("uscc", self.m.e.uscc).gather(df["ent"].cast(pl.UInt32)))
        out = df.select(cols)
        return out.rename({"num": "value"}) if numeric else out


def period_labels(g: np.ndarray, form: str) -> pl.Series:
    """Month numbers as ``YYYY-MM``, the quarter ``YYYY-Qn`` or the year ``YYYY``."""
    g = np.asarray(g, dtype=np.int64)
    uniq, inv = np.unique(g, return_inverse=True)
    fmt = {"M": month_label, "Q": quarter_label, "Y": year_label}[form]
    return pl.Series([fmt(int(x)) for x in uniq], dtype=pl.Utf8).gather(inv.astype(np.uint32))
