"""A small city for the profile and consent tests: two entities with data from three
departments ingested through the real pipeline, the snapshot built and the
business-health score computed by the jobs, two banks and their staff, the two
enterprises' own accounts. Everything lives in a private data folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import sessionmaker

from puhui.accounts.models import User
from puhui.core import jobs
from puhui.core.policy import Role
from puhui.entities import service as entities
from puhui.ingest import service as ingest
from tests import factories
from tests.entities.factories import record

ID_A = "330203198001011234"
MOBILE_A = "13812345678"


@dataclass
class City:
    client: TestClient
    factory: sessionmaker
    settings: object
    a: str  # USCC of entity A (lots of data)
    b: str  # USCC of entity B
    users: dict[str, User]
    banks: dict[str, int]

    def h(self, who: str) -> dict[str, str]:
        return factories.token(self.client, self.users[who].username)


def _csv(tmp: Path, name: str, rows: list[str]) -> Path:
    path = tmp / name
    path.write_text("uscc,indicator,period,value\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def drain(factory: sessionmaker) -> int:
    return jobs.Worker(factory, worker_id="test").run_until_idle()


@pytest.fixture
def city(connection, tmp_path, monkeypatch) -> City:
    from puhui.app import create_app
    from puhui.config import get_settings

    monkeypatch.setenv("PUHUI_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    settings = get_settings()
    factory = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    a, b = record("甲制造有限公司", legal_rep_id=ID_A), record("乙贸易有限公司")
    with factory.begin() as s:
        ingest.ensure_default_sources(s)
        entities.upsert(s, [a, b])
        bank_a = factories.institution(s, name="甲银行")
        bank_b = factories.institution(s, name="乙银行")
        users = {
            "cm_a": factories.user(s, Role.CUSTOMER_MANAGER, bank_a, mobile="13900000001"),
            "rm_a": factories.user(s, Role.RISK_MANAGER, bank_a),
            "cm_b": factories.user(s, Role.CUSTOMER_MANAGER, bank_b),
            "admin_a": factories.user(s, Role.INSTITUTION_ADMIN, bank_a),
            "ent_a": factories.user(s, Role.ENTERPRISE, mobile="13700000001"),
            "ent_b": factories.user(s, Role.ENTERPRISE),
            "regulator": factories.user(s, Role.REGULATOR),
            "operator": factories.user(s, Role.OPERATOR),
        }
        users["ent_a"].entity_uscc = a.uscc
        users["ent_b"].entity_uscc = b.uscc
        s.flush()
        factories.verify(s, users["ent_a"])
        factories.verify(s, users["ent_b"])
    files = {
        "TAX": _csv(
            tmp_path,
            "tax.csv",
            [
                f"{a.uscc},OPR_TAX_TOTAL_YOY,2026-07,0.05",
                f"{a.uscc},OPR_TAX_TOTAL_YOY,2026-08,0.10",
                f"{a.uscc},OPR_TAX_TOTAL_YOY,2026-09,0.20",
                f"{a.uscc},OPR_INV_SALES_YOY,2026-09,0.15",
                f"{a.uscc},OPR_TAX_CREDIT_GRADE,2025,A",
                f"{b.uscc},OPR_TAX_TOTAL_YOY,2026-09,-0.30",
            ],
        ),
        "HRSS": _csv(
            tmp_path,
            "hrss.csv",
            [
                f"{a.uscc},OPR_SS_HEADCOUNT_M,2026-08,40",
                f"{a.uscc},OPR_SS_HEADCOUNT_M,2026-09,42",
                f"{a.uscc},OPR_SS_HEADCOUNT_YOY,2026-09,0.05",
            ],
        ),
        "SAMR": _csv(
            tmp_path,
            "samr.csv",
            [
                f"{a.uscc},BAS_LEGAL_REP_ID,2026-09,{ID_A}",
                f"{a.uscc},BAS_CONTACT_MOBILE,2026-09,{MOBILE_A}",
                f"{a.uscc},NEG_ABNORMAL_OPERATION,2026-07,1",
                f"{a.uscc},NEG_ABNORMAL_OPERATION,2026-09,0",
                f"{a.uscc},NEG_ADMIN_PENALTIES_36M,2026-09,1",
            ],
        ),
    }
    for source, path in files.items():
        out = ingest.ingest_path(
            factory, source_code=source, path=path, actor=None, via="cli", settings=settings
        )
        assert out.status == "committed"
    drain(factory)
    app = create_app(settings, session_factory=factory, start_worker=False)
    with TestClient(app, base_url="http://testserver") as client:
        yield City(
            client=client,
            factory=factory,
            settings=settings,
            a=a.uscc,
            b=b.uscc,
            users=users,
            banks={"a": bank_a.id, "b": bank_b.id},
        )
    monkeypatch.undo()
    get_settings.cache_clear()
