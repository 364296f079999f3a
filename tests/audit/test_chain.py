"""The tamper-evident audit chain: linking, checkpoints, export, verification of each kind
of tampering, append-only tables, concurrent writers."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker
from typer.testing import CliRunner

from puhui.audit import chain, service
from puhui.audit.models import AuditCheckpoint, AuditEvent
from puhui.audit.tasks import checkpoint as checkpoint_job
from puhui.cli import app as cli
from puhui.core.db import session_scope
from puhui.core.policy import Role
from puhui.core.security import Sm2PrivateKey, Sm2PublicKey, sm3
from tests import factories


@pytest.fixture
def key(settings) -> Sm2PrivateKey:
    return service.platform_key(settings)


@pytest.fixture
def trusted(key) -> dict[str, Sm2PublicKey]:
    return {key.public_key().fingerprint(): key.public_key()}


def _record(session, n: int, **details) -> AuditEvent:
    return service.record(
        session, actor=None, action="test.chain", target_id=n, details={"n": n, **details}
    )


@pytest.fixture
def exported(session, factory, key) -> list[dict]:
    """An export whose last eight records are this test's, with a checkpoint at the fourth
    of them, as a file would hold it (each line through JSON)."""
    events = [_record(session, n, 名称="普惠", ratio=0.1 * n) for n in range(1, 9)]
    # the checkpoint signs the head after the fourth record: make it, then add the rest
    session.flush()
    assert events[3].seq == events[0].seq + 3
    lines = [json.loads(chain.dumps_line(line)) for line in service.export_lines(factory, key=key)]
    return lines


def _records(lines):
    return [i for i, line in enumerate(lines) if line["type"] == "record"]


def _kinds(lines, trusted, **kwargs):
    report = chain.verify_lines(lines, trusted, **kwargs)
    return report.kinds(), report


class TestLinking:
    def test_each_record_links_to_the_one_before(self, session):
        first, second = _record(session, 1), _record(session, 2, 键={"b": [1, 2.5], "a": None})
        assert second.seq == first.seq + 1 and second.prev_hash == first.hash
        body = chain.record_body(service.event_fields(second))
        assert second.hash == sm3(bytes.fromhex(first.hash) + body).hex()
        assert service.head(session) == (second.seq, second.hash)

    def test_the_body_is_canonical_json(self, session):
        event = _record(session, 7)
        body = chain.record_body(service.event_fields(event)).decode()
        parsed = json.loads(body)
        assert list(parsed) == sorted(chain.RECORD_FIELDS)
        assert body == json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert parsed["occurred_at"].endswith("Z") and len(parsed["occurred_at"]) == 27

    def test_details_hash_as_they_read_back(self, session, factory):
        """Integer keys and tuples become what JSON gives back, before hashing."""
        event = service.record(
            session, actor=None, action="test.chain", details={"t": (1, 2), 10: "x", 2: "y"}
        )
        session.flush()
        with factory() as other:
            again = other.get(AuditEvent, event.id)
            assert again.details == {"t": [1, 2], "10": "x", "2": "y"}
            body = chain.record_body(service.event_fields(again))
        assert chain.link(again.prev_hash, body) == again.hash

    def test_not_plain_json_details_are_refused(self, session):
        with pytest.raises(ValueError, match="plain JSON"):
            service.record(session, actor=None, action="test.chain", details={"x": float("nan")})

    def test_a_rolled_back_record_takes_the_head_back_with_it(self, session):
        before = service.head(session)
        nested = session.begin_nested()
        _record(session, 1)
        assert service.head(session)[0] == before[0] + 1
        nested.rollback()
        assert service.head(session) == before
        assert _record(session, 2).seq == before[0] + 1


class TestVerifyExport:
    def test_an_untouched_export_verifies(self, exported, trusted):
        report = chain.verify_lines(exported, trusted)
        assert report.ok, report.problems
        assert report.records == exported[0]["head_seq"] == report.head_seq
        assert exported[-1]["type"] == "end" and exported[-1]["seq"] == report.head_seq

    def test_edited_record(self, exported, trusted):
        i = _records(exported)[-3]
        exported[i]["body"] = exported[i]["body"].replace('"test.chain"', '"test.chaim"')
        kinds, report = _kinds(exported, trusted)
        assert kinds == {chain.EDITED}
        assert report.problems[0].seq == exported[i]["seq"]

    def test_edited_and_rehashed_record_breaks_the_next_link(self, exported, trusted):
        i = _records(exported)[-3]
        line = exported[i]
        line["body"] = line["body"].replace('"test.chain"', '"test.chaim"')
        line["hash"] = chain.link(line["prev_hash"], line["body"].encode())
        kinds, report = _kinds(exported, trusted)
        assert chain.BROKEN_LINK in kinds
        assert next(p for p in report.problems if p.kind == chain.BROKEN_LINK).seq == (
            line["seq"] + 1
        )

    def test_edited_chain_rehashed_to_the_end_is_caught_by_the_signatures(self, exported, trusted):
        indices = _records(exported)
        prev = None
        for i in indices[-3:]:
            line = exported[i]
            if prev is None:
                line["body"] = line["body"].replace('"test.chain"', '"test.chaim"')
            else:
                line["prev_hash"] = prev
            line["hash"] = prev = chain.link(line["prev_hash"], line["body"].encode())
        kinds, _ = _kinds(exported, trusted)
        assert chain.EDITED in kinds  # the signed end no longer names this head

    def test_deleted_record(self, exported, trusted):
        i = _records(exported)[-4]
        seq = exported.pop(i)["seq"]
        kinds, report = _kinds(exported, trusted)
        assert kinds == {chain.DELETED}
        assert report.problems[0].seq == seq and f"seq {seq} missing" in str(report.problems[0])

    def test_inserted_record_with_a_taken_seq(self, exported, trusted):
        i = _records(exported)[-4]
        fake = dict(exported[i])
        fake["body"] = fake["body"].replace('"test.chain"', '"test.fake"')
        fake["hash"] = chain.link(fake["prev_hash"], fake["body"].encode())
        exported.insert(i + 1, fake)
        kinds, report = _kinds(exported, trusted)
        assert chain.INSERTED in kinds
        assert next(p for p in report.problems if p.kind == chain.INSERTED).seq == fake["seq"]

    def test_inserted_record_after_the_head(self, exported, trusted):
        last = exported[_records(exported)[-1]]
        body = json.loads(last["body"]) | {"seq": last["seq"] + 1, "action": "test.fake"}
        body_bytes = chain.canonical_json(body)
        fake = chain.record_line(
            seq=last["seq"] + 1,
            prev_hash=last["hash"],
            hash=chain.link(last["hash"], body_bytes),
            body=body_bytes,
        )
        exported.insert(len(exported) - 1, fake)
        kinds, _ = _kinds(exported, trusted)
        assert kinds == {chain.INSERTED}

    def test_reordered_records(self, exported, trusted):
        i = _records(exported)[-4]
        exported[i], exported[i + 1] = exported[i + 1], exported[i]
        kinds, report = _kinds(exported, trusted)
        assert kinds == {chain.REORDERED}
        assert report.problems[0].seq == exported[i + 1]["seq"]

    def test_truncated_file(self, exported, trusted):
        kinds, report = _kinds(exported[:-3], trusted)
        assert kinds == {chain.TRUNCATED}
        assert "no end line" in str(report.problems[0])

    def test_truncated_records_under_the_original_end_line(self, exported, trusted):
        end = exported[-1]
        cut = [*exported[: _records(exported)[-2]], end]
        kinds, report = _kinds(cut, trusted)
        assert kinds == {chain.TRUNCATED}
        assert f"-{end['seq']} are missing at the end" in str(report.problems[0])

    def test_forged_checkpoint(self, session, factory, key, trusted):
        _record(session, 1)
        service.checkpoint(session, key=key)
        _record(session, 2)
        lines = [json.loads(chain.dumps_line(x)) for x in service.export_lines(factory, key=key)]
        cp = [line for line in lines if line["type"] == "checkpoint"][-1]
        assert chain.verify_lines(lines, trusted).ok
        cp["head_hash"] = "0" * 63 + "1"
        kinds, report = _kinds(lines, trusted)
        assert kinds == {chain.FORGED}
        assert "does not verify" in str(report.problems[0])

    def test_checkpoint_signed_with_another_key_and_the_header_swapped(
        self, session, factory, key, trusted
    ):
        _record(session, 1)
        service.checkpoint(session, key=key)
        lines = [json.loads(chain.dumps_line(x)) for x in service.export_lines(factory, key=key)]
        forger = Sm2PrivateKey.generate()
        forger_id = forger.public_key().fingerprint()
        lines[0]["signing_keys"] = [
            {"key_id": forger_id, "public_key_pem": forger.public_key().to_pem()}
        ]
        for line in lines:
            if line["type"] in {"checkpoint", "end"}:
                fmt = chain.CHECKPOINT_FORMAT if line["type"] == "checkpoint" else "x"
                line["key_id"] = forger_id
                message = chain.signed_message(
                    format=fmt if fmt != "x" else chain.EXPORT_END_FORMAT,
                    seq=line["seq"],
                    head_hash=line["head_hash"],
                    signed_at=line["signed_at"],
                    key_id=forger_id,
                )
                line["signature"] = base64.b64encode(forger.sign(message)).decode()
        # the file's own keys agree with it; the platform's published key does not
        assert chain.verify_lines(lines).ok
        kinds, report = _kinds(lines, trusted)
        assert kinds == {chain.FORGED} and "unknown key" in str(report.problems[0])


class TestDatabase:
    def test_the_database_chain_verifies(self, session, factory, key):
        _record(session, 1)
        service.checkpoint(session, key=key)
        _record(session, 2)
        report = service.verify_database(factory, key=key)
        assert report.ok, report.problems
        assert report.head_seq == service.head(session)[0]

    @pytest.mark.parametrize("operation", ["UPDATE", "DELETE"])
    def test_events_cannot_be_changed_or_removed(self, session, operation):
        event = _record(session, 1)
        session.flush()
        sql = {
            "UPDATE": "UPDATE audit_events SET action = 'x' WHERE id = :id",
            "DELETE": "DELETE FROM audit_events WHERE id = :id",
        }[operation]
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(text(sql), {"id": event.id})
        assert session.get(AuditEvent, event.id).action == "test.chain"

    def test_checkpoints_cannot_be_changed_and_the_head_cannot_be_removed(self, session, key):
        _record(session, 1)
        made = service.checkpoint(session, key=key)
        session.flush()
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(text("DELETE FROM audit_checkpoints WHERE id = :id"), {"id": made.id})
        with pytest.raises(DBAPIError, match=r"permanent|append-only"), session.begin_nested():
            session.execute(text("DELETE FROM audit_chain_head"))

    def test_a_change_behind_the_triggers_back_is_found(self, session, factory, key, engine):
        """Someone who can drop the trigger (the table's owner) is still caught."""
        event = _record(session, 1)
        _record(session, 2)
        session.flush()
        if engine.dialect.name == "postgresql":
            drop = "DROP TRIGGER audit_events_append_only ON audit_events"
        else:
            drop = "DROP TRIGGER audit_events_no_update"
        session.execute(text(drop))
        session.execute(
            text("UPDATE audit_events SET username = 'mallory' WHERE id = :id"), {"id": event.id}
        )
        report = service.verify_database(factory, key=key)
        assert report.kinds() == {chain.EDITED} and report.problems[0].seq == event.seq


class TestCheckpoints:
    def test_the_job_signs_a_moved_head_once(self, session, key):
        event = _record(session, 1)
        checkpoint_job(session, {})
        checkpoint_job(session, {})
        made = session.scalars(select(AuditCheckpoint).where(AuditCheckpoint.seq == event.seq))
        cp = made.one()
        message = chain.signed_message(
            format=chain.CHECKPOINT_FORMAT,
            seq=cp.seq,
            head_hash=cp.head_hash,
            signed_at=chain.format_time(cp.signed_at),
            key_id=cp.key_id,
        )
        assert cp.head_hash == event.hash
        assert key.public_key().verify(message, base64.b64decode(cp.signature))

    def test_on_demand_and_the_published_key(self, client, anon_client, session):
        operator = factories.user(session, Role.OPERATOR)
        h = factories.token(client, operator.username)
        r = client.post("/api/v1/audit/checkpoints", headers=h)
        assert r.status_code == 201, r.text
        cp = r.json()
        published = anon_client.get("/api/v1/audit/public-key").json()
        assert published["signer_id"] == "1234567812345678"
        assert published["key_id"] == cp["key_id"]
        public = Sm2PublicKey.from_pem(published["public_key_pem"])
        message = chain.signed_message(
            format=chain.CHECKPOINT_FORMAT,
            seq=cp["seq"],
            head_hash=cp["head_hash"],
            signed_at=chain.format_time(
                __import__("datetime").datetime.fromisoformat(cp["signed_at"])
            ),
            key_id=cp["key_id"],
        )
        assert public.verify(message, base64.b64decode(cp["signature"]))
        # the checkpoint signs a head that includes its own audit record
        last = session.scalars(select(AuditEvent).where(AuditEvent.seq == cp["seq"])).one()
        assert last.action == "audit.checkpoint" and last.user_id == operator.id
        head = client.get(
            "/api/v1/audit/head", headers=factories.token(client, _auditor(session))
        ).json()
        assert head["latest_checkpoint"]["seq"] == cp["seq"]


def _auditor(session) -> str:
    return factories.user(session, Role.AUDITOR).username


class TestExportApi:
    def test_a_regulator_exports_a_chain_that_verifies(self, client, session):
        regulator = factories.user(session, Role.REGULATOR)
        h = factories.token(client, regulator.username)
        r = client.get("/api/v1/audit/export", headers=h)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(x) for x in r.text.splitlines()]
        published = client.get("/api/v1/audit/public-key").json()
        public = Sm2PublicKey.from_pem(published["public_key_pem"])
        report = chain.verify_lines(lines, {published["key_id"]: public})
        assert report.ok, report.problems
        last = json.loads(lines[-2]["body"])
        assert last["action"] == "audit.export" and last["user_id"] == regulator.id

    @pytest.mark.parametrize("role", [Role.AUDITOR, Role.CUSTOMER_MANAGER])
    def test_others_may_not_export(self, client, session, role):
        h = factories.token(client, factories.user(session, role).username)
        assert client.get("/api/v1/audit/export", headers=h).status_code == 403


