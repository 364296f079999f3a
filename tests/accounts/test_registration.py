from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from puhui.accounts.models import OneTimeCode, User
from puhui.core.jobs import Job
from puhui.core.orm import utcnow
from puhui.notifications.models import Message
from tests import factories

MOBILE = "13912345678"


def _code(session, mobile=MOBILE) -> str:
    msg = session.scalars(
        select(Message).where(Message.sent_to(mobile)).order_by(Message.id.desc())
    ).first()
    return re.search(r"\d{6}", msg.body).group(0)


def _register(client, code, uscc=None, username="ent_user", mobile=MOBILE):
    return client.post(
        "/api/v1/auth/register",
        json={
            "uscc": uscc or factories.uscc(),
            "mobile": mobile,
            "code": code,
            "username": username,
            "password": factories.PASSWORD,
        },
    )


class TestRegistration:
    def test_code_goes_through_the_outbox_and_registration_binds_the_entity(self, client, session):
        r = client.post("/api/v1/auth/register/code", json={"mobile": MOBILE})
        assert r.status_code == 202
        msg = session.scalars(select(Message).where(Message.sent_to(MOBILE))).one()
        assert msg.status == "pending" and "验证码" in msg.body
        job = session.scalars(select(Job).where(Job.kind == "notifications.deliver")).all()[-1]
        assert job.payload == {"message_id": msg.id}
        code = _code(session)
        stored = session.scalars(select(OneTimeCode)).all()[-1]
        assert (
            code not in (stored.code_digest, stored.recipient_digest)
            and MOBILE not in stored.recipient_digest
        )
        uscc = factories.uscc()
        r = _register(client, code, uscc=" " + uscc.lower() + " ")
        assert r.status_code == 201, r.text
        assert r.json()["entity_uscc"] == uscc and r.json()["role"] == "enterprise"
        assert r.json()["mobile"] == "139****5678"
        factories.token(client, "ent_user")

    def test_a_second_code_within_a_minute_is_refused(self, client, session):
        assert client.post("/api/v1/auth/register/code", json={"mobile": MOBILE}).status_code == 202
        r = client.post("/api/v1/auth/register/code", json={"mobile": MOBILE})
        assert r.status_code == 429 and r.json()["error"]["code"] == "code_too_soon"

    def test_wrong_codes_burn_the_code_after_five_attempts(self, client, session):
        client.post("/api/v1/auth/register/code", json={"mobile": MOBILE})
        good = _code(session)
        bad = "000000" if good != "000000" else "111111"
        for _ in range(5):
            r = _register(client, bad)
            assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_code"
        assert _register(client, good).status_code == 422
        assert session.scalar(select(User).where(User.username == "ent_user")) is None

    def test_expired_code_is_refused(self, client, session):
        client.post("/api/v1/auth/register/code", json={"mobile": MOBILE})
        otp = session.scalars(select(OneTimeCode)).all()[-1]
        otp.expires_at = utcnow() - timedelta(seconds=1)
        session.flush()
        assert _register(client, _code(session)).status_code == 422

    def test_bad_uscc_is_explained_and_does_not_burn_the_code(self, client, session):
        client.post("/api/v1/auth/register/code", json={"mobile": MOBILE})
        code = _code(session)
        r = _register(client, code, uscc="91350100M000100Y44")
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"] == "uscc"
        assert "校验位" in r.json()["error"]["message"]
        assert _register(client, code).status_code == 201

    def test_one_account_per_entity(self, client, session):
        existing = factories.user(session, factories.Role.ENTERPRISE)
        client.post("/api/v1/auth/register/code", json={"mobile": MOBILE})
        r = _register(client, _code(session), uscc=existing.entity_uscc)
        assert r.status_code == 409

    def test_bad_mobile_number(self, client):
        r = client.post("/api/v1/auth/register/code", json={"mobile": "12345"})
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"] == "mobile"
