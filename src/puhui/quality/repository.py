"""The quality rollups: written whole by the refresh job, read by the pages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from puhui.quality.models import FirstLoans, Median, Place, Refresh, ServiceMonth

CHUNK = 5_000


def replace(session: Session, model: type[Any], rows: Iterable[dict[str, Any]]) -> int:
    """Empty ``model``'s table and insert ``rows`` (in the caller's transaction)."""
    session.execute(delete(model))
    batch: list[dict[str, Any]] = []
    n = 0
    for row in rows:
        batch.append(row)
        if len(batch) >= CHUNK:
            session.execute(insert(model), batch)
            n += len(batch)
            batch = []
    if batch:
        session.execute(insert(model), batch)
        n += len(batch)
    return n


def add_refresh(session: Session, refresh: Refresh) -> None:
    session.add(refresh)


def last_refresh(session: Session) -> Refresh | None:
    return session.scalars(select(Refresh).order_by(Refresh.id.desc()).limit(1)).first()


def prune_refreshes(session: Session, keep: int) -> None:
    newest = session.scalar(select(func.max(Refresh.id)))
    if newest is not None:
        session.execute(delete(Refresh).where(Refresh.id <= newest - keep))


def service_months(session: Session, since_month: str) -> list[ServiceMonth]:
    stmt = select(ServiceMonth).where(ServiceMonth.month >= since_month)
    return list(session.scalars(stmt))


def medians(session: Session, scope: str, since_month: str) -> list[tuple[int, str, float]]:
    stmt = select(Median.institution_id, Median.month, Median.hours).where(
        Median.scope == scope, Median.month >= since_month
    )
    return [(int(i), str(m), float(h)) for i, m, h in session.execute(stmt)]


def first_loans(session: Session) -> list[tuple[str, str, str, int]]:
    stmt = select(FirstLoans.district, FirstLoans.section, FirstLoans.month, FirstLoans.entities)
    return [(d, s, m, int(n)) for d, s, m, n in session.execute(stmt)]


def places(session: Session) -> list[tuple[str, str, int]]:
    stmt = select(Place.district, Place.section, Place.entities)
    return [(d, s, int(n)) for d, s, n in session.execute(stmt)]
