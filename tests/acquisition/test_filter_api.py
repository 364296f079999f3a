"""The filter over the API on the small city: counts and pages, 422s that name the
condition, the marketing opt-out, who may filter, and the audit record of each run."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from puhui.audit.models import AuditEvent

URL = "/api/v1/acquisition/filter"


def _filter(city, body: dict[str, Any], who: str = "cm_a") -> Any:
    return city.client.post(URL, json=body, headers=city.h(who))


def _usccs(r) -> list[str]:
    assert r.status_code == 200, r.text
    return [h["uscc"] for h in r.json()["items"]]


class TestMatching:
    def test_no_conditions_match_every_entity(self, city):
        r = _filter(city, {})
        assert r.json()["total"] == 2
        assert sorted(_usccs(r)) == sorted([city.a, city.b])

    def test_comparison_range_and_codes(self, city):
        grows = {"indicator": "OPR_TAX_TOTAL_YOY", "op": "gt", "value": 0}
        assert _usccs(_filter(city, {"conditions": [grows]})) == [city.a]
        shrink = {"indicator": "OPR_TAX_TOTAL_YOY", "op": "between", "lo": -1, "hi": -0.1}
        assert _usccs(_filter(city, {"conditions": [shrink]})) == [city.b]
        grade = {"indicator": "OPR_TAX_CREDIT_GRADE", "op": "in", "values": ["A", "B"]}
        assert _usccs(_filter(city, {"conditions": [grade]})) == [city.a]
        flag = {"indicator": "NEG_ABNORMAL_OPERATION", "op": "is_false"}
        assert _usccs(_filter(city, {"conditions": [flag]})) == [city.a]
        empty = {"indicator": "OPR_TAX_CREDIT_GRADE", "op": "is_null"}
        assert _usccs(_filter(city, {"conditions": [empty]})) == [city.b]

    def test_groups_combine_with_and_or(self, city):
        either = {
            "any": [
                {"indicator": "OPR_TAX_CREDIT_GRADE", "op": "eq", "value": "A"},
                {"indicator": "OPR_TAX_TOTAL_YOY", "op": "lt", "value": 0},
            ]
        }
        assert _filter(city, {"conditions": [either]}).json()["total"] == 2
        both = {"all": [either, {"indicator": "OPR_SS_HEADCOUNT_M", "op": "ge", "value": 42}]}
        assert _usccs(_filter(city, {"conditions": [both]})) == [city.a]
        assert _filter(city, {"conditions": either["any"], "match": "all"}).json()["total"] == 0

    def test_sorted_and_paged(self, city):
        sort = {"indicator": "OPR_TAX_TOTAL_YOY", "order": "asc"}
        r = _filter(city, {"sort": sort, "limit": 1})
        assert r.json()["total"] == 2 and _usccs(r) == [city.b]
        r = _filter(city, {"sort": sort, "limit": 1, "offset": 1})
        assert _usccs(r) == [city.a]
        desc = _filter(city, {"sort": {"indicator": "OPR_TAX_TOTAL_YOY"}})
        assert _usccs(desc) == [city.a, city.b]

    def test_results_show_public_facts_grades_and_public_values_only(self, city):
        conditions = [
            {"indicator": "OPR_TAX_TOTAL_YOY", "op": "gt", "value": 0},
            {"indicator": "BAS_ENTITY_TYPE", "op": "is_null"},
        ]
        (hit,) = _filter(city, {"conditions": conditions}).json()["items"]
        assert hit["name"] == "甲制造有限公司" and hit["district"]
        assert hit["health_grade"] in {"A", "B", "C", "D", "E"}
        assert set(hit["values"]) == {"BAS_ENTITY_TYPE"}  # tax growth is C1: not shown
        assert "legal_rep_id" not in hit


def _detail(r) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    (detail,) = r.json()["error"]["details"]
    return detail


class TestRefusals:
    @pytest.mark.parametrize(
        ("condition", "field"),
        [
            ({"indicator": "NO_SUCH", "op": "gt", "value": 1}, "conditions.1.indicator"),
            ({"indicator": "BAS_LEGAL_REP_ID", "op": "is_null"}, "conditions.1.indicator"),
            ({"indicator": "OPR_TAX_TOTAL_YOY", "op": "in", "values": ["A"]}, "conditions.1.op"),
            ({"indicator": "POS_HIGH_TECH", "op": "gt", "value": 0}, "conditions.1.op"),
            ({"indicator": "OPR_TAX_TOTAL_YOY", "op": "between", "lo": 2, "hi": 1}, "conditions.1"),
            ({"indicator": "OPR_TAX_TOTAL_YOY", "op": "eq", "value": "A"}, "conditions.1.value"),
            ({"indicator": "OPR_TAX_CREDIT_GRADE", "op": "eq", "value": "Z"}, "conditions.1.value"),
            (
                {"indicator": "OPR_TAX_CREDIT_GRADE", "op": "in", "values": ["A", "Q"]},
                "conditions.1.values.1",
            ),
            (
                {"any": [{"indicator": "FIN_REVENUE_X", "op": "is_null"}]},
                "conditions.1.any.0.indicator",
            ),
        ],
    )
    def test_a_bad_condition_is_named(self, city, condition, field):
        ok = {"indicator": "OPR_TAX_TOTAL_YOY", "op": "gt", "value": 0}
        detail = _detail(_filter(city, {"conditions": [ok, condition]}))
        assert detail["field"] == field
        assert detail["message"]

    @pytest.mark.parametrize(
        "body",
        [
            {"conditions": [{"indicator": "OPR_TAX_TOTAL_YOY", "op": "gt", "value": "x"}]},
            {"conditions": [{"indicator": "OPR_TAX_TOTAL_YOY", "op": "like"}]},
            {"conditions": [{"indicator": "OPR_TAX_CREDIT_GRADE", "op": "in", "values": []}]},
            {"conditions": [], "limit": 101},
            {"conditions": [], "status": "x"},
        ],
    )
    def test_shapes_are_checked(self, city, body):
        r = _filter(city, body)
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"].startswith(
            ("conditions.0", "limit", "status")
        )

    def test_sort_must_be_a_key_indicator(self, city):
        detail = _detail(_filter(city, {"sort": {"indicator": "BAS_LEGAL_REP_ID"}}))
        assert detail["field"] == "sort.indicator"

    def test_depth_and_number_of_conditions_are_bounded(self, city):
        leaf = {"indicator": "OPR_TAX_TOTAL_YOY", "op": "not_null"}
        node: dict[str, Any] = {"all": [leaf]}
        for _ in range(4):
            node = {"any": [node]}
        assert _filter(city, {"conditions": [node]}).status_code == 422
        many = {"all": [leaf] * 30}
        r = _filter(city, {"conditions": [many, many]})
        assert _detail(r)["field"] == "conditions"


class TestOptOut:
    def test_an_opted_out_entity_is_never_counted(self, city):
        assert _filter(city, {}).json()["total"] == 2
        r = city.client.put(
            "/api/v1/me/marketing", json={"opted_out": True}, headers=city.h("ent_a")
        )
        assert r.status_code == 200 and r.json()["opted_out"] is True
        r = _filter(city, {})
        assert _usccs(r) == [city.b] and r.json()["total"] == 1
        grows = {"indicator": "OPR_TAX_TOTAL_YOY", "op": "gt", "value": 0}
        assert _filter(city, {"conditions": [grows]}).json()["total"] == 0
        back = city.client.put(
            "/api/v1/me/marketing", json={"opted_out": False}, headers=city.h("ent_a")
        )
        assert back.json() == {"opted_out": False, "since": None}
        assert _filter(city, {}).json()["total"] == 2

    def test_changes_are_audited_and_idempotent(self, city):
        h = city.h("ent_b")
        for _ in range(2):
            city.client.put("/api/v1/me/marketing", json={"opted_out": True}, headers=h)
        assert city.client.get("/api/v1/me/marketing", headers=h).json()["opted_out"] is True
        with city.factory() as s:
            events = s.scalars(
                select(AuditEvent).where(AuditEvent.action == "marketing.opt_out")
            ).all()
        assert [e.target_id for e in events] == [city.b]


class TestWhoMayFilter:
    @pytest.mark.parametrize("who", ["ent_a", "admin_a", "regulator", "operator"])
    def test_others_are_refused(self, city, who):
        assert _filter(city, {}, who).status_code == 403

    def test_lending_staff_may_and_each_run_is_audited(self, city):
        grows = {"indicator": "OPR_TAX_TOTAL_YOY", "op": "gt", "value": 0}
        assert _filter(city, {"conditions": [grows]}, "rm_a").status_code == 200
        with city.factory() as s:
            event = s.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "acquisition.filter")
                .order_by(AuditEvent.id.desc())
            ).first()
        assert event.institution_id == city.banks["a"]
        assert event.details["conditions"] == "OPR_TAX_TOTAL_YOY gt 0"
        assert event.details["total"] == 1

    def test_the_key_indicators_are_listed_with_their_ops(self, city):
        r = city.client.get("/api/v1/acquisition/indicators", headers=city.h("cm_a"))
        assert r.status_code == 200
        items = {i["code"]: i for i in r.json()}
        assert len(items) == 50
        assert items["POS_HIGH_TECH"]["ops"] == ["is_true", "is_false", "is_null", "not_null"]
        assert "in" in items["OPR_TAX_CREDIT_GRADE"]["ops"]
