"""Instant loans end to end on the small city: policies checked like filters, decisions
that approve, refer or decline with reasons, the decision authorization they carry, the
query record they leave, and who sees them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from puhui.acquisition import service as acquisition
from puhui.consent.models import Consent, QueryRecord
from puhui.instant import service
from puhui.instant.models import DecisionPolicy, InstantDecision
from puhui.instant.schemas import NO_SCORE, SCORE_LOW, SCORE_REFER

API = "/api/v1/instant"
PRODUCT = {
    "name": "甬城秒贷",
    "amount_min": "10000",
    "amount_max": "500000",
    "term_min_months": 3,
    "term_max_months": 12,
    "rate_min": "3.2",
    "rate_max": "6.5",
    "guarantee_types": ["credit"],
    "online_only": True,
}
APPLY = {"amount": "200000", "term_months": 12, "authorize": True}


@pytest.fixture
def shop(city):
    r = city.client.post("/api/v1/products", json=PRODUCT, headers=city.h("admin_a"))
    assert r.status_code == 201, r.text
    city.product = r.json()["id"]
    with city.factory() as s:
        from puhui.entities import service as entities

        ids = entities.ids_for(s, [city.a, city.b])
        city.scores = {
            code: acquisition.entity_facts(s, ids[code], ["CRE_HEALTH_SCORE"]).values[
                "CRE_HEALTH_SCORE"
            ]
            for code in (city.a, city.b)
        }
    assert city.scores[city.a] is not None
    return city


def _policy(city, who: str = "admin_a", **over: Any) -> Any:
    score = city.scores[city.a]
    body = {
        "product_id": city.product,
        "rules": [],
        "score_source": "health",
        "approve_min": score - 10,
        "refer_min": score - 20,
        "bands": [
            {"min_score": score - 10, "limit": "100000", "rate": "4.35"},
            {"min_score": score + 50, "limit": "500000", "rate": "3.45"},
        ],
        **over,
    }
    return city.client.post(f"{API}/policies", json=body, headers=city.h(who))


def _apply(city, who: str = "ent_a", **over: Any) -> Any:
    return city.client.post(
        f"{API}/products/{city.product}/decisions", json={**APPLY, **over}, headers=city.h(who)
    )


class TestPolicies:
    def test_a_policy_is_checked_like_a_filter(self, shop):
        score = shop.scores[shop.a]
        r = _policy(shop, refer_min=score, approve_min=score - 1)
        assert r.status_code == 422
        r = _policy(shop, bands=[{"min_score": score + 1, "limit": "1000", "rate": "4"}])
        assert r.status_code == 422
        rule = {
            "reason": "R_ID",
            "label": "x",
            "when": {"indicator": "BAS_LEGAL_REP_ID", "op": "not_null"},
        }
        r = _policy(shop, rules=[rule])
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"].startswith("rules.0.when")
        r = _policy(shop, score_source="model")
        assert r.status_code == 422
        r = _policy(shop, product_id=999_999)
        assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "product_id"

    def test_only_the_institutions_admins_and_risk_managers_write_policies(self, shop):
        assert _policy(shop, who="cm_a").status_code == 403
        assert _policy(shop, who="ent_a").status_code == 403
        other = shop.client.post("/api/v1/products", json=PRODUCT, headers=shop.h("admin_a"))
        r = _policy(shop, who="rm_a", product_id=other.json()["id"])
        assert r.status_code == 201
        # bank B's staff cannot give bank A's product a policy
        from puhui.accounts.models import Institution
        from puhui.core.policy import Role
        from tests import factories

        with shop.factory.begin() as s:
            bank_b = s.get(Institution, shop.banks["b"])
            admin_b = factories.user(s, Role.INSTITUTION_ADMIN, bank_b)
            shop.users["admin_b"] = admin_b
        r = _policy(shop, who="admin_b")
        assert r.status_code == 422

    def test_a_new_version_replaces_the_active_one(self, shop):
        assert _policy(shop).json()["version"] == 1
        assert _policy(shop).json()["version"] == 2
        listed = shop.client.get(f"{API}/policies", headers=shop.h("cm_a")).json()
        assert [(p["version"], p["is_active"]) for p in listed] == [(2, True), (1, False)]


class TestDecisions:
    def test_approval_with_limit_rate_authorization_and_query_record(self, shop):
        assert _policy(shop).status_code == 201
        r = _apply(shop)
        assert r.status_code == 201, r.text
        d = r.json()
        assert d["outcome"] == "approve" and Decimal(d["limit"]) == Decimal("100000")
        assert Decimal(d["rate"]) == Decimal("4.35") and d["score"] == pytest.approx(
            shop.scores[shop.a]
        )
        assert "LIMIT_BELOW_REQUEST" in d["reasons"]  # asked 200 000, band gives 100 000
        assert d["facts"]["CRE_HEALTH_SCORE"] == pytest.approx(shop.scores[shop.a])
        with shop.factory() as s:
            consent = s.scalars(
                select(Consent).where(Consent.institution_id == shop.banks["a"])
            ).one()
            assert consent.purposes == ["decision"]
            record = s.scalars(select(QueryRecord).where(QueryRecord.kind == "decision")).one()
            assert (
                record.institution_id == shop.banks["a"] and record.details["decision"] == d["id"]
            )
        # a second application reuses the live authorization
        assert _apply(shop, amount="50000").json()["limit"] == "50000.00"
        with shop.factory() as s:
            assert len(s.scalars(select(Consent)).all()) == 1

    def test_rules_decline_or_refer_with_their_codes(self, shop):
        rules = [
            {
                "reason": "R_PENALTY",
                "label": "三年内有行政处罚",
                "action": "decline",
                "when": {"indicator": "NEG_ADMIN_PENALTIES_36M", "op": "ge", "value": 1},
            },
            {
                "reason": "R_NEVER",
                "label": "never",
                "action": "decline",
                "when": {"indicator": "OPR_TAX_TOTAL_YOY", "op": "lt", "value": -5},
            },
        ]
        assert _policy(shop, rules=rules).status_code == 201
        d = _apply(shop).json()
        assert d["outcome"] == "decline" and d["reasons"] == ["R_PENALTY"]
        assert [(h["reason"], h["fired"]) for h in d["rules"]] == [
            ("R_PENALTY", True),
            ("R_NEVER", False),
        ]
        assert d["reason_texts"] == ["三年内有行政处罚"]
        rules[0]["action"] = "refer"
        assert _policy(shop, rules=rules).status_code == 201
        d = _apply(shop).json()
        assert d["outcome"] == "refer" and d["reasons"] == ["R_PENALTY"]

    def test_cut_offs_refer_and_decline(self, shop):
        score = shop.scores[shop.a]
        band = [{"min_score": score + 5, "limit": "100000", "rate": "4"}]
        assert (
            _policy(shop, approve_min=score + 5, refer_min=score - 5, bands=band).status_code == 201
        )
        d = _apply(shop).json()
        assert d["outcome"] == "refer" and SCORE_REFER in d["reasons"] and d["limit"] is None
        assert (
            _policy(shop, approve_min=score + 10, refer_min=score + 5, bands=band).status_code
            == 201
        )
        d = _apply(shop).json()
        assert d["outcome"] == "decline" and d["reasons"][0] == SCORE_LOW

    def test_no_authorization_no_decision(self, shop):
        _policy(shop)
        r = _apply(shop, authorize=False)
        assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "authorize"
        r = _apply(shop, amount="900000")
        assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "amount"
        with shop.factory() as s:
            assert s.scalars(select(InstantDecision)).all() == []
            assert s.scalars(select(Consent)).all() == []

    def test_a_product_without_policy_does_not_decide(self, shop):
        assert _apply(shop).status_code == 404

    def test_who_sees_which_decision(self, shop):
        _policy(shop)
        d = _apply(shop).json()
        url = f"{API}/decisions/{d['id']}"
        for who, status in (
            ("ent_a", 200),
            ("cm_a", 200),
            ("rm_a", 200),
            ("regulator", 200),
            ("ent_b", 404),
            ("cm_b", 404),
        ):
            assert shop.client.get(url, headers=shop.h(who)).status_code == status, who
        bank = shop.client.get(f"{API}/decisions?outcome=approve", headers=shop.h("cm_a")).json()
        assert [x["id"] for x in bank["items"]] == [d["id"]]
        assert shop.client.get(f"{API}/decisions", headers=shop.h("cm_b")).json()["items"] == []
        assert shop.client.get(f"{API}/decisions", headers=shop.h("operator")).status_code == 403


class TestPages:
    def test_apply_on_the_page_and_read_the_answer(self, shop):
        from tests import factories
        from tests.conftest import csrf_from

        _policy(shop)
        shop.client.cookies.clear()
        factories.web_login(shop.client, shop.users["ent_a"].username)
        home = shop.client.get("/instant")
        assert home.status_code == 200 and "甬城秒贷" in home.text
        page = shop.client.get(f"/instant/products/{shop.product}")
        token = csrf_from(page.text)
        form = {"csrf_token": token, "amount": "80000", "term_months": "6"}
        r = shop.client.post(f"/instant/products/{shop.product}", data=form)
        assert r.status_code == 422 and "field-error" in r.text  # no authorization ticked
        r = shop.client.post(
            f"/instant/products/{shop.product}",
            data={**form, "authorize": "1"},
            follow_redirects=True,
        )
        assert r.status_code == 200 and "80000" in r.text and "CRE_HEALTH_SCORE" in r.text

    def test_policies_page_takes_json_and_shows_errors(self, shop):
        from tests import factories
        from tests.conftest import csrf_from

        shop.client.cookies.clear()
        factories.web_login(shop.client, shop.users["admin_a"].username)
        page = shop.client.get("/instant/policies")
        assert page.status_code == 200 and "R_ABNORMAL" in page.text
        token = csrf_from(page.text)
        r = shop.client.post("/instant/policies", data={"csrf_token": token, "policy": "{"})
        assert r.status_code == 422 and "JSON" in r.text
        import json

        body = {
            "product_id": shop.product,
            "approve_min": 10,
            "refer_min": 5,
            "bands": [{"min_score": 10, "limit": "1000", "rate": "4"}],
        }
        r = shop.client.post(
            "/instant/policies",
            data={"csrf_token": token, "policy": json.dumps(body)},
            follow_redirects=True,
        )
        assert r.status_code == 200 and "甬城秒贷" in r.text
        with shop.factory() as s:
            assert s.scalars(select(DecisionPolicy)).one().version == 1


@given(
    fired=st.lists(st.tuples(st.sampled_from(["decline", "refer"]), st.integers(0, 9)), max_size=4),
    score=st.none() | st.floats(-50, 150, allow_nan=False),
    cut=st.tuples(st.floats(0, 100, allow_nan=False), st.floats(0, 100, allow_nan=False)),
)
def test_the_outcome_rules_hold_for_any_input(fired, score, cut) -> None:
    refer_min, approve_min = sorted(cut)
    policy = DecisionPolicy(approve_min=approve_min, refer_min=refer_min)
    hits = [{"reason": f"R{i}_{n}", "action": a} for i, (a, n) in enumerate(fired)]
    outcome, reasons = service._outcome(policy, hits, score, ["F1", "F2"])
    declines = [h["reason"] for h in hits if h["action"] == "decline"]
    if declines:
        assert outcome == "decline" and reasons == declines
    elif score is None:
        assert outcome == "refer" and reasons[-1] == NO_SCORE
    elif score < refer_min:
        assert outcome == "decline" and reasons[0] == SCORE_LOW
    elif score < approve_min or hits:
        assert outcome == "refer" and reasons
    else:
        assert outcome == "approve" and reasons == []
    assert outcome != "approve" or (score is not None and score >= approve_min and not hits)


CARD = {
    "base_points": 600,
    "features": [
        {
            "indicator": "OPR_TAX_TOTAL_YOY",
            "kind": "numeric",
            "bins": [
                {"lo": None, "hi": 0, "points": -40, "reason": "TAX_DOWN"},
                {"lo": 0, "hi": None, "points": 30},
            ],
            "missing": {"points": -60, "reason": "NO_TAX"},
        }
    ],
    "cutoffs": [{"label": "approve", "min_score": 620}],
    "reasons": {"TAX_DOWN": "纳税额下降", "NO_TAX": "无纳税记录"},
}


class TestModelScore:
    def test_an_approved_bank_model_scores_the_decision(self, shop):
        from puhui.accounts.models import Institution, User
        from puhui.core.policy import Actor, InstitutionKind, Role
        from puhui.scoring import service as scoring
        from puhui.scoring.schemas import ModelCreate

        with shop.factory.begin() as s:
            bank = s.get(Institution, shop.banks["a"])

            def actor(who: str) -> Actor:
                user = s.get(User, shop.users[who].id)
                return Actor(
                    user_id=user.id,
                    username=user.username,
                    role=Role(user.role),
                    institution_id=bank.id,
                    institution_kind=InstitutionKind(bank.kind),
                )

            model = scoring.create_model(s, actor=actor("rm_a"), data=ModelCreate(name="卡"))
            version = scoring.add_scorecard(
                s, actor=actor("rm_a"), model_id=model.id, definition=CARD
            )
            draft = version.id
        body = {
            "score_source": "model",
            "model_version_id": draft,
            "approve_min": 620,
            "refer_min": 580,
            "bands": [{"min_score": 620, "limit": "100000", "rate": "4"}],
        }
        r = _policy(shop, **body)
        assert r.status_code == 422  # a draft is not approved
        assert r.json()["error"]["details"][0]["field"] == "model_version_id"
        with shop.factory.begin() as s:
            scoring.change_state(s, actor=actor("rm_a"), version_id=draft, change="submit")
            scoring.change_state(s, actor=actor("admin_a"), version_id=draft, change="approve")
        assert _policy(shop, **body).status_code == 201
        d = _apply(shop).json()
        assert d["score"] == 630 and d["outcome"] == "approve" and d["score_source"] == "model"
        assert d["facts"] == {"OPR_TAX_TOTAL_YOY": pytest.approx(0.2)}
        # entity B's tax fell: the card's reason code comes with the refusal
        r = shop.client.post(
            f"{API}/products/{shop.product}/decisions", json=APPLY, headers=shop.h("ent_b")
        )
        assert r.status_code == 201, r.text
        d = r.json()
        assert d["score"] == 560 and d["outcome"] == "decline"
        assert d["reasons"][:2] == [SCORE_LOW, "TAX_DOWN"]
