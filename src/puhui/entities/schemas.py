from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, field_validator

from puhui.entities import uscc


class EntityRecord(BaseModel):
    """One registry row as a data source sends it (validated before it is written)."""

    model_config = ConfigDict(extra="forbid")

    uscc: str
    uscc_check_ok: bool = True
    name: str
    kind: str
    district: str
    industry_section: str | None = None
    industry_division: str | None = None
    registered_capital: Decimal | None = None
    established: date | None = None
    status: str = "active"
    legal_rep_name: str | None = None
    legal_rep_id: str | None = None


class EntityPublic(BaseModel):
    """The public basic facts of an entity: no personal data."""

    model_config = ConfigDict(from_attributes=True)

    uscc: str
    name: str
    kind: str
    district: str
    industry_section: str | None
    industry_division: str | None
    registered_capital: Decimal | None
    established: date | None
    status: str
    uscc_check_ok: bool

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        return value if value in {k.value for k in uscc.EntityKind} else "other"
