"""Evaluation from lake batches to alerts and notices: every rule kind, dedupe, snooze,
authorization (pending, arriving, revoked), notices and quiet hours, full re-evaluation."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import select

from puhui.core.jobs import Job
from puhui.core.orm import utcnow
from puhui.monitoring import evaluation, service
from puhui.monitoring.models import Snooze, WatchAssignee
from puhui.notifications.models import Message
from tests import factories
from tests.monitoring import helpers
from tests.monitoring.helpers import alerts, build, grant, revoke, rule

SH = evaluation.SHANGHAI
NOON = datetime.combine(utcnow().astimezone(SH).date(), time(12), SH)
NIGHT = datetime.combine(utcnow().astimezone(SH).date(), time(23, 30), SH)


@pytest.fixture
def world(session, tmp_path):
    return build(session, tmp_path / "lake")


def run(session, world, version, now=NOON):
    return evaluation.evaluate_batch(session, lake=world.lake, lake_version=version, now=now)


def fired(session, world) -> set[tuple[int, int]]:
    """(entity index, period) of the bank's alerts."""
    index = {e: k for k, e in enumerate(world.ids)}
    return {(index[a.entity_id], a.period) for a in alerts(session, world.bank.id)}


class TestEveryRuleKind:
    def test_value_threshold(self, session, world):
        rule(session, world, "OPR_TAX_ARREARS", "threshold", "gt", 1000)
        e0, e1, e2 = world.ids
        v = world.write(
            session,
            [
                (e0, "OPR_TAX_ARREARS", 202601, 0),
                (e1, "OPR_TAX_ARREARS", 202601, 5000),
                (e2, "OPR_TAX_ARREARS", 202601, 1000),
            ],
        )
        outcome = run(session, world, v)
        assert fired(session, world) == {(1, 202601)}
        assert (outcome.evaluated, outcome.created) == (3, 1)
        (a,) = alerts(session, world.bank.id)
        assert (a.value, a.measure, a.threshold, a.op, a.severity) == (
            5000,
            5000,
            1000,
            "gt",
            "high",
        )

    def test_change_against_the_previous_period_absolute(self, session, world):
        rule(session, world, "OPR_UTILITY_ARREARS", "change_abs", "gt", 100)
        e0, e1, e2 = world.ids
        world.write(
            session,
            [(e0, "OPR_UTILITY_ARREARS", 202511, 100), (e1, "OPR_UTILITY_ARREARS", 202511, 100)],
        )
        v = world.write(
            session,
            [
                (e0, "OPR_UTILITY_ARREARS", 202601, 300),
                (e1, "OPR_UTILITY_ARREARS", 202601, 150),
                (e2, "OPR_UTILITY_ARREARS", 202601, 900),
            ],  # no previous period: undefined
        )
        run(session, world, v)
        assert fired(session, world) == {(0, 202601)}
        (a,) = alerts(session, world.bank.id)
        assert (a.value, a.base_value, a.measure) == (300, 100, 200)  # previous reported period

    def test_change_against_the_previous_period_percent(self, session, world):
        rule(session, world, "OPR_UTILITY_ARREARS", "change_pct", "ge", 50)
        e0, e1, e2 = world.ids
        world.write(
            session,
            [
                (e0, "OPR_UTILITY_ARREARS", 202512, 100),
                (e1, "OPR_UTILITY_ARREARS", 202512, 100),
                (e2, "OPR_UTILITY_ARREARS", 202512, 0),
            ],
        )
        v = world.write(
            session,
            [
                (e0, "OPR_UTILITY_ARREARS", 202601, 150),
                (e1, "OPR_UTILITY_ARREARS", 202601, 120),
                (e2, "OPR_UTILITY_ARREARS", 202601, 50),
            ],
        )  # from zero
        run(session, world, v)
        assert fired(session, world) == {(0, 202601)}
        assert alerts(session, world.bank.id)[0].measure == pytest.approx(50.0)

    def test_year_on_year_absolute_and_percent(self, session, world):
        rule(session, world, "OPR_TAX_ARREARS", "yoy_abs", "gt", 150)
        rule(session, world, "OPR_TAX_ARREARS", "yoy_pct", "le", -50, severity="low")
        e0, e1, e2 = world.ids
        world.write(
            session,
            [
                (e0, "OPR_TAX_ARREARS", 202501, 100),
                (e1, "OPR_TAX_ARREARS", 202501, 1000),
                (e2, "OPR_TAX_ARREARS", 202502, 1000),
            ],
        )  # not the same month
        world.write(session, [(e0, "OPR_TAX_ARREARS", 202512, 5000)])  # previous, not year-ago
        v = world.write(
            session,
            [
                (e0, "OPR_TAX_ARREARS", 202601, 300),
                (e1, "OPR_TAX_ARREARS", 202601, 400),
                (e2, "OPR_TAX_ARREARS", 202601, 0),
            ],
        )
        run(session, world, v)
        got = {(a.kind, world.ids.index(a.entity_id), a.base_value) for a in alerts(session)}
        assert got == {("yoy_abs", 0, 100.0), ("yoy_pct", 1, 1000.0)}

    def test_new_record_of_a_flag(self, session, world):
        rule(session, world, "PRP_REAL_ESTATE_SEIZED", "new_event")
        e0, e1, e2 = world.ids
        world.write(
            session,
            [(e0, "PRP_REAL_ESTATE_SEIZED", 202512, 0), (e1, "PRP_REAL_ESTATE_SEIZED", 202512, 1)],
        )
        v = world.write(
            session,
            [
                (e0, "PRP_REAL_ESTATE_SEIZED", 202601, 1),
                (e1, "PRP_REAL_ESTATE_SEIZED", 202601, 1),  # still seized
                (e2, "PRP_REAL_ESTATE_SEIZED", 202601, 1),
            ],
        )  # first record
        run(session, world, v)
        assert fired(session, world) == {(0, 202601), (2, 202601)}

    def test_new_record_of_a_count(self, session, world):
        rule(session, world, "NEG_ADMIN_PENALTIES_NEW", "new_event", severity="medium")
        e0, e1, e2 = world.ids
        world.write(session, [(e1, "NEG_ADMIN_PENALTIES_NEW", 202512, 1)])
        v = world.write(
            session,
            [
                (e0, "NEG_ADMIN_PENALTIES_NEW", 202601, 0),
                (e1, "NEG_ADMIN_PENALTIES_NEW", 202601, 2),  # new ones again
                (e2, "NEG_ADMIN_PENALTIES_NEW", 202601, None),
            ],
        )
        run(session, world, v)
        assert fired(session, world) == {(1, 202601)}

    def test_a_disabled_rule_and_an_unchanged_indicator_are_not_judged(self, session, world):
        r = rule(session, world, "OPR_TAX_ARREARS", "threshold", "gt", 0)
        r.enabled = False
        rule(session, world, "OPR_SS_ARREARS", "threshold", "gt", 0)
        v = world.write(session, [(world.ids[0], "OPR_TAX_ARREARS", 202601, 99)])
        assert run(session, world, v).evaluated == 0
        assert alerts(session, world.bank.id) == []