class TestCliVerify:
    def _write(self, path: Path, lines) -> Path:
        path.write_text("".join(chain.dumps_line(line) for line in lines), encoding="utf-8")
        return path

    def test_file_ok_and_tampered(self, exported, key, tmp_path):
        good = self._write(tmp_path / "good.jsonl", exported)
        pem = tmp_path / "pub.pem"
        pem.write_text(key.public_key().to_pem())
        r = CliRunner().invoke(cli, ["audit", "verify", str(good), "--public-key", str(pem)])
        assert r.exit_code == 0, r.output
        assert "verified" in r.output
        r = CliRunner().invoke(cli, ["audit", "verify", str(good)])
        assert r.exit_code == 0 and "keys listed in the file" in r.output
        exported.pop(_records(exported)[-2])
        bad = self._write(tmp_path / "bad.jsonl", exported)
        r = CliRunner().invoke(cli, ["audit", "verify", str(bad), "--public-key", str(pem)])
        assert r.exit_code == 1 and "[deleted]" in r.output

    def test_bad_arguments(self, tmp_path):
        r = CliRunner().invoke(cli, ["audit", "verify", str(tmp_path / "missing.jsonl")])
        assert r.exit_code == 2 and "no such file" in r.output
        junk = tmp_path / "junk.pem"
        junk.write_text("not a key")
        r = CliRunner().invoke(cli, ["audit", "verify", str(junk), "--public-key", str(junk)])
        assert r.exit_code == 2 and "--public-key" in r.output

    def test_a_file_that_is_not_an_export(self, tmp_path):
        path = tmp_path / "x.jsonl"
        path.write_text('{"type": "record"}\nnot json\n', encoding="utf-8")
        r = CliRunner().invoke(cli, ["audit", "verify", str(path)])
        assert r.exit_code == 1 and "[malformed]" in r.output


class TestConcurrentWriters:
    def test_the_chain_stays_linear(self, engine, key):
        """Writers on their own connections, committing for real, all at once: every seq
        is taken once, each record links to the one before, and the chain verifies."""
        factory = sessionmaker(engine, expire_on_commit=False)
        writers, per_writer = 4, 6
        barrier = threading.Barrier(writers)
        taken: list[tuple[int, str, str]] = []
        errors: list[BaseException] = []

        def write(w: int) -> None:
            try:
                barrier.wait(timeout=30)
                for n in range(per_writer):
                    with session_scope(factory) as s:
                        e = service.record(
                            s, actor=None, action="test.concurrent", details={"w": w, "n": n}
                        )
                        time.sleep(0.002)  # hold the head a moment: the others must queue
                        taken.append((e.seq, e.prev_hash, e.hash))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        seqs = sorted(seq for seq, _, _ in taken)
        assert len(set(seqs)) == writers * per_writer
        by_seq = {seq: (prev, h) for seq, prev, h in taken}
        for seq in seqs:
            if seq - 1 in by_seq:
                assert by_seq[seq][0] == by_seq[seq - 1][1]
        report = service.verify_database(factory, key=key)
        assert report.ok, report.problems
