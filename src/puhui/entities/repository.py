"""Registry queries. The bulk upsert is the one dialect-specific statement (``ON CONFLICT``
exists on both SQLite and PostgreSQL, with the same meaning, behind different imports)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from puhui.entities.models import Entity, RegistryState

UPSERT_COLUMNS = (
    "uscc_check_ok",
    "name",
    "kind",
    "district",
    "industry_section",
    "industry_division",
    "registered_capital",
    "established",
    "status",
    "legal_rep_name",
    "legal_rep_id",
    "source_batch_id",
    "updated_at",
)
SEARCH_COLUMNS = (
    "id",
    "uscc",
    "name",
    "kind",
    "district",
    "industry_section",
    "status",
    "uscc_check_ok",
)


def by_uscc(session: Session, code: str) -> Entity | None:
    return session.scalar(select(Entity).where(Entity.uscc == code))


def by_ids(session: Session, ids: Sequence[int]) -> list[Entity]:
    """Entities in the order of ``ids``."""
    found = {e.id: e for e in session.scalars(select(Entity).where(Entity.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


def ids_for(session: Session, codes: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for start in range(0, len(codes), 5000):
        chunk = codes[start : start + 5000]
        rows = session.execute(select(Entity.uscc, Entity.id).where(Entity.uscc.in_(chunk))).all()
        out.update(dict(rows))
    return out


def count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Entity)) or 0)


def max_id(session: Session) -> int:
    return int(session.scalar(select(func.max(Entity.id))) or 0)


def upsert(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Entity)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Entity.uscc], set_={c: getattr(stmt.excluded, c) for c in UPSERT_COLUMNS}
    )
    session.execute(stmt, list(rows))


def registry_version(session: Session) -> str:
    row = session.execute(
        select(RegistryState.version, RegistryState.token).where(RegistryState.id == 1)
    ).first()
    return f"{row.version}:{row.token}" if row else "0:"


def bump_version(session: Session) -> None:
    state = session.get(RegistryState, 1, with_for_update=True)
    if state is None:
        state = RegistryState(id=1, version=0)
        session.add(state)
    state.version += 1
    state.token = secrets.token_hex(16)
    session.flush()


def stream_search_rows(session: Session, chunk: int = 100_000) -> Iterator[Sequence[Any]]:
    cols = [getattr(Entity, c) for c in SEARCH_COLUMNS]
    result = session.execute(select(*cols).order_by(Entity.id).execution_options(yield_per=chunk))
    yield from result.partitions(chunk)


def stream_key_rows(session: Session, chunk: int = 200_000) -> Iterator[Sequence[Any]]:
    """(uscc, id, uscc_check_ok) of every entity, in id order, a partition at a time."""
    result = session.execute(
        select(Entity.uscc, Entity.id, Entity.uscc_check_ok)
        .order_by(Entity.id)
        .execution_options(yield_per=chunk)
    )
    yield from result.partitions(chunk)


def touch(session: Session, entity_id: int) -> None:
    session.execute(update(Entity).where(Entity.id == entity_id).values(status=Entity.status))


def first_usccs(session: Session, n: int) -> list[str]:
    return list(session.scalars(select(Entity.uscc).order_by(Entity.id).limit(n)))


def counts_by_place(session: Session) -> list[tuple[str, str | None, int]]:
    """Active entities by district and industry section (the covering index
    ``ix_entities_coverage`` answers it without touching the table)."""
    stmt = (
        select(Entity.district, Entity.industry_section, func.count())
        .where(Entity.status == "active")
        .group_by(Entity.district, Entity.industry_section)
    )
    return [(str(d), s, int(n)) for d, s, n in session.execute(stmt)]
