from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

Level = Literal["national", "provincial", "municipal", "county"]
Schedule = Literal["weekly", "monthly", "quarterly", "annual"]


class SourceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z][A-Za-z0-9_]{1,15}$"
        ),
    ]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    department: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)
    ]
    level: Level
    schedule: Schedule
    contact: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    institution_id: int | None = None


class SourceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    department: str
    level: str
    schedule: str
    contact: str
    institution_id: int | None
    is_active: bool


class BatchRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    source_id: int
    filename: str
    content_sha256: str
    size_bytes: int
    via: str
    status: str
    format: str | None
    encoding: str | None
    layout: str | None
    rows_total: int
    rows_accepted: int
    rows_rejected: int
    rows_warned: int
    reasons: dict[str, Any]
    lake_version: int | None
    entities_touched: int
    message: str | None
    created_at: datetime
    committed_at: datetime | None


class IssueRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    row: int
    column: str
    reason: str
    severity: str
    value: str | None


class UploadRead(BaseModel):
    job_id: int
    status: str
    batch_id: int | None
