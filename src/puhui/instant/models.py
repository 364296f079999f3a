"""Instant-loan (秒贷) tables: each online product's decision policy, versioned, and every
decision it took, with the facts and reasons that explain it.

Money in fen, rates in basis points (345 = 3.45 % a year), as in matching."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from puhui.core.orm import Base, CreatedAtMixin

BIGINT = BigInteger().with_variant(Integer, "sqlite")


class DecisionPolicy(CreatedAtMixin, Base):
    """How one online product decides: knock-out rules on indicators, then a score (the
    platform's business-health score or an approved bank model) against two cut-offs, then
    the limit and rate of the score's band. A new version replaces the active one."""

    __tablename__ = "decision_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    version: Mapped[int] = mapped_column(Integer)
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    score_source: Mapped[str] = mapped_column(String(10))  # health | model
    model_version_id: Mapped[int | None] = mapped_column(Integer)
    approve_min: Mapped[float] = mapped_column(Float)
    refer_min: Mapped[float] = mapped_column(Float)
    bands: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # min_score, limit_fen, rate_bp
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (
        UniqueConstraint("product_id", "version"),
        Index("ix_decision_policies_institution", "institution_id"),
    )


class InstantDecision(CreatedAtMixin, Base):
    """One decision: approve (with limit and rate), refer to a person, or decline — always
    with reason codes, the indicator values read and the score."""

    __tablename__ = "instant_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("decision_policies.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    consent_id: Mapped[int | None] = mapped_column(ForeignKey("consents.id"))
    requested_fen: Mapped[int] = mapped_column(BIGINT)
    term_months: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(10))  # approve | refer | decline
    limit_fen: Mapped[int | None] = mapped_column(BIGINT)
    rate_bp: Mapped[int | None] = mapped_column(Integer)
    score: Mapped[float | None] = mapped_column(Float)
    reasons: Mapped[list[str]] = mapped_column(JSON)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)  # indicator -> value read
    rule_hits: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    snapshot_version: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_instant_decisions_institution", "institution_id", "id"),
        Index("ix_instant_decisions_entity", "entity_id", "id"),
        Index("ix_instant_decisions_created", "created_at"),  # the statistics' month ranges
    )
