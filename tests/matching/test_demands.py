"""Demands end to end over the API: raising from each channel, the pool, claims (the
3-bank cap, one per institution), progress, the authorization a claim brings, and bad
input that writes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from puhui.consent.models import Consent
from puhui.core.orm import utcnow
from puhui.matching.models import ClaimEvent, Demand, FinancingEvent
from tests.matching.conftest import (
    DEMAND,
    add_banks,
    claim,
    count,
    messages_to,
    raise_demand,
    step,
)


class TestRaising:
    def test_an_enterprise_raises_a_demand_and_is_told(self, market):
        d = raise_demand(market)
        assert d["channel"] == "registered"
        assert d["status"] == "open" and d["slots_left"] == 3
        assert d["amount"] == "500000.00" and d["contact_mobile"] == "13700000001"
        assert d["health_grade"] in {"A", "B", "C", "D", "E"}  # the city's score job ran
        sent = messages_to(market, market.users["ent_a"].id)
        assert {m.channel for m in sent} >= {"inbox", "sms"}
        assert any(str(d["id"]) in m.body for m in sent)

    def test_a_featured_product_goes_to_its_bank_only(self, market):
        d = raise_demand(market, product_id=market.product["id"])
        assert d["channel"] == "product"
        assert d["target_institution_name"] == "甲银行"
        pool_b = market.client.get("/api/v1/demands/pool", headers=market.h("cm_b")).json()
        assert d["id"] not in [x["id"] for x in pool_b["items"]]
        assert claim(market, d["id"], "cm_b").status_code == 404
        assert claim(market, d["id"], "cm_a").status_code == 201

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"amount": "0"}, "amount"),
            ({"amount": "-5"}, "amount"),
            ({"amount": "1.234"}, "amount"),
            ({"term_months": 0}, "term_months"),
            ({"product_id": 999999}, "product_id"),
            ({"event_id": 999999}, "event_id"),
            ({"loan_code": "nosuchcode"}, "loan_code"),
            ({"contact_mobile": "12345"}, "contact_mobile"),
            ({"guarantee_type": "gold"}, "guarantee_type"),
        ],
    )
    def test_bad_input_is_a_clear_422_and_writes_nothing(self, market, body, field):
        before = count(market, Demand)
        r = market.client.post(
            "/api/v1/demands", json={**DEMAND, **body}, headers=market.h("ent_a")
        )
        assert r.status_code == 422, r.text
        fields = [d["field"] for d in r.json()["error"]["details"]]
        assert field in fields
        assert count(market, Demand) == before

    def test_amount_outside_the_product_says_its_range(self, market):
        r = market.client.post(
            "/api/v1/demands",
            json={**DEMAND, "amount": "50000000", "product_id": market.product["id"]},
            headers=market.h("ent_a"),
        )
        assert r.status_code == 422
        (detail,) = r.json()["error"]["details"]
        assert detail["field"] == "amount"
        assert "100000.00" in detail["message"] and "3000000.00" in detail["message"]

    def test_an_expired_event_is_refused(self, market):
        with market.factory.begin() as s:
            ev = FinancingEvent(
                name="春季专场",
                starts_at=utcnow() - timedelta(days=10),
                ends_at=utcnow() - timedelta(days=1),
                product_ids=[],
            )
            s.add(ev)
            s.flush()
            event_id = ev.id
        r = market.client.post(
            "/api/v1/demands", json={**DEMAND, "event_id": event_id}, headers=market.h("ent_a")
        )
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"] == "event_id"
        assert "春季专场" in r.json()["error"]["details"][0]["message"]

    def test_a_bank_cannot_raise_and_an_enterprise_cannot_claim(self, market):
        r = market.client.post("/api/v1/demands", json=DEMAND, headers=market.h("cm_a"))
        assert r.status_code == 403
        d = raise_demand(market)
        assert claim(market, d["id"], "ent_a").status_code == 403


class TestEvents:
    def test_event_demands_are_seen_only_by_participants(self, market):
        now = utcnow()
        r = market.client.post(
            "/api/v1/events",
            json={
                "name": "小微企业融资专场",
                "starts_at": (now - timedelta(hours=1)).isoformat(),
                "ends_at": (now + timedelta(days=2)).isoformat(),
                "institution_ids": [market.banks["a"]],
                "product_ids": [market.product["id"]],
            },
            headers=market.h("operator"),
        )
        assert r.status_code == 201, r.text
        event = r.json()
        assert event["state"] == "live"
        d = raise_demand(market, event_id=event["id"])
        assert d["channel"] == "event" and d["event_name"] == "小微企业融资专场"
        pool_a = market.client.get("/api/v1/demands/pool", headers=market.h("cm_a")).json()
        pool_b = market.client.get("/api/v1/demands/pool", headers=market.h("cm_b")).json()
        assert d["id"] in [x["id"] for x in pool_a["items"]]
        assert d["id"] not in [x["id"] for x in pool_b["items"]]
        assert claim(market, d["id"], "cm_b").status_code == 404

    def test_an_event_must_end_after_it_starts(self, market):
        now = utcnow()
        r = market.client.post(
            "/api/v1/events",
            json={
                "name": "错误专场",
                "starts_at": now.isoformat(),
                "ends_at": (now - timedelta(hours=1)).isoformat(),
                "institution_ids": [market.banks["a"]],
            },
            headers=market.h("operator"),
        )
        assert r.status_code == 422


class TestPoolAndClaims:
    def test_the_pool_masks_contacts_until_claimed(self, market):
        d = raise_demand(market)
        pool = market.client.get("/api/v1/demands/pool", headers=market.h("cm_a")).json()
        item = next(x for x in pool["items"] if x["id"] == d["id"])
        assert item["contact_mobile"] == "137****0001" and item["contact_masked"]
        assert item["contact_name"] == "张*"
        r = claim(market, d["id"], "cm_a")
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "claimed"
        seen = market.client.get(f"/api/v1/demands/{d['id']}", headers=market.h("cm_a")).json()
        assert seen["contact_mobile"] == "13700000001" and not seen["contact_masked"]
        other = market.client.get(f"/api/v1/demands/{d['id']}", headers=market.h("cm_b")).json()
        assert other["contact_masked"] and other["claims"] == []  # bank B sees no rival

    def test_the_pool_filters(self, market):
        small = raise_demand(market, amount="80000")
        big = raise_demand(market, amount="2000000", guarantee_type="mortgage")
        h = market.h("cm_a")

        def ids(query: str) -> list[int]:
            page = market.client.get(f"/api/v1/demands/pool?{query}", headers=h).json()
            return [x["id"] for x in page["items"]]

        assert small["id"] in ids("amount_max=100000") and big["id"] not in ids("amount_max=100000")
        assert ids("guarantee_type=mortgage") == [big["id"]]
        grade = small["health_grade"]
        assert small["id"] in ids(f"grade={grade}")
        assert market.client.get("/api/v1/demands/pool?district=12", headers=h).status_code == 422

    def test_at_most_three_banks_and_one_claim_each(self, market):
        d = raise_demand(market)
        results = [claim(market, d["id"], who) for who in ("cm_a", "cm_b", "cm_3")]
        assert [r.status_code for r in results] == [201, 201, 201]
        fourth = claim(market, d["id"], "cm_4")
        assert fourth.status_code == 409
        assert fourth.json()["error"]["code"] == "claims_full"
        assert "3" in fourth.json()["error"]["message"] or "三" in fourth.json()["error"]["message"]
        again = claim(market, d["id"], "cm_a")
        assert again.status_code == 409 and again.json()["error"]["code"] == "already_claimed"
        pool = market.client.get("/api/v1/demands/pool", headers=market.h("cm_4")).json()
        assert d["id"] not in [x["id"] for x in pool["items"]]
        seen = market.client.get(f"/api/v1/demands/{d['id']}", headers=market.h("ent_a")).json()
        assert sorted(c["institution_name"] for c in seen["claims"]) == sorted(
            ["甲银行", "乙银行", "第3银行"]
        )

    def test_a_claim_brings_a_query_authorization_that_ends_with_it(self, market):
        d = raise_demand(market)
        profile = f"/api/v1/entities/{market.a}/profile"
        assert market.client.get(profile, headers=market.h("cm_b")).status_code == 403
        c = claim(market, d["id"], "cm_b").json()
        assert market.client.get(profile, headers=market.h("cm_b")).status_code == 200
        r = step(market, d["id"], c["id"], "cm_b", "released", reason="客户不在我行服务范围")
        assert r.status_code == 201, r.text
        assert market.client.get(profile, headers=market.h("cm_b")).status_code == 403
        with market.factory() as s:
            consents = s.scalars(
                select(Consent).where(Consent.institution_id == market.banks["b"])
            ).all()
            assert [c.status for c in consents] == ["revoked"]
            assert consents[0].purposes == ["query"]


class TestProgress:
    def test_a_claim_goes_all_the_way_to_a_granted_loan(self, market):
        d = raise_demand(market)
        a = claim(market, d["id"], "cm_a").json()
        b = claim(market, d["id"], "cm_b").json()
        for to in ("contacted", "under_review"):
            assert step(market, d["id"], a["id"], "cm_a", to).status_code == 201
        missing = step(market, d["id"], a["id"], "cm_a", "approved")
        assert missing.status_code == 422
        assert missing.json()["error"]["details"][0]["field"] == "amount"
        ok = step(market, d["id"], a["id"], "cm_a", "approved", amount="450000", rate="3.85")
        assert ok.status_code == 201 and ok.json()["rate"] == "3.85"
        granted = step(market, d["id"], a["id"], "rm_a", "granted")  # terms carried over
        assert granted.status_code == 201, granted.text
        assert granted.json()["amount"] == "450000.00"
        seen = market.client.get(f"/api/v1/demands/{d['id']}", headers=market.h("ent_a")).json()
        assert seen["status"] == "granted" and seen["closed_at"]
        other = next(c for c in seen["claims"] if c["id"] == b["id"])
        assert other["status"] == "cancelled"
        steps = [
            (e["from_status"], e["to_status"]) for e in seen["timeline"] if e["claim_id"] == a["id"]
        ]
        assert steps == [
            (None, "claimed"),
            ("claimed", "contacted"),
            ("contacted", "under_review"),
            ("under_review", "approved"),
            ("approved", "granted"),
        ]
        assert claim(market, d["id"], "cm_3").status_code in (404, 409)  # closed
        bank_side = messages_to(market, market.users["cm_a"].id)
        assert len(bank_side) >= 5  # claimed + each step, both sides told

    def test_steps_out_of_order_and_by_the_wrong_side_are_refused(self, market):
        d = raise_demand(market)
        c = claim(market, d["id"], "cm_a").json()
        skip = step(market, d["id"], c["id"], "cm_a", "granted", amount="1", rate="4")
        assert skip.status_code == 409 and skip.json()["error"]["code"] == "claim_step"
        assert step(market, d["id"], c["id"], "ent_a", "contacted").status_code == 409
        assert step(market, d["id"], c["id"], "cm_b", "contacted").status_code == 404
        no_reason = step(market, d["id"], c["id"], "cm_a", "declined")
        assert no_reason.status_code == 422
        assert count(market, ClaimEvent, ClaimEvent.claim_id == c["id"]) == 1

    def test_a_released_demand_returns_to_the_pool(self, market):
        d = raise_demand(market)
        c = claim(market, d["id"], "cm_a").json()
        assert (
            step(market, d["id"], c["id"], "cm_a", "released", reason="额度已满").status_code == 201
        )
        seen = market.client.get(f"/api/v1/demands/{d['id']}", headers=market.h("ent_a")).json()
        assert seen["status"] == "open" and seen["slots_left"] == 3
        pool_b = market.client.get("/api/v1/demands/pool", headers=market.h("cm_b")).json()
        assert d["id"] in [x["id"] for x in pool_b["items"]]
        assert claim(market, d["id"], "cm_a").status_code == 409  # one claim per institution

    def test_three_declines_close_the_demand(self, market):
        d = raise_demand(market)
        for n, who in enumerate(("cm_a", "cm_b", "cm_3"), start=1):
            c = claim(market, d["id"], who).json()
            r = step(market, d["id"], c["id"], who, "declined", reason="经营数据不足")
            assert r.status_code == 201
            seen = market.client.get(f"/api/v1/demands/{d['id']}", headers=market.h("ent_a"))
            assert seen.json()["status"] == ("declined" if n == 3 else "open")
        assert claim(market, d["id"], "cm_4").status_code == 404  # no longer in any pool

    def test_the_enterprise_chooses_rates_and_cancels(self, market):
        d = raise_demand(market)
        a = claim(market, d["id"], "cm_a").json()
        b = claim(market, d["id"], "cm_b").json()
        h = market.h("ent_a")
        base = f"/api/v1/demands/{d['id']}/claims"
        early = market.client.post(f"{base}/{a['id']}/rating", json={"rating": 5}, headers=h)
        assert early.status_code == 409  # not contacted yet
        assert market.client.post(f"{base}/{a['id']}/choose", headers=h).status_code == 200
        seen = market.client.get(f"/api/v1/demands/{d['id']}", headers=h).json()
        states = {c["id"]: (c["status"], c["chosen"]) for c in seen["claims"]}
        assert states == {a["id"]: ("claimed", True), b["id"]: ("cancelled", False)}
        assert step(market, d["id"], a["id"], "cm_a", "contacted").status_code == 201
        r = market.client.post(
            f"{base}/{a['id']}/rating", json={"rating": 4, "comment": "及时"}, headers=h
        )
        assert r.status_code == 200 and r.json()["rating"] == 4
        bad = market.client.post(f"{base}/{a['id']}/rating", json={"rating": 6}, headers=h)
        assert bad.status_code == 422
        r = market.client.post(
            f"/api/v1/demands/{d['id']}/cancel", json={"reason": "已从别处借到"}, headers=h
        )
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        assert all(c["status"] == "cancelled" for c in r.json()["claims"])

    def test_another_enterprise_sees_nothing(self, market):
        d = raise_demand(market)
        r = market.client.get(f"/api/v1/demands/{d['id']}", headers=market.h("ent_b"))
        assert r.status_code == 404
        mine = market.client.get("/api/v1/demands", headers=market.h("ent_b")).json()
        assert mine["total"] == 0


class TestIdempotency:
    def test_a_replayed_post_creates_one_demand(self, market):
        before = count(market, Demand)
        h = {**market.h("ent_a"), "Idempotency-Key": "apply-1"}
        first = market.client.post("/api/v1/demands", json=DEMAND, headers=h)
        second = market.client.post("/api/v1/demands", json=DEMAND, headers=h)
        assert first.status_code == second.status_code == 201
        assert first.json()["id"] == second.json()["id"]
        assert count(market, Demand) == before + 1


def test_add_banks_gives_distinct_institutions(city):
    names = add_banks(city, 3)
    assert len({city.users[n].institution_id for n in names}) == 3
