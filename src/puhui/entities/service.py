"""Entity registry services (the public face of the ``entities`` domain).

Invariants: every registry write goes through :func:`upsert` and bumps the registry
version in the same transaction; a USCC typed by a user must be valid, while a registry
record from an official source whose check character is wrong is kept with
``uscc_check_ok = False`` (GLOSSARY.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from puhui.core.orm import utcnow
from puhui.core.pagination import Page, PageParams
from puhui.core.security import fields
from puhui.entities import repository, search
from puhui.entities.errors import EntityNotFound, MalformedUSCC
from puhui.entities.models import Entity
from puhui.entities.places import DISTRICTS, STATUSES
from puhui.entities.schemas import EntityRecord
from puhui.entities.uscc import (
    ALPHABET,
    VALUES,
    WEIGHTS,
    EntityKind,
    InvalidUSCC,
    division_of,
    is_valid,
    kind_of,
    make,
    normalize,
    only_check_character_wrong,
    validate,
)

__all__ = [
    "ALPHABET",
    "DISTRICTS",
    "STATUSES",
    "VALUES",
    "WEIGHTS",
    "EntityKind",
    "InvalidUSCC",
    "briefs",
    "by_id",
    "division_of",
    "first_entities",
    "get_public",
    "ids_for",
    "is_valid",
    "kind_of",
    "make",
    "many",
    "normalize",
    "official_code",
    "only_check_character_wrong",
    "registry_frame",
    "registry_version",
    "search_entities",
    "upsert",
    "upsert_frame",
    "validate",
]


def official_code(raw: str) -> tuple[str, bool]:
    """A code from an official source: (normalised code, check character ok). A code whose
    only fault is its check character is kept and flagged; any other fault raises."""
    code = normalize(raw)
    if only_check_character_wrong(code):
        return code, False
    return validate(code), True


def upsert(
    session: Session, records: Iterable[EntityRecord], *, batch_id: int | None = None
) -> int:
    """Insert or update registry rows by USCC; returns how many were written."""
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for rec in records:
        row = rec.model_dump()
        row["source_batch_id"] = batch_id
        row["updated_at"] = now
        rows.append(row)
    for start in range(0, len(rows), 5000):
        repository.upsert(session, rows[start : start + 5000])
    if rows:
        repository.bump_version(session)
    session.flush()
    return len(rows)


def ids_for(session: Session, codes: Sequence[str]) -> dict[str, int]:
    """Registry ids of the given codes (absent codes are missing from the answer)."""
    return repository.ids_for(session, list(codes))


def counts_by_place(session: Session) -> list[tuple[str, str | None, int]]:
    """(district, industry section, active entities) of the registry."""
    return repository.counts_by_place(session)


def max_id(session: Session) -> int:
    return repository.max_id(session)


def count(session: Session) -> int:
    return repository.count(session)


def _index(session: Session) -> search.SearchIndex:
    version = repository.registry_version(session)
    return search.cached(
        version, lambda: search.SearchIndex.build(version, repository.stream_search_rows(session))
    )


def registry_frame(session: Session) -> pl.DataFrame:
    """(uscc, entity_id, uscc_check_ok) of every registered entity, for joining a batch:
    from the process's search index when it is current, else three columns straight from
    the database (building the index costs several times more)."""
    version = repository.registry_version(session)
    index = search.current(version)
    if index is not None:
        return index.frame.select("uscc", pl.col("id").alias("entity_id"), "uscc_check_ok")
    kept = _keys
    if kept is not None and kept[0] == version:
        return kept[1]
    schema = {"uscc": pl.String, "entity_id": pl.Int32, "uscc_check_ok": pl.Boolean}
    parts = [
        pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")
        for rows in repository.stream_key_rows(session)
    ]
    frame = pl.concat(parts) if parts else pl.DataFrame(schema=schema)
    globals()["_keys"] = (version, frame)  # one per process, swapped whole
    return frame


_keys: tuple[str, pl.DataFrame] | None = None


# a registry load this big encrypts the legal representatives' data in worker processes
PARALLEL_PROTECT_ROWS = 50_000


def protect_workers(rows: int, cpus: int | None = None) -> int:
    """Worker processes for encrypting ``rows`` registry rows (1: in this process). Only
    with 4 CPUs or more: on 2, measured (bench/registry_load.py), the workers' hand-over
    costs more than they save, the writer and the database needing the other CPU."""
    cpus = (os.cpu_count() or 1) if cpus is None else cpus
    if rows < PARALLEL_PROTECT_ROWS or cpus < 4:
        return 1
    return min(4, cpus - 1)


def upsert_frame(
    session: Session, frame: pl.DataFrame, *, batch_id: int | None, workers: int | None = None
) -> int:
    """Bulk upsert of already validated registry rows (the columns of :class:`EntityRecord`).

    The legal representatives' names and ID numbers are encrypted chunk by chunk, in
    ``workers`` processes (default :func:`protect_workers`) while this one writes."""
    now = utcnow()
    written = 0
    size = 5000
    workers = protect_workers(frame.height) if workers is None else workers

    def inputs() -> Iterator[list[Sequence[str | None]]]:
        for chunk in frame.select("legal_rep_name", "legal_rep_id").iter_slices(size):
            yield repository.protect_inputs(
                chunk.get_column("legal_rep_name").to_list(),
                chunk.get_column("legal_rep_id").to_list(),
            )

    protected = fields.protect_chunks(repository.PROTECT_SPECS, inputs(), workers=workers)
    for chunk, done in zip(frame.iter_slices(size), protected, strict=True):
        rows = chunk.with_columns(
            pl.lit(batch_id, dtype=pl.Int32).alias("source_batch_id")
        ).to_dicts()
        for row, values in zip(rows, zip(*done, strict=True), strict=True):
            row["updated_at"] = now
            row.update(zip(repository.PROTECTED, values, strict=True))
        repository.upsert(session, rows, protected=True)
        written += len(rows)
    if written:
        repository.bump_version(session)
    session.flush()
    return written


def search_entities(session: Session, *, q: str, params: PageParams) -> Page[Entity]:
    """One page of entities matching ``q`` (a USCC, part of one, or part of a name)."""
    result = _index(session).search(q, limit=params.per_page, offset=params.offset)
    entities = repository.by_ids(session, [row["id"] for row in result.rows])
    return Page(items=entities, total=result.total, page=params.page, per_page=params.per_page)


def by_id(session: Session, entity_id: int) -> Entity | None:
    found = repository.by_ids(session, [entity_id])
    return found[0] if found else None


def many(session: Session, ids: Sequence[int]) -> list[Entity]:
    """These entities in the order of ``ids`` (one query; unknown ids are left out)."""
    return repository.by_ids(session, list(ids))


def registry_version(session: Session) -> str:
    """Changes with every registry write (one primary-key read): for caches keyed by it."""
    return repository.registry_version(session)


def first_entities(session: Session, n: int) -> list[str]:
    """The USCCs of the first ``n`` registered entities (by registry id)."""
    return repository.first_usccs(session, n)


def briefs(session: Session, ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """(uscc, name) of these registry ids."""
    return {e.id: (e.uscc, e.name) for e in repository.by_ids(session, sorted(set(ids)))}


def get_public(session: Session, *, code: str) -> Entity:
    try:
        normalized = validate(code)
    except InvalidUSCC as exc:
        normalized = normalize(code)
        if only_check_character_wrong(normalized):
            found = repository.by_uscc(session, normalized)  # a flagged official code
            if found is not None and not found.uscc_check_ok:
                return found
        params: dict[str, Any] = dict(exc.params)
        raise MalformedUSCC(
            exc.reason,
            details=[{"field": "uscc", "message": exc.reason, "params": params}],
            **params,
        ) from exc
    entity = repository.by_uscc(session, normalized)
    if entity is None:
        raise EntityNotFound()
    return entity
