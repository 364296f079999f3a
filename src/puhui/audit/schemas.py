from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Outcome = Literal["ok", "denied", "failed"]


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    occurred_at: datetime
    user_id: int | None
    username: str | None
    role: str | None
    institution_id: int | None
    api_key_id: int | None
    action: str
    target_type: str | None
    target_id: str | None
    outcome: str
    ip: str | None
    details: dict[str, Any] | None


class AuditFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str | None = None
    outcome: Outcome | None = None
    username: str | None = None
    institution_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
