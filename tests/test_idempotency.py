from __future__ import annotations

from sqlalchemy import func, select

from puhui.accounts.models import Institution
from puhui.core.policy import Role
from tests import factories


def _count(session, name):
    return session.scalar(
        select(func.count()).select_from(Institution).where(Institution.name == name)
    )


class TestIdempotencyKey:
    def test_replay_returns_the_first_answer_and_creates_once(self, client, session):
        h = {
            **factories.token(client, factories.user(session, Role.OPERATOR).username),
            "Idempotency-Key": "abc-1",
        }
        body = {"name": "幂等银行", "kind": "bank"}
        first = client.post("/api/v1/institutions", json=body, headers=h)
        second = client.post("/api/v1/institutions", json=body, headers=h)
        assert first.status_code == second.status_code == 201
        assert first.json() == second.json()
        assert second.headers["idempotent-replayed"] == "true"
        assert _count(session, "幂等银行") == 1

    def test_same_key_with_another_body_is_a_422(self, client, session):
        h = {
            **factories.token(client, factories.user(session, Role.OPERATOR).username),
            "Idempotency-Key": "abc-2",
        }
        assert (
            client.post(
                "/api/v1/institutions", json={"name": "甲", "kind": "bank"}, headers=h
            ).status_code
            == 201
        )
        r = client.post("/api/v1/institutions", json={"name": "乙", "kind": "bank"}, headers=h)
        assert r.status_code == 422 and r.json()["error"]["code"] == "idempotency_key_reused"
        assert _count(session, "乙") == 0

    def test_keys_are_scoped_to_the_caller(self, client, session):
        a = factories.token(client, factories.user(session, Role.OPERATOR).username)
        b = factories.token(client, factories.user(session, Role.OPERATOR).username)
        r1 = client.post(
            "/api/v1/institutions",
            json={"name": "丙", "kind": "bank"},
            headers={**a, "Idempotency-Key": "k"},
        )
        r2 = client.post(
            "/api/v1/institutions",
            json={"name": "丁", "kind": "bank"},
            headers={**b, "Idempotency-Key": "k"},
        )
        assert r1.status_code == r2.status_code == 201
        assert "idempotent-replayed" not in r2.headers

    def test_a_raised_error_is_not_remembered(self, client, session):
        auth = factories.token(client, factories.user(session, Role.OPERATOR).username)
        existing = client.post(
            "/api/v1/institutions", json={"name": "戊", "kind": "bank"}, headers=auth
        ).json()
        h = {**auth, "Idempotency-Key": "abc-3"}
        assert (
            client.post(
                "/api/v1/institutions", json={"name": "戊", "kind": "bank"}, headers=h
            ).status_code
            == 409
        )
        client.patch(f"/api/v1/institutions/{existing['id']}", json={"name": "戊二"}, headers=auth)
        r = client.post("/api/v1/institutions", json={"name": "戊", "kind": "bank"}, headers=h)
        assert r.status_code == 201 and "idempotent-replayed" not in r.headers

    def test_overlong_key_is_refused(self, client, session):
        h = {
            **factories.token(client, factories.user(session, Role.OPERATOR).username),
            "Idempotency-Key": "x" * 101,
        }
        r = client.post("/api/v1/institutions", json={"name": "己", "kind": "bank"}, headers=h)
        assert r.status_code == 422 and _count(session, "己") == 0
