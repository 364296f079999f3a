"""Sensitive fields at rest: SM4-GCM under wrapped data keys, blind indexes, rotation."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import text
from typer.testing import CliRunner

from puhui.accounts.models import User
from puhui.cli import app as cli
from puhui.core.policy import Role
from puhui.core.security import fields
from puhui.models import Base
from tests import factories
from tests.test_cli import cli_db, run  # noqa: F401 - the fixture is used by name


@pytest.fixture
def own_keyring(tmp_path, settings, monkeypatch):
    """Settings with a keyring of the test's own (and a given master key)."""

    def use(master: str | None = "00112233445566778899aabbccddeeff", env: str = "test"):
        own = settings.model_copy(
            update={"keyring_file": tmp_path / "ring.json", "master_key": master, "env": env}
        )
        monkeypatch.setattr("puhui.config.get_settings", lambda: own)
        return own

    return use


class TestValues:
    def test_stored_form_round_trip_and_column_binding(self, settings):
        stored = fields.encrypt("users.mobile", "13800138000")
        prefix, key_id, blob = stored.split(":", 2)
        assert prefix == "sm4" and key_id == str(fields.current().active)
        assert "13800138000" not in stored and len(blob) > 40
        assert fields.decrypt("users.mobile", stored) == "13800138000"
        with pytest.raises(fields.FieldCryptoError, match="another column"):
            fields.decrypt("demands.contact_mobile", stored)

    @hsettings(max_examples=40, deadline=None)
    @given(value=st.text(max_size=60), flip=st.integers(min_value=0))
    def test_round_trip_and_any_change_is_refused(self, settings, value, flip):
        stored = fields.encrypt("t.c", value)
        assert fields.decrypt("t.c", stored) == value
        head, blob = stored.rsplit(":", 1)
        raw = bytearray(__import__("base64").b64decode(blob))
        raw[flip % len(raw)] ^= 1 << (flip % 8)
        changed = head + ":" + __import__("base64").b64encode(bytes(raw)).decode()
        with pytest.raises(fields.FieldCryptoError):
            fields.decrypt("t.c", changed)

    def test_not_an_encrypted_value_and_unknown_key(self, settings):
        with pytest.raises(fields.FieldCryptoError, match="not an encrypted value"):
            fields.decrypt("users.mobile", "13800138000")
        with pytest.raises(fields.FieldCryptoError, match="data key 999"):
            fields.decrypt("users.mobile", "sm4:999:AAAA")

    def test_blind_index_is_keyed_per_purpose_and_exact(self, settings):
        a = fields.blind_index("users.mobile", "13800138000")
        assert a == fields.blind_index("users.mobile", " 13800138000 ")
        assert a != fields.blind_index("users.mobile", "13800138001")
        assert a != fields.blind_index("other.mobile", "13800138000")
        assert len(a) == 64 and fields.blind_index("users.mobile", None) is None


class TestKeys:
    def test_keyring_is_wrapped_and_private(self, own_keyring, tmp_path):
        own_keyring()
        fields.encrypt("t.c", "x")
        path = tmp_path / "ring.json"
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        doc = json.loads(path.read_text())
        assert doc["active"] == 1 and len(doc["data_keys"]) == 1
        key = fields.current().data_keys[1]
        assert key.hex() not in path.read_text()

    def test_a_wrong_master_key_does_not_open_the_keyring(self, own_keyring):
        own_keyring()
        stored = fields.encrypt("t.c", "x")
        own_keyring(master="ffeeddccbbaa99887766554433221100")
        with pytest.raises(fields.FieldCryptoError, match="does not open with this master key"):
            fields.decrypt("t.c", stored)

    def test_rewrap_under_a_new_master_key(self, own_keyring):
        own_keyring()
        stored = fields.encrypt("t.c", "x")
        new = "ffeeddccbbaa99887766554433221100"
        running = dict(fields._cache)  # what a server process read at start
        r = CliRunner().invoke(cli, ["keys", "rewrap"], env={"PUHUI_NEW_MASTER_KEY": new})
        assert r.exit_code == 0, r.output
        fields._cache.update(running)  # (the command ran in this process: put it back)
        # a process running with the old master key keeps the keys it read: no downtime
        assert fields.decrypt("t.c", stored) == "x"
        assert fields.decrypt("t.c", fields.encrypt("t.c", "y")) == "y"
        fields._cache.clear()  # a process started afterwards with the old master key
        with pytest.raises(fields.FieldCryptoError, match="does not open"):
            fields.decrypt("t.c", stored)  # the old master key no longer opens it
        own_keyring(master=new)
        assert fields.decrypt("t.c", stored) == "x"
        r = CliRunner().invoke(cli, ["keys", "rewrap", "--new-master-key", "xyz"])
        assert r.exit_code == 2 and "32 hex digits" in r.output

    def test_production_needs_a_master_key(self, own_keyring):
        own_keyring(master=None, env="production")
        with pytest.raises(fields.FieldCryptoError, match="PUHUI_MASTER_KEY is not set"):
            fields.encrypt("t.c", "x")

    def test_the_master_key_setting_is_validated(self, settings):
        from pydantic import ValidationError

        from puhui.config import Settings

        with pytest.raises(ValidationError, match="master_key"):
            Settings(env="test", secret_key="x" * 40, master_key="not-hex")


