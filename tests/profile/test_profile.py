"""The panorama profile: values with their lineage, trends, negative records, the
business-health score, masking and reveal, and the credit report."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pyotp
from sqlalchemy import select

from puhui.audit.models import AuditEvent
from puhui.consent.models import QueryRecord
from puhui.profile import service
from tests import factories
from tests.city import ID_A, MOBILE_A, drain

ALL = ["basic", "property", "financial", "operating", "positive", "negative", "credit_evaluation"]


def _grant(city) -> None:
    r = city.client.post(
        "/api/v1/consents",
        json={
            "institution_id": city.banks["a"],
            "purposes": ["query"],
            "categories": ALL,
            "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
        },
        headers=city.h("ent_a"),
    )
    assert r.status_code == 201, r.text


def _value(profile: dict, code: str) -> dict:
    for block in profile["categories"]:
        for v in block["indicators"]:
            if v["code"] == code:
                return v
    raise AssertionError(code)


class TestProfile:
    def test_values_carry_period_source_and_batch(self, city):
        _grant(city)
        p = city.client.get(f"/api/v1/entities/{city.a}/profile", headers=city.h("cm_a")).json()
        tax = _value(p, "OPR_TAX_TOTAL_YOY")
        assert tax["value"] == 0.2 and tax["period"] == 202609  # the latest period
        assert tax["source"]["code"] == "TAX" and tax["source"]["department"] == "税务"
        assert tax["batch_id"] and tax["as_of"]
        assert _value(p, "OPR_TAX_CREDIT_GRADE")["value"] == "A"
        assert _value(p, "OPR_SS_HEADCOUNT_M")["value"] == 42
        trends = {t["code"]: t for t in p["trends"]}
        assert trends["OPR_TAX_TOTAL_YOY"]["periods"] == [202607, 202608, 202609]
        assert trends["OPR_TAX_TOTAL_YOY"]["values"] == [0.05, 0.1, 0.2]
        negatives = {n["code"]: n for n in p["negative_records"]}
        assert negatives["NEG_ABNORMAL_OPERATION"]["status"] == "cleared"
        assert negatives["NEG_ABNORMAL_OPERATION"]["last_period"] == 202607
        assert negatives["NEG_ADMIN_PENALTIES_36M"]["status"] == "current"
        assert p["entity"]["name"] == "甲制造有限公司"

    def test_the_health_score_is_stored_as_an_indicator_with_its_reasons(self, city):
        p = city.client.get(f"/api/v1/entities/{city.a}/profile", headers=city.h("ent_a")).json()
        health = p["health"]
        assert health["score"] is not None and health["grade"] in "ABCDE"
        stored = _value(p, "CRE_HEALTH_SCORE")
        assert stored["value"] == health["score"]
        assert stored["source"]["code"] == "PLATFORM"
        assert {r["component"] for r in health["raised_by"]} >= {"tax_trend", "tax_credit"}
        assert {r["component"] for r in health["lowered_by"]} == set() or all(
            r["points"] < 0 for r in health["lowered_by"]
        )
        # recomputing from an unchanged snapshot writes nothing new
        assert service.recompute_scores(city.factory, settings=city.settings) == 0

    def test_personal_values_are_masked_for_a_bank_until_revealed_with_a_reason(self, city):
        _grant(city)
        r = city.client.get(f"/api/v1/entities/{city.a}/profile", headers=city.h("cm_a"))
        assert ID_A not in r.text and MOBILE_A not in r.text
        assert r.json()["legal_representative"]["id_number"] == "330203********1234"
        assert _value(r.json(), "BAS_CONTACT_MOBILE")["value"] == "138****5678"
        short = city.client.get(
            f"/api/v1/entities/{city.a}/profile",
            params={"reveal_reason": "x"},
            headers=city.h("cm_a"),
        )
        assert short.status_code == 422
        # revealing needs a recent second-factor check
        unchecked = city.client.get(
            f"/api/v1/entities/{city.a}/profile",
            params={"reveal_reason": "贷前核实法定代表人身份"},
            headers=city.h("cm_a"),
        )
        assert unchecked.status_code == 403
        assert unchecked.json()["error"]["code"] == "second_factor_required"
        with city.factory.begin() as s:
            secret = factories.enrol_second_factor(s, s.merge(city.users["cm_a"]))
        r = city.client.post(
            "/api/v1/auth/token",
            data={
                "username": city.users["cm_a"].username,
                "password": factories.PASSWORD,
                "otp": pyotp.TOTP(secret).now(),
            },
        )
        assert r.status_code == 200, r.text
        shown = city.client.get(
            f"/api/v1/entities/{city.a}/profile",
            params={"reveal_reason": "贷前核实法定代表人身份"},
            headers={"Authorization": f"Bearer {r.json()['access_token']}"},
        )
        assert shown.status_code == 200 and ID_A in shown.text and MOBILE_A in shown.text
        with city.factory() as s:
            rec = s.scalars(select(QueryRecord).order_by(QueryRecord.id.desc())).first()
            event = s.get(AuditEvent, rec.audit_event_id)
            assert event.details["reason"] == "贷前核实法定代表人身份"
            assert event.details["revealed"] is True
        own = city.client.get(f"/api/v1/entities/{city.a}/profile", headers=city.h("ent_a"))
        assert ID_A in own.text  # the enterprise sees its own data

    def test_the_profile_page_renders_and_a_page_without_authorization_says_how_to_ask(self, city):
        from tests import factories

        factories.web_login(city.client, city.users["cm_a"].username)
        denied = city.client.get(f"/entities/{city.a}/profile")
        assert denied.status_code == 403 and f"/consents?uscc={city.a}" in denied.text
        _grant(city)
        page = city.client.get(f"/entities/{city.a}/profile")
        assert page.status_code == 200 and "甲制造有限公司" in page.text
        assert ID_A not in page.text and 'id="trend-data"' in page.text

    def test_a_reveal_on_the_page_needs_a_fresh_unused_authenticator_code(self, city):
        _grant(city)
        with city.factory.begin() as s:
            secret = factories.enrol_second_factor(s, s.merge(city.users["cm_a"]))
        code = pyotp.TOTP(secret).now()
        factories.web_login(city.client, city.users["cm_a"].username, otp=code)
        url = f"/entities/{city.a}/profile"
        replayed = city.client.get(url, params={"reveal_reason": "贷前核实身份", "otp": code})
        assert replayed.status_code == 422 and ID_A not in replayed.text
        shown = city.client.get(url, params={"reveal_reason": "贷前核实身份"})
        assert shown.status_code == 200 and ID_A in shown.text  # checked at log-in just now


class TestReport:
    def test_json_and_pdf_reports_carry_a_number_that_verifies(self, city):
        _grant(city)
        r = city.client.get(f"/api/v1/entities/{city.a}/report", headers=city.h("cm_a"))
        assert r.status_code == 200, r.text
        meta = r.json()["report"]
        assert meta["number"].startswith("PH") and meta["requester_institution"] == "甲银行"
        ok = city.client.get(
            f"/api/v1/reports/{meta['number']}/verify", params={"code": meta["verification_code"]}
        ).json()
        assert ok["valid"] and ok["uscc"] == city.a
        bad = city.client.get(
            f"/api/v1/reports/{meta['number']}/verify", params={"code": "0000-0000-0000-0000"}
        ).json()
        assert bad["valid"] is False
        started = time.perf_counter()
        pdf = city.client.get(f"/api/v1/entities/{city.a}/report.pdf", headers=city.h("cm_a"))
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        assert time.perf_counter() - started < 30  # generous: the bench measures it
        from puhui.profile.pdf import EMBEDDED, font_name

        if font_name() == EMBEDDED:
            assert b"FontFile2" in pdf.content  # the CJK font travels with the file
        assert ID_A.encode() not in pdf.content

    def test_an_enterprise_downloads_its_own_report_free(self, city):
        r = city.client.get(f"/api/v1/entities/{city.a}/report.pdf", headers=city.h("ent_a"))
        assert r.status_code == 200
        other = city.client.get(f"/api/v1/entities/{city.b}/report.pdf", headers=city.h("ent_a"))
        assert other.status_code == 403


def test_a_new_batch_changes_the_score(city, tmp_path):
    from puhui.ingest import service as ingest

    before = city.client.get(f"/api/v1/entities/{city.a}/profile", headers=city.h("ent_a"))
    path = tmp_path / "spc.csv"
    path.write_text(f"uscc,indicator,period,value\n{city.a},NEG_DISHONEST,2026-10,1\n")
    ingest.ingest_path(
        city.factory, source_code="SPC", path=path, actor=None, via="cli", settings=city.settings
    )
    drain(city.factory)
    after = city.client.get(f"/api/v1/entities/{city.a}/profile", headers=city.h("ent_a"))
    assert after.json()["health"]["score"] < before.json()["health"]["score"]
    assert "judicial" in {r["component"] for r in after.json()["health"]["lowered_by"]}
