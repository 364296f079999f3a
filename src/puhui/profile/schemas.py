"""The panorama profile and the credit report as the API serialises them. Values a
viewer may not see arrive here already masked (``profile.service``): nothing in these
schemas holds a personal value the caller may not read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from puhui.entities.schemas import EntityPublic

Value = bool | int | float | str | None


PublicFacts = EntityPublic  # the registry's public facts, as GET /api/v1/entities/{uscc}


class LegalRepresentative(BaseModel):
    name: str | None
    id_number: str | None
    masked: bool


class SourceRef(BaseModel):
    code: str
    name: str
    department: str
    level: str


class IndicatorValue(BaseModel):
    code: str
    name: str
    unit: str  # the catalog's unit code
    unit_label: str  # the unit in the reader's language
    value_type: str
    value: Value
    period: int | None  # YYYYMM of the value
    as_of: datetime | None  # when the batch that brought it was committed
    batch_id: int | None
    source: SourceRef | None
    sensitivity: str
    masked: bool
    key: bool
    warning: bool
    under_objection: bool = False  # an open objection disputes this (indicator, period)


class CategoryBlock(BaseModel):
    category: str
    name: str
    in_catalog: int  # indicators the catalog has in this category
    indicators: list[IndicatorValue]  # those with a value for this entity


class Trend(BaseModel):
    """One indicator's last 24 months: ``values[i]`` is the value of ``periods[i]``."""

    code: str
    name: str
    unit: str
    unit_label: str
    category: str
    periods: list[int]
    values: list[float | None]
    disputed_periods: list[int] = []  # periods of this series under objection now


class NegativeRecord(BaseModel):
    code: str
    name: str
    value: Value
    status: str  # current: still on record at the latest period; cleared: no longer
    first_period: int
    last_period: int  # the last period it was on record
    latest_period: int
    under_objection: bool = False  # an open objection disputes one of its periods


class ScoreReason(BaseModel):
    component: str
    name: str
    points: float
    sub_score: float
    weight: float
    inputs: dict[str, Any]


class HealthScore(BaseModel):
    score: float | None
    grade: str | None
    period: int | None
    method: str
    raised_by: list[ScoreReason]
    lowered_by: list[ScoreReason]


class Profile(BaseModel):
    entity: PublicFacts
    legal_representative: LegalRepresentative | None
    purpose: str
    consent_id: int | None
    categories: list[CategoryBlock]
    withheld: list[str]  # categories the authorization does not cover
    trends: list[Trend]
    negative_records: list[NegativeRecord]
    health: HealthScore | None
    query_record_id: int
    generated_at: datetime


class ReportMeta(BaseModel):
    number: str
    generated_at: datetime
    requester_institution: str | None
    requester: str
    purpose: str
    consent_id: int | None
    consent_expires_at: datetime | None
    verification_code: str


class CreditReport(BaseModel):
    report: ReportMeta
    profile: Profile


class ReportCheck(BaseModel):
    number: str
    valid: bool
    uscc: str | None = None
    entity_name: str | None = None
    generated_at: datetime | None = None
    requester_institution: str | None = None
