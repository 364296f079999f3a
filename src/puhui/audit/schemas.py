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
    seq: int
    prev_hash: str
    hash: str


class AuditFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str | None = None
    outcome: Outcome | None = None
    username: str | None = None
    institution_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


class CheckpointRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    head_hash: str
    signed_at: datetime
    key_id: str
    signature: str


class SigningKeyRead(BaseModel):
    key_id: str
    public_key_pem: str


class PublicKeyRead(BaseModel):
    algorithm: Literal["SM2"] = "SM2"
    hash: Literal["SM3"] = "SM3"
    signer_id: str
    signature_encoding: Literal["DER"] = "DER"
    key_id: str
    public_key_pem: str
    keys: list[SigningKeyRead]


class ChainHeadRead(BaseModel):
    seq: int
    hash: str
    latest_checkpoint: CheckpointRead | None
