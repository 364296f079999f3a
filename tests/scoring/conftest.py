"""A bank with a scoring world: 600 registered entities whose key indicators (a few of
them) sit in a snapshot written directly, labels drawn from a known function of those
indicators, two banks and their staff, and authorizations for some entities."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import sessionmaker

from puhui.accounts.models import User
from puhui.catalog import service as catalog
from puhui.consent.models import GRANTED, Consent
from puhui.core import jobs
from puhui.core.orm import utcnow
from puhui.core.policy import Role
from puhui.core.snapshot import IndicatorSpec, Snapshot
from puhui.entities import service as entities
from puhui.ingest import service as ingest
from tests import factories
from tests.entities.factories import record
from tests.scoring.synthetic import KINDS, sample

N_ENTITIES = 600
ALL_CATEGORIES = [
    "basic",
    "property",
    "financial",
    "operating",
    "positive",
    "negative",
    "credit_evaluation",
]


@dataclass
class World:
    client: TestClient
    factory: sessionmaker
    settings: Any
    usccs: list[str]  # registry order
    ids: dict[str, int]
    bad: np.ndarray  # label of each entity (registry order)
    z: np.ndarray  # true log-odds of bad
    users: dict[str, User]
    banks: dict[str, int]

    def h(self, who: str) -> dict[str, str]:
        return factories.token(self.client, self.users[who].username)

    def drain(self) -> int:
        return jobs.Worker(self.factory, worker_id="test").run_until_idle()

    def consent(self, uscc: str, bank: str = "a", purposes=("decision",), **extra) -> None:
        now = utcnow()
        with self.factory.begin() as s:
            s.add(
                Consent(
                    entity_id=self.ids[uscc],
                    institution_id=self.banks[bank],
                    purposes=list(purposes),
                    categories=extra.get("categories", ALL_CATEGORIES),
                    starts_at=extra.get("starts_at", now - timedelta(days=1)),
                    expires_at=extra.get("expires_at", now + timedelta(days=30)),
                    status=extra.get("status", GRANTED),
                )
            )


@pytest.fixture
def world(connection, tmp_path, monkeypatch) -> World:
    from puhui.app import create_app
    from puhui.config import get_settings

    monkeypatch.setenv("PUHUI_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    settings = get_settings()
    factory = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    frame, bad, z = sample(N_ENTITIES, seed=11)
    records = [record(f"测试企业{i}号有限公司") for i in range(N_ENTITIES)]
    with factory.begin() as s:
        entities.upsert(s, records)
        ids = entities.ids_for(s, [r.uscc for r in records])
        bank_a = factories.institution(s, name="甲银行")
        bank_b = factories.institution(s, name="乙银行")
        users = {
            "rm_a": factories.user(s, Role.RISK_MANAGER, bank_a),
            "rm2_a": factories.user(s, Role.RISK_MANAGER, bank_a),
            "admin_a": factories.user(s, Role.INSTITUTION_ADMIN, bank_a),
            "cm_a": factories.user(s, Role.CUSTOMER_MANAGER, bank_a),
            "rm_b": factories.user(s, Role.RISK_MANAGER, bank_b),
            "ent": factories.user(s, Role.ENTERPRISE),
        }
        users["ent"].entity_uscc = records[1].uscc
        s.flush()
        factories.verify(s, users["ent"])
        specs = {i.code: i for i in catalog.active_indicators(s)}
    usccs = [r.uscc for r in records]
    n = max(ids.values()) + 1
    rows = np.array([ids[u] for u in usccs], dtype=np.int64)
    columns = []
    indicator_specs = []
    for code in KINDS:
        i = specs[code]
        spec = IndicatorSpec(
            id=i.id,
            code=code,
            category=i.category,
            value_type=i.value_type,
            allowed_values=tuple(i.allowed_values or ()),
        )
        indicator_specs.append(spec)
        full = pl.Series(code, dtype=spec.dtype).extend_constant(None, n)
        columns.append(full.scatter(rows, frame.get_column(code).cast(spec.dtype)))
    Snapshot.write(pl.DataFrame(columns), indicator_specs, ingest.snapshot_dir(settings))
    app = create_app(settings, session_factory=factory, start_worker=False)
    with TestClient(app, base_url="http://testserver") as client:
        yield World(
            client=client,
            factory=factory,
            settings=settings,
            usccs=usccs,
            ids=ids,
            bad=bad,
            z=z,
            users=users,
            banks={"a": bank_a.id, "b": bank_b.id},
        )
    monkeypatch.undo()
    get_settings.cache_clear()
