"""Objection tables: a disputed data item (entity, indicator, period) with its state, the
deadline clock (due, reminded, escalated) and the written answer; attachments are files
under the data folder named by their SHA-256, this table holds who may fetch them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from puhui.core.orm import Base, CreatedAtMixin, UTCDateTime
from puhui.core.security.fields import EncryptedString


class Objection(CreatedAtMixin, Base):
    """One dispute. ``batch_id`` and ``value`` are the disputed value as the enterprise
    saw it; ``source_code`` is the data source (department) that supplied it, the default
    routing target. Open while ``status`` is submitted or routed: the profile flags the item
    meanwhile."""

    __tablename__ = "objections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    indicator_id: Mapped[int] = mapped_column(SmallInteger, ForeignKey("indicators.id"))
    period: Mapped[int] = mapped_column(Integer)
    batch_id: Mapped[int] = mapped_column(Integer)
    # the disputed and the corrected value may be personal (an ID or a mobile number)
    value: Mapped[str | None] = mapped_column(EncryptedString("objections.value"))
    source_code: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="submitted")
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    routed_source: Mapped[str | None] = mapped_column(String(16))
    routed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    routed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    outcome: Mapped[str | None] = mapped_column(String(12))
    explanation: Mapped[str | None] = mapped_column(Text)
    corrected_value: Mapped[str | None] = mapped_column(
        EncryptedString("objections.corrected_value")
    )
    correction_batch_id: Mapped[int | None] = mapped_column(Integer)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_objections_entity", "entity_id", "status"),
        Index("ix_objections_status_due", "status", "due_at"),
    )

    def is_open(self) -> bool:
        return self.status in ("submitted", "routed")


class ObjectionAttachment(CreatedAtMixin, Base):
    """A file the enterprise attached (pdf, jpg, png), kept SM4-GCM encrypted under
    ``<data dir>/objections/<stored_name>`` (a random name); served only to the parties of
    its objection. ``stored_name`` is None for a file attached before encryption (the plain
    file named by its SHA-256, until ``puhui keys rotate`` encrypts it)."""

    __tablename__ = "objection_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    objection_id: Mapped[int] = mapped_column(ForeignKey("objections.id"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(40))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_name: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_objection_attachments_objection", "objection_id"),)
