from __future__ import annotations

from sqlalchemy import func, select

from puhui.accounts.models import ApiKey, AuthSession, Institution, User
from puhui.audit.models import AuditEvent
from puhui.core.policy import InstitutionKind, Role
from tests import factories


def _inst(session, user):
    return session.get(Institution, user.institution_id)


class TestInstitutions:
    def test_operator_creates_and_disables_an_institution(self, client, session):
        op = factories.user(session, Role.OPERATOR)
        h = factories.token(client, op.username)
        r = client.post(
            "/api/v1/institutions",
            json={"name": "宁波测试银行", "kind": "bank", "code": "NB-T"},
            headers=h,
        )
        assert r.status_code == 201, r.text
        inst_id = r.json()["id"]
        r = client.patch(f"/api/v1/institutions/{inst_id}", json={"is_active": False}, headers=h)
        assert r.status_code == 200 and r.json()["is_active"] is False
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.target_id == str(inst_id))
        ).all()
        assert {"institution.create", "institution.update"} <= set(actions)

    def test_users_of_a_disabled_institution_cannot_log_in(self, client, session):
        op = factories.user(session, Role.OPERATOR)
        cm = factories.user(session, Role.CUSTOMER_MANAGER)
        cm_h = factories.token(client, cm.username)
        h = factories.token(client, op.username)
        client.patch(
            f"/api/v1/institutions/{cm.institution_id}", json={"is_active": False}, headers=h
        )
        assert client.get("/api/v1/me", headers=cm_h).status_code == 401
        r = client.post(
            "/api/v1/auth/token", data={"username": cm.username, "password": factories.PASSWORD}
        )
        assert r.status_code == 401

    def test_duplicate_name_is_a_conflict_and_unknown_kind_a_422(self, client, session):
        op = factories.user(session, Role.OPERATOR)
        h = factories.token(client, op.username)
        body = {"name": "重名机构", "kind": "bank"}
        assert client.post("/api/v1/institutions", json=body, headers=h).status_code == 201
        r = client.post("/api/v1/institutions", json=body, headers=h)
        assert r.status_code == 409 and r.json()["error"]["code"] == "duplicate_institution"
        r = client.post("/api/v1/institutions", json={"name": "x", "kind": "casino"}, headers=h)
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"] == "kind"

    def test_errors_speak_the_callers_language(self, client, session):
        op = factories.user(session, Role.OPERATOR)
        h = factories.token(client, op.username)
        body = {"name": "x", "kind": "casino"}
        zh = client.post("/api/v1/institutions", json=body, headers=h).json()["error"]
        en = client.post(
            "/api/v1/institutions", json=body, headers={**h, "Accept-Language": "en-US,en;q=0.9"}
        ).json()["error"]
        assert (
            zh["message"] == "部分字段填写有误。"
            and zh["details"][0]["message"] == "请从给定选项中选择。"
        )
        assert en["message"] == "Some fields are not valid."


