from __future__ import annotations

import io
import re
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from puhui.core import jobs
from puhui.core.policy import InstitutionKind, Role
from puhui.entities import service as entities
from puhui.ingest import service
from puhui.ingest.models import DataSource
from puhui.ingest.readers import REGISTRY_COLUMNS
from tests import factories

CODE = entities.make("91330212MA2H3K4L8")


def _registry_bytes() -> bytes:
    row = [
        CODE,
        "宁波推送测试有限公司",
        "enterprise",
        "330212",
        "C",
        "39",
        "100",
        "2010-01-01",
        "active",
        "",
        "",
    ]
    return (",".join(REGISTRY_COLUMNS) + "\n" + ",".join(row) + "\n").encode()


def _steward_and_key(client, session, source_code):
    inst = factories.institution(session, InstitutionKind.DATA_SOURCE)
    service.ensure_default_sources(session)
    source = service.get_source(session, code=source_code)
    source.institution_id = inst.id
    session.flush()
    admin = factories.user(session, Role.INSTITUTION_ADMIN, inst)
    h = factories.token(client, admin.username)
    key = client.post(
        "/api/v1/api-keys", json={"name": "push", "role": "data_steward"}, headers=h
    ).json()["key"]
    return inst, {"X-API-Key": key}


def _drain(connection):
    factory = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    return jobs.Worker(factory, worker_id="test").run_until_idle()


class TestPush:
    def test_a_department_pushes_a_file_and_reads_its_quality_report(
        self, client, session, connection
    ):
        _, key = _steward_and_key(client, session, "SAMR")
        r = client.post(
            "/api/v1/ingest/batches",
            data={"source": "SAMR"},
            files={"file": ("registry.csv", io.BytesIO(_registry_bytes()), "text/csv")},
            headers=key,
        )
        assert r.status_code == 202, r.text
        upload = r.json()
        assert upload["status"] == "pending" and upload["batch_id"] is None
        assert _drain(connection) >= 1
        status = client.get(f"/api/v1/ingest/uploads/{upload['job_id']}", headers=key).json()
        assert status["status"] == "done" and status["batch_id"]
        batch = client.get(f"/api/v1/ingest/batches/{status['batch_id']}", headers=key).json()
        assert (batch["status"], batch["layout"], batch["rows_accepted"]) == (
            "committed",
            "registry",
            1,
        )
        assert entities.ids_for(session, [CODE])
        # the uploaded file is deleted once committed (its values live on in the lake);
        # the upload still names its batch, and the job run again changes nothing
        job = jobs.get_job(session, upload["job_id"])
        path = Path(job.payload["path"])
        assert job.payload["sha256"] and not path.exists() and not path.parent.exists()
        from puhui.ingest.tasks import ingest_upload

        ingest_upload(session, job.payload)
        again = client.get(f"/api/v1/ingest/uploads/{upload['job_id']}", headers=key).json()
        assert again["batch_id"] == status["batch_id"]

    def test_an_upload_whose_file_vanished_before_it_ran_fails_loudly(self, session):
        import pytest

        from puhui.ingest.tasks import ingest_upload

        service.ensure_default_sources(session)
        payload = {"source": "SAMR", "path": "/nonexistent/x.csv", "sha256": "0" * 64}
        with pytest.raises(FileNotFoundError, match=r"x\.csv"):
            ingest_upload(session, payload)

    def test_another_departments_steward_cannot_see_or_push(self, client, session, connection):
        _, key = _steward_and_key(client, session, "SAMR")
        client.post(
            "/api/v1/ingest/batches",
            data={"source": "SAMR"},
            files={"file": ("registry.csv", io.BytesIO(_registry_bytes()), "text/csv")},
            headers=key,
        )
        _drain(connection)
        _, other = _steward_and_key(client, session, "TAX")
        batches = client.get("/api/v1/ingest/batches", headers=key).json()["items"]
        assert batches and client.get("/api/v1/ingest/batches", headers=other).json()["total"] == 0
        assert (
            client.get(f"/api/v1/ingest/batches/{batches[0]['id']}", headers=other).status_code
            == 404
        )
        r = client.post(
            "/api/v1/ingest/batches",
            data={"source": "SAMR"},
            files={"file": ("x.csv", io.BytesIO(b"a,b\n"), "text/csv")},
            headers=other,
        )
        assert r.status_code == 404

    def test_empty_upload_is_refused(self, client, session):
        _, key = _steward_and_key(client, session, "TAX")
        r = client.post(
            "/api/v1/ingest/batches",
            data={"source": "TAX"},
            files={"file": ("x.csv", io.BytesIO(b""), "text/csv")},
            headers=key,
        )
        assert r.status_code == 422


class TestPages:
    def test_operator_sees_sources_batches_and_a_report(self, client, session, connection):
        op = factories.user(session, Role.OPERATOR)
        csrf = factories.web_login(client, op.username)
        service.ensure_default_sources(session)
        r = client.get("/ingest/sources")
        assert r.status_code == 200 and "国家税务总局宁波市税务局" in r.text
        r = client.post(
            "/ingest/upload",
            data={"source": "SAMR", "csrf_token": csrf},
            files={"file": ("registry.csv", io.BytesIO(_registry_bytes()), "text/csv")},
        )
        assert r.status_code == 200 and 'hx-get="/ingest/uploads/' in r.text
        _drain(connection)
        page = client.get("/ingest")
        assert "registry.csv" in page.text
        batch_id = re.search(r"/ingest/batches/(\d+)", page.text).group(1)
        r = client.get(f"/ingest/batches/{batch_id}")
        assert r.status_code == 200 and "registry" in r.text

    def test_operator_registers_a_source(self, client, session):
        op = factories.user(session, Role.OPERATOR)
        csrf = factories.web_login(client, op.username)
        r = client.post(
            "/ingest/sources",
            data={
                "code": "gas",
                "name": "宁波燃气",
                "department": "燃气",
                "level": "municipal",
                "schedule": "monthly",
                "csrf_token": csrf,
            },
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert session.query(DataSource).filter_by(code="GAS").one().name == "宁波燃气"
        r = client.post(
            "/ingest/sources",
            data={
                "code": "gas",
                "name": "x",
                "department": "y",
                "level": "municipal",
                "schedule": "monthly",
                "csrf_token": csrf,
            },
        )
        assert r.status_code == 422


def test_the_batch_audit_names_the_api_key_that_pushed_it(client, session, connection):
    from sqlalchemy import select

    from puhui.audit.models import AuditEvent

    inst, key = _steward_and_key(client, session, "SAMR")
    client.post(
        "/api/v1/ingest/batches",
        data={"source": "SAMR"},
        files={"file": ("registry.csv", io.BytesIO(_registry_bytes()), "text/csv")},
        headers=key,
    )
    _drain(connection)
    event = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "ingest.commit")
        .order_by(AuditEvent.id.desc())
    ).first()
    assert event.api_key_id is not None and event.institution_id == inst.id
    assert event.role == "data_steward" and event.username.startswith("apikey:")
