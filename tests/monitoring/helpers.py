"""Building a monitored world for the monitoring tests: a bank with a risk manager,
entities on its watchlist with (or without) a live monitoring authorization, rules, and a
lake of their data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from puhui.catalog import service as catalog
from puhui.consent.models import GRANTED, REVOKED, Consent
from puhui.core.lake import Lake
from puhui.core.orm import utcnow
from puhui.core.policy import Role
from puhui.entities import service as entities
from puhui.monitoring.models import Alert, Rule, RuleSet, Snooze, Watch, WatchAssignee
from tests import factories
from tests.entities.factories import record

MOBILE = "13900139000"


@dataclass
class World:
    bank: Any
    manager: Any  # a risk manager with a mobile
    usccs: list[str]
    ids: list[int]
    lake: Lake
    consents: dict[int, int] = field(default_factory=dict)  # entity → consent id
    next_batch: int = 1000

    def indicator(self, session: Session, code: str) -> int:
        return int(catalog.get(session, code=code).id)

    def write(self, session: Session, rows: list[tuple[int, str, int, float | None]]) -> int:
        """Commit (entity id, indicator code, period, value) rows as one lake batch."""
        self.next_batch += 1
        frame = pl.DataFrame(
            {
                "entity_id": [r[0] for r in rows],
                "indicator_id": [self.indicator(session, r[1]) for r in rows],
                "period": [r[2] for r in rows],
                "value_num": [r[3] for r in rows],
                "value_text": [None for _ in rows],
                "batch_id": [self.next_batch for _ in rows],
                "source_id": [1 for _ in rows],
            },
            schema={
                "entity_id": pl.Int32,
                "indicator_id": pl.Int16,
                "period": pl.Int32,
                "value_num": pl.Float64,
                "value_text": pl.String,
                "batch_id": pl.Int64,
                "source_id": pl.Int16,
            },
        )
        return self.lake.append_batch(frame, self.next_batch)


def build(
    session: Session,
    lake_dir: Path,
    *,
    n: int = 3,
    consented: int | None = None,
    mobile: str | None = MOBILE,
) -> World:
    """A bank, its risk manager and ``n`` watched entities, the first ``consented`` of
    them (default all) with a live monitoring authorization."""
    bank = factories.institution(session)
    manager = factories.user(session, Role.RISK_MANAGER, bank, mobile=mobile)
    recs = [record(f"监测企业{i}") for i in range(n)]
    entities.upsert(session, recs)
    usccs = [r.uscc for r in recs]
    found = entities.ids_for(session, usccs)
    ids = [found[u] for u in usccs]
    world = World(bank=bank, manager=manager, usccs=usccs, ids=ids, lake=Lake(lake_dir))
    for k, entity_id in enumerate(ids):
        session.add(Watch(institution_id=bank.id, entity_id=entity_id, source="api", note=""))
        if consented is None or k < consented:
            world.consents[entity_id] = grant(session, bank.id, entity_id)
    session.flush()
    return world


def grant(session: Session, institution_id: int, entity_id: int) -> int:
    now = utcnow()
    consent = Consent(
        entity_id=entity_id,
        institution_id=institution_id,
        purposes=["monitoring"],
        categories=["basic", "property", "financial", "operating", "positive", "negative"],
        starts_at=now - timedelta(days=1),
        expires_at=now + timedelta(days=365),
        status=GRANTED,
    )
    session.add(consent)
    session.flush()
    return consent.id


def revoke(session: Session, consent_id: int) -> None:
    consent = session.get(Consent, consent_id)
    assert consent is not None
    consent.status = REVOKED
    consent.revoked_at = utcnow()
    session.flush()


def rule(
    session: Session,
    world: World,
    code: str,
    kind: str,
    op: str = "gt",
    threshold: float = 0.0,
    severity: str = "high",
) -> Rule:
    found = Rule(
        institution_id=world.bank.id,
        name=f"{code} {kind}",
        indicator_id=world.indicator(session, code),
        kind=kind,
        op=op,
        threshold=threshold,
        severity=severity,
        enabled=True,
        revision=1,
    )
    session.add(found)
    session.flush()
    return found


def alerts(session: Session, institution_id: int | None = None) -> list[Alert]:
    stmt = select(Alert).order_by(Alert.id)
    if institution_id is not None:
        stmt = stmt.where(Alert.institution_id == institution_id)
    return list(session.scalars(stmt))


def count(session: Session, model: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


__all__ = ["Role", "RuleSet", "Snooze", "Watch", "WatchAssignee"]
