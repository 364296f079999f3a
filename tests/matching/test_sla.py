"""Deadlines with a frozen clock: the working-day contact deadline, reminders to both
sides before it, expiry of an overdue claim back to the pool (counted against the
bank), the outcome deadline, unserved demands expiring, and the league table and
callbacks that watch all this."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from puhui.matching import machine, service
from puhui.matching.models import Callback, Claim, Demand
from puhui.matching.schemas import CallbackResult, CallbackSample, ClaimStep, DemandCreate
from puhui.notifications.models import Message
from tests.matching.conftest import DEMAND, actor_of, shanghai

FRIDAY_10 = shanghai(2026, 11, 20, 10, 0)  # a Friday


def _raise(market, now: datetime, who: str = "ent_a") -> int:
    with market.factory.begin() as s:
        d = service.create_demand(
            s, actor=actor_of(market, who), data=DemandCreate.model_validate(DEMAND), now=now
        )
        return d.id


def _claim(market, demand_id: int, who: str, now: datetime) -> int:
    with market.factory.begin() as s:
        return service.claim_demand(s, actor=actor_of(market, who), demand_id=demand_id, now=now).id


def _sweep(market, now: datetime) -> service.SweepResult:
    with market.factory.begin() as s:
        return service.sweep(s, now=now)


def _messages(market, user_id: int, text: str) -> int:
    with market.factory() as s:
        bodies = s.scalars(select(Message.body).where(Message.user_id == user_id)).all()
    return sum(text in b for b in bodies)


class TestContactDeadline:
    def test_claimed_on_friday_contact_is_due_monday(self, market):
        d = _raise(market, FRIDAY_10)
        c = _claim(market, d, "cm_a", FRIDAY_10)
        with market.factory() as s:
            claim = s.get(Claim, c)
            assert claim.contact_due_at == shanghai(2026, 11, 23, 10, 0)
            assert claim.outcome_due_at == FRIDAY_10 + timedelta(days=7)

    def test_both_sides_are_reminded_once_before_the_deadline(self, market):
        d = _raise(market, FRIDAY_10)
        _claim(market, d, "cm_a", FRIDAY_10)
        ent, cm = market.users["ent_a"].id, market.users["cm_a"].id
        assert _sweep(market, shanghai(2026, 11, 23, 5, 0)).reminded == 0  # 5 h before
        assert _sweep(market, shanghai(2026, 11, 23, 7, 0)).reminded == 1  # within 4 h
        assert _sweep(market, shanghai(2026, 11, 23, 8, 0)).reminded == 0  # once only
        with market.factory() as s:
            reminded = s.scalars(
                select(Message.user_id).where(Message.purpose == "matching.remind_contact")
            ).all()
        assert sorted(set(reminded)) == sorted({ent, cm})

    def test_an_overdue_claim_is_released_to_the_pool_and_counted(self, market):
        d = _raise(market, FRIDAY_10)
        c = _claim(market, d, "cm_a", FRIDAY_10)
        assert _sweep(market, shanghai(2026, 11, 23, 9, 59)).expired_claims == 0
        result = _sweep(market, shanghai(2026, 11, 23, 10, 1))
        assert result.expired_claims == 1
        with market.factory() as s:
            claim, demand = s.get(Claim, c), s.get(Demand, d)
            assert (claim.status, claim.overdue) == ("expired", True)
            assert (demand.status, demand.active_claims) == ("open", 0)
            assert demand.returned_at is not None
        assert _sweep(market, shanghai(2026, 11, 23, 10, 2)).expired_claims == 0  # idempotent
        # another bank can take it now; the league counts the miss against bank A
        _claim(market, d, "cm_b", shanghai(2026, 11, 23, 11, 0))
        with market.factory() as s:
            rows = {r.institution_name: r for r in service.league(s)}
        assert rows["甲银行"].overdue == 1 and rows["甲银行"].within_sla == 0
        assert rows["乙银行"].overdue == 0

    def test_a_contacted_claim_must_still_reach_an_outcome_in_seven_days(self, market):
        d = _raise(market, FRIDAY_10)
        c = _claim(market, d, "cm_a", FRIDAY_10)
        with market.factory.begin() as s:
            service.step(
                s,
                actor=actor_of(market, "cm_a"),
                demand_id=d,
                claim_id=c,
                data=ClaimStep(to="contacted"),
                now=FRIDAY_10 + timedelta(hours=2),
            )
        assert _sweep(market, shanghai(2026, 11, 24, 12, 0)).expired_claims == 0
        assert _sweep(market, FRIDAY_10 + timedelta(days=7, minutes=1)).expired_claims == 1
        with market.factory() as s:
            assert s.get(Claim, c).reason == "No outcome by the deadline."
        with market.factory() as s:
            (row,) = [r for r in service.league(s) if r.institution_name == "甲银行"]
        assert row.median_contact_hours == 2.0 and row.within_sla == 1.0

    def test_an_approved_claim_is_not_expired(self, market):
        d = _raise(market, FRIDAY_10)
        c = _claim(market, d, "cm_a", FRIDAY_10)
        actor = actor_of(market, "cm_a")
        for n, to in enumerate(("contacted", "under_review", "approved"), start=1):
            with market.factory.begin() as s:
                step = ClaimStep.model_validate({"to": to, "amount": "100000", "rate": "4.1"})
                service.step(
                    s,
                    actor=actor,
                    demand_id=d,
                    claim_id=c,
                    data=step,
                    now=FRIDAY_10 + timedelta(hours=n),
                )
        assert _sweep(market, FRIDAY_10 + timedelta(days=8)).expired_claims == 0


class TestUnservedDemands:
    def test_a_demand_nobody_takes_expires_and_the_enterprise_is_told(self, market):
        d = _raise(market, FRIDAY_10)
        assert _sweep(market, FRIDAY_10 + timedelta(days=29)).expired_demands == 0
        assert _sweep(market, FRIDAY_10 + timedelta(days=30, seconds=1)).expired_demands == 1
        with market.factory() as s:
            assert s.get(Demand, d).status == "expired"
        assert _messages(market, market.users["ent_a"].id, str(d)) >= 2


class TestCallbacks:
    def test_sampling_takes_a_share_and_every_stalled_demand(self, market):
        now = FRIDAY_10
        stalled = _raise(market, now - timedelta(days=2))
        fresh = [_raise(market, now - timedelta(hours=1)) for _ in range(2)]
        served = _raise(market, now - timedelta(hours=3))
        _claim(market, served, "cm_a", now - timedelta(hours=2))
        operator = actor_of(market, "operator")
        with market.factory.begin() as s:
            result = service.sample_callbacks(
                s, actor=operator, data=CallbackSample(share=0.5, seed=7), now=now
            )
        assert result.stalled == 1
        assert result.sampled == 2  # half of the 3 not-yet-called demands, rounded up
        with market.factory() as s:
            queued = {c.demand_id: c.reason for c in s.scalars(select(Callback))}
        assert queued[stalled] == "stalled"
        assert sum(1 for d in [*fresh, served] if d in queued) == 2
        with market.factory.begin() as s:
            again = service.sample_callbacks(
                s, actor=operator, data=CallbackSample(share=1.0, seed=7), now=now
            )
        assert again.stalled == 0 and again.sampled == 1  # each demand is called once

    def test_a_recorded_call_feeds_the_league_table(self, market):
        d = _raise(market, FRIDAY_10)
        _claim(market, d, "cm_a", FRIDAY_10)
        operator = actor_of(market, "operator")
        with market.factory.begin() as s:
            service.sample_callbacks(
                s, actor=operator, data=CallbackSample(share=1.0), now=FRIDAY_10
            )
            (cb,) = s.scalars(select(Callback).where(Callback.demand_id == d)).all()
            cb_id = cb.id
        r = market.client.post(
            f"/api/v1/callbacks/{cb_id}",
            json={
                "reached": True,
                "contacted_by_bank": False,
                "satisfaction": 2,
                "complaint": "没人联系",
            },
            headers=market.h("operator"),
        )
        assert r.status_code == 200 and r.json()["status"] == "done"
        half = market.client.post(
            f"/api/v1/callbacks/{cb_id}", json={"reached": True}, headers=market.h("operator")
        )
        assert half.status_code == 422
        league = market.client.get("/api/v1/matching/league", headers=market.h("regulator")).json()
        row = next(r for r in league if r["institution_name"] == "甲银行")
        assert row["satisfaction"] == 2.0 and row["ratings"] == 1
        with market.factory() as s:
            assert CallbackResult(reached=False).satisfaction is None
            assert s.get(Callback, cb_id).complaint == "没人联系"


@given(
    start=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1)),  # noqa: DTZ001
    n=st.integers(0, 15),
    holidays=st.sets(st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 3, 1)), max_size=20),
)
def test_working_day_deadlines(start, n, holidays):
    begin = start.replace(tzinfo=machine.SHANGHAI)
    due = machine.add_working_days(begin, n, holidays).astimezone(machine.SHANGHAI)
    assert due.time() == begin.time()
    if n == 0:
        assert due == begin
        return
    assert machine.is_working_day(due.date(), holidays)
    days = [
        begin.date() + timedelta(days=i) for i in range(1, (due.date() - begin.date()).days + 1)
    ]
    assert sum(machine.is_working_day(d, holidays) for d in days) == n


class TestGrades:
    def test_open_demands_take_todays_grade_after_a_snapshot_change(self, market):
        from puhui.core import jobs
        from puhui.core.snapshot import SNAPSHOT_CHANGED
        from puhui.profile import service as profile
        from tests.city import drain

        d = _raise(market, FRIDAY_10)
        with market.factory.begin() as s:
            demand = s.get(Demand, d)
            entity_id, grade = demand.entity_id, demand.health_grade
            assert grade is not None  # the city is scored
            demand.health_grade = None  # as if raised before the first scoring
        with market.factory.begin() as s:
            jobs.publish(s, SNAPSHOT_CHANGED, {"version": 0})
        drain(market.factory)
        with market.factory() as s:
            assert s.get(Demand, d).health_grade == grade == profile.health_grade(entity_id)
        with market.factory.begin() as s:
            assert service.refresh_grades(s) == 0  # nothing changed since
        pool = market.client.get(f"/api/v1/demands/pool?grade={grade}", headers=market.h("cm_a"))
        assert d in [x["id"] for x in pool.json()["items"]]
