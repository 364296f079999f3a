"""The small city (tests/city.py) plus what matching needs: more banks, a product, an
event, a clock, and helpers to raise and claim demands through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from puhui.core.policy import Actor, InstitutionKind, Role
from puhui.matching.models import Claim, Demand
from puhui.notifications.models import Message
from tests import factories
from tests.city import city  # noqa: F401

DEMAND = {
    "amount": "500000",
    "term_months": 12,
    "purpose": "采购原材料",
    "guarantee_type": "credit",
    "contact_name": "张三",
    "contact_mobile": "13700000001",
}
PRODUCT = {
    "name": "甬城经营贷",
    "amount_min": "100000",
    "amount_max": "3000000",
    "term_min_months": 6,
    "term_max_months": 36,
    "rate_min": "3.2",
    "rate_max": "5.5",
    "guarantee_types": ["credit", "guarantee"],
    "documents": ["营业执照", "近一年纳税证明"],
}


def raise_demand(town, who: str = "ent_a", **extra: Any) -> dict[str, Any]:
    r = town.client.post("/api/v1/demands", json={**DEMAND, **extra}, headers=town.h(who))
    assert r.status_code == 201, r.text
    return r.json()


def claim(town, demand_id: int, who: str) -> Any:
    return town.client.post(f"/api/v1/demands/{demand_id}/claims", headers=town.h(who))


def step(town, demand_id: int, claim_id: int, who: str, to: str, **body: Any) -> Any:
    return town.client.post(
        f"/api/v1/demands/{demand_id}/claims/{claim_id}/events",
        json={"to": to, **body},
        headers=town.h(who),
    )


def count(town, model, *where) -> int:
    with town.factory() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def messages_to(town, user_id: int) -> list[Message]:
    with town.factory() as s:
        return list(
            s.scalars(select(Message).where(Message.user_id == user_id).order_by(Message.id))
        )


def add_banks(town, n: int) -> list[str]:
    """``n`` more banks, each with a customer manager; returns the managers' keys."""
    names = []
    with town.factory.begin() as s:
        for i in range(n):
            bank = factories.institution(s, name=f"第{i + 3}银行")
            key = f"cm_{i + 3}"
            town.users[key] = factories.user(s, Role.CUSTOMER_MANAGER, bank)
            town.banks[str(i + 3)] = bank.id
            names.append(key)
    return names


def actor_of(town, who: str) -> Actor:
    from puhui.accounts.models import Institution, User

    with town.factory() as s:
        user = s.get(User, town.users[who].id)
        inst = s.get(Institution, user.institution_id) if user.institution_id else None
        return Actor(
            user_id=user.id,
            username=user.username,
            role=Role(user.role),
            institution_id=user.institution_id,
            institution_kind=InstitutionKind(inst.kind) if inst else None,
            entity_uscc=user.entity_uscc,
        )


@pytest.fixture
def market(city):  # noqa: F811
    """The city with two more banks (four in all) and a product of bank A."""
    add_banks(city, 2)
    r = city.client.post("/api/v1/products", json=PRODUCT, headers=city.h("admin_a"))
    assert r.status_code == 201, r.text
    city.product = r.json()
    return city


def shanghai(*args: int) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(*args, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


__all__ = [
    "DEMAND",
    "PRODUCT",
    "Claim",
    "Demand",
    "add_banks",
    "claim",
    "count",
    "raise_demand",
    "shanghai",
    "step",
    "timedelta",
]
