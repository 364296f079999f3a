"""Known activity for the quality figures, made through the real services with a frozen
clock (months in Asia/Shanghai):

- 2026-09: demand d1 of entity A, claimed by 甲银行 (A) and 乙银行 (B) at 10:00. B
  contacts it after 1 h, A after 2 h and grants it at 15:00 (B's claim is then cancelled);
  the enterprise rates A 5. Demand d2 of entity B, claimed by A the next day, never
  contacted: the sweep expires it (overdue). An operator's callback on d2: satisfaction
  2 and a complaint.
- 2026-10: demand d3 of entity A, claimed by B, contacted after 4 h, still active.
- A third entity C in 海曙区 (330203), industry F, without a loan.
- A second TAX batch with 4 rejected values of 6 (2 unknown entities, a bad period, an
  unknown indicator)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from puhui.entities import service as entities
from puhui.ingest import service as ingest
from puhui.matching import service as matching
from puhui.matching.models import Callback
from puhui.matching.schemas import ClaimStep, DemandCreate, Rating
from tests.city import City, city, drain  # noqa: F401
from tests.entities.factories import record
from tests.matching.conftest import DEMAND, actor_of, market, shanghai  # noqa: F401

SEPT = shanghai(2026, 9, 2, 10, 0)  # a Wednesday
OCT = shanghai(2026, 10, 14, 10, 0)  # a Wednesday
NOW = shanghai(2026, 10, 20, 12, 0)


@dataclass
class Activity:
    town: City
    d1: int
    d2: int
    d3: int
    c: str  # USCC of entity C


def _raise(town: City, who: str, now: datetime) -> int:
    with town.factory.begin() as s:
        d = matching.create_demand(
            s, actor=actor_of(town, who), data=DemandCreate.model_validate(DEMAND), now=now
        )
        return d.id


def _claim(town: City, demand_id: int, who: str, now: datetime) -> int:
    with town.factory.begin() as s:
        return matching.claim_demand(s, actor=actor_of(town, who), demand_id=demand_id, now=now).id


def _step(town: City, d: int, c: int, who: str, to: str, now: datetime) -> None:
    body = {"to": to}
    if to in ("approved", "granted"):
        body.update(amount="500000", rate="4.1")
    with town.factory.begin() as s:
        matching.step(
            s,
            actor=actor_of(town, who),
            demand_id=d,
            claim_id=c,
            data=ClaimStep.model_validate(body),
            now=now,
        )


def refresh(town: City, now: datetime = NOW) -> None:
    """Recompute the quality rollups the service and coverage pages read."""
    from puhui.quality import service

    with town.factory.begin() as s:
        service.refresh(s, now=now)


@pytest.fixture
def activity(market, tmp_path: Path) -> Activity:  # noqa: F811
    town = market
    h = timedelta(hours=1)
    d1 = _raise(town, "ent_a", SEPT)
    a1 = _claim(town, d1, "cm_a", SEPT)
    b1 = _claim(town, d1, "cm_b", SEPT)
    _step(town, d1, b1, "cm_b", "contacted", SEPT + h)
    for n, to in enumerate(("contacted", "under_review", "approved", "granted"), start=2):
        _step(town, d1, a1, "cm_a", to, SEPT + n * h)
    with town.factory.begin() as s:
        matching.rate(
            s,
            actor=actor_of(town, "ent_a"),
            demand_id=d1,
            claim_id=a1,
            data=Rating(rating=5),
        )
    d2 = _raise(town, "ent_b", SEPT + timedelta(days=1))
    _claim(town, d2, "cm_a", SEPT + timedelta(days=1))
    with town.factory.begin() as s:
        matching.sweep(s, now=SEPT + timedelta(days=2, minutes=1))
        s.add(
            Callback(
                demand_id=d2,
                reason="stalled",
                status="done",
                created_at=SEPT + timedelta(days=3),
                called_at=SEPT + timedelta(days=3),
                reached=True,
                contacted_by_bank=False,
                satisfaction=2,
                complaint="没有银行联系我",
            )
        )
    d3 = _raise(town, "ent_a", OCT)
    b3 = _claim(town, d3, "cm_b", OCT)
    _step(town, d3, b3, "cm_b", "contacted", OCT + 4 * h)
    c = record("丙餐饮店", district="330203", industry_section="F", industry_division="62")
    with town.factory.begin() as s:
        entities.upsert(s, [c])
    path = tmp_path / "tax2.csv"
    path.write_text(
        "uscc,indicator,period,value\n"
        f"{town.a},OPR_TAX_TOTAL_YOY,2026-10,0.3\n"
        f"{town.b},OPR_TAX_TOTAL_YOY,2026-10,0.1\n"
        f"{record('未登记甲').uscc},OPR_TAX_TOTAL_YOY,2026-10,0.1\n"
        f"{record('未登记乙').uscc},OPR_TAX_TOTAL_YOY,2026-10,0.1\n"
        f"{town.a},OPR_TAX_TOTAL_YOY,2026-13,0.1\n"
        f"{town.a},NOPE_NOT_AN_INDICATOR,2026-10,1\n",
        encoding="utf-8",
    )
    out = ingest.ingest_path(
        town.factory, source_code="TAX", path=path, actor=None, via="cli", settings=town.settings
    )
    assert out.status == "committed"
    drain(town.factory)
    refresh(town)
    return Activity(town=town, d1=d1, d2=d2, d3=d3, c=c.uscc)
