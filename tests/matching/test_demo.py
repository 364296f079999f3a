"""The demo gives matching something to show, once."""

from __future__ import annotations

from sqlalchemy import func, select

from puhui.acquisition.models import FilterRun, SavedFilter
from puhui.matching.models import Claim, Demand, FinancingEvent, LoanCode, Product


def test_the_demo_seeds_products_an_event_a_code_and_demands_once(session):
    from puhui import demo
    from puhui.entities import service as entities
    from tests.entities.factories import record

    entities.upsert(session, [record(f"演示企业{i}") for i in range(3)])
    demo.create(session)
    demo.link_city(session)
    demo.link_city(session)  # a second run adds nothing

    def n(model) -> int:
        return session.scalar(select(func.count()).select_from(model))

    assert (n(Product), n(FinancingEvent), n(LoanCode)) == (2, 1, 1)
    # the demo enterprise's two demands (one claimed and contacted), and a history of one
    # demand each for the two other entities, so service quality and coverage show figures
    assert n(Demand) == 2 + 2
    # contact names are encrypted at rest: compared after decryption, not in SQL
    own = [d for d in session.scalars(select(Demand)) if d.contact_name == "示范企业财务"]
    (claim,) = session.scalars(select(Claim).where(Claim.demand_id.in_([d.id for d in own])))
    assert claim.status == "contacted" and claim.contacted_at is not None
    assert {d.channel for d in session.scalars(select(Demand))} == {"registered"}
    assert n(Claim) > 1
    assert (n(SavedFilter), n(FilterRun)) == (1, 1)  # bank_cm's weekly lead list, run once