class TestColumns:
    def test_mobile_is_ciphertext_in_the_database(self, session):
        user = factories.user(session, Role.CUSTOMER_MANAGER, mobile="13900139000")
        session.flush()
        raw = session.execute(
            text("SELECT mobile, mobile_bidx FROM users WHERE id = :id"), {"id": user.id}
        ).one()
        assert raw.mobile.startswith("sm4:") and "13900139000" not in raw.mobile
        assert raw.mobile_bidx == fields.blind_index("users.mobile", "13900139000")
        session.expire_all()
        assert session.get(User, user.id).mobile == "13900139000"

    def test_an_operator_finds_a_user_by_mobile_through_the_blind_index(self, client, session):
        target = factories.user(session, Role.RISK_MANAGER, mobile="13700137000")
        factories.user(session, Role.RISK_MANAGER, mobile="13700137001")
        operator = factories.user(session, Role.OPERATOR)
        h = factories.token(client, operator.username)
        r = client.get("/api/v1/users", params={"q": "13700137000"}, headers=h)
        assert r.status_code == 200, r.text
        assert [u["id"] for u in r.json()["items"]] == [target.id]

    def test_every_sensitive_column_is_registered(self):
        assert {(t, c) for t, c, _ in fields.encrypted_columns(Base.metadata)} == {
            ("users", "mobile"),
            ("demands", "contact_mobile"),
            ("second_factors", "secret"),
            ("identity_verifications", "claimed_name"),
            ("identity_verifications", "claimed_id_number"),
            ("entities", "legal_rep_name"),
            ("entities", "legal_rep_id"),
            ("messages", "recipient"),
            ("delivery_receipts", "destination"),
            ("demands", "contact_name"),
            ("objections", "value"),
            ("objections", "corrected_value"),
            ("idempotency_keys", "body"),
        }

    def test_rotation_reencrypts_and_old_values_stay_readable(self, session, factory):
        user = factories.user(session, Role.CUSTOMER_MANAGER, mobile="13600136000")
        session.flush()
        before = fields.current().active
        keyring = fields.add_data_key()
        assert keyring.active == before + 1
        session.expire_all()
        assert session.get(User, user.id).mobile == "13600136000"  # old key still there
        counts = fields.reencrypt(factory, Base.metadata)
        assert counts["users.mobile"] >= 1
        session.expire_all()
        raw = session.execute(text("SELECT mobile FROM users WHERE id = :id"), {"id": user.id})
        assert raw.scalar_one().startswith(f"sm4:{keyring.active}:")
        assert session.get(User, user.id).mobile == "13600136000"
        assert fields.reencrypt(factory, Base.metadata)["users.mobile"] == 0

    def test_rotation_reencrypts_legal_reps_and_recipients(self, session, factory):
        from puhui.entities import service as entities
        from puhui.entities.models import Entity
        from puhui.notifications import service as notifications
        from puhui.notifications.models import Message
        from tests.entities.factories import record

        rec = record("旋转测试有限公司", legal_rep_name="钱七", legal_rep_id="33020319900101123X")
        entities.upsert(session, [rec])
        sms = notifications.send_sms(session, recipient="13600136001", body="测试", purpose="test")
        session.flush()
        bidx = session.execute(
            text("SELECT legal_rep_id_bidx FROM entities WHERE uscc = :u"), {"u": rec.uscc}
        ).scalar_one()
        keyring = fields.add_data_key()
        counts = fields.reencrypt(factory, Base.metadata)
        for column in ("entities.legal_rep_name", "entities.legal_rep_id", "messages.recipient"):
            assert counts[column] >= 1, column
        raw = session.execute(
            text("SELECT legal_rep_name, legal_rep_id, legal_rep_id_bidx FROM entities "
                 "WHERE uscc = :u"),
            {"u": rec.uscc},
        ).one()  # fmt: skip
        assert raw[0].startswith(f"sm4:{keyring.active}:")
        assert raw[1].startswith(f"sm4:{keyring.active}:")
        assert raw[2] == bidx  # the blind index key does not rotate: lookups keep working
        session.expire_all()
        entity = session.query(Entity).filter(Entity.uscc == rec.uscc).one()
        assert (entity.legal_rep_name, entity.legal_rep_id) == ("钱七", "33020319900101123X")
        assert session.query(Message).filter(Message.sent_to("13600136001")).one().id == sms.id


