"""Instant-loan queries: policies and decisions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from puhui.instant.models import DecisionPolicy, InstantDecision


def add(session: Session, row: object) -> None:
    session.add(row)
    session.flush()


def deactivate_policies(session: Session, product_id: int) -> int:
    """Retire the product's active policy (locking its versions); the highest version so far."""
    versions = list(
        session.scalars(
            select(DecisionPolicy.version)
            .where(DecisionPolicy.product_id == product_id)
            .with_for_update()
        )
    )
    session.execute(
        update(DecisionPolicy)
        .where(DecisionPolicy.product_id == product_id, DecisionPolicy.is_active.is_(True))
        .values(is_active=False)
        .execution_options(synchronize_session="fetch")
    )
    return max(versions, default=0)


def active_policy(session: Session, product_id: int) -> DecisionPolicy | None:
    return session.scalar(
        select(DecisionPolicy).where(
            DecisionPolicy.product_id == product_id, DecisionPolicy.is_active.is_(True)
        )
    )


def policies_of(session: Session, institution_id: int) -> list[DecisionPolicy]:
    return list(
        session.scalars(
            select(DecisionPolicy)
            .where(DecisionPolicy.institution_id == institution_id)
            .order_by(DecisionPolicy.product_id, DecisionPolicy.version.desc())
        )
    )


def policies_by_id(session: Session, ids: set[int]) -> dict[int, DecisionPolicy]:
    return {
        p.id: p for p in session.scalars(select(DecisionPolicy).where(DecisionPolicy.id.in_(ids)))
    }


def decision(session: Session, decision_id: int) -> InstantDecision | None:
    return session.get(InstantDecision, decision_id)


def decisions_query(
    *,
    institution_id: int | None = None,
    entity_id: int | None = None,
    outcome: str | None = None,
) -> Select[Any]:
    stmt = select(InstantDecision).order_by(InstantDecision.id.desc())
    if institution_id is not None:
        stmt = stmt.where(InstantDecision.institution_id == institution_id)
    if entity_id is not None:
        stmt = stmt.where(InstantDecision.entity_id == entity_id)
    if outcome is not None:
        stmt = stmt.where(InstantDecision.outcome == outcome)
    return stmt


def outcome_counts(session: Session, institution_id: int | None = None) -> dict[str, int]:
    stmt = select(InstantDecision.outcome, func.count()).group_by(InstantDecision.outcome)
    if institution_id is not None:
        stmt = stmt.where(InstantDecision.institution_id == institution_id)
    return {o: int(n) for o, n in session.execute(stmt)}


def products_with_policy(session: Session) -> list[int]:
    return list(
        session.scalars(
            select(DecisionPolicy.product_id)
            .where(DecisionPolicy.is_active.is_(True))
            .order_by(DecisionPolicy.product_id)
        )
    )
