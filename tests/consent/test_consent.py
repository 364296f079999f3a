"""Authorizations gate every read: who may read what, for which purpose, until when;
every refusal leaves a denial record and every read a query record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from puhui.audit.models import AuditEvent
from puhui.consent.models import Consent, QueryRecord
from puhui.notifications.models import Message

ALL = ["basic", "property", "financial", "operating", "positive", "negative", "credit_evaluation"]


def _soon(days: int = 30) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def _grant(city, purposes=("query",), categories=ALL, bank="a", days=30):
    r = city.client.post(
        "/api/v1/consents",
        json={
            "institution_id": city.banks[bank],
            "purposes": list(purposes),
            "categories": list(categories),
            "expires_at": _soon(days),
        },
        headers=city.h("ent_a"),
    )
    assert r.status_code == 201, r.text
    return r.json()


def _count(city, model, *where) -> int:
    with city.factory() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def _denials(city) -> list[dict]:
    with city.factory() as s:
        return [
            e.details
            for e in s.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "permission.denied")
                .order_by(AuditEvent.id)
            )
        ]


def _profile(city, who: str, uscc: str | None = None, **params):
    return city.client.get(
        f"/api/v1/entities/{uscc or city.a}/profile", params=params, headers=city.h(who)
    )


class TestGrantAndRead:
    def test_a_live_authorization_lets_its_bank_read_and_every_read_is_recorded(self, city):
        consent = _grant(city)
        assert consent["state"] == "live" and consent["institution_name"] == "甲银行"
        before = _count(city, QueryRecord)
        for _ in range(3):
            r = _profile(city, "cm_a")
            assert r.status_code == 200, r.text
            assert r.json()["consent_id"] == consent["id"]
        assert _count(city, QueryRecord) == before + 3
        with city.factory() as s:
            records = s.scalars(select(QueryRecord).order_by(QueryRecord.id.desc()).limit(3)).all()
            for rec in records:
                event = s.get(AuditEvent, rec.audit_event_id)
                assert event is not None and event.action == "entity.profile"
                assert event.target_id == city.a
                assert rec.institution_id == city.banks["a"] and rec.purpose == "query"

    def test_the_enterprise_reads_its_own_data_without_an_authorization(self, city):
        r = _profile(city, "ent_a")
        assert r.status_code == 200
        assert r.json()["purpose"] == "self" and r.json()["withheld"] == []

    def test_a_request_reaches_the_enterprise_by_sms_and_approval_opens_the_data(self, city):
        r = city.client.post(
            "/api/v1/consents/requests",
            json={"uscc": city.a, "purposes": ["query"], "expires_at": _soon()},
            headers=city.h("cm_a"),
        )
        assert r.status_code == 201, r.text
        consent = r.json()
        assert consent["state"] == "requested"
        assert _count(city, Message, Message.sent_to("13700000001")) == 1
        assert _profile(city, "cm_a").json()["error"]["code"] == "consent_required"
        listed = city.client.get("/api/v1/consents?status=requested", headers=city.h("ent_a"))
        assert [c["id"] for c in listed.json()["items"]] == [consent["id"]]
        r = city.client.post(f"/api/v1/consents/{consent['id']}/approve", headers=city.h("ent_a"))
        assert r.status_code == 200 and r.json()["state"] == "live"
        assert _count(city, Message, Message.sent_to("13900000001")) == 1  # the requester
        assert _profile(city, "cm_a").status_code == 200
        again = city.client.post(
            f"/api/v1/consents/{consent['id']}/approve", headers=city.h("ent_a")
        )
        assert again.status_code == 409

    def test_a_bad_expiry_is_refused_with_the_field(self, city):
        r = city.client.post(
            "/api/v1/consents",
            json={
                "institution_id": city.banks["a"],
                "purposes": ["query"],
                "expires_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
            },
            headers=city.h("ent_a"),
        )
        assert r.status_code == 422
        detail = r.json()["error"]["details"][0]
        assert detail["field"].endswith("expires_at") and "将来" in detail["message"]


class TestRefusals:
    def assert_refused(self, city, who: str, reason: str, **params) -> None:
        before = len(_denials(city))
        r = _profile(city, who, **params)
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "consent_required"
        denials = _denials(city)
        assert len(denials) == before + 1
        assert denials[-1]["code"] == "consent_required" and denials[-1]["reason"] == reason

    def test_no_authorization(self, city):
        self.assert_refused(city, "cm_a", "none")

    def test_expired(self, city):
        with city.factory.begin() as s:
            s.add(
                Consent(
                    entity_id=_entity_id(s, city.a),
                    institution_id=city.banks["a"],
                    purposes=["query"],
                    categories=ALL,
                    starts_at=datetime.now(UTC) - timedelta(days=60),
                    expires_at=datetime.now(UTC) - timedelta(days=1),
                    status="granted",
                )
            )
        self.assert_refused(city, "cm_a", "expired")

    def test_revoked(self, city):
        consent = _grant(city)
        assert _profile(city, "cm_a").status_code == 200
        r = city.client.post(f"/api/v1/consents/{consent['id']}/revoke", headers=city.h("ent_a"))
        assert r.status_code == 200 and r.json()["state"] == "revoked"
        self.assert_refused(city, "cm_a", "revoked")

    def test_another_institutions_authorization(self, city):
        _grant(city, bank="a")
        self.assert_refused(city, "cm_b", "none")

    def test_wrong_purpose(self, city):
        _grant(city, purposes=["monitoring"])
        self.assert_refused(city, "cm_a", "wrong_purpose")

    def test_out_of_scope(self, city):
        _grant(city, categories=["basic", "operating"])
        assert _profile(city, "cm_a", categories="operating").status_code == 200
        self.assert_refused(city, "cm_a", "out_of_scope", categories="negative")
        # without naming categories the bank gets what is covered and sees what is withheld
        body = _profile(city, "cm_a").json()
        assert [b["category"] for b in body["categories"]] == ["basic", "operating"]
        assert "negative" in body["withheld"] and body["negative_records"] == []

    def test_another_enterprise(self, city):
        self.assert_refused(city, "ent_b", "not_own")

    def test_roles_without_profile_access_are_refused(self, city):
        for who in ("regulator", "operator", "admin_a"):
            assert _profile(city, who).status_code == 403


class TestCodes:
    def test_unknown_uscc_is_not_found(self, city):
        from puhui.entities import service as entities

        unknown = entities.make("91330203MA9999999")
        assert _profile(city, "cm_a", uscc=unknown).status_code == 404

    @pytest.mark.parametrize("bad", ["123", "91330203MA2XXXXXXX", "I1330203MA28FG8X0A"])
    def test_malformed_uscc_is_422_with_the_reason(self, city, bad):
        r = _profile(city, "cm_a", uscc=bad)
        assert r.status_code == 422
        detail = r.json()["error"]["details"][0]
        assert detail["field"] == "uscc" and detail["message"]


class TestQueryRecords:
    def test_an_enterprise_sees_who_looked_at_it_and_never_another_enterprises(self, city):
        _grant(city)
        assert _profile(city, "cm_a").status_code == 200
        mine = city.client.get("/api/v1/me/query-records", headers=city.h("ent_a")).json()
        assert mine["total"] == 1
        assert mine["items"][0]["institution_name"] == "甲银行"
        assert mine["items"][0]["purpose"] == "query"
        theirs = city.client.get("/api/v1/me/query-records", headers=city.h("ent_b")).json()
        assert theirs["total"] == 0  # B sees nothing of A's
        # and B reads only A's public facts
        assert (
            city.client.get(f"/api/v1/entities/{city.a}", headers=city.h("ent_b")).status_code
            == 200
        )
        assert _profile(city, "ent_b").status_code == 403

    def test_the_regulator_counts_reads_by_institution_and_purpose(self, city):
        _grant(city)
        for _ in range(2):
            _profile(city, "cm_a")
        city.client.get(f"/api/v1/entities/{city.a}/report", headers=city.h("rm_a"))
        counts = city.client.get(
            "/api/v1/query-records/summary", headers=city.h("regulator")
        ).json()
        bank = [c for c in counts if c["institution_id"] == city.banks["a"]]
        assert bank == [
            {
                "institution_id": city.banks["a"],
                "institution_name": "甲银行",
                "purpose": "query",
                "count": 3,
            }
        ]
        assert (
            city.client.get("/api/v1/query-records/summary", headers=city.h("cm_a")).status_code
            == 403
        )

    def test_consents_of_another_institution_are_not_found(self, city):
        consent = _grant(city, bank="a")
        r = city.client.get(f"/api/v1/consents/{consent['id']}", headers=city.h("cm_b"))
        assert r.status_code == 404
        assert (
            city.client.get(
                f"/api/v1/consents/{consent['id']}", headers=city.h("admin_a")
            ).status_code
            == 200
        )


def _entity_id(session, uscc: str) -> int:
    from puhui.entities import service as entities

    return entities.ids_for(session, [uscc])[uscc]


def test_an_enterprise_the_registry_does_not_list_yet_sees_empty_pages(client, session):
    from puhui.core.policy import Role
    from tests import factories

    user = factories.user(session, Role.ENTERPRISE)
    h = factories.token(client, user.username)
    assert client.get("/api/v1/consents", headers=h).json()["total"] == 0
    assert client.get("/api/v1/me/query-records", headers=h).json()["total"] == 0
    factories.web_login(client, user.username)
    assert client.get("/consents").status_code == 200
    page = client.get("/me/data")
    assert page.status_code == 200 and user.entity_uscc in page.text


def test_the_demo_binds_its_enterprise_to_the_city_and_authorizes_the_demo_bank(session):
    from puhui import demo
    from puhui.accounts.models import User
    from puhui.entities import service as entities
    from tests.entities.factories import record

    entities.upsert(session, [record(f"演示企业{i}") for i in range(3)])
    demo.create(session)
    demo.link_city(session)
    demo.link_city(session)  # a second run adds nothing
    first = entities.first_entities(session, 1)[0]
    user = session.scalars(select(User).where(User.username == "enterprise")).one()
    assert user.entity_uscc == first
    consents = session.scalars(select(Consent).where(Consent.note == "演示授权")).all()
    assert len(consents) >= 3 and all(c.status == "granted" for c in consents)
    assert all(c.purposes == ["monitoring", "query"] for c in consents)
