"""Jobs outbox throughput: how much does a job cost over the bare database work it does?

Baseline: N transactions that each insert one row and update it (what a job's claim and
completion amount to at minimum). Measured: N jobs enqueued in one transaction, then drained
by one worker (claim transaction + handler transaction that marks the job done), the handler
inserting one row. With PostgreSQL, also two workers draining in parallel.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

N = int(os.environ.get("PUHUI_BENCH_JOBS", "2000"))
_drop: list[Any] = []


def scratch_database(server_url: str | None) -> str:
    """A throwaway database: an SQLite file, or a new database on the given server that is
    dropped when the benchmark ends (never the server's own databases)."""
    if not server_url:
        return f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    name = f"puhui_bench_{os.getpid()}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    _drop.append(drop)
    return url.set(database=name).render_as_string(hide_password=False)


def _setup() -> tuple[Any, sessionmaker[Session], str]:
    os.environ.setdefault("PUHUI_ENV", "test")
    os.environ.setdefault("PUHUI_SECRET_KEY", "bench-secret-key-long-enough-0123456789abc")
    from puhui import migrate, registry
    from puhui.core.db import make_engine

    url = scratch_database(os.environ.get("PUHUI_BENCH_DATABASE_URL"))
    registry.load_all()
    engine = make_engine(url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_effects"))
        conn.execute(text("CREATE TABLE bench_effects (id BIGINT PRIMARY KEY, note VARCHAR(20))"))
        conn.execute(text("DELETE FROM jobs WHERE kind = 'bench.noop'"))
    return engine, sessionmaker(engine, expire_on_commit=False), engine.dialect.name


def _baseline(factory: sessionmaker[Session]) -> float:
    start = time.perf_counter()
    for i in range(N):
        with factory.begin() as s:
            s.execute(
                text("INSERT INTO bench_effects (id, note) VALUES (:i, 'a')"), {"i": 10_000_000 + i}
            )
            s.execute(
                text("UPDATE bench_effects SET note = 'b' WHERE id = :i"), {"i": 10_000_000 + i}
            )
    return time.perf_counter() - start


def _drain(factory: sessionmaker[Session], workers: int) -> tuple[float, float]:
    from puhui.core import jobs

    with factory.begin() as s:
        for i in range(N):
            jobs.enqueue(s, "bench.noop", {"i": i})
    start = time.perf_counter()
    threads = [
        threading.Thread(target=jobs.Worker(factory, worker_id=f"bench-{w}").run_until_idle)
        for w in range(workers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    with factory.begin() as s:
        done = s.scalar(
            text("SELECT count(*) FROM jobs WHERE kind = 'bench.noop' AND status = 'done'")
        )
        s.execute(text("DELETE FROM jobs WHERE kind = 'bench.noop'"))
        s.execute(text("DELETE FROM bench_effects"))
    return elapsed, float(done or 0)


def run() -> dict[str, Any]:
    from puhui.core.jobs import job_handler

    engine, factory, dialect = _setup()

    @job_handler("bench.noop")
    def _noop(session: Session, payload: dict[str, Any]) -> None:
        session.execute(
            text("INSERT INTO bench_effects (id, note) VALUES (:i, 'j')"), {"i": payload["i"]}
        )

    base_runs, one_runs = [], []
    for _ in range(3):
        base_runs.append(_baseline(factory))
        with factory.begin() as s:
            s.execute(text("DELETE FROM bench_effects"))
        elapsed, done = _drain(factory, 1)
        assert done == N, f"only {done} of {N} jobs done"
        one_runs.append(elapsed)
    base, one = statistics.median(base_runs), statistics.median(one_runs)
    result: dict[str, Any] = {
        "benchmark": "jobs",
        "database": dialect,
        "jobs": N,
        "baseline_tx_per_s": round(N / base),
        "one_worker_jobs_per_s": round(N / one),
        "one_worker_ratio_to_baseline": round(one / base, 2),
    }
    if dialect == "postgresql":
        two, done = _drain(factory, 2)
        assert done == N
        result["two_workers_jobs_per_s"] = round(N / two)
        result["two_workers_ratio_to_baseline"] = round(two / base, 2)
    print(f"jobs outbox on {dialect}, {N} jobs (median of 3):")
    print(f"  baseline: {result['baseline_tx_per_s']} insert+update transactions/s")
    print(
        f"  1 worker: {result['one_worker_jobs_per_s']} jobs/s "
        f"= {result['one_worker_ratio_to_baseline']}x the baseline's time"
    )
    if "two_workers_jobs_per_s" in result:
        print(
            f"  2 workers: {result['two_workers_jobs_per_s']} jobs/s "
            f"= {result['two_workers_ratio_to_baseline']}x the baseline's time"
        )
    engine.dispose()
    for drop in _drop:
        drop()
    return result
