"""Consent schemas. Input schemas forbid unknown fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from puhui.core.i18n import N_

CATEGORIES = (
    "basic",
    "property",
    "financial",
    "operating",
    "positive",
    "negative",
    "credit_evaluation",
)
MAX_TERM = timedelta(days=3 * 366)  # an authorization lasts at most three years


class Purpose(StrEnum):
    QUERY = "query"  # pre-loan investigation
    MONITORING = "monitoring"  # post-loan monitoring
    DOWNLOAD = "download"  # batch download
    DECISION = "decision"  # instant-loan decision


SELF = "self"  # how an entity's own reads are recorded
# labels the pages and reports translate: purposes, states, read kinds, refusal reasons
LABELS = (
    N_("query"),
    N_("monitoring"),
    N_("download"),
    N_("decision"),
    N_("self"),
    N_("requested"),
    N_("granted"),
    N_("declined"),
    N_("revoked"),
    N_("live"),
    N_("expired"),
    N_("not_started"),
    N_("profile"),
    N_("report"),
    N_("export"),
    N_("none"),
    N_("not_own"),
    N_("wrong_purpose"),
    N_("out_of_scope"),
    N_("current"),
    N_("cleared"),
)
Category = Annotated[str, StringConstraints(pattern="^(" + "|".join(CATEGORIES) + ")$")]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Terms(Input):
    purposes: list[Purpose] = Field(min_length=1, max_length=4)
    categories: list[Category] = Field(
        default_factory=lambda: list(CATEGORIES), min_length=1, max_length=7
    )
    starts_at: datetime | None = None  # default: now
    expires_at: datetime

    @field_validator("purposes")
    @classmethod
    def _distinct_purposes(cls, value: list[Purpose]) -> list[Purpose]:
        return sorted(set(value))

    @field_validator("categories")
    @classmethod
    def _ordered_categories(cls, value: list[str]) -> list[str]:
        return [c for c in CATEGORIES if c in set(value)]

    @field_validator("expires_at")
    @classmethod
    def _check_term(cls, expires: datetime, info: ValidationInfo) -> datetime:
        starts = info.data.get("starts_at") or datetime.now(UTC)
        if starts.tzinfo is None or expires.tzinfo is None:
            raise ValueError(N_("Give times with a time zone, e.g. 2026-12-31T23:59:59+08:00."))
        if expires <= datetime.now(UTC):
            raise ValueError(N_("The expiry must lie in the future."))
        if expires <= starts:
            raise ValueError(N_("The expiry must come after the start."))
        if expires - starts > MAX_TERM:
            raise ValueError(N_("An authorization lasts at most three years."))
        return expires


class ConsentGrant(Terms):
    """An enterprise authorizes an institution directly."""

    institution_id: int = Field(gt=0)
    note: Note = ""


class ConsentRequest(Terms):
    """An institution asks an enterprise for an authorization."""

    uscc: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    note: Note = ""


class ConsentDecision(Input):
    note: Note = ""


class ConsentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    uscc: str
    entity_name: str
    institution_id: int
    institution_name: str
    purposes: list[str]
    categories: list[str]
    starts_at: datetime
    expires_at: datetime
    status: str
    state: str  # requested, live, not_started, expired, declined, revoked
    note: str
    created_at: datetime
    decided_at: datetime | None
    revoked_at: datetime | None


class QueryRecordRead(BaseModel):
    id: int
    created_at: datetime
    uscc: str
    entity_name: str
    institution_id: int | None
    institution_name: str | None
    user: str
    kind: str
    purpose: str
    consent_id: int | None
    categories: list[str]


class QueryCount(BaseModel):
    institution_id: int | None
    institution_name: str | None
    purpose: str
    count: int


class InstitutionChoice(BaseModel):
    id: int
    name: str
    kind: str
