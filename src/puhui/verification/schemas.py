"""Identity-verification schemas. Every output masks the claimed name and ID number
(``张*``, ``330203********1234``); only the operator's review page shows them whole, as
the photos it compares them with do."""

from __future__ import annotations

import unicodedata
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from puhui.core.i18n import N_

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
# statuses the pages show through _() (marked here for the catalog)
LABELS = (
    N_("pending"),
    N_("submitted"),
    N_("verified"),
    N_("rejected"),
    N_("expired"),
    N_("manual"),
    N_("http"),
    N_("id_card"),
    N_("holding"),
)


def normalize_id_number(raw: str) -> str:
    """Full-width characters folded, spaces dropped, ``x`` upper-cased."""
    return "".join(unicodedata.normalize("NFKC", raw).split()).upper()


def id_number_ok(value: str) -> bool:
    """An 18-character resident ID number with the right check character (GB 11643)."""
    if len(value) != 18 or not value[:17].isascii() or not value[:17].isdigit():
        return False
    total = sum(int(c) * w for c, w in zip(value[:17], ID_WEIGHTS, strict=True))
    return value[17] == ID_CHECK[total % 11]


def normalize_name(raw: str) -> str:
    return "".join(unicodedata.normalize("NFKC", raw).split())


class VerificationStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    legal_rep_name: str = Field(min_length=1, max_length=50)
    legal_rep_id_number: str = Field(min_length=1, max_length=30)

    @field_validator("legal_rep_name")
    @classmethod
    def _name(cls, value: str) -> str:
        name = normalize_name(value)
        if len(name) < 2:
            raise ValueError(N_("Enter the legal representative's full name."))
        return name

    @field_validator("legal_rep_id_number")
    @classmethod
    def _id_number(cls, value: str) -> str:
        number = normalize_id_number(value)
        if not id_number_ok(number):
            raise ValueError(N_("Enter an 18-character resident ID number with a valid check."))
        return number


class VerificationRead(BaseModel):
    """One verification as its enterprise (and the API) sees it: masked."""

    id: int
    provider: str
    status: str
    legal_rep_name: str
    legal_rep_id_number: str
    redirect_url: str | None = None
    reason: str | None = None
    created_at: datetime
    submitted_at: datetime | None = None
    decided_at: datetime | None = None
    expires_at: datetime
    needs_documents: bool


class VerificationStatus(BaseModel):
    """Where an enterprise account stands: whether the gate lets it through and its latest
    verification."""

    required: bool
    verified: bool
    provider: str
    latest: VerificationRead | None = None


class ReviewItem(BaseModel):
    """A line of the operators' queue (masked) with its age."""

    id: int
    entity_uscc: str
    entity_name: str
    legal_rep_name: str
    legal_rep_id_number: str
    status: str
    submitted_at: datetime | None
    age_hours: int
    reason: str | None = None


class ReviewDetail(ReviewItem):
    """What an operator reviews: ``legal_rep_id_number`` whole only on the review page
    (``full=True``), where it is compared with the photo; audited."""

    documents: list[str]
    registry_matches: bool


class ReviewDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approve: bool
    reason: str = Field(default="", max_length=500)

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        return value.strip()
