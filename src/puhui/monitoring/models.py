"""Monitoring tables: watchlists, warning rules and their snoozes, and alerts.

Invariants
- A watch is one (institution, entity) pair; whether it is *monitored* is never stored:
  it is computed from the consents (a live ``monitoring`` authorization of that
  institution) each time it is read or evaluated, so an authorization that arrives turns
  a pending watch into a monitored one, and a revoked one stops monitoring at once.
- Rules belong to an institution's rule set; every change to the set bumps
  ``MonitoringRuleSet.version`` and stamps the changed rule with it (``revision``), and
  every alert records the version it was raised under.
- One alert per (institution, entity, rule, data period): the unique constraint is what
  makes a re-sent batch, a re-run job or a full re-evaluation raise nothing twice
  (alerts are inserted with "insert if absent").
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from puhui.core.orm import Base, CreatedAtMixin, UTCDateTime, utcnow

BIGINT = BigInteger().with_variant(Integer, "sqlite")


class Watch(CreatedAtMixin, Base):
    """An entity on an institution's watchlist (``removed_at``: taken off it; the row
    stays, so adding the entity again puts the same entry back)."""

    __tablename__ = "monitoring_watches"

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"))
    source: Mapped[str] = mapped_column(String(10))  # page, upload, api, matching
    added_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    claim_id: Mapped[int | None] = mapped_column(BIGINT)  # the granted loan it came from
    note: Mapped[str] = mapped_column(String(200), default="")
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # off the list

    __table_args__ = (UniqueConstraint("institution_id", "entity_id"),)


class WatchAssignee(Base):
    """A risk manager of the institution in charge of one watched entity."""

    __tablename__ = "monitoring_watch_assignees"

    watch_id: Mapped[int] = mapped_column(
        BIGINT, ForeignKey("monitoring_watches.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)


class RuleSet(Base):
    """The version counter of one institution's rules."""

    __tablename__ = "monitoring_rule_sets"

    institution_id: Mapped[int] = mapped_column(
        ForeignKey("institutions.id"), primary_key=True, autoincrement=False
    )
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Rule(CreatedAtMixin, Base):
    """A rule on one warning indicator: ``kind`` says what is measured (the value, its
    change against the previous period or the same period a year before, or a new
    record), ``op`` and ``threshold`` when it fires."""

    __tablename__ = "monitoring_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    name: Mapped[str] = mapped_column(String(100))
    indicator_id: Mapped[int] = mapped_column(SmallInteger, ForeignKey("indicators.id"))
    kind: Mapped[str] = mapped_column(String(12))
    op: Mapped[str] = mapped_column(String(2))
    threshold: Mapped[float] = mapped_column(Float, default=0.0)
    severity: Mapped[str] = mapped_column(String(8))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    template: Mapped[str | None] = mapped_column(String(40))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        Index("ix_monitoring_rules_institution_enabled", "institution_id", "enabled"),
    )


class Snooze(Base):
    """One rule silenced for one entity through ``until`` (a date in Asia/Shanghai)."""

    __tablename__ = "monitoring_snoozes"

    rule_id: Mapped[int] = mapped_column(
        ForeignKey("monitoring_rules.id", ondelete="CASCADE"), primary_key=True
    )
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"), primary_key=True)
    until: Mapped[date] = mapped_column(Date)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Alert(CreatedAtMixin, Base):
    """A rule that fired for one entity and one data period."""

    __tablename__ = "monitoring_alerts"

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"))
    rule_id: Mapped[int] = mapped_column(ForeignKey("monitoring_rules.id"))
    indicator_id: Mapped[int] = mapped_column(SmallInteger)
    period: Mapped[int] = mapped_column(Integer)  # YYYYMM of the data that fired it
    kind: Mapped[str] = mapped_column(String(12))
    severity: Mapped[str] = mapped_column(String(8))
    value: Mapped[float | None] = mapped_column(Float)
    base_value: Mapped[float | None] = mapped_column(Float)  # previous or year-ago value
    measure: Mapped[float | None] = mapped_column(Float)  # what was compared
    threshold: Mapped[float] = mapped_column(Float)
    op: Mapped[str] = mapped_column(String(2))
    batch_id: Mapped[int | None] = mapped_column(BIGINT)
    rule_set_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default="new")
    outcome: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    acted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sms_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # SMS queued

    __table_args__ = (
        UniqueConstraint("institution_id", "entity_id", "rule_id", "period"),
        Index("ix_monitoring_alerts_institution_created", "institution_id", "created_at"),
        Index("ix_monitoring_alerts_institution_status", "institution_id", "status"),
        # the statistics: month ranges, SMS by month, each entity's alert before a range
        Index("ix_monitoring_alerts_created", "created_at"),
        Index("ix_monitoring_alerts_sms", "sms_at"),
        Index("ix_monitoring_alerts_entity_created", "entity_id", "created_at"),
    )


class Download(CreatedAtMixin, Base):
    """One batch download: the signed, SM4-encrypted package of the watched entities'
    indicator rows (``package``; kept for re-download until ``expires_at``). The content
    key is never stored: the requester receives it once, in the answer that created it."""

    __tablename__ = "monitoring_downloads"

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    format: Mapped[str] = mapped_column(String(8))  # csv, parquet
    indicators: Mapped[list[str]] = mapped_column(JSON)
    periods: Mapped[list[int]] = mapped_column(JSON)
    entity_ids: Mapped[list[int]] = mapped_column(JSON)  # the entities included
    entity_count: Mapped[int] = mapped_column(Integer)
    row_count: Mapped[int] = mapped_column(Integer)
    skipped: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    package_sm3: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    key_fingerprint: Mapped[str] = mapped_column(String(64))  # the signing key's
    package: Mapped[bytes | None] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_monitoring_downloads_institution_created", "institution_id", "created_at"),
    )


class DownloadQuota(Base):
    """Rows an institution downloaded on one day (Asia/Shanghai)."""

    __tablename__ = "monitoring_download_quotas"

    institution_id: Mapped[int] = mapped_column(
        ForeignKey("institutions.id"), primary_key=True, autoincrement=False
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    rows_used: Mapped[int] = mapped_column(Integer, default=0)
