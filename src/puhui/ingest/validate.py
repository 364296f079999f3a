"""Row validation of a batch against the catalog and the registry, vectorised in Polars.

Each row either passes, passes with a warning, or is rejected with exactly one reason
(the first that applies, in the order of :data:`REASONS`) naming the column at fault.
Rejected rows never reach the lake; good rows of the same batch are not affected.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from datetime import date
from typing import cast

import numpy as np
import polars as pl

from puhui.core.i18n import N_
from puhui.entities import service as entities

# reason code -> (column, message id); the order is the order rows are checked in
REASONS: dict[str, tuple[str, str]] = {
    "bad_json_line": ("*", N_("The line is not a JSON object.")),
    "invalid_uscc": ("uscc", N_("The USCC is malformed.")),
    "invalid_uscc_check": ("uscc", N_("The check character of the USCC is wrong.")),
    "unknown_entity": ("uscc", N_("No entity with this USCC is registered.")),
    "unknown_indicator": ("indicator", N_("The indicator code is not in the catalog.")),
    "indicator_not_from_source": ("indicator", N_("This source does not supply this indicator.")),
    "bad_period": (
        "period",
        N_("The period is not YYYY-MM, YYYYMM, YYYY-Qn or YYYY, or lies in the future."),
    ),
    "missing_value": ("value", N_("The value is empty.")),
    "wrong_type": ("value", N_("The value does not fit the indicator's type.")),
    "not_allowed_value": ("value", N_("The value is not one of the indicator's allowed values.")),
    "out_of_range": ("value", N_("The value is outside the indicator's range.")),
    "duplicate": ("*", N_("The same entity, indicator and period appear earlier in this batch.")),
}
WARNINGS: dict[str, tuple[str, str]] = {
    "uscc_check_flagged": (
        "uscc",
        N_("The USCC's check character is wrong; the registry keeps it flagged."),
    ),
}
NUMERIC = ("amount", "count", "ratio")
FIRST_PERIOD = 190001  # nothing the departments hold is older
ENUMERATED = ("grade", "code", "flag")
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


@dataclass(frozen=True)
class Checked:
    accepted: pl.DataFrame  # row, entity_id, indicator_id, period, value_num, value_text
    issues: pl.DataFrame  # row, column, reason, severity, value


@dataclass(frozen=True)
class Spec:
    """What validation needs to know of one catalog indicator."""

    id: int
    code: str
    value_type: str
    source: str
    min_value: float | None
    max_value: float | None
    allowed_values: tuple[str, ...] | list[str]


class SeenKeys:
    """The (entity, indicator, period) keys a batch has accepted so far, one bit each, so
    that a key repeated anywhere in a file of hundreds of millions of rows is found while
    the file streams by in chunks.

    One bitmap per year of ``n_entities x len(indicator_ids) x 12`` bits, allocated on
    first use (zeroed pages cost no memory until touched; a file sorted by entity touches
    them in order): the full city's largest file needs ~100 MB.
    """

    def __init__(self, n_entities: int, indicator_ids: list[int]) -> None:
        self._ids = [int(i) for i in indicator_ids]
        self._positions = list(range(len(self._ids)))
        self._per_entity = max(1, len(indicator_ids)) * 12
        self._bits = (n_entities * self._per_entity + 7) // 8
        self._years: dict[int, np.ndarray] = {}

    def slots(self, entity: pl.Expr, indicator: pl.Expr, period: pl.Expr) -> list[pl.Expr]:
        """Expressions of (year, byte, bit mask) of keys, for :meth:`add`."""
        local = indicator.cast(pl.Int64).replace_strict(
            self._ids, self._positions, default=None, return_dtype=pl.Int64
        )
        index = entity.cast(pl.Int64) * self._per_entity + local * 12 + (period % 100 - 1)
        return [
            (period // 100).cast(pl.Int32).alias("_year"),
            (index // 8).alias("_byte"),
            (index % 8)
            .replace_strict(list(range(8)), [1 << b for b in range(8)], return_dtype=pl.UInt8)
            .alias("_mask"),
        ]

    def add(self, year: np.ndarray, byte: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Record keys (distinct among themselves, given by :meth:`slots`); True where a
        key was recorded before."""
        seen = np.zeros(len(year), dtype=bool)
        if not len(year):
            return seen
        if (byte < 0).any() or (byte >= self._bits).any():
            raise ValueError("a key outside the source's indicators or the registry")
        first, last = int(year.min()), int(year.max())
        for y in range(first, last + 1):
            where = None if first == last else np.flatnonzero(year == y)
            if where is not None and not len(where):
                continue
            bits = self._years.get(y)
            if bits is None:
                bits = self._years[y] = _zeroed(self._bits)
            at = byte if where is None else byte[where]
            m = mask if where is None else mask[where]
            hit = (bits[at] & m) != 0
            if where is None:
                seen = hit
            else:
                seen[where] = hit
            np.bitwise_or.at(bits, at, m)
        return seen


