"""The second factor: enrolment, the second step of API and web log-ins, replay, recovery
codes, forced enrolment of institution admins after the grace period."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import func, select

from puhui.accounts import second_factor
from puhui.accounts.models import AuthSession, RecoveryCode
from puhui.audit.models import AuditEvent
from puhui.core.orm import utcnow
from puhui.core.policy import InstitutionKind, Role
from tests import factories
from tests.conftest import csrf_from

T0 = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch):
    """A frozen clock for TOTP steps; ``clock.now`` may be moved."""

    class Clock:
        now = T0

    c = Clock()
    monkeypatch.setattr(second_factor, "utcnow", lambda: c.now)
    return c


def _code(secret: str, at: datetime) -> str:
    return pyotp.TOTP(secret).at(at)


def _token(client, username: str, otp: str | None = None):
    data = {"username": username, "password": factories.PASSWORD}
    if otp is not None:
        data["otp"] = otp
    return client.post("/api/v1/auth/token", data=data)


class TestApiLogin:
    def test_a_user_with_an_authenticator_needs_the_code(self, client, session, clock):
        u = factories.user(session, Role.CUSTOMER_MANAGER)
        secret = factories.enrol_second_factor(session, u)
        missing = _token(client, u.username)
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "second_factor_required"
        wrong = _token(client, u.username, "000000" if _code(secret, T0) != "000000" else "111111")
        assert wrong.status_code == 401
        assert wrong.json()["error"]["code"] == "second_factor_invalid"
        ok = _token(client, u.username, _code(secret, T0))
        assert ok.status_code == 200, ok.text

    def test_a_code_is_accepted_once(self, client, session, clock):
        u = factories.user(session, Role.CUSTOMER_MANAGER)
        secret = factories.enrol_second_factor(session, u)
        assert _token(client, u.username, _code(secret, T0)).status_code == 200
        replay = _token(client, u.username, _code(secret, T0))
        assert replay.status_code == 401
        # an older code inside the window is refused too; the next step's code works
        older = _token(client, u.username, _code(secret, T0 - timedelta(seconds=30)))
        assert older.status_code == 401
        clock.now = T0 + timedelta(seconds=30)
        assert _token(client, u.username, _code(secret, clock.now)).status_code == 200

    def test_wrong_codes_count_as_failed_log_ins(self, client, session, clock):
        u = factories.user(session, Role.CUSTOMER_MANAGER)
        secret = factories.enrol_second_factor(session, u)
        bad = "123456" if _code(secret, T0) != "123456" else "654321"
        for _ in range(5):
            assert _token(client, u.username, bad).status_code == 401
        session.refresh(u)
        assert u.locked_until is not None and u.locked_until > utcnow()
        assert _token(client, u.username, _code(secret, T0)).status_code == 401  # locked

    def test_an_admin_past_the_grace_period_without_an_authenticator_is_refused(
        self, client, session
    ):
        admin = factories.user(session, Role.INSTITUTION_ADMIN)
        assert _token(client, admin.username).status_code == 200  # within the grace period
        admin.created_at = utcnow() - timedelta(days=8)
        session.flush()
        r = _token(client, admin.username)
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "second_factor_enrolment_required"


class TestEnrolmentAndRecovery:
    def test_enrol_through_the_api_and_recovery_codes_work_once(self, client, session, clock):
        u = factories.user(session, Role.RISK_MANAGER)
        headers = factories.token(client, u.username)
        assert client.get("/api/v1/auth/second-factor", headers=headers).json() == {
            "enrolled": False,
            "recovery_codes_left": 0,
        }
        uri = client.post("/api/v1/auth/second-factor", headers=headers).json()["otpauth_uri"]
        assert uri.startswith("otpauth://totp/") and "issuer=Puhui" in uri
        secret = pyotp.parse_uri(uri).secret
        bad = client.post(
            "/api/v1/auth/second-factor/confirm", json={"code": "000000"}, headers=headers
        )
        assert bad.status_code == 401 or _code(secret, T0) == "000000"
        r = client.post(
            "/api/v1/auth/second-factor/confirm", json={"code": _code(secret, T0)}, headers=headers
        )
        assert r.status_code == 200, r.text
        codes = r.json()["recovery_codes"]
        assert len(codes) == 10 and len(set(codes)) == 10
        stored = session.scalars(select(RecoveryCode.code_digest)).all()
        assert not set(codes) & set(stored)  # only digests are kept
        again = client.post("/api/v1/auth/second-factor", headers=headers)
        assert again.status_code == 409

        assert _token(client, u.username, codes[0]).status_code == 200
        assert _token(client, u.username, codes[0]).status_code == 401  # used
        assert _token(client, u.username, codes[1].upper()).status_code == 200
        status = client.get("/api/v1/auth/second-factor", headers=headers).json()
        assert status == {"enrolled": True, "recovery_codes_left": 8}

    def test_step_up_marks_the_session_checked(self, client, session, clock):
        u = factories.user(session, Role.CUSTOMER_MANAGER)
        secret = factories.enrol_second_factor(session, u)
        r = _token(client, u.username, _code(secret, T0))
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        clock.now = T0 + timedelta(minutes=20)
        replay = client.post(
            "/api/v1/auth/second-factor/verify", json={"code": _code(secret, T0)}, headers=headers
        )
        assert replay.status_code == 401
        ok = client.post(
            "/api/v1/auth/second-factor/verify",
            json={"code": _code(secret, clock.now)},
            headers=headers,
        )
        assert ok.status_code == 204
        checked = session.scalar(select(func.max(AuthSession.second_factor_at)))
        assert checked is not None


class TestWebLogin:
    def _login(self, client, username):
        page = client.get("/login")
        return client.post(
            "/login",
            data={
                "username": username,
                "password": factories.PASSWORD,
                "next": "/",
                "csrf_token": csrf_from(page.text),
            },
            follow_redirects=False,
        )

    def test_the_second_step_asks_for_the_code(self, client, session, clock):
        u = factories.user(session, Role.CUSTOMER_MANAGER)
        secret = factories.enrol_second_factor(session, u)
        r = self._login(client, u.username)
        assert r.status_code == 303 and r.headers["location"].startswith("/login/second-factor")
        assert client.get("/", follow_redirects=False).status_code in (302, 303)  # pending
        page = client.get("/login/second-factor")
        assert page.status_code == 200
        wrong = client.post(
            "/login/second-factor",
            data={"code": "999999", "next": "/", "csrf_token": csrf_from(page.text)},
            follow_redirects=False,
        )
        assert wrong.status_code == 401 or _code(secret, T0) == "999999"
        ok = client.post(
            "/login/second-factor",
            data={"code": _code(secret, T0), "next": "/", "csrf_token": csrf_from(page.text)},
            follow_redirects=False,
        )
        assert ok.status_code == 303
        assert client.get("/account").status_code == 200

    def test_an_admin_past_the_grace_period_must_enrol_before_anything_else(
        self, client, session, clock
    ):
        admin = factories.user(session, Role.INSTITUTION_ADMIN)
        admin.created_at = utcnow() - timedelta(days=30)
        session.flush()
        r = self._login(client, admin.username)
        assert r.status_code == 303 and r.headers["location"].startswith("/login/enrol")
        assert client.get("/admin/users", follow_redirects=False).status_code in (302, 303)
        page = client.get("/login/enrol")
        assert page.status_code == 200 and "otpauth://totp/" in page.text and "<svg" in page.text
        factor = second_factor.repository.second_factor(session, admin.id)
        done = client.post(
            "/login/enrol",
            data={
                "code": _code(factor.secret, T0),
                "next": "/",
                "csrf_token": csrf_from(page.text),
            },
        )
        assert done.status_code == 200 and done.text.count("-") >= 20  # the recovery codes
        assert client.get("/admin/users").status_code == 200


class TestAccountPage:
    """A user who is not forced to enrol sets up an authenticator from "My account", renews
    the recovery codes with a current code, and an administrator resets a lost one."""

    def test_voluntary_enrolment_then_new_recovery_codes(self, client, session, clock):
        u = factories.user(session, Role.CUSTOMER_MANAGER)
        csrf = factories.web_login(client, u.username)
        account = client.get("/account")
        assert account.status_code == 200 and 'href="/account/second-factor"' in account.text
        page = client.get("/account/second-factor")
        assert page.status_code == 200 and "<svg" in page.text
        assert 'action="/account/second-factor"' in page.text
        secret = second_factor.repository.second_factor(session, u.id).secret
        wrong = "000000" if _code(secret, T0) != "000000" else "111111"
        bad = client.post("/account/second-factor", data={"code": wrong, "csrf_token": csrf})
        assert bad.status_code == 422
        assert not second_factor.confirmed(session, u.id)
        done = client.post(
            "/account/second-factor", data={"code": _code(secret, T0), "csrf_token": csrf}
        )
        assert done.status_code == 200
        first = set(re.findall(r"<code>([0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4})</code>", done.text))
        assert len(first) == 10 and second_factor.confirmed(session, u.id)
        # enrolled: the page goes back to the account, which offers new recovery codes
        assert client.get("/account/second-factor", follow_redirects=False).status_code == 303
        assert "/account/recovery-codes" in client.get("/account").text

        # a recovery code cannot mint new ones; a wrong TOTP code neither
        for code in (next(iter(first)), wrong):
            refused = client.post(
                "/account/recovery-codes", data={"code": code, "csrf_token": csrf}
            )
            assert refused.status_code == 422
        clock.now = T0 + timedelta(seconds=30)
        renewed = client.post(
            "/account/recovery-codes", data={"code": _code(secret, clock.now), "csrf_token": csrf}
        )
        assert renewed.status_code == 200
        second = set(
            re.findall(r"<code>([0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4})</code>", renewed.text)
        )
        assert len(second) == 10 and not first & second
        assert second_factor.remaining_recovery_codes(session, u.id) == 10
        assert _token(client, u.username, next(iter(first))).status_code == 401  # old: gone
        assert _token(client, u.username, next(iter(second))).status_code == 200

    def test_an_admin_resets_a_users_lost_authenticator(self, client, session, clock):
        bank = factories.institution(session, InstitutionKind.BANK)
        admin = factories.user(session, Role.INSTITUTION_ADMIN, bank)
        factories.enrol_second_factor(session, admin)
        u = factories.user(session, Role.RISK_MANAGER, bank)
        factories.enrol_second_factor(session, u)
        other_inst = factories.user(session, Role.RISK_MANAGER)
        factories.enrol_second_factor(session, other_inst)
        assert _token(client, u.username).status_code == 401  # needs the code
        admin_secret = second_factor.repository.second_factor(session, admin.id).secret
        csrf = factories.web_login(client, admin.username, otp=_code(admin_secret, T0))
        detail = client.get(f"/admin/users/{u.id}")
        assert f"/admin/users/{u.id}/second-factor/reset" in detail.text
        # another institution's user: not found, nothing removed
        foreign = client.post(
            f"/admin/users/{other_inst.id}/second-factor/reset", data={"csrf_token": csrf}
        )
        assert foreign.status_code == 404
        assert second_factor.confirmed(session, other_inst.id)
        r = client.post(
            f"/admin/users/{u.id}/second-factor/reset",
            data={"csrf_token": csrf},
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert not second_factor.confirmed(session, u.id)
        assert second_factor.remaining_recovery_codes(session, u.id) == 0
        assert _token(client, u.username).status_code == 200  # password alone again
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "second_factor.reset")
        ).all()
        assert [(e.target_id, e.username, e.details["removed"]) for e in events] == [
            (str(u.id), admin.username, True)
        ]
        # nobody resets their own (that is what recovery codes are for)
        own = client.post(f"/admin/users/{admin.id}/second-factor/reset", data={"csrf_token": csrf})
        assert own.status_code == 403
        assert second_factor.confirmed(session, admin.id)


def test_in_session_checks_are_limited_and_failures_are_kept(client, session, clock):
    """A stolen session cannot walk the code space: after ten checks in 15 minutes even the
    right code is refused with 429, and every failed check is an audit record."""
    u = factories.user(session, Role.CUSTOMER_MANAGER)
    secret = factories.enrol_second_factor(session, u)
    r = _token(client, u.username, _code(secret, T0))
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    clock.now = T0 + timedelta(minutes=5)
    right = _code(secret, clock.now)
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(second_factor.CHECK_LIMIT.count):
        bad = client.post(
            "/api/v1/auth/second-factor/verify", json={"code": wrong}, headers=headers
        )
        assert bad.status_code == 401
    limited = client.post(
        "/api/v1/auth/second-factor/verify", json={"code": right}, headers=headers
    )
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    failed = session.scalar(
        select(func.count()).where(
            AuditEvent.action == "second_factor.verify",
            AuditEvent.outcome == "failed",
            AuditEvent.username == u.username,
        )
    )
    assert failed == second_factor.CHECK_LIMIT.count
