from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from puhui.audit.models import AuditChainHead, AuditCheckpoint, AuditEvent, AuditSigningKey
from puhui.audit.schemas import AuditFilter

HEAD_ID = 1


def events_query(flt: AuditFilter) -> Select[Any]:
    stmt = select(AuditEvent)
    if flt.action:
        stmt = stmt.where(AuditEvent.action.startswith(flt.action))
    if flt.outcome:
        stmt = stmt.where(AuditEvent.outcome == flt.outcome)
    if flt.username:
        stmt = stmt.where(AuditEvent.username == flt.username)
    if flt.institution_id is not None:
        stmt = stmt.where(AuditEvent.institution_id == flt.institution_id)
    if flt.since:
        stmt = stmt.where(AuditEvent.occurred_at >= flt.since)
    if flt.until:
        stmt = stmt.where(AuditEvent.occurred_at < flt.until)
    return stmt.order_by(AuditEvent.id.desc())


def head(session: Session, *, lock: bool = False) -> tuple[int, str]:
    """The chain head's (seq, hash); with ``lock``, the head row is locked until the
    transaction ends (``FOR UPDATE``; SQLite's write transaction is already exclusive)."""
    stmt = select(AuditChainHead.seq, AuditChainHead.hash).where(AuditChainHead.id == HEAD_ID)
    if lock:
        stmt = stmt.with_for_update()
    row = session.execute(stmt).one_or_none()
    if row is None:
        raise RuntimeError("the audit chain has no head row: run the migrations (puhui init)")
    return int(row.seq), str(row.hash)


def advance_head(session: Session, *, from_seq: int, seq: int, hash: str, now: datetime) -> None:
    done = session.execute(
        update(AuditChainHead)
        .where(AuditChainHead.id == HEAD_ID, AuditChainHead.seq == from_seq)
        .values(seq=seq, hash=hash, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise RuntimeError("the audit chain head moved while it was locked")


def events_page(session: Session, *, after_seq: int, upto_seq: int, limit: int) -> Sequence[Any]:
    return (
        session.execute(
            select(AuditEvent)
            .where(AuditEvent.seq > after_seq, AuditEvent.seq <= upto_seq)
            .order_by(AuditEvent.seq)
            .limit(limit)
        )
        .scalars()
        .all()
    )


def checkpoints_upto(session: Session, seq: int) -> Sequence[AuditCheckpoint]:
    return (
        session.execute(
            select(AuditCheckpoint).where(AuditCheckpoint.seq <= seq).order_by(AuditCheckpoint.seq)
        )
        .scalars()
        .all()
    )


def checkpoint_at(session: Session, seq: int) -> AuditCheckpoint | None:
    return session.execute(
        select(AuditCheckpoint).where(AuditCheckpoint.seq == seq)
    ).scalar_one_or_none()


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    return session.execute(
        select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)
    ).scalar_one_or_none()


def signing_keys(session: Session) -> dict[str, str]:
    rows = session.execute(select(AuditSigningKey.key_id, AuditSigningKey.public_key_pem))
    return {str(row[0]): str(row[1]) for row in rows}


def get_signing_key(session: Session, key_id: str) -> AuditSigningKey | None:
    return session.get(AuditSigningKey, key_id)
