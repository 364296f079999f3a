"""Alembic migrations build exactly the schema the models describe, on SQLite and on
PostgreSQL alike (the suite runs on both)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from puhui import migrate
from puhui.models import Base


class TestMigrations:
    def test_migrated_database_matches_the_models(self, engine):
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, Base.metadata)
        assert diff == []

    def test_database_is_at_the_single_head(self, engine):
        heads = migrate.current_heads()
        assert len(heads) == 1
        with engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == heads[0]

    def test_upgrade_is_idempotent(self, engine):
        migrate.upgrade(engine)
        with engine.connect() as conn:
            assert (
                MigrationContext.configure(conn).get_current_revision()
                == migrate.current_heads()[0]
            )
