"""Objections over the API: raise, route, answer, and what each party reads."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from puhui.core.i18n import N_

Outcome = Literal["corrected", "no_error", "unverifiable"]

LABELS = {
    "submitted": N_("Submitted"),
    "routed": N_("With the source department"),
    "answered": N_("Answered"),
    "closed": N_("Closed"),
    "withdrawn": N_("Withdrawn"),
    "corrected": N_("Corrected"),
    "no_error": N_("No error found"),
    "unverifiable": N_("Cannot be verified"),
}


class ObjectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    indicator: str = Field(min_length=1, max_length=40)  # the catalog code
    period: int = Field(ge=190001, le=299912)  # YYYYMM (or YYYY01 for annual values)
    reason: str = Field(min_length=4, max_length=2000)


class ObjectionRoute(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str | None = Field(default=None, max_length=16)  # default: the value's source


class ObjectionAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Outcome
    explanation: str = Field(min_length=4, max_length=2000)
    corrected_value: str | None = Field(default=None, max_length=500)


class AttachmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    created_at: datetime


class ObjectionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    uscc: str
    entity_name: str
    indicator: str
    indicator_name: str
    period: int
    value: str | None
    batch_id: int
    source_code: str | None
    reason: str
    status: str
    status_label: str
    submitted_at: datetime
    due_at: datetime
    age_days: int
    overdue: bool
    routed_source: str | None
    routed_at: datetime | None
    outcome: str | None
    outcome_label: str | None
    explanation: str | None
    corrected_value: str | None
    correction_batch_id: int | None
    answered_at: datetime | None
    closed_at: datetime | None
    reminded_at: datetime | None
    escalated: bool
    escalated_at: datetime | None
    attachments: list[AttachmentRead]


class Overview(BaseModel):
    open: int
    overdue: int
    escalated: int
    items: list[ObjectionRead]
