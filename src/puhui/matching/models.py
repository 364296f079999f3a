"""Matching tables: loan products, financing events, loan codes, demands, the claims banks
make on them, every step of a claim, and the operators' callbacks.

Money is stored in fen (integer), rates in basis points of an annual rate (345 = 3.45 %),
terms in months."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from puhui.core.orm import Base, CreatedAtMixin, UTCDateTime
from puhui.core.security.fields import EncryptedString

BIGINT = BigInteger().with_variant(Integer, "sqlite")


class Product(CreatedAtMixin, Base):
    """A loan product an institution publishes."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(2000), default="")
    amount_min_fen: Mapped[int] = mapped_column(BIGINT)
    amount_max_fen: Mapped[int] = mapped_column(BIGINT)
    term_min_months: Mapped[int] = mapped_column(Integer)
    term_max_months: Mapped[int] = mapped_column(Integer)
    rate_min_bp: Mapped[int] = mapped_column(Integer)
    rate_max_bp: Mapped[int] = mapped_column(Integer)
    guarantee_types: Mapped[list[str]] = mapped_column(JSON)
    entity_kinds: Mapped[list[str]] = mapped_column(JSON)  # empty: every kind
    industries: Mapped[list[str]] = mapped_column(JSON)  # GB/T 4754 sections; empty: all
    districts: Mapped[list[str]] = mapped_column(JSON)  # district codes; empty: all
    online_only: Mapped[bool] = mapped_column(Boolean, default=False)
    documents: Mapped[list[str]] = mapped_column(JSON)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (Index("ix_products_institution", "institution_id"),)


class FinancingEvent(CreatedAtMixin, Base):
    """A time-boxed financing event (融资专场): demands raised in it are seen only by the
    participating institutions."""

    __tablename__ = "financing_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(2000), default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    product_ids: Mapped[list[int]] = mapped_column(JSON)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class EventInstitution(Base):
    __tablename__ = "financing_event_institutions"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("financing_events.id", ondelete="CASCADE"), primary_key=True
    )
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), primary_key=True)

    __table_args__ = (Index("ix_financing_event_institutions_institution", "institution_id"),)


class LoanCode(CreatedAtMixin, Base):
    """A QR "loan code": scanning it opens a prefilled application that is attributed to
    the institution, branch, customer manager, product or event it was made for."""

    __tablename__ = "loan_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    target: Mapped[str] = mapped_column(String(12))  # institution, branch, manager, product, event
    label: Mapped[str] = mapped_column(String(100), default="")
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    branch: Mapped[str] = mapped_column(String(100), default="")
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("financing_events.id"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    scans: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (Index("ix_loan_codes_institution", "institution_id"),)


class Demand(CreatedAtMixin, Base):
    """An enterprise's request for financing.

    ``active_claims`` is the number of claims not yet ended; it is changed only by a
    conditional ``UPDATE … WHERE active_claims < 3`` so that the cap holds under any
    concurrency on both databases. ``target_institution_id`` makes a demand directed
    (featured product, loan code): it never enters the open pool."""

    __tablename__ = "demands"

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(12))
    amount_fen: Mapped[int] = mapped_column(BIGINT)
    term_months: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(300))
    guarantee_type: Mapped[str] = mapped_column(String(12))
    contact_name: Mapped[str] = mapped_column(EncryptedString("demands.contact_name"))
    contact_mobile: Mapped[str] = mapped_column(EncryptedString("demands.contact_mobile"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("financing_events.id"))
    loan_code_id: Mapped[int | None] = mapped_column(ForeignKey("loan_codes.id"))
    target_institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    referrer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    external_ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Copied from the registry and the score when raised, so the pool filters in one query.
    entity_kind: Mapped[str] = mapped_column(String(24))
    district: Mapped[str] = mapped_column(String(6))
    industry_section: Mapped[str | None] = mapped_column(String(1))
    health_grade: Mapped[str | None] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(12))  # open, granted, declined, cancelled, expired
    active_claims: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_demands_pool", "status", "created_at"),
        Index("ix_demands_created", "created_at"),  # the statistics' month ranges
        Index("ix_demands_entity", "entity_id", "created_at"),
        Index("ix_demands_target", "target_institution_id", "status"),
        Index("ix_demands_event", "event_id"),
    )


class Claim(CreatedAtMixin, Base):
    """One institution working on one demand. At most one per institution and demand."""

    __tablename__ = "claims"

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    demand_id: Mapped[int] = mapped_column(ForeignKey("demands.id"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(14))
    contact_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    outcome_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    contacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    contact_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    amount_fen: Mapped[int | None] = mapped_column(BIGINT)
    rate_bp: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(300), default="")
    chosen: Mapped[bool] = mapped_column(Boolean, default=False)
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str] = mapped_column(String(300), default="")
    consent_id: Mapped[int | None] = mapped_column(ForeignKey("consents.id"))

    __table_args__ = (
        UniqueConstraint("demand_id", "institution_id"),
        Index("ix_claims_institution_status", "institution_id", "status"),
        Index("ix_claims_status_contact_due", "status", "contact_due_at"),
    )


class ClaimEvent(Base):
    """One step of a claim: who moved it from which state to which, when and why."""

    __tablename__ = "claim_events"

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"))
    demand_id: Mapped[int] = mapped_column(ForeignKey("demands.id"))
    from_status: Mapped[str | None] = mapped_column(String(14))
    to_status: Mapped[str] = mapped_column(String(14))
    by_side: Mapped[str] = mapped_column(String(10))  # bank, enterprise, platform
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(String(300), default="")
    amount_fen: Mapped[int | None] = mapped_column(BIGINT)
    rate_bp: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (Index("ix_claim_events_demand", "demand_id", "at"),)


class Callback(CreatedAtMixin, Base):
    """An operator's call to an enterprise about one demand (回访)."""

    __tablename__ = "callbacks"

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    demand_id: Mapped[int] = mapped_column(ForeignKey("demands.id"), unique=True)
    reason: Mapped[str] = mapped_column(String(10))  # sampled, stalled
    status: Mapped[str] = mapped_column(String(10))  # queued, done
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    called_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reached: Mapped[bool | None] = mapped_column(Boolean)
    contacted_by_bank: Mapped[bool | None] = mapped_column(Boolean)
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    complaint: Mapped[str] = mapped_column(String(1000), default="")
    note: Mapped[str] = mapped_column(String(1000), default="")

    __table_args__ = (Index("ix_callbacks_status", "status", "created_at"),)