def _mark_duplicates(df: pl.DataFrame, key: pl.Expr, seen: SeenKeys) -> pl.DataFrame:
    """Reason "duplicate" for a valid row whose key came earlier in this chunk (file order)
    or in an earlier chunk of the batch (the bitmap)."""
    valid = df.select(pl.col("reason").is_null().arg_true()).to_series()
    if valid.len():
        slots = df.select(
            pl.col("reason").is_null().alias("_valid"),
            key.alias("_key"),
            *seen.slots(pl.col("entity_id"), pl.col("indicator_id"), pl.col("period_num")),
        ).filter("_valid")
        keys = slots.get_column("_key")
        # counting distinct keys is ~40x faster than marking the first of each
        first = (
            np.ones(keys.len(), dtype=bool)
            if keys.n_unique() == keys.len()
            else keys.is_first_distinct().to_numpy()
        )
        year = slots.get_column("_year").to_numpy()
        byte = slots.get_column("_byte").fill_null(-1).to_numpy()
        mask = slots.get_column("_mask").to_numpy()
        if first.all():
            again = seen.add(year, byte, mask)
        else:
            again = ~first
            at = np.flatnonzero(first)
            again[at] = seen.add(year[at], byte[at], mask[at])
        if again.any():
            hits = valid.filter(pl.Series(again))
            df = df.with_columns(
                df.get_column("reason").scatter(hits, pl.Series(["duplicate"] * hits.len()))
            )
    return df


def _zeroed(size: int) -> np.ndarray:
    """A zeroed byte array in anonymous memory with ordinary 4 KB pages, paid for only where
    touched. (``np.zeros`` asks the kernel for 2 MB huge pages on large arrays, and then a
    few thousand scattered keys in a year of old events zero the whole bitmap.)"""
    return np.frombuffer(mmap.mmap(-1, max(size, 1)), dtype=np.uint8)


