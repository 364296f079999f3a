"""Engines and sessions.

One transaction per request or job: callers get a session from :func:`session_scope`
(or the web dependency built on it), services only ``flush()``, and the scope commits
once at the end or rolls everything back on error.

SQLite is opened in WAL mode with a busy timeout and foreign keys on, and every
transaction starts with ``BEGIN IMMEDIATE`` so that two writers queue instead of
failing half-way with "database is locked" on a lock upgrade (one writer at a time).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from puhui.config import get_settings

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_factories: dict[str, sessionmaker[Session]] = {}


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the platform's per-dialect settings applied."""
    parsed = make_url(url)
    settings = get_settings()
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs.setdefault("pool_size", settings.db_pool_size)
            kwargs.setdefault("max_overflow", settings.db_max_overflow)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "isolation_level": None, "timeout": 30},
            **kwargs,
        )
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", settings.db_pool_size)
    kwargs.setdefault("max_overflow", settings.db_max_overflow)
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def get_engine(url: str | None = None) -> Engine:
    url = url or get_settings().effective_database_url
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = make_engine(url)
        return engine


def get_session_factory(url: str | None = None) -> sessionmaker[Session]:
    url = url or get_settings().effective_database_url
    engine = get_engine(url)
    with _lock:
        factory = _factories.get(url)
        if factory is None:
            factory = _factories[url] = sessionmaker(engine, expire_on_commit=False)
        return factory


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _factories.clear()


@contextmanager
def session_scope(factory: sessionmaker[Session] | None = None) -> Iterator[Session]:
    """A session whose work is committed once at the end, or rolled back on any error."""
    session = (factory or get_session_factory())()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def is_postgres(session_or_engine: Session | Engine) -> bool:
    bind = (
        session_or_engine.get_bind()
        if isinstance(session_or_engine, Session)
        else session_or_engine
    )
    return bind.dialect.name == "postgresql"


def ping(session: Session) -> None:
    session.execute(text("SELECT 1"))


# --- the application's own PostgreSQL role -------------------------------------------------

# Tables the application may only read and append to: the audit chain (its head row is
# updated as the chain grows, never deleted)
APPEND_ONLY_TABLES = ("audit_events", "audit_checkpoints", "audit_signing_keys")
NO_DELETE_TABLES = ("audit_chain_head",)


def grant_app_role(engine: Engine, role: str, *, password: str | None = None) -> list[str]:
    """Create (if needed) the login role the application runs as on PostgreSQL and grant it
    what it needs and no more: read and write every table and sequence of the schema
    (today's and, through default privileges, those later migrations create as the owner
    who runs this), but never UPDATE, DELETE or TRUNCATE the audit chain. Not being the
    tables' owner, it cannot drop or disable their triggers either. Returns the statements
    run (the password shown as ``***``)."""
    if engine.dialect.name != "postgresql":
        raise ValueError("an application role is a PostgreSQL matter (SQLite has no roles)")
    quote = engine.dialect.identifier_preparer.quote
    name = quote(role)
    statements: list[str] = []
    with engine.begin() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}
        ).first()
        database = conn.execute(text("SELECT current_database()")).scalar_one()
        plan = [] if exists else [f"CREATE ROLE {name} LOGIN"]
        plan += [
            f"GRANT CONNECT, TEMPORARY ON DATABASE {quote(database)} TO {name}",
            f"GRANT USAGE ON SCHEMA public TO {name}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {name}",
            f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {name}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {name}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
            f"GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {name}",
            f"REVOKE UPDATE, DELETE, TRUNCATE ON {', '.join(APPEND_ONLY_TABLES)} FROM {name}",
            f"REVOKE DELETE, TRUNCATE ON {', '.join(NO_DELETE_TABLES)} FROM {name}",
        ]
        for statement in plan:
            conn.execute(text(statement))
            statements.append(statement)
        if password is not None:
            literal = "'" + password.replace("'", "''") + "'"
            conn.exec_driver_sql(f"ALTER ROLE {name} LOGIN PASSWORD {literal}")
            statements.append(f"ALTER ROLE {name} LOGIN PASSWORD ***")
    return statements
