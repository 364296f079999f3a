"""The demo gives risk warning something to show, once."""

from __future__ import annotations

from sqlalchemy import func, select

from puhui.core.jobs import Job
from puhui.monitoring.models import Rule, Watch, WatchAssignee


def test_the_demo_seeds_a_watchlist_and_rules_once(session):
    from puhui import demo
    from puhui.entities import service as entities
    from tests.entities.factories import record

    entities.upsert(session, [record(f"演示企业{i}") for i in range(3)])
    demo.create(session)
    demo.link_city(session)
    demo.link_city(session)  # a second run adds nothing

    def n(model) -> int:
        return session.scalar(select(func.count()).select_from(model))

    watched = n(Watch)
    assert watched >= 3 and n(WatchAssignee) == watched
    assert n(Rule) == 4
    evaluations = session.scalar(
        select(func.count()).select_from(Job).where(Job.kind == "monitoring.evaluate_all")
    )
    assert evaluations == 4  # one full evaluation per rule-set version
