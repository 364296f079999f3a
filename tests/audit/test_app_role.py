"""PostgreSQL: the role the platform runs as (``puhui db app-role``) writes the audit chain
by appending only: UPDATE, DELETE and TRUNCATE of its rows are refused by privilege, and,
not being the tables' owner, it cannot drop the triggers that guard them either."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.orm import sessionmaker

from tests.test_cli import cli_db, run  # noqa: F401 - the fixture is used by name


def test_on_sqlite_there_is_no_role_to_make(cli_db):  # noqa: F811
    if cli_db.startswith("postgresql"):
        pytest.skip("PostgreSQL makes the role: the test below")
    r = run("db", "app-role", "puhui_app")
    assert r.exit_code == 2 and "PostgreSQL" in r.output, r.output


def test_the_app_role_appends_to_the_audit_chain_and_cannot_rewrite_it(cli_db):  # noqa: F811
    if not cli_db.startswith("postgresql"):
        pytest.skip("roles and privileges are PostgreSQL's (SQLite's triggers are tested)")
    from puhui import registry
    from puhui.audit import service as audit

    registry.load_all()
    role = f"puhui_app_{uuid.uuid4().hex[:8]}"
    assert run("init", "--operator-username", "root_op").exit_code == 0
    r = run("db", "app-role", role)
    assert r.exit_code == 0 and f"role {role} ready" in r.output, r.output
    assert run("db", "app-role", role).exit_code == 0  # again: nothing breaks
    as_app = create_engine(make_url(cli_db).set(username=role, password=None))
    try:
        with sessionmaker(as_app).begin() as s:  # the platform's own work goes on
            audit.record(s, actor=None, action="test.note", username="cli")
            s.execute(text("UPDATE users SET display_name = display_name"))
        for statement in (
            "UPDATE audit_events SET username = 'mallory' WHERE seq = 1",
            "DELETE FROM audit_events WHERE seq = 1",
            "TRUNCATE audit_events",
            "DELETE FROM audit_checkpoints",
            "UPDATE audit_signing_keys SET public_key_pem = ''",
            "DELETE FROM audit_chain_head",
            "DROP TRIGGER audit_events_append_only ON audit_events",
            "ALTER TABLE audit_events DISABLE TRIGGER ALL",
        ):
            with as_app.connect() as conn, pytest.raises((ProgrammingError, DBAPIError)) as err:
                conn.execute(text(statement))
            assert "permission denied" in str(err.value) or "must be owner" in str(err.value), (
                statement,
                err.value,
            )
    finally:
        as_app.dispose()
        admin = create_engine(cli_db, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
        admin.dispose()
        from puhui.core.db import dispose_engines

        dispose_engines()
        server = create_engine(
            make_url(os.environ["PUHUI_TEST_DATABASE_URL"]).set(database="postgres"),
            isolation_level="AUTOCOMMIT",
        )
        with server.connect() as conn:
            # the database (and its grants) goes with the fixture; the role is the cluster's
            conn.execute(
                text(f'REVOKE ALL ON DATABASE "{make_url(cli_db).database}" FROM "{role}"')
            )
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        server.dispose()
