"""Acquisition tables: which entities opted out of marketing (and the counter that lets
every serving process notice a change of that list with one primary-key read), saved
filters and their runs, lead exports and their daily quota, and invitations to leads."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from puhui.core.orm import Base, CreatedAtMixin, UTCDateTime


class MarketingOptOut(CreatedAtMixin, Base):
    """An entity that does not want to be found by marketing filters (personal-information
    law Art. 24). The row exists while the opt-out holds; opting back in deletes it (the
    audit chain keeps the history)."""

    __tablename__ = "marketing_optouts"

    entity_id: Mapped[int] = mapped_column(
        ForeignKey("entities.id"), primary_key=True, autoincrement=False
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class MarketingState(Base):
    """One row, bumped in the same transaction as every opt-out change: the filter's
    cached exclusion mask is rebuilt when ``token`` differs from the one it was built at."""

    __tablename__ = "marketing_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer, default=0)
    # random per write: a rolled-back write's version number may be reused, its token never
    token: Mapped[str] = mapped_column(String(32), default="")


class SavedFilter(CreatedAtMixin, Base):
    """A filter a lender keeps, optionally re-run on a schedule. Its institution's lenders
    see and run it; only its owner changes it."""

    __tablename__ = "saved_filters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(100))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)  # conditions, match, sort
    schedule: Mapped[str] = mapped_column(String(10), default="none")  # none | daily | weekly
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_run_id: Mapped[int | None] = mapped_column(Integer)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_saved_filters_institution", "institution_id"),
        Index("ix_saved_filters_due", "next_run_at"),
    )


class FilterRun(CreatedAtMixin, Base):
    """One run of a saved filter: how many matched, how many were not in the previous run,
    and the matching entity ids themselves (sorted, delta-encoded, zlib-compressed), so
    that the next run can tell what is new without keeping a row per lead."""

    __tablename__ = "filter_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    saved_filter_id: Mapped[int] = mapped_column(ForeignKey("saved_filters.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: the schedule
    trigger: Mapped[str] = mapped_column(String(10))  # manual | schedule
    snapshot_version: Mapped[int | None] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    new_count: Mapped[int] = mapped_column(Integer)
    gone_count: Mapped[int] = mapped_column(Integer)
    previous_run_id: Mapped[int | None] = mapped_column(Integer)
    ids: Mapped[bytes] = mapped_column(LargeBinary)
    new_ids: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (Index("ix_filter_runs_filter", "saved_filter_id", "id"),)


class LeadExport(CreatedAtMixin, Base):
    """One lead file an institution took away (every one is audited too)."""

    __tablename__ = "lead_exports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    run_id: Mapped[int] = mapped_column(ForeignKey("filter_runs.id"))
    scope: Mapped[str] = mapped_column(String(10))  # all | new
    format: Mapped[str] = mapped_column(String(10))  # csv | xlsx
    rows: Mapped[int] = mapped_column(Integer)
    day: Mapped[date] = mapped_column(Date)  # the Shanghai day the quota counts it on

    __table_args__ = (Index("ix_lead_exports_institution_day", "institution_id", "day"),)


class ExportQuota(Base):
    """Rows an institution exported on one Shanghai day. Only a conditional
    ``UPDATE … SET rows_used = rows_used + n WHERE rows_used + n <= limit`` moves it, so
    concurrent exports can never pass the daily quota together."""

    __tablename__ = "lead_export_quota"

    institution_id: Mapped[int] = mapped_column(
        ForeignKey("institutions.id"), primary_key=True, autoincrement=False
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    rows_used: Mapped[int] = mapped_column(Integer, default=0)


class Invitation(CreatedAtMixin, Base):
    """A lender's invitation to an entity found as a lead: the only way a lead is
    contacted. Accepting turns it into a demand directed to the institution, or into an
    authorization for it. ``pending_key`` is set while the invitation is pending and unique,
    so an institution has at most one pending invitation per entity."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"))
    saved_filter_id: Mapped[int | None] = mapped_column(ForeignKey("saved_filters.id"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    kind: Mapped[str] = mapped_column(String(20))  # demand | authorization
    message: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(20))  # pending accepted declined withdrawn expired
    pending_key: Mapped[str | None] = mapped_column(String(40), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    response_note: Mapped[str] = mapped_column(String(300), default="")
    demand_id: Mapped[int | None] = mapped_column(ForeignKey("demands.id"))
    consent_id: Mapped[int | None] = mapped_column(ForeignKey("consents.id"))

    __table_args__ = (
        Index("ix_invitations_entity", "entity_id", "status"),
        Index("ix_invitations_institution", "institution_id", "created_at"),
    )
