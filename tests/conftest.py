"""Test fixtures shared by every domain.

The suite runs against SQLite by default and against PostgreSQL when
``PUHUI_TEST_DATABASE_URL`` names a server (``postgresql+psycopg://user@host:port/db``):
each test session then gets its own freshly created database, dropped at the end.

Each test runs inside one outer transaction that is rolled back afterwards. Request
sessions join it through savepoints, so "commit" in the app commits the savepoint and
the test still sees (and finally discards) everything.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

# Speed is measured in bench/, not in tests: a property test's examples may take as long as
# a loaded machine makes them (CI runs the suite twice, beside PostgreSQL).
settings.register_profile("puhui", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("puhui")

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"


def _worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def create_database(base_url: str | None, tmp: Path, label: str) -> tuple[str, callable]:
    """A fresh, empty database: (url, drop)."""
    if not base_url:
        path = tmp / f"{label}.db"
        return f"sqlite:///{path}", lambda: None
    url = make_url(base_url)
    name = f"puhui_test_{label}_{_worker_id()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        from puhui.core.db import dispose_engines

        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data")
    (path / "lake").mkdir()
    return path


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[str]:
    url, drop = create_database(
        os.environ.get("PUHUI_TEST_DATABASE_URL"), tmp_path_factory.mktemp("db"), "suite"
    )
    os.environ.update(
        PUHUI_ENV="test",
        PUHUI_SECRET_KEY=TEST_SECRET,
        PUHUI_DATA_DIR=str(data_dir),
        PUHUI_DATABASE_URL=url,
        PUHUI_LOG_FORMAT="console",
        # cheap password hashes in tests (refused by the settings outside PUHUI_ENV=test)
        PUHUI_ARGON2_TIME_COST="1",
        PUHUI_ARGON2_MEMORY_KIB="1024",
    )
    from puhui.config import get_settings

    get_settings.cache_clear()
    from puhui.core.security import _hasher

    _hasher.cache_clear()
    yield url
    drop()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    from puhui import migrate, registry
    from puhui.core.db import make_engine

    registry.load_all()
    eng = make_engine(database_url)
    migrate.upgrade(eng)
    from puhui.catalog import service as catalog

    with sessionmaker(eng).begin() as s:
        catalog.load(s)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def settings(engine: Engine):
    from puhui.config import get_settings

    return get_settings()


@pytest.fixture
def connection(engine: Engine) -> Iterator:
    conn = engine.connect()
    outer = conn.begin()
    yield conn
    if outer.is_active:
        outer.rollback()
    conn.close()


@pytest.fixture
def factory(connection) -> sessionmaker[Session]:
    return sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
def session(factory: sessionmaker[Session]) -> Iterator[Session]:
    s = factory()
    yield s
    s.close()


@pytest.fixture
def app(settings, factory):
    from puhui.app import create_app

    return create_app(settings, session_factory=factory, start_worker=False)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def anon_client(app) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as c:
        yield c


CSRF_RE = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)
