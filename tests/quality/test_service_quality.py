"""Banks' service quality: every figure of the league and its monthly trend, from the
known activity (conftest), through the service, the API, the CSV and the page."""

from __future__ import annotations

import csv
import io

from puhui.core.policy import Actor, Role
from puhui.quality import service
from tests.quality.conftest import NOW, actor_of

FIELDS = (
    "claims",
    "active",
    "median_contact_hours",
    "within_sla",
    "granted",
    "grant_rate",
    "overdue",
    "satisfaction",
    "ratings",
    "complaints",
)
# the league over both months: B (contacted both of its claims in time) before A
B_ROW = (2, 1, 2.5, 1.0, 0, 0.0, 0, None, 0, 0)
A_ROW = (2, 0, 2.0, 0.5, 1, 0.5, 1, 3.5, 2, 1)
MONTHS = {
    # (institution, month): figures; None = the platform
    ("a", "2026-09"): A_ROW,
    ("b", "2026-09"): (1, 0, 1.0, 1.0, 0, 0.0, 0, None, 0, 0),
    ("b", "2026-10"): (1, 1, 4.0, 1.0, 0, None, 0, None, 0, 0),
    (None, "2026-09"): (3, 0, 1.5, 0.667, 1, 0.333, 1, 3.5, 2, 1),
    (None, "2026-10"): (1, 1, 4.0, 1.0, 0, None, 0, None, 0, 0),
}


def _figures(row) -> tuple:
    return tuple(getattr(row, f) for f in FIELDS)


def _regulator() -> Actor:
    return Actor(user_id=1, username="r", role=Role.REGULATOR)


class TestLeague:
    def test_every_figure_of_the_league_and_its_months(self, activity):
        town = activity.town
        with town.factory() as s:
            report = service.service_quality(s, actor=_regulator(), months=3, now=NOW)
        assert report.months == ["2026-08", "2026-09", "2026-10"]
        assert [(r.rank, r.institution_name) for r in report.rows] == [
            (1, "乙银行"),
            (2, "甲银行"),
        ]
        assert _figures(report.rows[0]) == B_ROW
        assert _figures(report.rows[1]) == A_ROW
        banks = {town.banks["a"]: "a", town.banks["b"]: "b"}
        got = {(banks.get(m.institution_id), m.month): _figures(m) for m in report.trend}
        assert got == MONTHS

    def test_a_window_that_starts_in_october_leaves_september_out(self, activity):
        with activity.town.factory() as s:
            report = service.service_quality(s, actor=_regulator(), months=1, now=NOW)
        assert [(r.institution_name, r.claims, r.median_contact_hours) for r in report.rows] == [
            ("乙银行", 1, 4.0)
        ]

    def test_the_matching_league_page_shares_the_definitions(self, activity):
        from puhui.matching import service as matching

        with activity.town.factory() as s:
            rows = {r.institution_name: r for r in matching.league(s)}
        assert _figures(rows["甲银行"]) == A_ROW
        assert _figures(rows["乙银行"]) == B_ROW


class TestInstitutionAdmin:
    def test_sees_its_own_row_and_trend_and_others_only_by_rank(self, activity):
        town = activity.town
        with town.factory() as s:
            report = service.service_quality(s, actor=actor_of(town, "admin_a"), months=3, now=NOW)
        assert [(r.rank, r.institution_id, r.institution_name) for r in report.rows] == [
            (1, None, None),
            (2, town.banks["a"], "甲银行"),
        ]
        assert _figures(report.rows[0]) == B_ROW  # the figures of a rank stay visible
        assert {m.institution_id for m in report.trend} == {town.banks["a"], None}

    def test_the_api_and_page_never_name_another_institution(self, activity):
        town = activity.town
        r = town.client.get("/api/v1/quality/service?months=36", headers=town.h("admin_a"))
        assert r.status_code == 200, r.text
        assert "乙银行" not in r.text
        assert town.banks["b"] not in [row["institution_id"] for row in r.json()["rows"]]
        assert town.banks["b"] not in [m["institution_id"] for m in r.json()["trend"]]


class TestApiAndCsv:
    def test_the_api_answers_the_service_figures(self, activity):
        town = activity.town
        r = town.client.get("/api/v1/quality/service?months=36", headers=town.h("regulator"))
        assert r.status_code == 200, r.text
        rows = {row["institution_name"]: row for row in r.json()["rows"]}
        assert tuple(rows["甲银行"][f] for f in FIELDS) == A_ROW
        assert tuple(rows["乙银行"][f] for f in FIELDS) == B_ROW

    def test_csv_has_the_league_and_the_months(self, activity):
        town = activity.town
        r = town.client.get("/api/v1/quality/service.csv?months=36", headers=town.h("operator"))
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/csv")
        assert r.content.startswith("\ufeff".encode())
        rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
        total = {row["institution"]: row for row in rows if row["period"] == "total"}
        assert total["甲银行"]["rank"] == "2"
        assert total["甲银行"]["satisfaction"] == "3.5"
        assert total["甲银行"]["complaints"] == "1"
        sept = [r for r in rows if r["period"] == "2026-09" and r["institution_id"] == ""]
        assert sept[0]["claims"] == "3" and sept[0]["median_contact_hours"] == "1.5"

    def test_bad_months_is_a_422_naming_the_field(self, activity):
        town = activity.town
        for bad in ("0", "37", "twelve"):
            r = town.client.get(
                f"/api/v1/quality/service?months={bad}", headers=town.h("regulator")
            )
            assert r.status_code == 422, r.text
            assert "months" in r.text

    def test_the_page_shows_the_table_and_the_chart_data(self, activity):
        from tests import factories

        town = activity.town
        factories.web_login(town.client, town.users["regulator"].username)
        r = town.client.get("/quality/service?months=36")
        assert r.status_code == 200, r.text
        assert "甲银行" in r.text and "乙银行" in r.text
        assert 'data-series-chart="service-data"' in r.text
        assert "50.0%" in r.text  # A: within the deadline, and its grant rate
