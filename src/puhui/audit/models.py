"""Audit log: every log-in, permission denial and state change, written in the same
transaction as the change it records.

Invariants (see ``audit/chain.py`` for the exact bytes)
- The events form one hash chain: event ``seq`` carries the ``hash`` of event ``seq - 1`` as
  its ``prev_hash`` and ``hash = SM3(prev_hash ‖ canonical JSON of the event)``; ``seq`` runs
  1, 2, 3 … without gaps in commit order.
- :class:`AuditChainHead` is the chain's single head row. Appending locks it (``FOR
  UPDATE`` on PostgreSQL; SQLite's one writer already serialises), so two transactions
  never take the same ``seq``; a rolled-back transaction rolls the head back with it.
- Events, checkpoints and signing keys are append-only: database triggers refuse UPDATE
  and DELETE (and TRUNCATE on PostgreSQL), installed by migration 0012.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from puhui.core.orm import Base, UTCDateTime, utcnow

_BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(_BIG_ID, unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    user_id: Mapped[int | None] = mapped_column(Integer)
    username: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(32))
    institution_id: Mapped[int | None] = mapped_column(Integer)
    api_key_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    ip: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_events_occurred_at", "occurred_at"),
        Index("ix_audit_events_action", "action"),
        Index("ix_audit_events_institution_id", "institution_id"),
    )


class AuditChainHead(Base):
    """The one row naming the chain's last event (``seq`` 0 and 64 zeros when empty)."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(_BIG_ID)
    hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)


class AuditSigningKey(Base):
    """A public key that has signed checkpoints, kept for as long as they are."""

    __tablename__ = "audit_signing_keys"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_key_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuditCheckpoint(Base):
    """The platform's SM2 signature over the chain head at ``seq``."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(_BIG_ID, unique=True)
    head_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    key_id: Mapped[str] = mapped_column(ForeignKey("audit_signing_keys.key_id"))
    signature: Mapped[str] = mapped_column(String(128))