class TestOneAlertPerRuleEntityPeriod:
    def test_the_same_batch_twice_and_the_data_sent_again(self, session, world):
        rule(session, world, "OPR_TAX_ARREARS", "threshold", "gt", 0)
        row = [(world.ids[0], "OPR_TAX_ARREARS", 202601, 10)]
        v = world.write(session, row)
        assert run(session, world, v).created == 1
        assert run(session, world, v).created == 0
        again = world.write(session, row)  # the department sends the file again
        outcome = run(session, world, again)
        assert (outcome.fired, outcome.created) == (1, 0)
        later = world.write(session, [(world.ids[0], "OPR_TAX_ARREARS", 202602, 10)])
        assert run(session, world, later).created == 1  # a new data period is a new alert
        assert len(alerts(session, world.bank.id)) == 2

    def test_a_resent_batch_sends_no_second_notice(self, session, world):
        rule(session, world, "OPR_TAX_ARREARS", "threshold", "gt", 0)
        row = [(world.ids[0], "OPR_TAX_ARREARS", 202601, 10)]
        run(session, world, world.write(session, row))
        run(session, world, world.write(session, row))
        sms = session.scalars(
            select(Message).where(Message.user_id == world.manager.id, Message.channel == "sms")
        ).all()
        assert len(sms) == 1


