"""Months, quarters and years of a generated city, and how they are written.

Months are counted as ``year * 12 + month - 1`` ("month numbers"). The model simulates
``warmup`` months before the first reported month so that 12-month sums and year-on-year
growth are defined from the first reported month on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np

WARMUP = 12
_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")


def month_number(period: str) -> int:
    match = _PERIOD.match(period)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"not a YYYY-MM period: {period!r}")
    return int(match.group(1)) * 12 + int(match.group(2)) - 1


def month_label(g: int) -> str:
    return f"{g // 12:04d}-{g % 12 + 1:02d}"


def year_label(g: int) -> str:
    return f"{g // 12:04d}"


def quarter_label(g: int) -> str:
    return f"{g // 12:04d}-Q{g % 12 // 3 + 1}"


@dataclass(frozen=True)
class PeriodAxis:
    """Reported periods of one frequency: labels as written, the simulated month index each
    one ends in (``sim``), and a sort key (the global month number of that last month)."""

    kind: str  # "M", "Q" or "Y"
    labels: tuple[str, ...]
    sim: np.ndarray  # int, index into simulated months of the period's last month

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Calendar:
    end: int  # month number of the last reported month
    months: int  # reported months

    @property
    def first(self) -> int:
        return self.end - self.months + 1

    @property
    def sim_start(self) -> int:
        return self.first - WARMUP

    @property
    def sim_len(self) -> int:
        return self.months + WARMUP

    def sim_index(self, g: int | np.ndarray) -> int | np.ndarray:
        return g - self.sim_start

    @cached_property
    def moy(self) -> np.ndarray:
        """Month of year (0 = January) of every simulated month."""
        return (self.sim_start + np.arange(self.sim_len)) % 12

    @cached_property
    def monthly(self) -> PeriodAxis:
        gs = range(self.first, self.end + 1)
        return PeriodAxis("M", tuple(month_label(g) for g in gs), np.arange(WARMUP, self.sim_len))

    @cached_property
    def quarterly(self) -> PeriodAxis:
        """Quarters whose last month is reported."""
        ends = [g for g in range(self.first, self.end + 1) if g % 3 == 2]
        return PeriodAxis(
            "Q", tuple(quarter_label(g) for g in ends), np.array([g - self.sim_start for g in ends])
        )

    @cached_property
    def annual(self) -> PeriodAxis:
        """Years whose December is reported (the whole year is simulated thanks to the warm-up)."""
        ends = [g for g in range(self.first, self.end + 1) if g % 12 == 11]
        return PeriodAxis(
            "Y", tuple(f"{g // 12:04d}" for g in ends), np.array([g - self.sim_start for g in ends])
        )

    @property
    def end_label(self) -> str:
        return month_label(self.end)

    def label(self, sim_index: int) -> str:
        return month_label(self.sim_start + sim_index)
