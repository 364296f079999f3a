"""Matching at scale: the demand pool with 100 000 open demands, and the claim endpoint
under 100 concurrent clients.

- Pool: 100 000 open demands of 20 000 entities (a fifth already claimed by other
  banks), listed by a customer manager through ``matching.service.pool`` with a mix of
  filters, 20 a page with the total. Baseline, same run: the bare indexed query of the
  newest 20 open demands (no visibility rules, no count, no reads).
- Claims: 100 threads, each a customer manager of its own bank, claim demands at random
  over HTTP (``puhui serve --processes N`` on 127.0.0.1, N = the CPUs, bearer tokens) for
  a fixed time: most
  succeed, some meet a demand their bank already holds (409). Baseline, same run: the
  same 100 threads each running one bare transaction of the same shape (update one
  demand row, insert one row) directly, through a pool of the same size.

PostgreSQL by default (``PUHUI_BENCH_DATABASE_URL``, else the local server); the pool
size is ``PUHUI_BENCH_POOL_DEMANDS``.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from bench.jobs_outbox import _drop, scratch_database

POOL_DEMANDS = int(os.environ.get("PUHUI_BENCH_POOL_DEMANDS", "100000"))
ENTITIES = max(1000, POOL_DEMANDS // 5)
CLIENTS = int(os.environ.get("PUHUI_BENCH_CLIENTS", "100"))
CLAIM_SECONDS = float(os.environ.get("PUHUI_BENCH_CLAIM_SECONDS", "20"))
PROCESSES = int(os.environ.get("PUHUI_BENCH_PROCESSES", str(os.cpu_count() or 1)))
QUERIES = 200
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _ms(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values) * 1000, 2),
        "p99_ms": round(_pct(values, 99) * 1000, 2),
        "max_ms": round(max(values) * 1000, 2),
        "n": len(values),
    }


def _setup() -> tuple[Any, sessionmaker[Session], str]:
    os.environ.setdefault("PUHUI_ENV", "test")
    os.environ.setdefault("PUHUI_SECRET_KEY", "bench-secret-key-long-enough-0123456789abc")
    os.environ.setdefault("PUHUI_ARGON2_TIME_COST", "1")
    os.environ.setdefault("PUHUI_ARGON2_MEMORY_KIB", "1024")
    from puhui import migrate, registry
    from puhui.core.db import make_engine

    url = scratch_database(os.environ.get("PUHUI_BENCH_DATABASE_URL", DEFAULT_PG))
    os.environ["PUHUI_DATABASE_URL"] = url
    from puhui.config import get_settings

    get_settings.cache_clear()
    registry.load_all()
    engine = make_engine(url)  # the same pool as a serving process (5 + 10 overflow)
    migrate.upgrade(engine)
    return engine, sessionmaker(engine, expire_on_commit=False), engine.dialect.name


def _entities(factory: sessionmaker[Session]) -> list[int]:
    from puhui.entities import service as entities
    from puhui.entities.schemas import EntityRecord

    districts = list(entities.DISTRICTS)
    rng = random.Random(1)  # noqa: S311 - synthetic data, not secrets
    records = [
        EntityRecord(
            uscc=entities.make(f"91{districts[i % len(districts)]}MB{i:07d}"),
            name=f"基准企业{i:06d}有限公司",
            kind="enterprise",
            district=districts[i % len(districts)],
            industry_section=rng.choice("CFGI"),
            status="active",
        )
        for i in range(ENTITIES)
    ]
    with factory.begin() as s:
        entities.upsert(s, records)
    with factory() as s:
        return list(entities.ids_for(s, [r.uscc for r in records]).values())


def _institutions(factory: sessionmaker[Session], n: int) -> list[tuple[int, int]]:
    """(institution id, customer manager id) of ``n`` banks."""
    from puhui.accounts.models import Institution, User

    out = []
    with factory.begin() as s:
        first = s.scalar(text("SELECT COUNT(*) FROM institutions")) or 0
        for i in range(first, first + n):
            inst = Institution(
                name=f"基准银行{i:03d}", kind="bank", code=f"B{i:04d}", is_active=True
            )
            s.add(inst)
            s.flush()
            user = User(
                username=f"bench_cm_{i}",
                display_name=f"客户经理{i}",
                password_hash="!bench",  # noqa: S106 - an unusable hash: nobody logs in
                role="customer_manager",
                institution_id=inst.id,
                is_active=True,
                failed_logins=0,
            )
            s.add(user)
            s.flush()
            out.append((inst.id, user.id))
    return out


def _demands(
    factory: sessionmaker[Session], entity_ids: list[int], n: int, *, claimed_by: list[int]
) -> list[int]:
    from puhui.core.orm import utcnow
    from puhui.entities import service as entities
    from puhui.matching.models import Claim, Demand

    rng = random.Random(2)  # noqa: S311 - synthetic data, not secrets
    now = utcnow()
    districts = list(entities.DISTRICTS)
    with factory.begin() as s:
        start = (s.scalar(text("SELECT COALESCE(MAX(id), 0) FROM demands")) or 0) + 1
        rows = []
        for k in range(n):
            rows.append(
                {
                    "id": start + k,
                    "entity_id": entity_ids[k % len(entity_ids)],
                    "channel": rng.choice(["registered", "simple", "wechat", "loan_code"]),
                    "amount_fen": rng.randrange(50_000, 5_000_000) * 100,
                    "term_months": rng.choice([6, 12, 24, 36]),
                    "purpose": "流动资金周转",
                    "guarantee_type": rng.choice(
                        ["credit", "credit", "guarantee", "mortgage", "pledge"]
                    ),
                    "contact_name": "王五",
                    "contact_mobile": f"139{rng.randrange(10**8):08d}",
                    "entity_kind": "enterprise",
                    "district": rng.choice(districts),
                    "industry_section": rng.choice("CFGI"),
                    "health_grade": rng.choice("ABCCDE"),
                    "status": "open",
                    "active_claims": 0,
                    "expires_at": now + timedelta(days=30),
                    "created_at": now - timedelta(seconds=rng.randrange(30 * 86400)),
                }
            )
        for chunk in range(0, n, 10_000):
            s.execute(insert(Demand), rows[chunk : chunk + 10_000])
        claims = []
        for k in range(0, n, 5):  # a fifth already has one claim
            inst = claimed_by[k % len(claimed_by)]
            claims.append(
                {
                    "demand_id": start + k,
                    "institution_id": inst,
                    "status": "claimed",
                    "contact_due_at": now + timedelta(days=1),
                    "outcome_due_at": now + timedelta(days=7),
                    "created_at": now,
                    "overdue": False,
                    "chosen": False,
                    "reason": "",
                    "rating_comment": "",
                }
            )
        for chunk in range(0, len(claims), 10_000):
            s.execute(insert(Claim), claims[chunk : chunk + 10_000])
        s.execute(
            text("UPDATE demands SET active_claims = 1 WHERE id IN (SELECT demand_id FROM claims)")
        )
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("ANALYZE demands"))
            s.execute(text("ANALYZE claims"))
    return list(range(start, start + n))


def _pool(factory: sessionmaker[Session], manager: tuple[int, int]) -> dict[str, Any]:
    from puhui.core.pagination import PageParams
    from puhui.core.policy import Actor, InstitutionKind, Role
    from puhui.matching import service
    from puhui.matching.models import Demand

    actor = Actor(
        user_id=manager[1],
        username="bench",
        role=Role.CUSTOMER_MANAGER,
        institution_id=manager[0],
        institution_kind=InstitutionKind.BANK,
    )
    rng = random.Random(3)  # noqa: S311 - synthetic data, not secrets
    mixes = [
        service.PoolFilter(),
        service.PoolFilter(amount_min_fen=100_000_00, amount_max_fen=1_000_000_00),
        service.PoolFilter(district="330212"),
        service.PoolFilter(grades=("A", "B")),
        service.PoolFilter(guarantee_type="credit", term_max_months=12),
        service.PoolFilter(district="330203", grades=("C",), guarantee_type="mortgage"),
    ]
    base, full = [], []
    for i in range(QUERIES + 20):
        with factory() as s:
            t = time.perf_counter()
            s.execute(
                select(Demand.id)
                .where(Demand.status == "open")
                .order_by(Demand.created_at.desc())
                .limit(20)
            ).all()
            b = time.perf_counter() - t
        with factory() as s:
            t = time.perf_counter()
            page = service.pool(
                s,
                actor=actor,
                params=PageParams(page=rng.choice([1, 1, 1, 2, 5]), per_page=20),
                filters=mixes[i % len(mixes)],
            )
            f = time.perf_counter() - t
        if i >= 20:  # warm-up
            base.append(b)
            full.append(f)
    return {
        "open_demands": POOL_DEMANDS,
        "baseline_newest_20": _ms(base),
        "pool_page": _ms(full),
        "ratio_p50": round(statistics.median(full) / statistics.median(base), 1),
        "last_total": page.total,
    }


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _token(factory: sessionmaker[Session], user_id: int) -> str:
    from puhui.accounts.models import AuthSession
    from puhui.core.orm import utcnow
    from puhui.core.security import digest, new_token

    token = new_token()
    with factory.begin() as s:
        s.add(
            AuthSession(
                id=digest(token),
                user_id=user_id,
                kind="token",
                last_seen_at=utcnow(),
                expires_at=utcnow() + timedelta(hours=2),
            )
        )
    return token


def _claims(factory: sessionmaker[Session], entity_ids: list[int], url: str) -> dict[str, Any]:
    import httpx

    banks = _institutions(factory, CLIENTS)
    demand_ids = _demands(factory, entity_ids, CLIENTS * 40, claimed_by=[banks[0][0]])
    tokens = [_token(factory, user_id) for _, user_id in banks]
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603 - our own CLI
        [
            sys.executable,
            "-m",
            "puhui",
            "serve",
            "--port",
            str(port),
            "--processes",
            str(PROCESSES),
            "--no-worker",
        ],
        env={**os.environ, "PUHUI_LOG_LEVEL": "WARNING"},
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the benchmark server did not start")
        time.sleep(0.2)

    def bare(i: int, latencies: list[float], stop: float) -> None:
        rng = random.Random(i)  # noqa: S311 - synthetic data, not secrets
        while time.perf_counter() < stop:
            d = rng.choice(demand_ids)
            t = time.perf_counter()
            with factory.begin() as s:
                s.execute(text("UPDATE demands SET returned_at = NULL WHERE id = :d"), {"d": d})
                s.execute(text("INSERT INTO bench_effects (note) VALUES ('x')"))
            latencies.append(time.perf_counter() - t)

    def client(i: int, latencies: list[float], codes: Counter, stop: float) -> None:
        rng = random.Random(100 + i)  # noqa: S311 - synthetic data, not secrets
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {tokens[i]}"},
            timeout=60,
        ) as c:
            while time.perf_counter() < stop:
                d = rng.choice(demand_ids)
                t = time.perf_counter()
                r = c.post(f"/api/v1/demands/{d}/claims")
                latencies.append(time.perf_counter() - t)
                codes[r.status_code] += 1

    with factory.begin() as s:
        s.execute(text("DROP TABLE IF EXISTS bench_effects"))
        ident = "BIGSERIAL" if factory.kw["bind"].dialect.name == "postgresql" else "INTEGER"
        s.execute(text(f"CREATE TABLE bench_effects (id {ident} PRIMARY KEY, note VARCHAR(20))"))

    def run(target: Any, *extra: Any) -> list[float]:
        latencies: list[float] = []
        stop = time.perf_counter() + CLAIM_SECONDS
        threads = [
            threading.Thread(target=target, args=(i, latencies, *extra, stop))
            for i in range(CLIENTS)
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        return latencies

    base = run(bare)
    codes: Counter = Counter()
    measured = run(client, codes)
    server.terminate()
    server.wait(timeout=30)
    return {
        "clients": CLIENTS,
        "server_processes": PROCESSES,
        "seconds": CLAIM_SECONDS,
        "baseline_bare_tx": _ms(base),
        "claim_http": _ms(measured),
        "claims_per_second": round(len(measured) / CLAIM_SECONDS, 1),
        "status_codes": {str(k): v for k, v in sorted(codes.items())},
        "ratio_p99": round(_pct(measured, 99) / _pct(base, 99), 1),
    }


def run() -> dict[str, Any]:
    engine, factory, dialect = _setup()
    try:
        t = time.perf_counter()
        entity_ids = _entities(factory)
        banks = _institutions(factory, 5)
        _demands(factory, entity_ids, POOL_DEMANDS, claimed_by=[b[0] for b in banks[1:]])
        setup_s = round(time.perf_counter() - t, 1)
        pool = _pool(factory, banks[0])
        claims = _claims(factory, entity_ids, str(engine.url))
        result = {"database": dialect, "setup_s": setup_s, "pool": pool, "claims": claims}
        print(f"matching on {dialect} (setup {setup_s} s)")
        print(
            f"  pool, {POOL_DEMANDS} open demands: p50 {pool['pool_page']['p50_ms']} ms, "
            f"p99 {pool['pool_page']['p99_ms']} ms (baseline newest-20 p50 "
            f"{pool['baseline_newest_20']['p50_ms']} ms; ratio {pool['ratio_p50']}x)"
        )
        print(
            f"  claims, {CLIENTS} clients over HTTP to {PROCESSES} server processes: "
            f"p50 {claims['claim_http']['p50_ms']} ms, "
            f"p99 {claims['claim_http']['p99_ms']} ms, {claims['claims_per_second']}/s "
            f"{claims['status_codes']} (bare tx p99 {claims['baseline_bare_tx']['p99_ms']} ms; "
            f"ratio {claims['ratio_p99']}x)"
        )
        return result
    finally:
        engine.dispose()
        for drop in _drop:
            drop()
        _drop.clear()
