"""Job handlers and effect tables for the jobs tests.

A plain module (not a conftest) so that a child process can import it and register the
same handlers. Effects are rows in small test tables, written in the handler's session,
so they commit or roll back with the job exactly like a real handler's changes.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from puhui.core.jobs import job_handler

EFFECTS = "test_job_effects"
ONCE = "test_job_once"

EFFECT = "test.effect"
ONCE_KIND = "test.once"

_DDL = (
    f"CREATE TABLE IF NOT EXISTS {EFFECTS} (ref VARCHAR(200) NOT NULL, pid INTEGER NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {ONCE} "
    f"(ref VARCHAR(200) NOT NULL, CONSTRAINT uq_{ONCE}_ref UNIQUE (ref))",
)

# How many times the handler of each ref has been called (in this process).
CALLS: Counter[str] = Counter()
# One-shot callables, keyed by ref, run by ``test.effect`` before / after it writes its effect.
BEFORE_EFFECT: dict[str, Callable[[], None]] = {}
AFTER_EFFECT: dict[str, Callable[[], None]] = {}


def create_tables(conn: Connection) -> None:
    """Create the effect tables in ``conn``'s transaction (DDL is transactional on SQLite
    and PostgreSQL alike, so a rolled-back test leaves no table behind)."""
    for ddl in _DDL:
        conn.execute(text(ddl))


def drop_tables(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in (EFFECTS, ONCE):
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))


def reset() -> None:
    CALLS.clear()
    BEFORE_EFFECT.clear()
    AFTER_EFFECT.clear()


def add_effect(session: Session, ref: str) -> None:
    session.execute(
        text(f"INSERT INTO {EFFECTS} (ref, pid) VALUES (:ref, :pid)"),
        {"ref": ref, "pid": os.getpid()},
    )


def effects(session: Session, ref: str | None = None) -> list[tuple[str, int]]:
    sql = f"SELECT ref, pid FROM {EFFECTS}"
    params: dict[str, Any] = {}
    if ref is not None:
        sql += " WHERE ref = :ref"
        params["ref"] = ref
    return [(r, p) for r, p in session.execute(text(sql), params)]


def once_refs(session: Session) -> list[str]:
    return list(session.scalars(text(f"SELECT ref FROM {ONCE}")))


@job_handler(EFFECT)
def effect(session: Session, payload: dict[str, Any]) -> None:
    """Writes one effect row; fails (after writing it) on its first ``fail_times`` calls."""
    ref = str(payload["ref"])
    CALLS[ref] += 1
    if hook := BEFORE_EFFECT.pop(ref, None):
        hook()
    add_effect(session, ref)
    if hook := AFTER_EFFECT.pop(ref, None):
        hook()
    if CALLS[ref] <= int(payload.get("fail_times", 0)):
        raise RuntimeError(f"planned failure {CALLS[ref]} of {ref}")


@job_handler(ONCE_KIND)
def once(session: Session, payload: dict[str, Any]) -> None:
    """Inserts a row keyed by the job's ref under a UNIQUE constraint."""
    session.execute(text(f"INSERT INTO {ONCE} (ref) VALUES (:ref)"), {"ref": payload["ref"]})
