"""Registry queries. The bulk upsert is the one dialect-specific statement (``ON CONFLICT``
exists on both SQLite and PostgreSQL, with the same meaning, behind different imports).

The legal representative's name and ID number are encrypted (``EncryptedString``). The bulk
upsert encrypts them itself, a whole chunk under one keyring snapshot (or the caller did,
in worker processes: ``protected=True``), and writes through a copy of the table whose two columns
are plain strings, so the values are not encrypted twice.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import MetaData, String, Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from puhui.core.security import fields
from puhui.entities.models import (
    LEGAL_REP_ID_PURPOSE,
    LEGAL_REP_NAME_PURPOSE,
    Entity,
    RegistryState,
)

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
    "legal_rep_id_bidx",
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


def _stored_table() -> Table:
    """``entities`` as stored: the encrypted columns as the plain strings they hold."""
    table: Table = Entity.__table__.to_metadata(MetaData())  # type: ignore[attr-defined]
    for col in table.columns:
        if isinstance(col.type, fields.EncryptedString):
            col.type = String()
    return table


_STORED = _stored_table()


# what the bulk upsert protects: (purpose, blind index?) per stored column, fed with the
# name, the ID number and the ID number again
PROTECTED = ("legal_rep_name", "legal_rep_id", "legal_rep_id_bidx")
PROTECT_SPECS: tuple[fields.ColumnSpec, ...] = (
    (LEGAL_REP_NAME_PURPOSE, False),
    (LEGAL_REP_ID_PURPOSE, False),
    (LEGAL_REP_ID_PURPOSE, True),
)


def protect_inputs(
    names: Sequence[str | None], ids: Sequence[str | None]
) -> list[Sequence[str | None]]:
    """The columns :data:`PROTECT_SPECS` protects, from the plain names and ID numbers."""
    return [names, ids, ids]


def upsert(session: Session, rows: Sequence[dict[str, Any]], *, protected: bool = False) -> None:
    """Insert or update ``rows`` (plain values) by USCC. ``protected``: the rows' legal
    representative columns and ``legal_rep_id_bidx`` already hold their encrypted values and
    blind index (:data:`PROTECT_SPECS`)."""
    if not rows:
        return
    if not protected:
        inputs = protect_inputs(
            [r.get("legal_rep_name") for r in rows], [r.get("legal_rep_id") for r in rows]
        )
        (done,) = fields.protect_chunks(PROTECT_SPECS, [inputs])
        rows = [
            {**r, **dict(zip(PROTECTED, values, strict=True))}
            for r, values in zip(rows, zip(*done, strict=True), strict=True)
        ]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(_STORED)
    stmt = stmt.on_conflict_do_update(
        index_elements=[_STORED.c.uscc], set_={c: getattr(stmt.excluded, c) for c in UPSERT_COLUMNS}
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