class TestCliRotate:
    def test_keys_rotate(self, cli_db, tmp_path):  # noqa: F811
        assert run("init", "--operator-username", "root_op").exit_code == 0
        assert (
            run("admin", "create-institution", "--name", "银行甲", "--kind", "bank").exit_code == 0
        )
        r = run(
            "admin", "create-user", "--username", "cm9", "--password", "Secret-pass-2026",
            "--role", "customer_manager", "--institution", "银行甲", "--mobile", "13500135000",
        )  # fmt: skip
        assert r.exit_code == 0, r.output
        r = CliRunner().invoke(cli, ["keys", "rotate"])
        assert r.exit_code == 0, r.output
        assert "active data key: 2" in r.output and "users.mobile: 1 values" in r.output
        r = CliRunner().invoke(cli, ["keys", "rotate", "--reencrypt-only"])
        assert r.exit_code == 0 and "users.mobile: 0 values" in r.output
        from sqlalchemy import create_engine

        engine = create_engine(cli_db)
        try:
            with engine.connect() as conn:
                stored = conn.execute(text("SELECT mobile FROM users WHERE username='cm9'"))
                assert stored.scalar_one().startswith("sm4:2:")
        finally:
            engine.dispose()
        assert run("audit", "verify").exit_code == 0

    def test_keys_rotate_reencrypts_the_lakes_personal_values(self, cli_db, tmp_path):  # noqa: F811
        """The contact mobiles a department sent, sealed in the lake under data key 1, are
        under key 2 after ``keys rotate``: only the year holding them is rewritten, the
        profile's reader still decrypts them, and vacuum lists the replaced files."""
        import polars as pl

        from puhui.config import get_settings
        from puhui.core.lake import Lake
        from puhui.core.security.lake_fields import key_counts
        from tests.test_cli import TestIngestCommand

        assert run("init", "--operator-username", "root_op").exit_code == 0
        registry, code = TestIngestCommand()._registry(tmp_path)
        assert run("ingest", str(registry), "--source", "SAMR").exit_code == 0
        data = tmp_path / "samr.csv"
        data.write_text(
            "uscc,indicator,period,value\n"
            f"{code},BAS_CONTACT_MOBILE,2025-06,13512345678\n"
            f"{code},BAS_SCOPE,2025-06,五金制造\n"
            f"{code},BAS_CONTACT_MOBILE,2026-03,13687654321\n",
            encoding="utf-8",
        )
        r = run("ingest", str(data), "--source", "SAMR")
        assert r.exit_code == 0 and "3 accepted" in r.output, r.output
        lake = Lake(get_settings().lake_dir)
        texts = lake.scan().select("value_text").collect()
        assert key_counts(texts) == {1: 2}
        r = CliRunner().invoke(cli, ["keys", "rotate"])
        assert r.exit_code == 0, r.output
        assert "lake 2025: 1 values" in r.output and "lake 2026: 1 values" in r.output
        lake.refresh()
        assert key_counts(lake.scan().select("value_text").collect()) == {2: 2}
        # nothing left under key 1 to rewrite: a second run leaves the lake as it is
        version = lake.version()
        r = CliRunner().invoke(cli, ["keys", "rotate", "--reencrypt-only"])
        assert r.exit_code == 0 and "lake 20" not in r.output, r.output
        lake.refresh()
        assert lake.version() == version
        # the reader decrypts them
        from sqlalchemy import create_engine
        from sqlalchemy.orm import sessionmaker

        from puhui.catalog import service as catalog
        from puhui.entities.models import Entity

        engine = create_engine(cli_db)
        try:
            with sessionmaker(engine)() as s:
                entity_id = s.query(Entity.id).filter(Entity.uscc == code).scalar()
                rows = catalog.lake_fields(s).reveal(lake.history(entity_id))
        finally:
            engine.dispose()
        assert sorted(rows.filter(pl.col("value_text").str.starts_with("13"))["value_text"]) == [
            "13512345678",
            "13687654321",
        ]
        # the files the re-encryption replaced are vacuum's (after the retention window)
        r = run("lake", "vacuum", "--dry-run")
        assert r.exit_code == 0 and "to delete" in r.output, r.output
        assert run("audit", "verify").exit_code == 0