def catalog_frame(specs: list[Spec]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(indicator table, allowed-values table) for joining against a batch."""
    table = pl.DataFrame(
        {
            "indicator": [s.code for s in specs],
            "indicator_id": pl.Series([s.id for s in specs], dtype=pl.Int16),
            "value_type": [s.value_type for s in specs],
            "source": [s.source for s in specs],
            "min_value": pl.Series([s.min_value for s in specs], dtype=pl.Float64),
            "max_value": pl.Series([s.max_value for s in specs], dtype=pl.Float64),
        }
    )
    pairs = [(s.id, str(v)) for s in specs for v in s.allowed_values]
    allowed = pl.DataFrame(
        {
            "indicator_id": pl.Series([p[0] for p in pairs], dtype=pl.Int16),
            "value": pl.Series([p[1] for p in pairs], dtype=pl.String),
            "allowed": pl.Series([True] * len(pairs), dtype=pl.Boolean),
        }
    )
    return table, allowed


def normalized_uscc(col: pl.Expr) -> pl.Expr:
    return col.str.normalize("NFKC").str.to_uppercase().str.replace_all(r"[ \t\-]", "")


def uscc_checks(col: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(well formed apart from the check character, check character right) for normalised codes."""
    values = {c: i for i, c in enumerate(entities.ALPHABET)}
    chars = [
        col.str.slice(i, 1).replace_strict(values, default=None, return_dtype=pl.Int32)
        for i in range(18)
    ]
    formed = (col.str.len_chars() == 18) & col.str.slice(2, 6).str.contains(r"^\d{6}$")
    for c in chars:
        formed = formed & c.is_not_null()
    total = pl.sum_horizontal([c * w for c, w in zip(chars[:17], _WEIGHTS, strict=True)])
    check_ok = ((31 - total % 31) % 31) == chars[17]
    return formed.fill_null(False), check_ok.fill_null(False)


def period_expr(col: pl.Expr) -> pl.Expr:
    """YYYYMM as an integer, or null when the text is no period we accept."""
    s = col.str.strip_chars()
    month = pl.when(s.str.contains(r"^\d{4}-(0[1-9]|1[0-2])$")).then(
        s.str.slice(0, 4).cast(pl.Int32, strict=False) * 100
        + s.str.slice(5, 2).cast(pl.Int32, strict=False)
    )
    compact = pl.when(s.str.contains(r"^\d{4}(0[1-9]|1[0-2])$")).then(
        s.cast(pl.Int32, strict=False)
    )
    quarter = pl.when(s.str.contains(r"^\d{4}-?Q[1-4]$")).then(
        s.str.slice(0, 4).cast(pl.Int32, strict=False) * 100
        + s.str.slice(-1, 1).cast(pl.Int32, strict=False) * 3
    )
    year = pl.when(s.str.contains(r"^\d{4}$")).then(s.cast(pl.Int32, strict=False) * 100 + 12)
    return pl.coalesce(month, compact, quarter, year)


def _number_text(value: pl.Expr) -> pl.Expr:
    """How a number reads as text: whole numbers without a decimal point."""
    whole = value.is_finite() & (value == value.floor()) & (value.abs() < 1e15)
    return (
        pl.when(whole)
        .then(value.cast(pl.Int64, strict=False).cast(pl.String))
        .otherwise(value.cast(pl.String))
    )


def check(
    raw: pl.DataFrame,
    *,
    source: str,
    indicators: pl.DataFrame,
    allowed: pl.DataFrame,
    registry: pl.DataFrame,
    today: date,
    seen: SeenKeys | None = None,
) -> Checked:
    """Validate long-form rows (row, uscc, indicator, period, value[, __bad_json__]).

    ``registry`` has columns uscc, entity_id, uscc_check_ok. ``seen`` carries the keys
    accepted from earlier chunks of the same batch (duplicates across chunks)."""
    latest = today.year * 100 + today.month
    # Codes, indicator names and periods repeat across rows: work on each distinct text once
    # and join the answers back (a 24-month file has ~24 distinct periods).
    codes = (
        raw.select(pl.col("uscc").alias("_uscc_sent"))
        .unique()
        .with_columns(normalized_uscc(pl.col("_uscc_sent").fill_null("")).alias("uscc"))
    )
    formed, check_ok = uscc_checks(pl.col("uscc"))
    codes = codes.with_columns(formed.alias("_formed"), check_ok.alias("_check_ok")).join(
        registry.rename({"uscc_check_ok": "_flagged_ok"}), on="uscc", how="left"
    )
    names = (
        raw.select(pl.col("indicator").alias("_indicator_sent"))
        .unique()
        .with_columns(
            pl.col("_indicator_sent")
            .fill_null("")
            .str.strip_chars()
            .str.to_uppercase()
            .alias("indicator")
        )
        .join(indicators, on="indicator", how="left")
    )
    periods = (
        raw.select(pl.col("period").alias("_period_sent"))
        .unique()
        .with_columns(period_expr(pl.col("_period_sent").fill_null("")).alias("period_num"))
    )
    # the rows keep the file's order (no sort): "the first of a duplicate" needs it
    df = (
        raw.rename({"uscc": "_uscc_sent", "indicator": "_indicator_sent", "period": "_period_sent"})
        .join(codes, on="_uscc_sent", how="left", nulls_equal=True, maintain_order="left")
        .join(names, on="_indicator_sent", how="left", nulls_equal=True, maintain_order="left")
        .join(periods, on="_period_sent", how="left", nulls_equal=True, maintain_order="left")
        .with_columns(pl.col("value").str.strip_chars().alias("value"))
    )
    if "__bad_json__" not in df.columns:
        df = df.with_columns(pl.lit(None, dtype=pl.String).alias("__bad_json__"))
    if "value_in" not in df.columns:
        df = df.with_columns(pl.lit(None, dtype=pl.Float64).alias("value_in"))
    # A value the file typed as a number becomes text only where text is compared (codes,
    # flags, dates, text indicators): the rare rows, not the hundred million amounts.
    needs_text = (
        pl.col("value").is_null()
        & pl.col("value_in").is_not_null()
        & ~pl.col("value_type").is_in(NUMERIC).fill_null(False)
    )
    where = df.select(needs_text.arg_true()).to_series()
    if where.len():
        texts = df[where].select(_number_text(pl.col("value_in"))).to_series()
        df = df.with_columns(df.get_column("value").scatter(where, texts))
    num = pl.coalesce(
        pl.col("value_in"), pl.col("value").str.replace_all(",", "").cast(pl.Float64, strict=False)
    )
    df = df.with_columns(num.alias("value_num"))
    df = df.join(allowed, on=["indicator_id", "value"], how="left", maintain_order="left")
    is_num = pl.col("value_type").is_in(NUMERIC)
    is_enum = pl.col("value_type").is_in(ENUMERATED)
    is_date = pl.col("value_type") == "date"
    date_ok = pl.col("value").str.strptime(pl.Date, "%Y-%m-%d", strict=False).is_not_null()
    integral = pl.col("value_num") == pl.col("value_num").floor()  # sign is the range's business
    wrong_type = (
        (is_num & pl.col("value_num").is_null())
        | ((pl.col("value_type") == "count") & ~integral.fill_null(False))
        | (is_date & ~date_ok)
    )
    out_of_range = is_num & (
        (pl.col("value_num") < pl.col("min_value")).fill_null(False)
        | (pl.col("value_num") > pl.col("max_value")).fill_null(False)
        | pl.col("value_num").is_infinite().fill_null(False)
        | pl.col("value_num").is_nan().fill_null(False)
    )
    reason = (
        pl.when(pl.col("__bad_json__").is_not_null())
        .then(pl.lit("bad_json_line"))
        .when(~pl.col("_formed"))
        .then(pl.lit("invalid_uscc"))
        # a wrong check character passes only for a code the registry keeps flagged
        .when(~pl.col("_check_ok") & pl.col("_flagged_ok").fill_null(True))
        .then(pl.lit("invalid_uscc_check"))
        .when(pl.col("entity_id").is_null())
        .then(pl.lit("unknown_entity"))
        .when(pl.col("indicator_id").is_null())
        .then(pl.lit("unknown_indicator"))
        .when(pl.col("source") != source)
        .then(pl.lit("indicator_not_from_source"))
        .when(
            pl.col("period_num").is_null()
            | (pl.col("period_num") > latest)
            | (pl.col("period_num") < FIRST_PERIOD)
        )
        .then(pl.lit("bad_period"))
        .when((pl.col("value").is_null() | (pl.col("value") == "")) & pl.col("value_in").is_null())
        .then(pl.lit("missing_value"))
        .when(wrong_type)
        .then(pl.lit("wrong_type"))
        .when(is_enum & pl.col("allowed").is_null())
        .then(pl.lit("not_allowed_value"))
        .when(out_of_range)
        .then(pl.lit("out_of_range"))
    )
    df = df.with_columns(reason.alias("reason"))
    # (entity, indicator, period) packed in one integer: 31 + 10 + 13 bits (months since 1900)
    months = (pl.col("period_num") // 100 - 1900) * 12 + pl.col("period_num") % 100
    key = (
        pl.col("entity_id").cast(pl.Int64) * (1 << 23)
        + pl.col("indicator_id").cast(pl.Int64) * (1 << 13)
        + months.cast(pl.Int64)  # < 2**13 for every period the checks above let through
    )
    if seen is None:
        mine = indicators.filter(pl.col("source") == source).get_column("indicator_id")
        top = registry.get_column("entity_id").max()
        seen = SeenKeys(0 if top is None else int(cast(int, top)) + 1, mine.to_list())
    df = _mark_duplicates(df, key, seen)
    rejected = df.filter(pl.col("reason").is_not_null())
    warned = df.filter(pl.col("reason").is_null() & ~pl.col("_check_ok"))
    col_of = {k: v[0] for k, v in REASONS.items()}
    issues = pl.concat(
        [
            rejected.select(
                "row",
                pl.col("reason").replace_strict(col_of, return_dtype=pl.String).alias("column"),
                "reason",
                pl.lit("reject").alias("severity"),
                pl.when(
                    pl.col("reason").is_in(["invalid_uscc", "invalid_uscc_check", "unknown_entity"])
                )
                .then(pl.col("_uscc_sent"))
                .when(pl.col("reason").is_in(["unknown_indicator", "indicator_not_from_source"]))
                .then(pl.col("_indicator_sent"))
                .when(pl.col("reason") == "bad_period")
                .then(pl.col("_period_sent"))
                .when(pl.col("reason") == "bad_json_line")
                .then(pl.col("__bad_json__"))
                .otherwise(pl.coalesce(pl.col("value"), _number_text(pl.col("value_in"))))
                .alias("value"),
                pl.col("_indicator_sent").alias("indicator"),
            ),
            warned.select(
                "row",
                pl.lit("uscc").alias("column"),
                pl.lit("uscc_check_flagged").alias("reason"),
                pl.lit("warn").alias("severity"),
                pl.col("uscc").alias("value"),
                pl.col("_indicator_sent").alias("indicator"),
            ),
        ]
    ).sort("row")
    good = df.filter(pl.col("reason").is_null())
    accepted = good.select(
        "row",
        pl.col("entity_id").cast(pl.Int32),
        pl.col("indicator_id").cast(pl.Int16),
        pl.col("period_num").cast(pl.Int32).alias("period"),
        pl.when(is_num | (pl.col("value_type") == "flag"))
        .then(pl.col("value_num"))
        .alias("value_num"),
        pl.when(~is_num).then(pl.col("value")).alias("value_text"),
    )
    return Checked(accepted=accepted, issues=issues)
