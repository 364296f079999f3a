from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from puhui.catalog.models import CatalogVersion, Indicator


def version(session: Session, number: int) -> CatalogVersion | None:
    return session.get(CatalogVersion, number)


def latest_version(session: Session) -> CatalogVersion | None:
    return session.scalar(select(CatalogVersion).order_by(CatalogVersion.version.desc()).limit(1))


def all_indicators(session: Session) -> list[Indicator]:
    return list(session.scalars(select(Indicator).order_by(Indicator.id)))


def text_indicators(session: Session) -> list[tuple[int, str, str]]:
    """(id, code, sensitivity) of every text indicator, retired ones included."""
    rows = session.execute(
        select(Indicator.id, Indicator.code, Indicator.sensitivity).where(
            Indicator.value_type == "text"
        )
    )
    return [(int(i), str(c), str(s)) for i, c, s in rows]


def max_id(session: Session) -> int:
    return int(session.scalar(select(func.max(Indicator.id))) or 0)


def by_code(session: Session, code: str) -> Indicator | None:
    return session.scalar(select(Indicator).where(Indicator.code == code))


def indicators_query(
    *,
    category: str | None,
    key: bool | None,
    warning: bool | None,
    q: str | None,
    source: str | None,
) -> Select[Any]:
    stmt = select(Indicator).where(Indicator.retired.is_(False))
    if category:
        stmt = stmt.where(Indicator.category == category)
    if key is not None:
        stmt = stmt.where(Indicator.is_key.is_(key))
    if warning is not None:
        stmt = stmt.where(Indicator.is_warning.is_(warning))
    if source:
        stmt = stmt.where(Indicator.source == source)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(
            or_(
                Indicator.code.ilike(like),
                Indicator.name_zh.like(like),
                Indicator.name_en.ilike(like),
            )
        )
    return stmt.order_by(Indicator.id)


def counts(session: Session) -> dict[str, int]:
    total, key, warning = session.execute(
        select(
            func.count(),
            func.count().filter(Indicator.is_key.is_(True)),
            func.count().filter(Indicator.is_warning.is_(True)),
        ).where(Indicator.retired.is_(False))
    ).one()
    return {"total": int(total), "key": int(key), "warning": int(warning)}
