"""``puhui audit checkpoint | export | verify`` on a database of their own."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from puhui.core.security import Sm2PrivateKey
from tests.test_cli import cli_db, run  # noqa: F401 - the fixture is used by name


class TestAuditCommands:
    def test_checkpoint_export_verify_and_a_tampered_database(self, cli_db, tmp_path):  # noqa: F811
        r = run("init", "--operator-username", "root_op", "--operator-password", "Root-pass-2026")
        assert r.exit_code == 0, r.output
        r = run("audit", "checkpoint")
        assert r.exit_code == 0 and "checkpoint at seq" in r.output, r.output
        key_file = tmp_path / "var" / "keys" / "platform-sm2.pem"
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        public = tmp_path / "platform.pem"
        public.write_text(Sm2PrivateKey.from_pem(key_file.read_bytes()).public_key().to_pem())

        out = tmp_path / "chain.jsonl"
        r = run("audit", "export", "--out", str(out))
        assert r.exit_code == 0, r.output
        r = run("audit", "verify", str(out), "--public-key", str(public))
        assert r.exit_code == 0 and "1 signed checkpoints verified" in r.output, r.output
        r = run("audit", "verify")
        assert r.exit_code == 0 and "database" in r.output, r.output
        assert "pass --public-key" in r.output  # trusting what the database lists

        # a key the database lists but nobody published: a checkpoint it signs is taken on
        # the database's word, and refused once the verifier pins the keys it trusts
        from sqlalchemy.orm import sessionmaker

        from puhui import registry
        from puhui.audit import service as audit_service

        registry.load_all()
        engine = create_engine(cli_db)
        try:
            with sessionmaker(engine).begin() as s:
                audit_service.record(s, actor=None, action="test.note", username="cli")
            with sessionmaker(engine).begin() as s:
                audit_service.checkpoint(s, key=Sm2PrivateKey.generate())
        finally:
            engine.dispose()
        assert run("audit", "verify").exit_code == 0
        r = run("audit", "verify", "--public-key", str(public))
        assert r.exit_code == 1 and "unknown key" in r.output, r.output

        engine = create_engine(cli_db)
        try:
            with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    conn.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))
                else:
                    conn.execute(text("DROP TRIGGER audit_events_no_update"))
                conn.execute(text("UPDATE audit_events SET username = 'mallory' WHERE seq = 1"))
        finally:
            engine.dispose()
        r = run("audit", "verify")
        assert r.exit_code == 1, r.output
        assert "[edited] record seq 1" in r.output
