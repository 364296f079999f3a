"""The rollups the service-quality and coverage pages read equal the direct computation
(the league over claims and the registry's counts), and the hourly job refreshes them."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from puhui.core import jobs
from puhui.core.policy import Actor, Role
from puhui.entities import service as entities
from puhui.matching import service as matching
from puhui.quality import service
from puhui.quality.models import FirstLoans, Median, Place, Refresh, ServiceMonth
from tests import factories
from tests.city import drain
from tests.quality.conftest import NOW, _claim, _raise, _step, refresh

REGULATOR = Actor(user_id=1, username="r", role=Role.REGULATOR)


def _direct_service(s, months: int, now=NOW):
    keys = service.month_keys(months, now)
    return matching.league_report(s, since=service.month_start(keys[0]), now=now), keys


def _more_claims(town) -> None:
    """Four demands claimed by both banks, contacted after different times, in August,
    September and October: odd and even numbers of contact times per group."""
    h = timedelta(hours=1)
    for days, who, hours in (
        (75, "ent_a", (1.5, 3)),
        (40, "ent_b", (7, 2)),
        (10, "ent_b", (5, None)),
        (5, "ent_a", (0.25, 9)),
    ):
        at = NOW - timedelta(days=days)
        d = _raise(town, who, at)
        for bank, n in zip(("cm_a", "cm_b"), hours, strict=True):
            c = _claim(town, d, bank, at)
            if n is not None:
                _step(town, d, c, bank, "contacted", at + n * h)


class TestEqualsDirect:
    def test_service_quality_for_every_window(self, activity):
        town = activity.town
        _more_claims(town)
        refresh(town)
        with town.factory() as s:
            for months in (1, 2, 3, 4, 12, 36):
                got = service.service_quality(s, actor=REGULATOR, months=months, now=NOW)
                direct, keys = _direct_service(s, months)
                assert got.as_of == NOW
                assert [r.model_dump(exclude={"rank"}) for r in got.rows] == [
                    r.model_dump() for r in direct.rows
                ], months
                assert got.trend == [m for m in direct.months if m.month in keys], months
                assert got.rows, months

    def test_coverage(self, activity):
        town = activity.town
        with town.factory() as s:
            got = service.coverage(s, months=12, now=NOW)
            places = entities.counts_by_place(s)
            loans = matching.first_loans(s)
        assert got.as_of == NOW
        assert got.entities == sum(n for *_, n in places)
        assert got.borrowers == sum(n for *_, n in loans) == 1
        by_section = {}
        for _d, section, n in places:
            by_section[section or "-"] = by_section.get(section or "-", 0) + n
        assert {i.code: i.entities for i in got.industries} == by_section

    def test_before_the_first_refresh_the_pages_are_empty(self, market):
        # no refresh has run: in this test's transaction (rolled back after it), whatever
        # an hourly job of another test's worker committed to the shared database is gone
        with market.factory.begin() as s:
            for model in (Refresh, ServiceMonth, Median, FirstLoans, Place):
                s.execute(delete(model))
        with market.factory() as s:
            assert service.last_refresh(s) is None
            report = service.service_quality(s, actor=REGULATOR, months=3, now=NOW)
            cover = service.coverage(s, months=3, now=NOW)
        assert (report.rows, report.as_of, cover.borrowers, cover.as_of) == ([], None, 0, None)
        factories.web_login(market.client, market.users["operator"].username)
        for page in ("/quality/service", "/quality/coverage"):
            r = market.client.get(page)
            assert r.status_code == 200, page
            assert "尚未计算" in r.text or "has not run" in r.text, page


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 3),
            st.sampled_from(["2026-08", "2026-09", "2026-10"]),
            st.floats(0, 500, allow_nan=False).map(lambda x: round(x, 3)),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_contact_medians_are_the_mean_of_the_middle_values(values):
    def median(xs):
        xs = sorted(xs)
        n = len(xs)
        middle = xs[(n - 1) // 2 : n // 2 + 1]
        return sum(middle) / len(middle)

    got = {(scope, i, m): h for scope, i, m, h in service.contact_medians(values)}
    for (scope, inst, month), hours in got.items():
        if scope == "m":
            expect = median([h for i, m, h in values if i == inst and m == month])
        elif scope == "w":
            expect = median([h for i, m, h in values if i == inst and m >= month])
        else:
            expect = median([h for _i, m, h in values if m == month])
        assert hours == expect
    assert {("p", 0, m) for _i, m, _h in values} <= set(got)


class TestJob:
    def test_the_job_refreshes_and_runs_hourly(self, activity):
        town = activity.town
        assert any(p.kind == service.REFRESH_JOB for p in jobs.periodic_schedules())
        d = _raise(town, "ent_b", NOW - timedelta(days=1))
        c = _claim(town, d, "cm_b", NOW - timedelta(days=1))
        _step(town, d, c, "cm_b", "contacted", NOW - timedelta(hours=20))
        with town.factory() as s:
            before = service.service_quality(s, actor=REGULATOR, months=1, now=NOW)
            runs_before = s.scalar(select(func.count()).select_from(Refresh))
        with town.factory.begin() as s:
            jobs.enqueue(s, service.REFRESH_JOB, {})
        drain(town.factory)
        with town.factory() as s:
            after = service.service_quality(s, actor=REGULATOR, months=1, now=NOW)
            runs = list(s.scalars(select(Refresh)))
        assert sum(r.claims for r in after.rows) == sum(r.claims for r in before.rows) + 1
        assert len(runs) == runs_before + 1 and after.as_of is not None and after.as_of > NOW

    def test_an_operator_queues_a_refresh(self, activity):
        from puhui.core.jobs import Job

        town = activity.town
        r = town.client.post("/api/v1/quality/refresh", headers=town.h("regulator"))
        assert r.status_code == 403
        r = town.client.post("/api/v1/quality/refresh", headers=town.h("operator"))
        assert r.status_code == 202, r.text
        with town.factory() as s:
            assert s.get(Job, r.json()["job_id"]).kind == service.REFRESH_JOB
        drain(town.factory)
        r = town.client.get("/api/v1/quality/service?months=3", headers=town.h("regulator"))
        assert r.json()["as_of"] > NOW.isoformat()[:10]
