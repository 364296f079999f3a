"""Data sources and the batches they send, with the quality report of each batch."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from puhui.core.orm import Base, CreatedAtMixin, UTCDateTime

# batch states: writing -> committed | rejected; "writing" left behind means the process
# died mid-batch, and running the same file again finishes it
WRITING, COMMITTED, REJECTED = "writing", "committed", "rejected"


class DataSource(CreatedAtMixin, Base):
    __tablename__ = "data_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    department: Mapped[str] = mapped_column(String(50))
    level: Mapped[str] = mapped_column(String(12))
    schedule: Mapped[str] = mapped_column(String(12))  # weekly, monthly, quarterly, annual
    contact: Mapped[str] = mapped_column(String(100), default="")
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class Batch(CreatedAtMixin, Base):
    __tablename__ = "ingest_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("data_sources.id"))
    filename: Mapped[str] = mapped_column(String(255))
    content_sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    via: Mapped[str] = mapped_column(String(8))  # cli, web, api
    uploaded_by: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default=WRITING)
    format: Mapped[str | None] = mapped_column(String(8))
    encoding: Mapped[str | None] = mapped_column(String(8))
    layout: Mapped[str | None] = mapped_column(String(8))
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_accepted: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    rows_warned: Mapped[int] = mapped_column(Integer, default=0)
    reasons: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # accepted values by indicator category (registry rows count as "basic")
    accepted_by_category: Mapped[dict[str, int]] = mapped_column(
        JSON, default=dict, server_default="{}"
    )
    lake_version: Mapped[int | None] = mapped_column(BigInteger)
    entities_touched: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)
    committed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("source_id", "content_sha256"),
        Index("ix_ingest_batches_status", "status"),
    )


class BatchIssue(Base):
    """The first issues of a batch, for the page; the full list is the CSV report."""

    __tablename__ = "ingest_batch_issues"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("ingest_batches.id", ondelete="CASCADE"))
    row: Mapped[int] = mapped_column(Integer)
    column: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(8))
    value: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (Index("ix_ingest_batch_issues_batch_id", "batch_id", "row"),)
