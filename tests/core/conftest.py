"""Fixtures of the jobs tests.

Most of these tests need data that is really committed (seen by other threads, other
connections and a child process), so they cannot use the rolled-back ``session``
fixture. ``committed`` is a plain ``sessionmaker(engine)``; it creates the effect tables,
and when the test ends it removes every job and message the test created and drops them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, create_engine, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from puhui.core.jobs import DEAD, DONE, Job
from puhui.notifications.models import Message
from tests.city import city  # noqa: F401 - the small city, for the abuse-limit tests
from tests.core import handlers, killable  # noqa: F401 - registers the test job kinds


@pytest.fixture
def effect_tables(connection: Connection) -> None:
    """The effect tables inside the rolled-back test transaction (for ``session`` tests)."""
    handlers.create_tables(connection)


@pytest.fixture(autouse=True)
def _fresh_handlers() -> Iterator[None]:
    handlers.reset()
    yield
    handlers.reset()


@pytest.fixture
def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


@pytest.fixture
def reader(engine: Engine) -> Iterator[Engine]:
    """An engine for looking only: on SQLite it never waits for the write lock (the
    platform's engines start every transaction with ``BEGIN IMMEDIATE``), so a test can
    look at committed rows while another transaction is open."""
    eng = create_engine(engine.url)
    yield eng
    eng.dispose()


@pytest.fixture
def committed(engine: Engine) -> Iterator[sessionmaker[Session]]:
    with engine.begin() as conn:
        open_jobs = conn.scalar(
            select(func.count()).select_from(Job).where(Job.status.not_in([DONE, DEAD]))
        )
        assert open_jobs == 0, "another test left committed jobs behind"
        job_floor = conn.scalar(select(func.coalesce(func.max(Job.id), 0)))
        message_floor = conn.scalar(select(func.coalesce(func.max(Message.id), 0)))
        handlers.create_tables(conn)
    yield sessionmaker(engine, expire_on_commit=False)
    with engine.begin() as conn:
        conn.execute(delete(Job).where(Job.id > job_floor))
        conn.execute(delete(Message).where(Message.id > message_floor))
    # Not left for the whole session: the schema must match the models (test_migrations).
    handlers.drop_tables(engine)
