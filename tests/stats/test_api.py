"""Statistics over HTTP: the API (JSON, CSV, policy, bad input) and the pages."""

from __future__ import annotations

import pytest

from puhui.core.policy import Role
from puhui.stats import service
from tests import factories
from tests.stats.helpers import seed, sh

RANGE = {"from": "2020-03", "to": "2020-05"}


@pytest.fixture
def seeded(session):
    world = seed(session)
    service.refresh(session, since_month=202001, now=sh(2020, 6, 15))
    return world


def _headers(client, session, role: Role):
    u = factories.user(session, role)
    return factories.token(client, u.username)


class TestApi:
    def test_regulator_reads_every_figure(self, client, session, seeded):
        r = client.get(
            "/api/v1/stats", params=RANGE, headers=_headers(client, session, Role.REGULATOR)
        )
        assert r.status_code == 200, r.text
        body = r.json()
        figures = {f["key"]: f["value"] for f in body["figures"]}
        assert figures["records"] == 1800
        assert figures["amount"] == 1_800_000
        assert figures["enterprises"] == 2
        assert figures["first_time"] == 2
        assert figures["median_days"] == 10
        assert figures["lpr_spread"] == 18.33
        assert {s["key"] for s in body["series"]} == set(service.SERIES_KEYS)

    def test_one_series_as_json_and_csv(self, client, session, seeded):
        h = _headers(client, session, Role.OPERATOR)
        r = client.get("/api/v1/stats/series/loans", params=RANGE, headers=h)
        assert r.status_code == 200 and r.json()["values"] == [1, 2, 0]
        r = client.get("/api/v1/stats/series/amount", params={**RANGE, "format": "csv"}, headers=h)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/csv")
        assert r.text.splitlines()[1:] == ["2020-03,1000000", "2020-04,800000", "2020-05,0"]

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"from": "2020-06", "to": "2020-05"}, "from"),
            ({"from": "2020-13"}, "from"),
            ({"to": "2020/05"}, "to"),
        ],
    )
    def test_bad_month_range_is_422_with_the_field(self, client, session, params, field):
        r = client.get(
            "/api/v1/stats", params=params, headers=_headers(client, session, Role.REGULATOR)
        )
        assert r.status_code == 422
        assert field in r.text

    def test_unknown_series_is_422(self, client, session):
        r = client.get(
            "/api/v1/stats/series/nope", headers=_headers(client, session, Role.REGULATOR)
        )
        assert r.status_code == 422 and "key" in r.text

    @pytest.mark.parametrize("role", [Role.ENTERPRISE, Role.CUSTOMER_MANAGER, Role.AUDITOR])
    def test_others_may_not_read(self, client, session, role):
        r = client.get("/api/v1/stats", headers=_headers(client, session, role))
        assert r.status_code == 403

    def test_operators_enter_the_lpr_regulators_may_not(self, client, session):
        body = {"tenor": "5y", "effective_on": "2024-02-20", "rate_pct": "3.95"}
        r = client.post(
            "/api/v1/stats/lpr", json=body, headers=_headers(client, session, Role.REGULATOR)
        )
        assert r.status_code == 403
        h = _headers(client, session, Role.OPERATOR)
        r = client.post("/api/v1/stats/lpr", json=body, headers=h)
        assert r.status_code == 201 and r.json()["rate_bp"] == 395
        r = client.post("/api/v1/stats/lpr", json=body, headers=h)
        assert r.status_code == 409
        r = client.post("/api/v1/stats/lpr", json={**body, "rate_pct": "-1"}, headers=h)
        assert r.status_code == 422 and "rate_pct" in r.text
        listed = client.get("/api/v1/stats/lpr", headers=h).json()
        assert [x["rate_bp"] for x in listed if x["effective_on"] == "2024-02-20"] == [395]

    def test_refresh_is_queued(self, client, session):
        from puhui.core.jobs import Job

        r = client.post("/api/v1/stats/refresh", headers=_headers(client, session, Role.OPERATOR))
        assert r.status_code == 202
        assert session.get(Job, r.json()["job_id"]).kind == service.REFRESH_JOB


class TestPages:
    def _login(self, client, session, role: Role) -> str:
        u = factories.user(session, role)
        return factories.web_login(client, u.username)

    def test_the_page_shows_the_figures_and_charts(self, client, session, seeded):
        self._login(client, session, Role.REGULATOR)
        r = client.get("/stats", params=RANGE)
        assert r.status_code == 200
        assert 'data-trend-chart="stats-data"' in r.text
        assert "1,800" in r.text  # records
        assert "/stats/csv/amount?from=2020-03&amp;to=2020-05" in r.text
        assert "Recompute now" not in r.text and "重新计算" not in r.text

    def test_bad_range_is_422_naming_the_field(self, client, session):
        self._login(client, session, Role.OPERATOR)
        r = client.get("/stats", params={"from": "2020-07", "to": "2020-05"})
        assert r.status_code == 422
        assert "field-error" in r.text

    def test_csv_download(self, client, session, seeded):
        self._login(client, session, Role.OPERATOR)
        r = client.get("/stats/csv/records", params=RANGE)
        assert r.status_code == 200
        assert r.text.splitlines()[0] == "\ufeffmonth,records,TAXT,SOCT"

    def test_lpr_form(self, client, session):
        csrf = self._login(client, session, Role.OPERATOR)
        page = client.get("/stats/lpr")
        assert page.status_code == 200
        bad = client.post(
            "/stats/lpr",
            data={
                "tenor": "1y",
                "effective_on": "2024-01-22",
                "rate_pct": "abc",
                "csrf_token": csrf,
            },
        )
        assert bad.status_code == 422 and "field-error" in bad.text
        ok = client.post(
            "/stats/lpr",
            data={
                "tenor": "1y",
                "effective_on": "2024-01-22",
                "rate_pct": "3.45",
                "csrf_token": csrf,
            },
            follow_redirects=False,
        )
        assert ok.status_code == 303
        assert "3.45%" in client.get("/stats/lpr").text

    def test_operator_queues_a_refresh(self, client, session):
        csrf = self._login(client, session, Role.OPERATOR)
        r = client.post("/stats/refresh", data={"csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/stats?queued=1"
