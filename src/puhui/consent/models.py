"""Consent tables: authorizations an entity gives an institution, and the record of
every read of an entity's data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from puhui.core.orm import Base, CreatedAtMixin, UTCDateTime

REQUESTED = "requested"
GRANTED = "granted"
DECLINED = "declined"
REVOKED = "revoked"


class Consent(CreatedAtMixin, Base):
    """An authorization (or a request for one) from one entity to one institution.

    ``status`` is what people decided: requested, granted, declined, revoked. Whether a
    granted authorization is live also depends on time (``starts_at`` <= now <
    ``expires_at``), so "expired" and "not yet started" are computed, never stored."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    purposes: Mapped[list[str]] = mapped_column(JSON)
    categories: Mapped[list[str]] = mapped_column(JSON)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(12))
    note: Mapped[str] = mapped_column(String(300), default="")
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_consents_entity_institution", "entity_id", "institution_id"),
        Index("ix_consents_institution_status", "institution_id", "status"),
    )


class QueryRecord(CreatedAtMixin, Base):
    """One read of an entity's data: a profile view, a report, an export. Written in the
    same transaction as the read's audit event."""

    __tablename__ = "query_records"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    username: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(12))  # profile, report, export
    purpose: Mapped[str] = mapped_column(String(12))
    consent_id: Mapped[int | None] = mapped_column(ForeignKey("consents.id"))
    categories: Mapped[list[str]] = mapped_column(JSON)
    audit_event_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("audit_events.id")
    )
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (
        Index("ix_query_records_entity_created", "entity_id", "created_at"),
        Index("ix_query_records_institution_created", "institution_id", "created_at"),
        Index("ix_query_records_created", "created_at"),  # the statistics' month ranges
    )
