from __future__ import annotations

import pytest
from sqlalchemy import select

from puhui.accounts import service as accounts
from puhui.accounts.schemas import InstitutionCreate
from puhui.audit.models import AuditEvent
from puhui.core.policy import InstitutionKind, Role
from tests import factories


def _events(session, action):
    return session.scalars(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    ).all()


class TestRecords:
    def test_login_ok_and_failed_are_recorded_with_ip(self, client, session):
        u = factories.user(session, Role.AUDITOR)
        client.post("/api/v1/auth/token", data={"username": u.username, "password": "wrong"})
        factories.token(client, u.username)
        events = _events(session, "auth.login.token")
        assert [e.outcome for e in events[-2:]] == ["failed", "ok"]
        failed, ok = events[-2:]
        assert failed.details == {"reason": "wrong_password"} and failed.ip == "testclient"
        assert ok.user_id == u.id and ok.role == "auditor" and ok.institution_id == u.institution_id

    def test_permission_denial_is_recorded_even_though_the_request_fails(self, client, session):
        u = factories.user(session, Role.ENTERPRISE)
        h = factories.token(client, u.username)
        assert client.get("/api/v1/audit/events", headers=h).status_code == 403
        denial = _events(session, "permission.denied")[-1]
        assert denial.user_id == u.id and denial.outcome == "denied"
        assert denial.target_id == "GET /api/v1/audit/events"

    def test_state_change_and_its_record_share_a_transaction(self, factory):
        s = factory()
        s.begin_nested()
        accounts.create_institution(
            s, actor=None, data=InstitutionCreate(name="回滚机构", kind=InstitutionKind.BANK)
        )
        assert _events(s, "institution.create")[-1].details["name"] == "回滚机构"
        s.rollback()
        assert all(e.details.get("name") != "回滚机构" for e in _events(s, "institution.create"))
        s.close()


class TestReading:
    @pytest.mark.parametrize("role", [Role.AUDITOR, Role.REGULATOR])
    def test_auditors_and_regulators_read_with_filters(self, client, session, role):
        reader = factories.user(session, role)
        victim = factories.user(session, Role.CUSTOMER_MANAGER)
        client.post("/api/v1/auth/token", data={"username": victim.username, "password": "bad"})
        h = factories.token(client, reader.username)
        r = client.get(
            "/api/v1/audit/events",
            params={"action": "auth.", "outcome": "failed", "username": victim.username},
            headers=h,
        )
        assert r.status_code == 200
        items = r.json()["items"]
        assert (
            len(items) == 1
            and items[0]["username"] == victim.username
            and items[0]["outcome"] == "failed"
        )

    def test_audit_page_filters(self, client, session):
        reader = factories.user(session, Role.AUDITOR)
        factories.web_login(client, reader.username)
        r = client.get("/audit", params={"action": "auth.login", "outcome": "ok"})
        assert r.status_code == 200 and reader.username in r.text
        r = client.get("/audit", params={"since": "not-a-date"})
        assert r.status_code == 422
