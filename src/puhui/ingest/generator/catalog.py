"""The indicator catalog as the generator sees it, read straight from the reviewed CSV.

The generator must not depend on the catalog domain's services (they are being built in
parallel and need a database), so it reads ``catalog/data/indicators.csv`` itself. Only the
columns that shape generated values are kept.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import puhui

CATALOG_PATH = Path(puhui.__file__).parent / "catalog" / "data" / "indicators.csv"

NUMERIC_TYPES = frozenset({"amount", "count", "ratio", "flag"})
PLATFORM_SOURCE = "PLATFORM"


@dataclass(frozen=True, slots=True)
class Indicator:
    code: str
    value_type: str
    allowed: tuple[str, ...]
    min_value: float | None
    max_value: float | None
    source: str
    frequency: str
    unit: str

    @property
    def numeric(self) -> bool:
        return self.value_type in NUMERIC_TYPES

    @property
    def decimals(self) -> int:
        """Digits kept after the point: money to the fen, shares to 0.01 %, measures to 0.01."""
        if self.value_type in ("count", "flag"):
            return 0
        return 4 if self.unit == "ratio" else 2


def _bound(text: str) -> float | None:
    return float(text) if text.strip() else None


@cache
def load_catalog(path: Path = CATALOG_PATH) -> dict[str, Indicator]:
    """Indicators by code, in catalog order."""
    with path.open(encoding="utf-8", newline="") as fh:
        return {
            row["code"]: Indicator(
                code=row["code"],
                value_type=row["value_type"],
                allowed=tuple(v for v in row["allowed_values"].split("|") if v),
                min_value=_bound(row["min_value"]),
                max_value=_bound(row["max_value"]),
                source=row["source"],
                frequency=row["frequency"],
                unit=row["unit"],
            )
            for row in csv.DictReader(fh)
        }


def source_codes(source: str) -> list[str]:
    return [i.code for i in load_catalog().values() if i.source == source]


def codes(source: str, *frequencies: str) -> tuple[str, ...]:
    """Catalog codes of ``source`` with one of ``frequencies``, in catalog order."""
    return tuple(
        i.code for i in load_catalog().values() if i.source == source and i.frequency in frequencies
    )
