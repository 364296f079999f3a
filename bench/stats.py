"""Platform statistics at full scale: the pages and the API read the rollups, so their cost
must not grow with the platform's history.

Data (a scratch database; SQLite, or ``PUHUI_BENCH_DATABASE_URL``): eight years of monthly
rollups as the refresh job writes them (records by 40 sources, queries by 76 institutions
and 4 purposes, demands and outcomes by 6 channels, …), the loan and alert rollups (days
histogram, previous-month counts that give distinct enterprises and alerted entities)
derived from ``PUHUI_BENCH_GRANTS`` loans (default 120 000 to 38 000 enterprises, the
source document's 3.8 万) and ``PUHUI_BENCH_ALERTS`` alerts (default 275 000 on 37 000
entities, the document's 27.5 万 and 3.7 万). Timed end to end through the ASGI app with
an operator's session: ``/stats`` (12 months and 96 months), ``GET /api/v1/stats``, one
CSV. Baseline, same run: ``/account``, a trivial authenticated page.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from typing import Any

from sqlalchemy import insert

from bench.jobs_outbox import _drop, scratch_database

GRANTS = int(os.environ.get("PUHUI_BENCH_GRANTS", "120000"))
ALERTS = int(os.environ.get("PUHUI_BENCH_ALERTS", "275000"))
RUNS = 15


def _setup() -> tuple[Any, Any]:
    os.environ.setdefault("PUHUI_ENV", "test")
    os.environ.setdefault("PUHUI_SECRET_KEY", "bench-secret-key-long-enough-0123456789abc")
    os.environ.setdefault("PUHUI_ARGON2_TIME_COST", "1")
    os.environ.setdefault("PUHUI_ARGON2_MEMORY_KIB", "1024")
    from puhui import migrate, registry
    from puhui.core.db import make_engine

    url = scratch_database(os.environ.get("PUHUI_BENCH_DATABASE_URL"))
    os.environ["PUHUI_DATABASE_URL"] = url
    from puhui.config import get_settings

    get_settings.cache_clear()
    registry.load_all()
    engine = make_engine(url)
    migrate.upgrade(engine)
    return engine, get_settings()


def _months() -> list[int]:
    out = []
    for year in range(2019, 2027):
        out += [year * 100 + m for m in range(1, 13)]
    return out


def _fill(engine: Any) -> None:
    """Eight years of rollups as the refresh job writes them, the loan and alert ones
    derived from synthetic loans and alerts through the job's own helpers."""
    from collections import defaultdict

    from puhui.stats import service
    from puhui.stats.models import MonthlyFigure

    rng = random.Random(7)  # noqa: S311 - synthetic data
    months = _months()
    channels = ["registered", "simple", "product", "event", "loan_code", "wechat"]
    dims = {
        "records": [f"S{i:02d}" for i in range(40)],
        "queries_inst": [str(i) for i in range(1, 77)],
        "queries_purpose": ["query", "monitoring", "download", "decision"],
        "demands": channels,
        "closed": [
            f"{c}:{s}" for c in channels for s in ("granted", "declined", "expired", "cancelled")
        ],
        "decisions": ["approve", "refer", "decline"],
        "institutions": ["bank", "insurer", "guarantor", "microlender"],
        "alerts": [""],
        "sms": [""],
        "downloads": [""],
        "download_rows": [""],
        "models": [""],
        "products": [""],
    }
    rows: dict[tuple[str, int, str], int] = defaultdict(int)
    for metric, ds in dims.items():
        for m in months:
            for d in ds:
                rows[(metric, m, d)] = rng.randint(0, 3_000_000)
    for m in months:
        rows[("entities", m, "")] = 1_380_000
        rows[("with_credit", m, "")] = 474_000
    loans = sorted(
        (rng.choice(months), rng.randint(1, 38_000), rng.choice(channels)) for _ in range(GRANTS)
    )
    seen: set[int] = set()
    for month, entity, channel in loans:
        rows[("loans", month, channel)] += 1
        rows[("amount", month, channel)] += rng.randint(10**6, 10**9)
        rows[("days", month, str(rng.randint(0, 60)))] += 1
        rows[("rate_sum", month, "")] += rng.randint(300, 700)
        rows[("rate_n", month, "")] += 1
        if entity not in seen:
            rows[("first_time", month, "")] += 1
            seen.add(entity)
    for month, prev, n in service._previous_months(((e, m) for m, e, _c in loans), {}):
        rows[("fin_prev", month, prev)] += n
    alerted = sorted({(rng.choice(months), rng.randint(1, 37_000)) for _ in range(ALERTS)})
    for month, prev, n in service._previous_months(((e, m) for m, e in alerted), {}):
        rows[("alert_prev", month, prev)] += n
    with engine.begin() as conn:
        conn.execute(
            insert(MonthlyFigure),
            [{"metric": k[0], "month": k[1], "dim": k[2], "value": v} for k, v in rows.items()],
        )
    print(f"  stats_monthly: {len(rows)} rows")