class TestSnooze:
    def test_a_snoozed_rule_is_silent_for_that_entity_until_the_date(self, session, world):
        r = rule(session, world, "OPR_TAX_ARREARS", "threshold", "gt", 0)
        today = NOON.date()
        session.add(Snooze(rule_id=r.id, entity_id=world.ids[0], until=today))
        session.add(Snooze(rule_id=r.id, entity_id=world.ids[1], until=today - timedelta(days=1)))
        session.flush()
        v = world.write(session, [(e, "OPR_TAX_ARREARS", 202601, 10) for e in world.ids])
        run(session, world, v)
        assert fired(session, world) == {(1, 202601), (2, 202601)}
        # tomorrow the snooze is over: the next period alerts for entity 0 again
        v2 = world.write(session, [(world.ids[0], "OPR_TAX_ARREARS", 202602, 10)])
        run(session, world, v2, now=NOON + timedelta(days=1))
        assert (0, 202602) in fired(session, world)


class TestAuthorization:
    def test_pending_entries_are_not_monitored_until_the_authorization_arrives(
        self, session, tmp_path
    ):
        world = build(session, tmp_path / "lake", consented=0)
        rule(session, world, "OPR_TAX_ARREARS", "threshold", "gt", 0)
        v = world.write(session, [(world.ids[0], "OPR_TAX_ARREARS", 202601, 10)])
        assert run(session, world, v).evaluated == 0
        actor = _actor(session, world)
        from puhui.core.pagination import PageParams

        states = {
            w.uscc: w.state.value
            for w in service.list_watches(session, actor=actor, params=PageParams()).items
        }
        assert set(states.values()) == {"pending"}
        grant(session, world.bank.id, world.ids[0])
        states = {
            w.uscc: w.state.value
            for w in service.list_watches(session, actor=actor, params=PageParams()).items
        }
        assert states[world.usccs[0]] == "monitored"
        assert run(session, world, v).created == 1

    def test_a_revoked_authorization_stops_monitoring_at_once(self, session, world):
        rule(session, world, "OPR_TAX_ARREARS", "threshold", "gt", 0)
        e0 = world.ids[0]
        v = world.write(session, [(e0, "OPR_TAX_ARREARS", 202601, 10)])
        revoke(session, world.consents[e0])
        assert run(session, world, v).created == 0
        assert alerts(session, world.bank.id) == []

    def test_an_expired_authorization_is_not_live(self, session, world):
        rule(session, world, "OPR_TAX_ARREARS", "threshold", "gt", 0)
        v = world.write(session, [(world.ids[0], "OPR_TAX_ARREARS", 202601, 10)])
        assert run(session, world, v, now=NOON + timedelta(days=400)).created == 0

    def test_another_bank_sees_nothing_of_this_banks_watchlist(self, session, world):
        other = factories.institution(session)
        grant(session, other.id, world.ids[0])  # authorized, but not on its watchlist
        from puhui.monitoring.models import Rule

        session.add(
            Rule(
                institution_id=other.id,
                name="x",
                kind="threshold",
                op="gt",
                threshold=0,
                severity="high",
                enabled=True,
                revision=1,
                indicator_id=world.indicator(session, "OPR_TAX_ARREARS"),
            )
        )
        session.flush()
        v = world.write(session, [(world.ids[0], "OPR_TAX_ARREARS", 202601, 10)])
        run(session, world, v)
        assert alerts(session, other.id) == []


def _actor(session, world):
    from puhui.accounts import service as accounts

    return accounts.actor_by_username(session, world.manager.username)


