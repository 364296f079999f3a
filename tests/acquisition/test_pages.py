"""The filter-builder page, its live count and the enterprise's marketing page."""

from __future__ import annotations

from tests import factories
from tests.conftest import csrf_from


def _login(city, who: str) -> str:
    city.client.cookies.clear()
    return factories.web_login(city.client, city.users[who].username)


class TestFilterBuilder:
    def test_the_page_offers_the_key_indicators_with_a_live_count(self, city):
        _login(city, "cm_a")
        r = city.client.get("/acquisition")
        assert r.status_code == 200
        assert 'hx-get="/acquisition/count"' in r.text
        assert 'value="OPR_TAX_CREDIT_GRADE"' in r.text
        assert 'value="BAS_LEGAL_REP_ID"' not in r.text  # not a key indicator
        assert "live-count" in r.text

    def test_the_live_count_follows_the_conditions(self, city):
        _login(city, "cm_a")
        r = city.client.get("/acquisition/count", headers={"HX-Request": "true"})
        assert "2" in r.text and "<html" not in r.text
        query = {"ind": "OPR_TAX_TOTAL_YOY", "op": "gt", "a": "0", "b": ""}
        r = city.client.get("/acquisition/count", params=query, headers={"HX-Request": "true"})
        assert r.status_code == 200 and "live-count" in r.text and "1" in r.text
        bad = {"ind": "OPR_TAX_TOTAL_YOY", "op": "between", "a": "2", "b": "1"}
        r = city.client.get("/acquisition/count", params=bad, headers={"HX-Request": "true"})
        assert "field-error" in r.text

    def test_submitting_runs_the_filter_without_javascript(self, city):
        _login(city, "cm_a")
        params = [
            ("ind", "OPR_TAX_TOTAL_YOY"),
            ("op", "gt"),
            ("a", "0"),
            ("b", ""),
            ("run", "1"),
        ]
        r = city.client.get("/acquisition", params=params)
        assert r.status_code == 200
        assert "甲制造有限公司" in r.text and "乙贸易有限公司" not in r.text
        params[-1] = ("add", "1")
        r = city.client.get("/acquisition", params=params)
        assert r.text.count('<select name="ind"') == 2 and "甲制造有限公司" not in r.text
        r = city.client.get("/acquisition", params=[*params[:-1], ("remove", "0")])
        assert r.text.count('<select name="ind"') == 1

    def test_a_wrong_row_is_marked(self, city):
        _login(city, "cm_a")
        params = {"ind": "OPR_TAX_CREDIT_GRADE", "op": "in", "a": "Z", "run": "1"}
        r = city.client.get("/acquisition", params=params)
        assert r.status_code == 422 and "field-error" in r.text

    def test_enterprises_have_no_filter(self, city):
        _login(city, "ent_a")
        assert city.client.get("/acquisition").status_code == 403


class TestMarketingPage:
    def test_an_enterprise_opts_out_and_back_in(self, city):
        _login(city, "ent_a")
        page = city.client.get("/me/marketing")
        assert page.status_code == 200
        token = csrf_from(page.text)
        r = city.client.post(
            "/me/marketing", data={"opted_out": "1", "csrf_token": token}, follow_redirects=False
        )
        assert r.status_code == 303
        h = city.h("ent_a")
        assert city.client.get("/api/v1/me/marketing", headers=h).json()["opted_out"] is True
        _login(city, "ent_a")
        page = city.client.get("/me/marketing")
        city.client.post(
            "/me/marketing", data={"opted_out": "0", "csrf_token": csrf_from(page.text)}
        )
        assert city.client.get("/api/v1/me/marketing", headers=h).json()["opted_out"] is False

    def test_an_enterprise_the_registry_does_not_list_yet_is_told_so(self, client, session):
        from puhui.core.policy import Role
        from tests import factories

        user = factories.user(session, Role.ENTERPRISE)
        factories.web_login(client, user.username)
        page = client.get("/me/marketing")
        assert page.status_code == 200 and user.entity_uscc in page.text
