"""Idempotency keys for API POSTs that create things.

A client may send ``Idempotency-Key: <up to 100 characters>`` with a POST under ``/api/``.
The first answer (status and JSON body) is stored in the same transaction as the change it
reports, under the caller's identity and the key; a replay with the same body gets that
answer again without running the handler a second time; the same key with a different
body (or on another path) is a 422. Keys are scoped to the caller (user or API key), so
two callers cannot collide, and kept for 24 hours.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, String, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from puhui.core.errors import ValidationFailed
from puhui.core.jobs import job_handler, periodic
from puhui.core.orm import Base, CreatedAtMixin, UTCDateTime, utcnow
from puhui.core.security.fields import EncryptedBytes

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 100
KEEP = timedelta(hours=24)


class IdempotencyRecord(CreatedAtMixin, Base):
    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    request_digest: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    # the first answer may carry personal data (a demand's contact mobile): encrypted
    body: Mapped[bytes] = mapped_column(EncryptedBytes("idempotency_keys.body"))
    content_type: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("scope", "key"),)


@dataclass(frozen=True)
class Replay:
    status_code: int
    body: bytes
    content_type: str


def request_digest(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(
            "The Idempotency-Key header must have 1 to {n} characters.",
            details=[{"field": "Idempotency-Key", "message": "This value is not valid."}],
            n=MAX_KEY_LENGTH,
        )
    return key


def lookup(session: Session, *, scope: str, key: str, digest: str) -> Replay | None:
    record = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.scope == scope,
            IdempotencyRecord.key == key,
            IdempotencyRecord.expires_at > utcnow(),
        )
    )
    if record is None:
        return None
    if record.request_digest != digest:
        raise ValidationFailed(
            "This Idempotency-Key was used before with a different request.",
            code="idempotency_key_reused",
            details=[{"field": "Idempotency-Key", "message": "This value is not valid."}],
        )
    return Replay(record.status_code, record.body, record.content_type)


def store(
    session: Session,
    *,
    scope: str,
    key: str,
    digest: str,
    status_code: int,
    body: bytes,
    content_type: str,
) -> None:
    session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.scope == scope,
            IdempotencyRecord.key == key,
            IdempotencyRecord.expires_at <= utcnow(),
        )
    )
    session.add(
        IdempotencyRecord(
            scope=scope,
            key=key,
            request_digest=digest,
            status_code=status_code,
            body=body,
            content_type=content_type,
            expires_at=utcnow() + KEEP,
        )
    )
    session.flush()


def purge_expired(session: Session) -> int:
    result = session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@job_handler("idempotency.purge")
def _purge_job(session: Session, payload: dict[str, object]) -> None:
    purge_expired(session)


periodic("idempotency.purge", every=timedelta(hours=1))
