"""Migration 0012 on a database that already has audit events: they are chained in id
order, the rows that reference them survive, and the downgrade goes back cleanly."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Engine, MetaData, insert, select, text
from sqlalchemy.orm import sessionmaker

from puhui import migrate
from puhui.audit import chain, service
from puhui.core.db import make_engine
from puhui.core.security import fields
from tests.conftest import create_database


@pytest.fixture
def old_engine(tmp_path, settings) -> Iterator[Engine]:
    url, drop = create_database(os.environ.get("PUHUI_TEST_DATABASE_URL"), tmp_path, "mig12")
    engine = make_engine(url)
    migrate.upgrade(engine, "0011")
    yield engine
    engine.dispose()
    drop()


def _fill(engine: Engine) -> list[int]:
    meta = MetaData()
    meta.reflect(engine, only=["audit_events", "entities", "query_records", "users"])
    events, entities, records, users = (
        meta.tables[n] for n in ("audit_events", "entities", "query_records", "users")
    )
    now = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    with engine.begin() as conn:
        # ids out of time order on purpose: the chain follows the ids
        ids = [7, 3, 12]
        for n, event_id in enumerate(ids):
            conn.execute(
                insert(events).values(
                    id=event_id,
                    occurred_at=now.replace(second=n),
                    action=f"old.{n}",
                    outcome="ok",
                    username="老用户",
                    details={"n": n, "名": "值", "x": 0.1},
                )
            )
        conn.execute(
            insert(entities).values(
                id=1,
                uscc="91330203MA0000001X",
                uscc_check_ok=True,
                name="企业",
                kind="enterprise",
                district="330203",
                status="active",
                updated_at=now,
            )
        )
        conn.execute(
            insert(records).values(
                id=1,
                entity_id=1,
                username="u",
                role="risk_manager",
                kind="profile",
                purpose="credit",
                categories=[],
                audit_event_id=3,
                created_at=now,
            )
        )
        conn.execute(
            insert(users).values(
                id=1,
                username="old_user",
                display_name="",
                password_hash="x",
                role="risk_manager",
                mobile="13812345678",
                is_active=True,
                failed_logins=0,
                created_at=now,
            )
        )
    return sorted(ids)


def _mobile(engine: Engine) -> tuple[str, str | None]:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM users WHERE id = 1")).mappings().one()
    return row["mobile"], row.get("mobile_bidx")


class TestMigration0012:
    def test_existing_rows_are_chained_in_id_order(self, old_engine, settings):
        ids = _fill(old_engine)
        migrate.upgrade(old_engine)
        meta = MetaData()
        meta.reflect(old_engine, only=["audit_events", "query_records", "audit_chain_head"])
        events = meta.tables["audit_events"]
        with old_engine.connect() as conn:
            rows = conn.execute(select(events).order_by(events.c.id)).all()
            head = conn.execute(select(meta.tables["audit_chain_head"])).one()
            refs = conn.execute(select(meta.tables["query_records"].c.audit_event_id)).all()
        assert [r.id for r in rows] == ids and [r.seq for r in rows] == [1, 2, 3]
        assert rows[0].prev_hash == chain.GENESIS_HASH
        assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
        assert (head.seq, head.hash) == (3, rows[-1].hash)
        assert refs == [(3,)]
        factory = sessionmaker(old_engine, expire_on_commit=False)
        report = service.verify_database(factory, key=None)
        assert report.ok and report.records == 3, report.problems
        # new records continue the migrated chain
        with factory.begin() as s:
            event = service.record(s, actor=None, action="new.one")
            assert (event.seq, event.prev_hash) == (4, rows[-1].hash)
        assert service.verify_database(factory, key=None).ok
        stored, bidx = _mobile(old_engine)
        assert stored.startswith("sm4:") and fields.decrypt("users.mobile", stored) == (
            "13812345678"
        )
        assert bidx == fields.blind_index("users.mobile", "13812345678")

    def test_downgrade_and_upgrade_again(self, old_engine, settings):
        _fill(old_engine)
        migrate.upgrade(old_engine)
        cfg = migrate.alembic_config()
        with old_engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, "0011")
        assert _mobile(old_engine) == ("13812345678", None)
        migrate.upgrade(old_engine)
        factory = sessionmaker(old_engine, expire_on_commit=False)
        assert service.verify_database(factory, key=None).records == 3
