"""Migration 0019 on a database with plaintext legal representatives and message
recipients: encrypted in place with their blind indexes, readable through the models, found
by the rate limit's lookup, and decrypted again going down."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Engine, MetaData, insert, text
from sqlalchemy.orm import sessionmaker

from puhui import migrate
from puhui.core.db import make_engine
from puhui.core.idempotency import IdempotencyRecord
from puhui.core.security import fields
from puhui.entities.models import Entity
from puhui.notifications import repository as outbox
from puhui.notifications.models import DeliveryReceipt, Message
from tests.conftest import create_database

NOW = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
BODY = b'{"contact_mobile": "13812345678"}'
REPS = [("张三", "330203199001011234"), ("李四", "33020319850615123X"), (None, None)]


@pytest.fixture
def old_engine(tmp_path, settings) -> Iterator[Engine]:
    url, drop = create_database(os.environ.get("PUHUI_TEST_DATABASE_URL"), tmp_path, "mig19")
    engine = make_engine(url)
    migrate.upgrade(engine, "0018")
    yield engine
    engine.dispose()
    drop()


def _fill(engine: Engine) -> None:
    meta = MetaData()
    meta.reflect(engine, only=["entities", "messages", "delivery_receipts", "idempotency_keys"])
    entities, messages, receipts, replays = (
        meta.tables[n] for n in ("entities", "messages", "delivery_receipts", "idempotency_keys")
    )
    with engine.begin() as conn:
        for n, (name, id_number) in enumerate(REPS, start=1):
            conn.execute(
                insert(entities).values(
                    id=n,
                    uscc=f"91330203MA000000{n}X",
                    uscc_check_ok=True,
                    name=f"企业{n}",
                    kind="enterprise",
                    district="330203",
                    status="active",
                    legal_rep_name=name,
                    legal_rep_id=id_number,
                    updated_at=NOW,
                )
            )
        for n, (channel, recipient) in enumerate(
            [("sms", "13812345678"), ("email", "zhang@example.cn"), ("inbox", "")], start=1
        ):
            conn.execute(
                insert(messages).values(
                    id=n,
                    channel=channel,
                    gateway="log",
                    recipient=recipient,
                    purpose="test",
                    locale="zh_CN",
                    subject="",
                    body="你好",
                    status="sent",
                    attempts=1,
                    submitted_at=NOW,
                    created_at=NOW,
                )
            )
        conn.execute(
            insert(receipts).values(
                id=1,
                gateway="smpp",
                gateway_ref="r1",
                stat="DELIVRD",
                error_code="",
                destination="8613812345678",
                text="",
                created_at=NOW,
            )
        )
        conn.execute(
            insert(replays).values(
                id=1,
                scope="user:1",
                key="k1",
                request_digest="0" * 64,
                status_code=201,
                body=BODY,
                content_type="application/json",
                expires_at=NOW,
                created_at=NOW,
            )
        )


def _raw(engine: Engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


class TestMigration0019:
    def test_values_are_encrypted_in_place_with_their_blind_indexes(self, old_engine):
        _fill(old_engine)
        migrate.upgrade(old_engine)
        rows = _raw(
            old_engine,
            "SELECT legal_rep_name, legal_rep_id, legal_rep_id_bidx FROM entities ORDER BY id",
        )
        for (name, id_number), (s_name, s_id, bidx) in zip(REPS, rows, strict=True):
            if name is None:
                assert (s_name, s_id, bidx) == (None, None, None)
                continue
            assert s_name.startswith("sm4:") and s_id.startswith("sm4:")
            assert fields.decrypt("entities.legal_rep_id", s_id) == id_number
            assert bidx == fields.blind_index("entities.legal_rep_id", id_number)
        recipients = _raw(old_engine, "SELECT recipient, recipient_bidx FROM messages ORDER BY id")
        assert all(r.startswith("sm4:") for r, _ in recipients)
        assert [b is None for _, b in recipients] == [False, False, True]
        (destination,) = _raw(old_engine, "SELECT destination FROM delivery_receipts")[0]
        assert destination.startswith("sm4:")
        (body,) = _raw(old_engine, "SELECT body FROM idempotency_keys")[0]
        assert body.startswith("sm4:")
        factory = sessionmaker(old_engine, expire_on_commit=False)
        with factory() as s:
            first = s.get(Entity, 1)
            assert (first.legal_rep_name, first.legal_rep_id) == REPS[0]
            assert s.get(Message, 2).recipient == "zhang@example.cn"
            assert s.get(DeliveryReceipt, 1).destination == "8613812345678"
            assert s.get(IdempotencyRecord, 1).body == BODY
            # the SMS rate limit finds the migrated message by its number
            found = outbox.recent_submissions(
                s, recipient="13812345678", since=datetime(2026, 10, 1, tzinfo=UTC), exclude_id=0
            )
            assert len(found) == 1

    def test_downgrade_decrypts_and_upgrade_again(self, old_engine):
        _fill(old_engine)
        migrate.upgrade(old_engine)
        cfg = migrate.alembic_config()
        with old_engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, "0018")
        assert _raw(
            old_engine, "SELECT legal_rep_name, legal_rep_id FROM entities ORDER BY id"
        ) == [tuple(r) for r in REPS]
        assert _raw(old_engine, "SELECT recipient FROM messages ORDER BY id") == [
            ("13812345678",),
            ("zhang@example.cn",),
            ("",),
        ]
        (body,) = _raw(old_engine, "SELECT body FROM idempotency_keys")[0]
        assert bytes(body) == BODY
        migrate.upgrade(old_engine)
        with sessionmaker(old_engine)() as s:
            assert s.get(IdempotencyRecord, 1).body == BODY
            assert s.get(Entity, 2).legal_rep_id == REPS[1][1]
