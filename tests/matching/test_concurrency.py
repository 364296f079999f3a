"""The 3-bank cap under real concurrency: 200 customer managers of 50 banks claim one
demand at the same moment, each in its own connection and transaction, on a database
where commits are real (PostgreSQL in CI; SQLite too, one writer at a time)."""

from __future__ import annotations

import os
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from puhui import migrate
from puhui.accounts import service as accounts
from puhui.accounts.schemas import UserCreate
from puhui.core.db import make_engine, session_scope
from puhui.core.errors import PuhuiError
from puhui.core.policy import Actor, InstitutionKind, Role
from puhui.entities import service as entities
from puhui.matching import service
from puhui.matching.models import Claim, Demand
from puhui.matching.schemas import DemandCreate
from tests import factories
from tests.conftest import create_database
from tests.entities.factories import record
from tests.matching.conftest import DEMAND

BANKS, MANAGERS_EACH = 50, 4


@pytest.fixture
def committed(tmp_path, engine):
    """A private database whose transactions really commit."""
    url, drop = create_database(os.environ.get("PUHUI_TEST_DATABASE_URL"), tmp_path, "claims")
    eng = (
        make_engine(url)
        if url.startswith("sqlite")
        else make_engine(url, pool_size=60, max_overflow=0, pool_timeout=120)
    )
    migrate.upgrade(eng)
    yield sessionmaker(eng, expire_on_commit=False)
    eng.dispose()
    drop()


def _world(factory) -> tuple[int, list[Actor]]:
    with session_scope(factory) as s:
        rec = record("并发测试有限公司")
        entities.upsert(s, [rec])
        ent = accounts.create_user(
            s,
            actor=None,
            data=UserCreate(
                username="rush_ent",
                password=factories.PASSWORD,
                role=Role.ENTERPRISE,
                entity_uscc=rec.uscc,
                mobile="13700000009",
            ),
        )
        ent_actor = Actor(
            user_id=ent.id, username=ent.username, role=Role.ENTERPRISE, entity_uscc=rec.uscc
        )
        demand = service.create_demand(s, actor=ent_actor, data=DemandCreate.model_validate(DEMAND))
        managers = []
        for b in range(BANKS):
            bank = factories.institution(s, name=f"并发银行{b:02d}")
            for m in range(MANAGERS_EACH):
                managers.append(
                    Actor(
                        user_id=None,
                        username=f"cm{b}_{m}",
                        role=Role.CUSTOMER_MANAGER,
                        institution_id=bank.id,
                        institution_kind=InstitutionKind.BANK,
                    )
                )
        return demand.id, managers


def test_200_claimers_from_50_banks_get_exactly_3_claims(committed):
    demand_id, managers = _world(committed)
    start = threading.Barrier(len(managers))

    def claim(actor: Actor) -> str:
        start.wait()
        try:
            with session_scope(committed) as s:
                service.claim_demand(s, actor=actor, demand_id=demand_id)
            return "201"
        except PuhuiError as exc:
            return f"{exc.status} {exc.code}"

    with ThreadPoolExecutor(max_workers=len(managers)) as pool:
        outcomes = Counter(pool.map(claim, managers))
    assert outcomes["201"] == 3, outcomes
    assert set(outcomes) <= {"201", "409 claims_full", "409 already_claimed"}, outcomes
    with committed() as s:
        claims = s.scalars(select(Claim).where(Claim.demand_id == demand_id)).all()
        assert len(claims) == 3
        assert len({c.institution_id for c in claims}) == 3
        assert s.get(Demand, demand_id).active_claims == 3
        assert s.scalar(select(func.count()).select_from(Claim)) == 3
