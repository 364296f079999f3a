from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from puhui.accounts.models import AuthSession, User
from puhui.audit.models import AuditEvent
from puhui.core.orm import utcnow
from puhui.core.policy import Role
from tests import factories
from tests.conftest import csrf_from


def _login_events(session, outcome):
    return session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action.startswith("auth.login"), AuditEvent.outcome == outcome)
    )


class TestApiToken:
    def test_token_then_me(self, client, session):
        u = factories.user(session, Role.CUSTOMER_MANAGER)
        headers = factories.token(client, u.username)
        r = client.get("/api/v1/me", headers=headers)
        assert r.status_code == 200
        assert r.json()["username"] == u.username
        assert r.json()["role"] == "customer_manager"

    def test_unknown_user_and_wrong_password_get_the_same_answer(self, client, session):
        u = factories.user(session, Role.CUSTOMER_MANAGER)
        wrong = client.post("/api/v1/auth/token", data={"username": u.username, "password": "nope"})
        unknown = client.post("/api/v1/auth/token", data={"username": "ghost", "password": "nope"})
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json() == unknown.json()
        assert wrong.json()["error"]["code"] == "login_failed"
        assert _login_events(session, "failed") == 2

    def test_five_failures_lock_the_account_for_thirty_minutes(self, client, session):
        u = factories.user(session, Role.CUSTOMER_MANAGER)
        for _ in range(5):
            assert (
                client.post(
                    "/api/v1/auth/token", data={"username": u.username, "password": "bad"}
                ).status_code
                == 401
            )
        session.expire_all()
        locked = session.get(User, u.id)
        assert locked.locked_until is not None
        assert timedelta(minutes=29) < locked.locked_until - utcnow() <= timedelta(minutes=30)
        # the right password does not get in while locked, and the answer does not tell
        r = client.post(
            "/api/v1/auth/token", data={"username": u.username, "password": factories.PASSWORD}
        )
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "login_failed"
        # after the lock runs out it does
        locked.locked_until = utcnow() - timedelta(seconds=1)
        session.flush()
        assert (
            client.post(
                "/api/v1/auth/token", data={"username": u.username, "password": factories.PASSWORD}
            ).status_code
            == 200
        )

    def test_four_failures_then_success_resets_the_counter(self, client, session):
        u = factories.user(session, Role.CUSTOMER_MANAGER)
        for _ in range(4):
            client.post("/api/v1/auth/token", data={"username": u.username, "password": "bad"})
        factories.token(client, u.username)
        session.expire_all()
        assert session.get(User, u.id).failed_logins == 0

    def test_disabled_user_cannot_log_in_and_its_tokens_stop_at_once(self, client, session):
        admin = factories.user(session, Role.INSTITUTION_ADMIN)
        from puhui.accounts.models import Institution

        inst = session.get(Institution, admin.institution_id)
        cm = factories.user(session, Role.CUSTOMER_MANAGER, inst)
        cm_headers = factories.token(client, cm.username)
        assert client.get("/api/v1/me", headers=cm_headers).status_code == 200
        admin_headers = factories.token(client, admin.username)
        r = client.patch(f"/api/v1/users/{cm.id}", json={"is_active": False}, headers=admin_headers)
        assert r.status_code == 200, r.text
        assert client.get("/api/v1/me", headers=cm_headers).status_code == 401
        assert (
            session.scalar(
                select(func.count()).select_from(AuthSession).where(AuthSession.user_id == cm.id)
            )
            == 0
        )
        r = client.post(
            "/api/v1/auth/token", data={"username": cm.username, "password": factories.PASSWORD}
        )
        assert r.status_code == 401

    def test_logout_revokes_the_token(self, client, session):
        u = factories.user(session, Role.RISK_MANAGER)
        headers = factories.token(client, u.username)
        assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
        assert client.get("/api/v1/me", headers=headers).status_code == 401

    def test_expired_token_is_refused(self, client, session):
        u = factories.user(session, Role.RISK_MANAGER)
        headers = factories.token(client, u.username)
        session.query(AuthSession).filter(AuthSession.user_id == u.id).update(
            {AuthSession.expires_at: utcnow() - timedelta(seconds=1)}
        )
        session.flush()
        assert client.get("/api/v1/me", headers=headers).status_code == 401


class TestWebSession:
    def test_login_sets_a_new_session_and_logout_ends_it(self, client, session):
        u = factories.user(session, Role.OPERATOR)
        client.get("/login")
        anon = client.cookies.get("puhui_anon")
        csrf = factories.web_login(client, u.username)
        token = client.cookies.get("puhui_session")
        assert token and token != anon
        assert client.get("/account").status_code == 200
        r = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 303
        client.cookies.set("puhui_session", token)
        r = client.get("/account", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")

    def test_idle_session_expires_after_thirty_minutes(self, client, session):
        u = factories.user(session, Role.OPERATOR)
        factories.web_login(client, u.username)
        session.query(AuthSession).filter(AuthSession.user_id == u.id).update(
            {AuthSession.last_seen_at: utcnow() - timedelta(minutes=31)}
        )
        session.flush()
        assert client.get("/account", follow_redirects=False).status_code == 303

    def test_absolute_limit_ends_an_active_session(self, client, session):
        u = factories.user(session, Role.OPERATOR)
        factories.web_login(client, u.username)
        record = session.scalar(select(AuthSession).where(AuthSession.user_id == u.id))
        assert (
            timedelta(hours=11, minutes=59)
            < record.expires_at - record.created_at
            <= timedelta(hours=12, seconds=5)
        )
        record.expires_at = utcnow() - timedelta(seconds=1)
        session.flush()
        assert client.get("/account", follow_redirects=False).status_code == 303

    def test_wrong_password_on_the_form_shows_the_generic_message(self, client, session):
        u = factories.user(session, Role.OPERATOR)
        page = client.get("/login")
        r = client.post(
            "/login",
            data={"username": u.username, "password": "x", "csrf_token": csrf_from(page.text)},
        )
        assert r.status_code == 401
        assert "用户名或密码错误" in r.text

    def test_form_without_csrf_token_is_refused(self, client, session):
        u = factories.user(session, Role.OPERATOR)
        client.get("/login")
        r = client.post("/login", data={"username": u.username, "password": factories.PASSWORD})
        assert r.status_code == 403
        assert "puhui_session" not in client.cookies

    def test_csrf_token_of_another_session_is_refused(self, client, session, app):
        from fastapi.testclient import TestClient

        u = factories.user(session, Role.OPERATOR)
        csrf = factories.web_login(client, u.username)
        with TestClient(app) as other:
            v = factories.user(session, Role.OPERATOR)
            factories.web_login(other, v.username)
            r = other.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
            assert r.status_code == 403

    def test_open_redirect_is_refused(self, client, session):
        u = factories.user(session, Role.OPERATOR)
        page = client.get("/login?next=//evil.example/")
        r = client.post(
            "/login",
            data={
                "username": u.username,
                "password": factories.PASSWORD,
                "next": "//evil.example/",
                "csrf_token": csrf_from(page.text),
            },
            follow_redirects=False,
        )
        assert r.headers["location"] == "/"