class TestUsers:
    def test_admin_creates_users_only_in_its_own_institution(self, client, session):
        admin = factories.user(session, Role.INSTITUTION_ADMIN)
        other = factories.institution(session)
        h = factories.token(client, admin.username)
        r = client.post(
            "/api/v1/users",
            json={"username": "cm_new", "password": factories.PASSWORD, "role": "customer_manager"},
            headers=h,
        )
        assert r.status_code == 201, r.text
        assert r.json()["institution_id"] == admin.institution_id
        r = client.post(
            "/api/v1/users",
            json={
                "username": "cm_x",
                "password": factories.PASSWORD,
                "role": "customer_manager",
                "institution_id": other.id,
            },
            headers=h,
        )
        assert r.status_code == 404
        assert (
            session.scalar(select(func.count()).select_from(User).where(User.username == "cm_x"))
            == 0
        )

    def test_admin_cannot_create_operators(self, client, session):
        admin = factories.user(session, Role.INSTITUTION_ADMIN)
        h = factories.token(client, admin.username)
        r = client.post(
            "/api/v1/users",
            json={"username": "evil_op", "password": factories.PASSWORD, "role": "operator"},
            headers=h,
        )
        assert r.status_code == 403

    def test_role_must_fit_the_institution_kind(self, client, session):
        op = factories.user(session, Role.OPERATOR)
        source = factories.institution(session, InstitutionKind.DATA_SOURCE)
        h = factories.token(client, op.username)
        r = client.post(
            "/api/v1/users",
            json={
                "username": "cm_src",
                "password": factories.PASSWORD,
                "role": "customer_manager",
                "institution_id": source.id,
            },
            headers=h,
        )
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"] == "role"

    def test_mass_assignment_is_refused(self, client, session):
        admin = factories.user(session, Role.INSTITUTION_ADMIN)
        h = factories.token(client, admin.username)
        r = client.post(
            "/api/v1/users",
            json={
                "username": "user1",
                "password": factories.PASSWORD,
                "role": "risk_manager",
                "is_active": True,
                "failed_logins": 0,
            },
            headers=h,
        )
        assert r.status_code == 422
        fields = {d["field"] for d in r.json()["error"]["details"]}
        assert fields == {"is_active", "failed_logins"}

    def test_duplicate_username_and_weak_password(self, client, session):
        admin = factories.user(session, Role.INSTITUTION_ADMIN)
        h = factories.token(client, admin.username)
        r = client.post(
            "/api/v1/users",
            json={
                "username": admin.username.upper(),
                "password": factories.PASSWORD,
                "role": "risk_manager",
            },
            headers=h,
        )
        assert r.status_code == 409
        r = client.post(
            "/api/v1/users",
            json={"username": "weak1", "password": "short", "role": "risk_manager"},
            headers=h,
        )
        assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "password"
        r = client.post(
            "/api/v1/users",
            json={"username": "weak2", "password": "alllowercaseletters", "role": "risk_manager"},
            headers=h,
        )
        assert r.status_code == 422

    def test_list_is_scoped_to_the_admins_institution(self, client, session):
        admin = factories.user(session, Role.INSTITUTION_ADMIN)
        mine = factories.user(session, Role.CUSTOMER_MANAGER, _inst(session, admin))
        theirs = factories.user(session, Role.CUSTOMER_MANAGER)
        h = factories.token(client, admin.username)
        names = {
            u["username"]
            for u in client.get("/api/v1/users?per_page=100", headers=h).json()["items"]
        }
        assert mine.username in names and theirs.username not in names
        assert client.get(f"/api/v1/users/{theirs.id}", headers=h).status_code == 404

    def test_pagination_limits(self, client, session):
        admin = factories.user(session, Role.INSTITUTION_ADMIN)
        h = factories.token(client, admin.username)
        assert client.get("/api/v1/users?per_page=101", headers=h).status_code == 422
        page = client.get("/api/v1/users?per_page=1&page=1", headers=h).json()
        assert page["per_page"] == 1 and page["total"] >= 1 and len(page["items"]) == 1

    def test_change_password_ends_other_sessions(self, client, session):
        u = factories.user(session, Role.RISK_MANAGER)
        first = factories.token(client, u.username)
        second = factories.token(client, u.username)
        new = "Another-pass-2027"
        r = client.post(
            "/api/v1/me/password",
            json={"current_password": factories.PASSWORD, "new_password": new},
            headers=second,
        )
        assert r.status_code == 204
        assert client.get("/api/v1/me", headers=first).status_code == 401
        assert client.get("/api/v1/me", headers=second).status_code == 200
        factories.token(client, u.username, new)

    def test_wrong_current_password_changes_nothing(self, client, session):
        u = factories.user(session, Role.RISK_MANAGER)
        h = factories.token(client, u.username)
        r = client.post(
            "/api/v1/me/password",
            json={"current_password": "nope", "new_password": "Another-pass-2027"},
            headers=h,
        )
        assert (
            r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "current_password"
        )
        factories.token(client, u.username)


class TestApiKeys:
    def test_key_is_shown_once_stored_as_digest_and_authenticates(self, client, session):
        admin = factories.user(session, Role.INSTITUTION_ADMIN)
        h = factories.token(client, admin.username)
        r = client.post(
            "/api/v1/api-keys", json={"name": "core banking", "role": "customer_manager"}, headers=h
        )
        assert r.status_code == 201, r.text
        raw = r.json()["key"]
        stored = session.get(ApiKey, r.json()["id"])
        assert raw not in (stored.key_digest, stored.prefix) and len(stored.key_digest) == 64
        listed = client.get("/api/v1/api-keys", headers=h).json()["items"]
        assert all("key" not in k for k in listed)
        me = client.get("/api/v1/users", headers={"X-API-Key": raw})
        assert me.status_code == 403  # a customer-manager key may not manage users
        assert client.get("/api/v1/me", headers={"X-API-Key": raw}).status_code == 403

    def test_revoked_key_stops_working(self, client, session):
        admin = factories.user(session, Role.INSTITUTION_ADMIN)
        h = factories.token(client, admin.username)
        created = client.post(
            "/api/v1/api-keys", json={"name": "k", "role": "risk_manager"}, headers=h
        ).json()
        key_h = {"X-API-Key": created["key"]}
        assert client.post("/api/v1/auth/logout", headers=key_h).status_code == 204
        assert client.delete(f"/api/v1/api-keys/{created['id']}", headers=h).status_code == 200
        r = client.post("/api/v1/auth/logout", headers=key_h)
        assert r.status_code == 401

    def test_key_cannot_be_an_administrator(self, client, session):
        admin = factories.user(session, Role.INSTITUTION_ADMIN)
        h = factories.token(client, admin.username)
        r = client.post(
            "/api/v1/api-keys", json={"name": "k", "role": "institution_admin"}, headers=h
        )
        assert r.status_code == 422

    def test_disabling_a_user_ends_web_sessions_too(self, client, session, app):
        from fastapi.testclient import TestClient

        admin = factories.user(session, Role.INSTITUTION_ADMIN)
        cm = factories.user(session, Role.CUSTOMER_MANAGER, _inst(session, admin))
        with TestClient(app) as browser:
            factories.web_login(browser, cm.username)
            assert browser.get("/account").status_code == 200
            h = factories.token(client, admin.username)
            client.patch(f"/api/v1/users/{cm.id}", json={"is_active": False}, headers=h)
            assert browser.get("/account", follow_redirects=False).status_code == 303
        assert (
            session.scalar(
                select(func.count()).select_from(AuthSession).where(AuthSession.user_id == cm.id)
            )
            == 0
        )
