"""Reading and checking the catalog data file (``data/indicators.csv`` + ``data/VERSION``).

Invariants checked here, each failure naming the row and column: the columns are exactly
the documented ones; codes are unique upper-case identifiers; categories, value types,
frequencies, levels and sensitivities come from fixed vocabularies; grade and code
indicators list their allowed values and nothing else does; bounds are numbers with
min ≤ max; flags are 0/1; and the whole file has exactly 595 indicators, 50 key and 27
warning.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from puhui.catalog.errors import CatalogFileInvalid

DATA_DIR = Path(__file__).resolve().parent / "data"
CATEGORIES = (
    "basic",
    "property",
    "financial",
    "operating",
    "positive",
    "negative",
    "credit_evaluation",
)
VALUE_TYPES = ("amount", "count", "ratio", "grade", "code", "flag", "date", "text")
FREQUENCIES = ("static", "monthly", "quarterly", "annual", "event")
LEVELS = ("national", "provincial", "municipal", "county")
SENSITIVITIES = ("public", "C1", "C2", "C3")
COLUMNS = (
    "code",
    "category",
    "name_zh",
    "name_en",
    "definition",
    "unit",
    "value_type",
    "allowed_values",
    "min_value",
    "max_value",
    "source",
    "level",
    "frequency",
    "time_series",
    "sensitivity",
    "personal",
    "key",
    "warning",
)
EXPECTED_TOTAL, EXPECTED_KEY, EXPECTED_WARNING = 595, 50, 27
_CODE = re.compile(r"^[A-Z][A-Z0-9_]{2,63}$")


@dataclass(frozen=True)
class IndicatorRow:
    code: str
    category: str
    name_zh: str
    name_en: str
    definition: str
    unit: str
    value_type: str
    allowed_values: tuple[str, ...]
    min_value: float | None
    max_value: float | None
    source: str
    level: str
    frequency: str
    time_series: bool
    sensitivity: str
    personal: bool
    is_key: bool
    is_warning: bool


@dataclass(frozen=True)
class CatalogFile:
    version: int
    sha256: str
    rows: tuple[IndicatorRow, ...]


def read(data_dir: Path = DATA_DIR) -> CatalogFile:
    raw = (data_dir / "indicators.csv").read_bytes()
    try:
        version = int((data_dir / "VERSION").read_text(encoding="utf-8").strip())
    except (OSError, ValueError) as exc:
        raise CatalogFileInvalid("The catalog VERSION file must hold one whole number.") from exc
    return CatalogFile(version=version, sha256=hashlib.sha256(raw).hexdigest(), rows=parse(raw))


def parse(raw: bytes) -> tuple[IndicatorRow, ...]:
    problems: list[dict[str, Any]] = []
    text = raw.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise CatalogFileInvalid(
            "The catalog columns must be exactly: {columns}.",
            columns=", ".join(COLUMNS),
            details=[{"row": 1, "column": None, "message": "unexpected header"}],
        )
    rows: list[IndicatorRow] = []
    seen: dict[str, int] = {}
    for line, rec in enumerate(reader, start=2):
        rows.append(_row(line, rec, seen, problems))
    totals = (len(rows), sum(r.is_key for r in rows), sum(r.is_warning for r in rows))
    if not problems and totals != (EXPECTED_TOTAL, EXPECTED_KEY, EXPECTED_WARNING):
        problems.append(
            {
                "row": None,
                "column": None,
                "message": f"expected {EXPECTED_TOTAL} indicators, {EXPECTED_KEY} key and "
                f"{EXPECTED_WARNING} warning; found {totals[0]}, {totals[1]} and {totals[2]}",
            }
        )
    if problems:
        raise CatalogFileInvalid(details=problems)
    return tuple(rows)


def _row(
    line: int, rec: dict[str, str], seen: dict[str, int], problems: list[dict[str, Any]]
) -> IndicatorRow:

    def bad(column: str, message: str) -> None:
        problems.append({"row": line, "column": column, "message": message})

    code = rec["code"].strip()
    if not _CODE.match(code):
        bad("code", "not an upper-case identifier")
    elif code in seen:
        bad("code", f"duplicate of row {seen[code]}")
    seen.setdefault(code, line)
    for column, vocabulary in (
        ("category", CATEGORIES),
        ("value_type", VALUE_TYPES),
        ("frequency", FREQUENCIES),
        ("level", LEVELS),
        ("sensitivity", SENSITIVITIES),
    ):
        if rec[column] not in vocabulary:
            bad(column, f"{rec[column]!r} is not one of {', '.join(vocabulary)}")
    for column in ("name_zh", "name_en", "definition", "source"):
        if not rec[column].strip():
            bad(column, "empty")
    flags = {}
    for column in ("time_series", "personal", "key", "warning"):
        if rec[column] not in ("0", "1"):
            bad(column, "must be 0 or 1")
        flags[column] = rec[column] == "1"
    allowed = (
        tuple(v for v in rec["allowed_values"].split("|") if v) if rec["allowed_values"] else ()
    )
    if rec["value_type"] in ("grade", "code", "flag") and not allowed:
        bad("allowed_values", "a grade, code or flag indicator lists its allowed values")
    if rec["value_type"] not in ("grade", "code", "flag") and allowed:
        bad("allowed_values", "only grade, code and flag indicators have allowed values")
    if len(set(allowed)) != len(allowed):
        bad("allowed_values", "repeated value")
    lo, hi = _bounds(rec, bad)
    return IndicatorRow(
        code=code,
        category=rec["category"],
        name_zh=rec["name_zh"].strip(),
        name_en=rec["name_en"].strip(),
        definition=rec["definition"].strip(),
        unit=rec["unit"].strip(),
        value_type=rec["value_type"],
        allowed_values=allowed,
        min_value=lo,
        max_value=hi,
        source=rec["source"].strip(),
        level=rec["level"],
        frequency=rec["frequency"],
        time_series=flags["time_series"],
        sensitivity=rec["sensitivity"],
        personal=flags["personal"],
        is_key=flags["key"],
        is_warning=flags["warning"],
    )


def _bounds(
    rec: dict[str, str], bad: Callable[[str, str], None]
) -> tuple[float | None, float | None]:
    bounds: list[float | None] = []
    for column in ("min_value", "max_value"):
        value = rec[column].strip()
        try:
            bounds.append(float(value) if value else None)
        except ValueError:
            bad(column, "not a number")
            bounds.append(None)
    lo, hi = bounds
    if lo is not None and hi is not None and lo > hi:
        bad("max_value", "smaller than min_value")
    return lo, hi
