"""Shapes of platform statistics on the API, the pages and the CSV files."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Tenor(StrEnum):
    ONE_YEAR = "1y"
    FIVE_YEAR = "5y"


class Unit(StrEnum):
    COUNT = "count"
    YUAN = "yuan"
    PERCENT = "percent"
    BASIS_POINTS = "bp"
    DAYS = "days"


class LprCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenor: Tenor
    effective_on: date
    rate_pct: Decimal = Field(description="Percent a year, two decimals: 3.45")


class LprRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    tenor: Tenor
    effective_on: date
    rate_bp: int
    created_at: datetime


class FigureRead(BaseModel):
    """One figure over the chosen months (None where it cannot be computed: no loans)."""

    key: str
    name: str
    unit: Unit
    value: float | None


class SeriesRead(BaseModel):
    """A monthly series: ``values[i]`` is month ``months[i]``; ``breakdown`` splits it by a
    dimension (source, channel, purpose, institution, kind, outcome) where it has one."""

    key: str
    name: str
    unit: Unit
    months: list[str]
    values: list[float | None]
    breakdown: dict[str, list[float | None]] = Field(default_factory=dict)


class ChannelOutcome(BaseModel):
    channel: str
    status: str
    demands: int


class StatsRead(BaseModel):
    from_month: str
    to_month: str
    refreshed_at: datetime | None
    figures: list[FigureRead]
    series: list[SeriesRead]
    institutions_by_kind: dict[str, int]
    outcomes_by_channel: list[ChannelOutcome]
    lpr_1y_bp: int | None
    lpr_5y_bp: int | None


class RefreshRead(BaseModel):
    since_month: str
    rows: int
    finished_at: datetime