class TestNotices:
    def test_the_assigned_managers_get_an_inbox_message_and_one_sms(self, session, world):
        other = factories.user(session, helpers.Role.RISK_MANAGER, world.bank, mobile="13700137000")
        watch_ids = session.scalars(
            select(helpers.Watch.id).where(helpers.Watch.entity_id == world.ids[0])
        ).all()
        session.add(WatchAssignee(watch_id=watch_ids[0], user_id=other.id))
        session.flush()
        rule(session, world, "OPR_TAX_ARREARS", "threshold", "gt", 0)
        v = world.write(session, [(e, "OPR_TAX_ARREARS", 202601, 10) for e in world.ids[:2]])
        run(session, world, v)
        mine = session.scalars(select(Message).where(Message.user_id == other.id)).all()
        assert sorted(m.channel for m in mine) == ["inbox", "sms"]  # entity 0 only
        assert "1" in mine[0].body
        fallback = session.scalars(
            select(Message).where(Message.user_id == world.manager.id)
        ).all()  # entity 1 has no assignee: the institution's risk managers
        assert sorted(m.channel for m in fallback) == ["inbox", "sms"]
        deliver = session.scalars(select(Job).where(Job.kind == "notifications.deliver")).all()
        assert {j.payload["message_id"] for j in deliver} >= {
            m.id for m in [*mine, *fallback] if m.channel == "sms"
        }
        assert all(a.sms_at is not None for a in alerts(session, world.bank.id))

    def test_low_severity_waits_for_the_daily_digest(self, session, world):
        rule(session, world, "OPR_TAX_ARREARS", "threshold", "gt", 0, severity="low")
        run(session, world, world.write(session, [(world.ids[0], "OPR_TAX_ARREARS", 202601, 1)]))
        channels = [
            m.channel
            for m in session.scalars(select(Message).where(Message.user_id == world.manager.id))
        ]
        assert channels == ["inbox"]
        assert evaluation.daily_digest(session, now=NOON + timedelta(hours=20)) == 1
        sms = session.scalars(
            select(Message).where(Message.user_id == world.manager.id, Message.channel == "sms")
        ).all()
        assert len(sms) == 1 and sms[0].template == evaluation.TEMPLATE_DIGEST
        assert evaluation.daily_digest(session, now=NOON + timedelta(hours=21)) == 0

    def test_quiet_hours_hold_the_sms_until_they_end(self, session, world):
        rule(session, world, "OPR_TAX_ARREARS", "threshold", "gt", 0)
        run(
            session,
            world,
            world.write(session, [(world.ids[0], "OPR_TAX_ARREARS", 202601, 1)]),
            now=NIGHT,
        )
        channels = [
            m.channel
            for m in session.scalars(select(Message).where(Message.user_id == world.manager.id))
        ]
        assert channels == ["inbox"]
        job = session.scalars(select(Job).where(Job.kind == evaluation.DEFERRED_JOB)).one()
        assert job.run_at.astimezone(SH).time() == time(8, 0)
        assert job.run_at.astimezone(SH).date() == NIGHT.date() + timedelta(days=1)
        assert evaluation.deferred_sms(session, now=NIGHT + timedelta(hours=1)) == 0  # still quiet
        assert evaluation.deferred_sms(session, now=job.run_at) == 1
        sms = session.scalars(
            select(Message).where(Message.user_id == world.manager.id, Message.channel == "sms")
        ).all()
        assert len(sms) == 1


class TestQuietHours:
    @pytest.mark.parametrize(
        ("text", "local", "ends"),
        [
            ("22:00-08:00", time(23, 0), time(8, 0)),
            ("22:00-08:00", time(7, 59), time(8, 0)),
            ("22:00-08:00", time(8, 0), None),
            ("12:00-13:30", time(12, 30), time(13, 30)),
            ("12:00-13:30", time(14, 0), None),
            ("", time(3, 0), None),
        ],
    )
    def test_quiet_until(self, text, local, ends):
        now = datetime.combine(NOON.date(), local, SH)
        until = evaluation.quiet_until(now, evaluation.parse_quiet_hours(text))
        assert (until.astimezone(SH).time() if until else None) == ends
        if until is not None:
            assert until > now

    def test_malformed_quiet_hours(self):
        with pytest.raises(ValueError):
            evaluation.parse_quiet_hours("22:00")
        with pytest.raises(ValueError):
            evaluation.parse_quiet_hours("08:00-08:00")


class TestFullEvaluation:
    def test_the_latest_period_of_every_monitored_pair_is_judged(self, session, world):
        e0, e1, e2 = world.ids
        world.write(
            session,
            [
                (e0, "OPR_TAX_ARREARS", 202512, 50),
                (e0, "OPR_TAX_ARREARS", 202601, 0),
                (e1, "OPR_TAX_ARREARS", 202601, 70),
                (e2, "OPR_SS_ARREARS", 202601, 70),
            ],
        )
        rule(session, world, "OPR_TAX_ARREARS", "threshold", "gt", 0)
        outcome = evaluation.evaluate_all(session, lake=world.lake, run="t", now=NOON)
        assert fired(session, world) == {(1, 202601)}  # entity 0's latest period is clean
        assert outcome.created == 1
        again = evaluation.evaluate_all(session, lake=world.lake, run="t2", now=NOON)
        assert again.created == 0


def test_a_batch_touching_many_entities_reads_the_watchlists_whole(session, world, monkeypatch):
    monkeypatch.setattr(evaluation, "WHOLE_LIST_ABOVE", 1)
    rule(session, world, "OPR_TAX_ARREARS", "threshold", "gt", 0)
    v = world.write(session, [(e, "OPR_TAX_ARREARS", 202601, 10) for e in world.ids[:2]])
    assert run(session, world, v).created == 2
    assert fired(session, world) == {(0, 202601), (1, 202601)}
