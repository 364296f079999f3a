"""Service quality, data quality and coverage pages at full scale.

A scratch database with 76 lending institutions, 1.38 M entities, hundreds of thousands
of demands, claims and callbacks over twelve months, the 20 data sources with a year of
batches, and a full-width snapshot (1.38 M × 595 indicators, float32, in 7 categories
with their own fill rates) on disk. Each page and API answer is fetched end to end
through the application (TestClient: routing, authentication, the transaction, the
queries, rendering) as a regulator:

- ``/quality/service``, ``/quality/data``, ``/quality/coverage`` (HTML) and their
  ``/api/v1/quality/…`` twins; the first fetch of a page is reported apart (``cold``:
  it scans the snapshot's validity bitmaps, or the entities' covering index, once per
  version), then the median and worst of repeated fetches.
- Baseline, same run: ``GET /healthz`` through the same client (the framework's floor)
  and a bare ``SELECT COUNT(*) FROM claims`` (one pass over the biggest table).

SQLite always; PostgreSQL too when ``PUHUI_BENCH_DATABASE_URL`` is set or the local
server answers. Sizes: ``PUHUI_BENCH_QUALITY_ENTITIES`` (1 380 000),
``PUHUI_BENCH_QUALITY_DEMANDS`` (300 000; claims ≈ 1.5 per demand, callbacks one in
five), ``PUHUI_BENCH_QUALITY_INDICATORS`` (595).
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert, text
from sqlalchemy.orm import Session, sessionmaker

from bench.jobs_outbox import _drop, scratch_database

ENTITIES = int(os.environ.get("PUHUI_BENCH_QUALITY_ENTITIES", "1380000"))
DEMANDS = int(os.environ.get("PUHUI_BENCH_QUALITY_DEMANDS", "300000"))
INDICATORS = int(os.environ.get("PUHUI_BENCH_QUALITY_INDICATORS", "595"))
INSTITUTIONS = 76
REPEAT = int(os.environ.get("PUHUI_BENCH_QUALITY_REPEAT", "7"))
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PAGES = (
    "/quality/service",
    "/quality/data",
    "/quality/coverage",
    "/api/v1/quality/service",
    "/api/v1/quality/data",
    "/api/v1/quality/coverage",
)


def _ms(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


def _pg_reachable() -> str | None:
    url = os.environ.get("PUHUI_BENCH_DATABASE_URL")
    if url:
        return url
    try:
        import psycopg

        psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=postgres", connect_timeout=2
        ).close()
    except Exception:  # no server: SQLite only
        return None
    return DEFAULT_PG


def _setup(server: str | None, data_dir: Path) -> tuple[Any, sessionmaker[Session], Any]:
    os.environ.setdefault("PUHUI_ENV", "test")
    os.environ.setdefault("PUHUI_SECRET_KEY", "bench-secret-key-long-enough-0123456789abc")
    os.environ.setdefault("PUHUI_ARGON2_TIME_COST", "1")
    os.environ.setdefault("PUHUI_ARGON2_MEMORY_KIB", "1024")
    os.environ["PUHUI_DATA_DIR"] = str(data_dir)
    from puhui import migrate, registry
    from puhui.config import get_settings
    from puhui.core.db import make_engine

    url = scratch_database(server)
    os.environ["PUHUI_DATABASE_URL"] = url
    get_settings.cache_clear()
    registry.load_all()
    engine = make_engine(url)
    migrate.upgrade(engine)
    return engine, sessionmaker(engine, expire_on_commit=False), get_settings()


def _entities(factory: sessionmaker[Session]) -> None:
    from puhui.entities import repository as entity_repo
    from puhui.entities import service as entities
    from puhui.entities.models import Entity

    districts = list(entities.DISTRICTS)
    rng = np.random.default_rng(1)
    now = datetime.now(UTC)
    chunk = 100_000
    with factory.begin() as s:
        for start in range(0, ENTITIES, chunk):
            n = min(chunk, ENTITIES - start)
            d = rng.integers(0, len(districts), n)
            sec = rng.choice(
                list("ACEFGHIKLM"), n, p=[0.05, 0.3, 0.05, 0.3, 0.05, 0.08, 0.05, 0.04, 0.04, 0.04]
            )
            alive = rng.random(n) < 0.94
            rows = [
                {
                    "id": start + k + 1,
                    "uscc": f"92{districts[d[k]]}{start + k:010d}",
                    "uscc_check_ok": True,
                    "name": f"基准主体{start + k:07d}",
                    "kind": "individual",
                    "district": districts[d[k]],
                    "industry_section": str(sec[k]),
                    "industry_division": "01",
                    "status": "active" if alive[k] else "deregistered",
                    "updated_at": now,
                }
                for k in range(n)
            ]
            s.execute(insert(Entity), rows)
        entity_repo.bump_version(s)


def _matching(factory: sessionmaker[Session]) -> dict[str, int]:
    """Institutions, demands over twelve months, their claims and callbacks."""
    from puhui.accounts.models import Institution
    from puhui.entities import service as entities
    from puhui.matching.models import Callback, Claim, Demand

    rng = random.Random(2)  # noqa: S311 - synthetic data, not secrets
    districts = list(entities.DISTRICTS)
    now = datetime.now(UTC)
    with factory.begin() as s:
        insts = []
        for i in range(INSTITUTIONS):
            inst = Institution(
                name=f"基准银行{i:03d}", kind="bank", code=f"QB{i:04d}", is_active=True
            )
            s.add(inst)
            s.flush()
            insts.append(inst.id)
        # each bank has its own pace and grant rate, so the league has an order
        pace = {inst: rng.uniform(1, 30) for inst in insts}
        grants = {inst: rng.uniform(0.2, 0.7) for inst in insts}
        demands, claims, callbacks = [], [], []
        claim_id = 0
        for k in range(DEMANDS):
            raised = now - timedelta(seconds=rng.randrange(365 * 86400))
            entity_id = rng.randrange(1, ENTITIES + 1)
            banks = rng.sample(insts, rng.choice((1, 1, 2, 2, 3)))
            granted_by = None
            for inst in banks:
                claim_id += 1
                at = raised + timedelta(minutes=rng.randrange(5, 600))
                due = at + timedelta(days=1)
                contacted = (
                    at + timedelta(hours=rng.expovariate(1 / pace[inst]))
                    if rng.random() < 0.9
                    else None
                )
                status = "contacted"
                if contacted is None:
                    status = "expired" if due < now else "claimed"
                elif granted_by is None and rng.random() < grants[inst]:
                    status, granted_by = "granted", inst
                elif rng.random() < 0.5:
                    status = rng.choice(("declined", "released", "cancelled"))
                claims.append(
                    {
                        "id": claim_id,
                        "demand_id": k + 1,
                        "institution_id": inst,
                        "status": status,
                        "contact_due_at": due,
                        "outcome_due_at": at + timedelta(days=7),
                        "contacted_at": contacted,
                        "created_at": at,
                        "overdue": contacted is None and due < now,
                        "chosen": status == "granted",
                        "reason": "",
                        "rating": rng.choice((None, None, 3, 4, 5)) if contacted else None,
                        "rating_comment": "",
                    }
                )
            demands.append(
                {
                    "id": k + 1,
                    "entity_id": entity_id,
                    "channel": "registered",
                    "amount_fen": rng.randrange(50_000, 5_000_000) * 100,
                    "term_months": 12,
                    "purpose": "流动资金周转",
                    "guarantee_type": "credit",
                    "contact_name": "王五",
                    "contact_mobile": f"139{rng.randrange(10**8):08d}",
                    "entity_kind": "individual",
                    "district": districts[entity_id % len(districts)],
                    "industry_section": rng.choice("ACEFGHIKLM"),
                    "status": "granted" if granted_by else "open",
                    "active_claims": 0,
                    "expires_at": raised + timedelta(days=30),
                    "closed_at": raised + timedelta(days=3) if granted_by else None,
                    "created_at": raised,
                }
            )
            if k % 5 == 0:
                happy = rng.random() < 0.8
                callbacks.append(
                    {
                        "demand_id": k + 1,
                        "reason": "sampled",
                        "status": "done",
                        "created_at": raised + timedelta(days=8),
                        "reached": True,
                        "satisfaction": rng.choice((4, 5)) if happy else rng.choice((1, 2)),
                        "complaint": "" if happy else "没有联系",
                        "note": "",
                    }
                )
        for table, rows in ((Demand, demands), (Claim, claims), (Callback, callbacks)):
            for start in range(0, len(rows), 20_000):
                s.execute(insert(table), rows[start : start + 20_000])
    return {"demands": len(demands), "claims": len(claims), "callbacks": len(callbacks)}


def _batches(factory: sessionmaker[Session]) -> int:
    from puhui.ingest import service as ingest
    from puhui.ingest.models import Batch, DataSource

    rng = random.Random(3)  # noqa: S311 - synthetic data, not secrets
    now = datetime.now(UTC)
    rows = []
    with factory.begin() as s:
        ingest.ensure_default_sources(s)
        sources = list(s.scalars(text("SELECT id FROM data_sources")))
        for source_id in sources:
            for b in range(rng.randrange(0, 60)):
                total = rng.randrange(1000, 200_000)
                rejected = int(total * rng.uniform(0, 0.05))
                at = now - timedelta(days=rng.randrange(400))
                rows.append(
                    {
                        "source_id": source_id,
                        "filename": f"b{b}.csv",
                        "content_sha256": f"{source_id:08d}{b:056d}",
                        "size_bytes": total * 40,
                        "via": "api",
                        "status": "committed" if rng.random() < 0.97 else "rejected",
                        "rows_total": total,
                        "rows_accepted": total - rejected,
                        "rows_rejected": rejected,
                        "rows_warned": 0,
                        "reasons": {
                            "unknown_entity": rejected // 2,
                            "wrong_type": rejected - rejected // 2,
                        },
                        "entities_touched": total,
                        "created_at": at,
                        "committed_at": at,
                    }
                )
        s.execute(insert(Batch), rows)
        assert DataSource  # the sources the batches belong to
    return len(rows)


def _snapshot(settings: Any) -> dict[str, float]:
    """A full-width snapshot: INDICATORS float32 columns over the entities, each category
    with its own fill rate."""
    import polars as pl
    import pyarrow as pa

    from puhui.catalog import service as catalog
    from puhui.core.snapshot import IndicatorSpec, Snapshot
    from puhui.ingest import service as ingest

    rng = np.random.default_rng(4)
    n = ENTITIES + 1  # row = entity id; row 0 is nobody
    specs, arrays = [], []
    fill = dict(zip(catalog.CATEGORIES, (0.95, 0.3, 0.2, 0.8, 0.1, 0.05, 0.6), strict=True))
    for i in range(INDICATORS):
        category = catalog.CATEGORIES[i % len(catalog.CATEGORIES)]
        code = f"Q_{category[:3].upper()}_{i:03d}"
        specs.append(IndicatorSpec(id=i + 1, code=code, category=category, value_type="amount"))
        values = rng.random(n, dtype=np.float32)
        mask = rng.random(n, dtype=np.float32) >= fill[category] * rng.uniform(0.3, 1.0)
        mask[0] = True
        arrays.append(pa.array(values, mask=mask))
    frame = pl.from_arrow(pa.table(arrays, names=[s.code for s in specs]))
    assert isinstance(frame, pl.DataFrame)
    t = time.perf_counter()
    Snapshot.write(frame, specs, ingest.snapshot_dir(settings))
    return {
        "write_s": round(time.perf_counter() - t, 1),
        "gb": round(frame.estimated_size() / 1e9, 2),
    }


def _web_login(client: Any) -> None:
    import re

    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, "no CSRF token on the log-in page"
    r = client.post(
        "/login",
        data={
            "username": "bench_regulator",
            "password": "Bench-pass-2026",
            "next": "/",
            "csrf_token": token.group(1),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text[:300]


def _measure(factory: sessionmaker[Session], settings: Any) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from puhui.accounts.models import Institution, User
    from puhui.app import create_app
    from puhui.core.security import passwords

    with factory.begin() as s:
        reg = Institution(name="基准监管", kind="regulator", code="QREG", is_active=True)
        s.add(reg)
        s.flush()
        s.add(
            User(
                username="bench_regulator",
                display_name="监管员",
                password_hash=passwords.hash_password("Bench-pass-2026"),
                role="regulator",
                institution_id=reg.id,
                is_active=True,
                failed_logins=0,
            )
        )
    app = create_app(settings, session_factory=factory, start_worker=False)
    out: dict[str, Any] = {}
    with TestClient(app, base_url="http://testserver") as client:
        r = client.post(
            "/api/v1/auth/token",
            data={"username": "bench_regulator", "password": "Bench-pass-2026"},
        )
        r.raise_for_status()
        h = {"Authorization": f"Bearer {r.json()['access_token']}"}
        _web_login(client)  # the HTML pages take the session cookie, not a bearer token
        client.get("/")  # the process's own first-request costs, not a page's
        health = []
        for _ in range(REPEAT * 3):
            t = time.perf_counter()
            client.get("/healthz").raise_for_status()
            health.append(time.perf_counter() - t)
        scan = []
        for _ in range(REPEAT):
            with factory() as s:
                t = time.perf_counter()
                s.execute(text("SELECT COUNT(*) FROM claims")).scalar()
                scan.append(time.perf_counter() - t)
        base = statistics.median(health)
        out["baseline_healthz"] = _ms(health)
        out["baseline_count_claims"] = _ms(scan)
        for path in PAGES:
            times = []
            for _ in range(REPEAT + 1):
                t = time.perf_counter()
                r = client.get(path, headers=h, follow_redirects=False)
                times.append(time.perf_counter() - t)
                assert r.status_code == 200, (path, r.status_code, r.text[:300])
            warm = times[1:]
            out[path] = {
                "cold_ms": round(times[0] * 1000, 1),
                **_ms(warm),
                "x_healthz": round(statistics.median(warm) / base, 1),
                "x_count_claims": round(statistics.median(warm) / statistics.median(scan), 1),
                "within_1s": max(times) <= 1.0,
            }
    return out


def _refresh(factory: sessionmaker[Session]) -> float:
    """The hourly job's work: recompute the service-quality and coverage rollups."""
    from puhui.quality import service

    t = time.perf_counter()
    with factory.begin() as s:
        service.refresh(s)
    return round(time.perf_counter() - t, 2)


def _one(server: str | None) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="puhui-bench-quality-"))
    try:
        engine, factory, settings = _setup(server, data_dir)
        settings.lake_dir.mkdir(parents=True, exist_ok=True)  # healthz checks it
        result: dict[str, Any] = {"dialect": engine.dialect.name}
        t = time.perf_counter()
        _entities(factory)
        result["entities"] = ENTITIES
        result.update(_matching(factory))
        result["batches"] = _batches(factory)
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        result["load_s"] = round(time.perf_counter() - t, 1)
        result["snapshot"] = _snapshot(settings)
        result["refresh_s"] = _refresh(factory)
        result["pages"] = _measure(factory, settings)
        engine.dispose()
        return result
    finally:
        for drop in _drop:
            drop()
        _drop.clear()
        shutil.rmtree(data_dir, ignore_errors=True)


def run() -> dict[str, Any]:
    results = {"sqlite": _one(None)}
    print(results["sqlite"])
    server = _pg_reachable()
    if server:
        results["postgresql"] = _one(server)
        print(results["postgresql"])
    return results