def _time(client: Any, url: str) -> dict[str, float]:
    client.get(url)  # warm
    took = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        r = client.get(url)
        took.append(time.perf_counter() - t0)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return {
        "p50_ms": round(statistics.median(took) * 1000, 1),
        "max_ms": round(max(took) * 1000, 1),
    }


def run() -> dict[str, Any]:
    from fastapi.testclient import TestClient
    from sqlalchemy.orm import sessionmaker

    from puhui.accounts import service as accounts
    from puhui.accounts.schemas import InstitutionCreate, UserCreate
    from puhui.app import create_app
    from puhui.core.db import session_scope
    from puhui.core.policy import InstitutionKind, Role

    engine, settings = _setup()
    try:
        t0 = time.perf_counter()
        _fill(engine)
        fill_s = time.perf_counter() - t0
        factory = sessionmaker(engine, expire_on_commit=False)
        with session_scope(factory) as s:
            inst = accounts.create_institution(
                s, actor=None, data=InstitutionCreate(name="平台", kind=InstitutionKind.PLATFORM)
            )
            accounts.create_user(
                s,
                actor=None,
                data=UserCreate(
                    username="bench_op",
                    password="Bench-pass-2026",  # noqa: S106 - scratch database
                    role=Role.OPERATOR,
                    institution_id=inst.id,
                ),
            )
        app = create_app(settings, session_factory=factory, start_worker=False)
        with TestClient(app, base_url="http://testserver") as client:
            tok = client.post(
                "/api/v1/auth/token", data={"username": "bench_op", "password": "Bench-pass-2026"}
            ).json()["access_token"]
            api = TestClient(
                app, base_url="http://testserver", headers={"Authorization": f"Bearer {tok}"}
            )
            page = client.get("/login")
            import re

            csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]
            client.post(
                "/login",
                data={
                    "username": "bench_op",
                    "password": "Bench-pass-2026",
                    "next": "/",
                    "csrf_token": csrf,
                },
            )
            baseline = _time(client, "/account")
            figures = {
                "/stats (12 months)": _time(client, "/stats"),
                "/stats (96 months)": _time(client, "/stats?from=2019-01&to=2026-12"),
                "GET /api/v1/stats (96 months)": _time(
                    api, "/api/v1/stats?from=2019-01&to=2026-12"
                ),
                "CSV amount (96 months)": _time(
                    client, "/stats/csv/amount?from=2019-01&to=2026-12"
                ),
            }
        result: dict[str, Any] = {
            "database": engine.dialect.name,
            "grants": GRANTS,
            "alerts": ALERTS,
            "fill_s": round(fill_s, 1),
            "baseline /account": baseline,
        }
        print(
            f"stats on {engine.dialect.name}: {GRANTS} grants, {ALERTS} alerts, "
            f"8 years of rollups (filled in {fill_s:.1f} s)"
        )
        print(f"  baseline /account: p50 {baseline['p50_ms']} ms")
        for name, f in figures.items():
            ratio = round(f["p50_ms"] / baseline["p50_ms"], 1)
            result[name] = {**f, "ratio_to_baseline": ratio}
            print(f"  {name}: p50 {f['p50_ms']} ms, max {f['max_ms']} ms, ×{ratio} the baseline")
        return result
    finally:
        engine.dispose()
        for drop in _drop:
            drop()
