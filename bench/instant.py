"""Instant-loan decisions at full scale: p50/p99 of ``POST /api/v1/instant/products/{id}/
decisions`` over HTTP (uvicorn on 127.0.0.1, bearer tokens, JSON) against a memory-mapped
snapshot of PUHUI_BENCH_INSTANT_ENTITIES entities (default 1 380 000) × the 50 key
indicators. Each decision checks the product's ranges, grants or finds the decision
authorization, reads the entity's values, runs three knock-out rules and the score,
writes the decision, its query record and audit event, and commits.

Baselines measured in the same run: the in-process read of the same facts
(``acquisition.entity_facts``, the floor of what a decision must read), and an
authenticated HTTP read of one decision by the same enterprise (the cost of HTTP, the token
and a transaction, with no decision taken).
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import tempfile
import threading
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

N = int(os.environ.get("PUHUI_BENCH_INSTANT_ENTITIES", "1380000"))
APPLICANTS = int(os.environ.get("PUHUI_BENCH_INSTANT_APPLICANTS", "150"))
ROUNDS = 3  # decisions per applicant: the first grants the authorization
PASSWORD = "Bench-pass-2026"  # noqa: S105 - throwaway bench users


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _ms(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values) * 1000, 2),
        "p99_ms": round(_pct(values, 0.99) * 1000, 2),
        "n": len(values),
    }


def run() -> dict[str, Any]:  # noqa: PLR0915 - one linear script
    root = Path(tempfile.mkdtemp(prefix="puhui-bench-instant-"))
    var = root / "var"
    os.environ.update(
        PUHUI_ENV="test",
        PUHUI_SECRET_KEY="bench-secret-key-long-enough-0123456789abc",  # noqa: S106
        PUHUI_DATA_DIR=str(var),
        PUHUI_DATABASE_URL=os.environ.get("PUHUI_BENCH_DATABASE_URL")
        or f"sqlite:///{root / 'b.db'}",
        PUHUI_ARGON2_TIME_COST="1",
        PUHUI_ARGON2_MEMORY_KIB="1024",
    )
    try:
        from bench.acquisition_filter import _specs, _synthetic
        from puhui.accounts import service as accounts
        from puhui.accounts.schemas import InstitutionCreate, UserCreate
        from puhui.acquisition import service as acquisition
        from puhui.cli import initialise
        from puhui.config import get_settings
        from puhui.core.db import get_session_factory, session_scope
        from puhui.core.policy import Actor, InstitutionKind, Role
        from puhui.entities import service as entities
        from puhui.entities.schemas import EntityRecord
        from puhui.instant import service as instant
        from puhui.instant.schemas import PolicyCreate
        from puhui.matching import service as matching
        from puhui.matching.schemas import ProductCreate

        get_settings.cache_clear()
        initialise(quiet=True)
        settings = get_settings()
        factory = get_session_factory(settings.effective_database_url)
        t = time.perf_counter()
        _synthetic(_specs(), N, var)  # var/snapshot, the folder the service reads
        snapshot_s = time.perf_counter() - t

        records = [
            EntityRecord(
                uscc=entities.make(f"91330212MA{i:07d}"),
                name=f"秒贷基准企业{i}",
                kind="enterprise",
                district="330212",
                industry_section="C",
                industry_division="34",
                registered_capital=Decimal("5000000.00"),
                established=date(2015, 3, 1),
                status="active",
                legal_rep_name="张三",
                legal_rep_id="330203199001011234",
            )
            for i in range(1, APPLICANTS + 1)
        ]
        with session_scope(factory) as s:
            entities.upsert(s, records)
            bank = accounts.create_institution(
                s,
                actor=None,
                data=InstitutionCreate(name="秒贷基准银行", kind=InstitutionKind.BANK),
            )
            admin = accounts.create_user(
                s,
                actor=None,
                data=UserCreate(
                    username="bench_admin",
                    password=PASSWORD,
                    role=Role.INSTITUTION_ADMIN,
                    institution_id=bank.id,
                ),
            )
            for i, r in enumerate(records):
                accounts.create_user(
                    s,
                    actor=None,
                    data=UserCreate(
                        username=f"bench_ent_{i}",
                        password=PASSWORD,
                        role=Role.ENTERPRISE,
                        entity_uscc=r.uscc,
                    ),
                )
            boss = Actor(
                user_id=admin.id,
                username=admin.username,
                role=Role.INSTITUTION_ADMIN,
                institution_id=bank.id,
                institution_kind=InstitutionKind.BANK,
            )
            product = matching.create_product(
                s,
                actor=boss,
                data=ProductCreate(
                    name="基准秒贷",
                    amount_min=Decimal("10000"),
                    amount_max=Decimal("1000000"),
                    term_min_months=3,
                    term_max_months=12,
                    rate_min=Decimal("3.2"),
                    rate_max=Decimal("6.5"),
                    guarantee_types=["credit"],
                    online_only=True,
                ),
            )
            product_id = product.id
            rules = [
                {"reason": "R_ABNORMAL", "label": "经营异常", "action": "decline",
                 "when": {"indicator": "NEG_ABNORMAL_OPERATION", "op": "is_true"}},
                {"reason": "R_TAX_DROP", "label": "纳税大幅下降", "action": "refer",
                 "when": {"indicator": "OPR_TAX_TOTAL_YOY", "op": "lt", "value": -0.3}},
                {"reason": "R_PENALTY", "label": "行政处罚", "action": "refer",
                 "when": {"any": [
                     {"indicator": "NEG_ADMIN_PENALTIES_36M", "op": "ge", "value": 2},
                     {"indicator": "OPR_TAX_CREDIT_GRADE", "op": "in", "values": ["C", "D"]},
                 ]}},
            ]  # fmt: skip
            instant.create_policy(
                s,
                actor=boss,
                data=PolicyCreate.model_validate(
                    {
                        "product_id": product_id,
                        "rules": rules,
                        "approve_min": 60,
                        "refer_min": 40,
                        "bands": [
                            {"min_score": 85, "limit": "800000", "rate": "3.45"},
                            {"min_score": 60, "limit": "300000", "rate": "4.35"},
                        ],
                    }
                ),
            )
            ids = entities.ids_for(s, [r.uscc for r in records])
        floor = []
        with session_scope(factory) as s:
            policy = instant.active_policy(s, product_id)
            assert policy is not None
            nodes = [instant._node(r["when"]) for r in policy.rules]
            for uscc in list(ids)[:5]:
                acquisition.entity_facts(s, ids[uscc], ["CRE_HEALTH_SCORE"], nodes)  # warm
            for _ in range(ROUNDS):
                for uscc in ids:
                    t = time.perf_counter()
                    acquisition.entity_facts(s, ids[uscc], ["CRE_HEALTH_SCORE"], nodes)
                    floor.append(time.perf_counter() - t)

        import httpx
        import uvicorn

        from puhui.app import create_app

        app = create_app(settings, session_factory=factory, start_worker=False)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        decide: list[float] = []
        read: list[float] = []
        outcomes: dict[str, int] = {}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            tokens = [
                client.post(
                    "/api/v1/auth/token", data={"username": f"bench_ent_{i}", "password": PASSWORD}
                ).json()["access_token"]
                for i in range(len(records))
            ]
            body = {"amount": "200000", "term_months": 12, "authorize": True}
            url = f"/api/v1/instant/products/{product_id}/decisions"
            warm = {"Authorization": f"Bearer {tokens[0]}"}
            last = client.post(url, json=body, headers=warm).json()["id"]
            client.get(f"/api/v1/instant/decisions/{last}", headers=warm)
            for _ in range(ROUNDS):
                for token in tokens:
                    headers = {"Authorization": f"Bearer {token}"}
                    t = time.perf_counter()
                    r = client.post(url, json=body, headers=headers)
                    decide.append(time.perf_counter() - t)
                    assert r.status_code == 201, r.text[:300]
                    got = r.json()
                    outcomes[got["outcome"]] = outcomes.get(got["outcome"], 0) + 1
                    t = time.perf_counter()
                    r = client.get(f"/api/v1/instant/decisions/{got['id']}", headers=headers)
                    read.append(time.perf_counter() - t)
                    assert r.status_code == 200
        server.should_exit = True
        thread.join(timeout=10)
        result = {
            "benchmark": "instant",
            "entities": N,
            "applicants": len(records),
            "database": settings.effective_database_url.split(":", 1)[0],
            "snapshot_write_s": round(snapshot_s, 1),
            "facts_in_process_floor": _ms(floor),
            "read_decision_over_http_baseline": _ms(read),
            "decide_over_http": _ms(decide),
            "outcomes": outcomes,
            "decide_p99_ratio_to_read": round(_pct(decide, 0.99) / _pct(read, 0.99), 2),
            "target_p99_ms": 100,
        }
        _report(result)
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _report(r: dict[str, Any]) -> None:
    print(f"instant-loan decisions, {r['entities']:,} entities in the snapshot ({r['database']}):")
    for key in ("facts_in_process_floor", "read_decision_over_http_baseline", "decide_over_http"):
        f = r[key]
        print(f"  {key:34} p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms (n={f['n']})")
    print(
        f"  decision p99 = {r['decide_p99_ratio_to_read']}x an authenticated read "
        f"(target p99 <= {r['target_p99_ms']} ms); outcomes {r['outcomes']}"
    )
