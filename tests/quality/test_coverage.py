"""Coverage of inclusive finance: the share of active entities with a loan through the
platform by district and industry, cumulative month by month, the CSV, the API and the
district map's data on the page."""

from __future__ import annotations

import csv
import io
import json
import re

from puhui.quality import service
from tests import factories
from tests.quality.conftest import NOW, refresh


def _report(town, months=3):
    with town.factory() as s:
        return service.coverage(s, months=months, now=NOW)


class TestCoverage:
    def test_shares_by_district_and_industry(self, activity):
        report = _report(activity.town)
        assert (report.entities, report.borrowers, report.share) == (3, 1, 0.3333)
        d = {x.code: x for x in report.districts}
        assert (d["330212"].entities, d["330212"].borrowers, d["330212"].share) == (2, 1, 0.5)
        assert (d["330203"].entities, d["330203"].borrowers, d["330203"].share) == (1, 0, 0.0)
        assert (d["330226"].entities, d["330226"].share) == (0, None)
        assert len(report.districts) == 10  # every district has a tile
        assert {(x.column, x.row) for x in report.districts} and all(
            x.column is not None for x in report.districts
        )
        i = {x.code: x for x in report.industries}
        assert (i["C"].name, i["C"].entities, i["C"].borrowers, i["C"].share) == (
            "制造业",
            2,
            1,
            0.5,
        )
        assert (i["F"].entities, i["F"].borrowers, i["F"].share) == (1, 0, 0.0)

    def test_monthly_trend_is_cumulative(self, activity):
        report = _report(activity.town)
        assert report.months == ["2026-08", "2026-09", "2026-10"]
        city = [(t.new_borrowers, t.borrowers, t.share) for t in report.trend if t.district is None]
        assert city == [(0, 0, 0.0), (1, 1, 0.3333), (0, 1, 0.3333)]
        yz = [t.share for t in report.trend if t.district == "330212"]
        assert yz == [0.0, 0.5, 0.5]
        # a window after the grant starts with it already counted
        with activity.town.factory() as s:
            later = service.coverage(s, months=1, now=NOW)
        assert [(t.new_borrowers, t.borrowers) for t in later.trend if t.district is None] == [
            (0, 1)
        ]

    def test_an_inactive_entity_is_not_counted(self, activity):
        from puhui.entities import service as entities
        from tests.entities.factories import record

        with activity.town.factory.begin() as s:
            entities.upsert(s, [record("丁已注销", district="330203", status="deregistered")])
        refresh(activity.town)
        d = {x.code: x for x in _report(activity.town).districts}
        assert d["330203"].entities == 1


class TestApiAndPage:
    def test_api_csv_and_bad_months(self, activity):
        town = activity.town
        r = town.client.get("/api/v1/quality/coverage?months=36", headers=town.h("regulator"))
        assert r.status_code == 200, r.text
        assert (r.json()["borrowers"], r.json()["entities"]) == (1, 3)
        r = town.client.get("/api/v1/quality/coverage.csv", headers=town.h("operator"))
        assert r.status_code == 200
        rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
        yz = next(x for x in rows if x["kind"] == "district" and x["code"] == "330212")
        assert (yz["name"], yz["entities"], yz["borrowers"], yz["share"]) == (
            "鄞州区",
            "2",
            "1",
            "0.5",
        )
        r = town.client.get("/api/v1/quality/coverage?months=99", headers=town.h("regulator"))
        assert r.status_code == 422 and "months" in r.text

    def test_csv_downloads_are_audited(self, activity):
        from sqlalchemy import select

        from puhui.audit.models import AuditEvent

        town = activity.town
        town.client.get("/api/v1/quality/coverage.csv", headers=town.h("operator"))
        with town.factory() as s:
            actions = list(s.scalars(select(AuditEvent.action)))
        assert "quality.export" in actions

    def test_the_page_carries_the_map_and_the_numbers(self, activity):
        town = activity.town
        factories.web_login(town.client, town.users["operator"].username)
        r = town.client.get("/quality/coverage?months=36")
        assert r.status_code == 200, r.text
        block = re.search(
            r'<script type="application/json" id="tiles-data">(.*?)</script>', r.text, re.S
        )
        assert block
        tiles = {t["name"]: t for t in json.loads(block.group(1))["tiles"]}
        assert len(tiles) == 10
        assert (tiles["鄞州区"]["share"], tiles["鄞州区"]["borrowers"]) == (50.0, 1)
        assert "50.00%" in r.text
