"""A hypothesis state machine over create, claim, progress, release, decline, choose,
cancel and the deadline sweep (with a clock it moves): it looks for a way to exceed
three active claims, to claim a closed demand, to claim twice for one institution or to
leave a demand or claim in an invalid state."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from puhui.core.errors import PuhuiError
from puhui.matching import machine, service
from puhui.matching.models import Claim, Demand
from puhui.matching.schemas import MAX_CLAIMS, ClaimStatus, ClaimStep, DemandCreate, DemandStatus
from tests.matching.conftest import DEMAND, actor_of, shanghai

START = shanghai(2026, 11, 20, 10, 0)
BANKS = ("cm_a", "cm_b", "cm_3", "cm_4")
STEPS = [s.value for s in ClaimStatus if s is not ClaimStatus.CLAIMED]


def test_no_sequence_of_actions_breaks_the_rules(market, connection):
    actors = {who: actor_of(market, who) for who in (*BANKS, "ent_a", "rm_a")}
    factory = market.factory

    class Matching(RuleBasedStateMachine):
        demands = Bundle("demands")

        def __init__(self) -> None:
            super().__init__()
            self.savepoint = connection.begin_nested()
            self.now = START
            self.closed_at: dict[int, object] = {}

        def teardown(self) -> None:
            self.savepoint.rollback()

        def _do(self, fn, *args, **kwargs):
            try:
                with factory.begin() as s:
                    return fn(s, *args, **kwargs)
            except PuhuiError as exc:
                assert exc.status in (404, 409, 422), exc
                return None

        @rule(target=demands)
        def create(self):
            data = DemandCreate.model_validate(DEMAND)
            d = self._do(service.create_demand, actor=actors["ent_a"], data=data, now=self.now)
            if d is None:  # five open demands at most
                with factory() as s:
                    return s.scalars(select(Demand.id).order_by(Demand.id.desc())).first()
            return d.id

        @rule(demand=demands, who=st.sampled_from(BANKS))
        def claim(self, demand, who):
            with factory() as s:
                before = s.get(Demand, demand)
                was_open = before.status == DemandStatus.OPEN.value and before.expires_at > self.now
                was_full = before.active_claims >= MAX_CLAIMS
                had = s.scalars(
                    select(Claim).where(
                        Claim.demand_id == demand,
                        Claim.institution_id == actors[who].institution_id,
                    )
                ).first()
            got = self._do(service.claim_demand, actor=actors[who], demand_id=demand, now=self.now)
            if got is not None:
                assert was_open and not was_full and had is None

        @rule(demand=demands, order=st.permutations(BANKS))
        def rush(self, demand, order):
            """Every bank tries to claim the same demand, one after another."""
            for who in order:
                self.claim(demand, who)

        @rule(
            demand=demands,
            pick=st.integers(0, 3),
            to=st.sampled_from(STEPS),
            side=st.sampled_from(["bank", "enterprise"]),
        )
        def step(self, demand, pick, to, side):
            with factory() as s:
                claims = s.scalars(
                    select(Claim).where(Claim.demand_id == demand).order_by(Claim.id)
                ).all()
                if not claims:
                    return
                c = claims[pick % len(claims)]
                state, bank = c.status, c.institution_id
            who = next(w for w in BANKS if actors[w].institution_id == bank)
            if who == "cm_a" and to == "granted":
                who = "rm_a"  # a risk manager of the same bank may record it too
            actor = actors["ent_a"] if side == "enterprise" else actors[who]
            body = ClaimStep.model_validate(
                {"to": to, "reason": "理由说明", "amount": "100000", "rate": "4.35"}
            )
            moved = self._do(
                service.step, actor=actor, demand_id=demand, claim_id=c.id, data=body, now=self.now
            )
            assert (moved is not None) == machine.allowed(state, to, side)

        @rule(demand=demands, pick=st.integers(0, 3))
        def choose(self, demand, pick):
            with factory() as s:
                claims = s.scalars(
                    select(Claim.id).where(Claim.demand_id == demand).order_by(Claim.id)
                ).all()
            if claims:
                self._do(
                    service.choose,
                    actor=actors["ent_a"],
                    demand_id=demand,
                    claim_id=claims[pick % len(claims)],
                    now=self.now,
                )

        @rule(demand=demands)
        def cancel(self, demand):
            self._do(
                service.cancel_demand,
                actor=actors["ent_a"],
                demand_id=demand,
                reason="不再需要",
                now=self.now,
            )

        @rule(hours=st.integers(1, 24 * 12))
        def time_passes(self, hours):
            self.now += timedelta(hours=hours)
            self._do(service.sweep, now=self.now)

        @invariant()
        def rules_hold(self):
            with factory() as s:
                for d in s.scalars(select(Demand)):
                    claims = s.scalars(select(Claim).where(Claim.demand_id == d.id)).all()
                    active = [c for c in claims if c.status in machine.ACTIVE]
                    assert d.active_claims == len(active) <= MAX_CLAIMS
                    assert d.status in {x.value for x in DemandStatus}
                    assert all(c.status in {x.value for x in ClaimStatus} for c in claims)
                    assert len({c.institution_id for c in claims}) == len(claims)
                    if d.status != DemandStatus.OPEN.value:
                        assert not active and d.closed_at is not None
                        first_close = self.closed_at.setdefault(d.id, d.closed_at)
                        assert first_close == d.closed_at  # a closed demand never reopens
                        assert all(c.created_at <= d.closed_at for c in claims)
                    granted = [c for c in claims if c.status == "granted"]
                    assert len(granted) <= 1
                    assert (d.status == "granted") == bool(granted)
                    for c in claims:
                        if c.status in machine.FINAL:
                            assert c.ended_at is not None
                        if c.status in {"approved", "granted"}:
                            assert c.amount_fen and c.rate_bp

    run_state_machine_as_test(
        Matching,
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
