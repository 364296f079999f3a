"""Audit chain costs: what does chaining add to writing an audit event, and how fast is a
chain verified?

Append. Baseline: N transactions that each insert one audit-shaped row into a plain table
(what recording cost before the chain). Measured: N transactions that each call
``audit.service.record`` (lock the head, SM3, insert, move the head). With PostgreSQL also
four writers at once, both ways (the chain serialises them on the head row).

Verify. Baseline: SM3 over the bodies of M records (the floor any verifier pays). Measured:
``chain.verify_lines`` over the same records as parsed export lines, and the export of the
N stored records read back from the database.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from bench.jobs_outbox import _drop, scratch_database

N = int(os.environ.get("PUHUI_BENCH_AUDIT", "2000"))
M = int(os.environ.get("PUHUI_BENCH_AUDIT_VERIFY", "200000"))
_INSERT = text(
    "INSERT INTO bench_audit (occurred_at, username, action, target_type, target_id, outcome, "
    "details) VALUES (:at, :u, :a, 'entity', :t, 'ok', :d)"
)


def _setup() -> tuple[Any, sessionmaker[Session], str]:
    os.environ.setdefault("PUHUI_ENV", "test")
    os.environ.setdefault("PUHUI_SECRET_KEY", "bench-secret-key-long-enough-0123456789abc")
    # the platform key this bench signs with goes to a throwaway folder, not to var/
    os.environ.setdefault("PUHUI_DATA_DIR", tempfile.mkdtemp())
    from puhui import migrate, registry
    from puhui.core.db import make_engine

    url = scratch_database(os.environ.get("PUHUI_BENCH_DATABASE_URL"))
    registry.load_all()
    engine = make_engine(url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_audit"))
        conn.execute(
            text(
                "CREATE TABLE bench_audit (id INTEGER PRIMARY KEY, occurred_at VARCHAR(40), "
                "username VARCHAR(64), action VARCHAR(64), target_type VARCHAR(40), "
                "target_id VARCHAR(64), outcome VARCHAR(16), details TEXT)"
                if engine.dialect.name == "sqlite"
                else "CREATE TABLE bench_audit (id BIGSERIAL PRIMARY KEY, occurred_at "
                "VARCHAR(40), username VARCHAR(64), action VARCHAR(64), target_type "
                "VARCHAR(40), target_id VARCHAR(64), outcome VARCHAR(16), details TEXT)"
            )
        )
    return engine, sessionmaker(engine, expire_on_commit=False), engine.dialect.name


def _writers(work: Any, writers: int, per_writer: int) -> float:
    start = time.perf_counter()
    threads = [threading.Thread(target=work, args=(w, per_writer)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def _plain(factory: sessionmaker[Session]) -> Any:
    def work(w: int, n: int) -> None:
        for i in range(n):
            with factory.begin() as s:
                s.execute(
                    _INSERT,
                    {
                        "at": datetime.now(UTC).isoformat(),
                        "u": f"user{w}",
                        "a": "bench.plain",
                        "t": str(i),
                        "d": json.dumps({"w": w, "i": i}),
                    },
                )

    return work


def _chained(factory: sessionmaker[Session]) -> Any:
    from puhui.audit import service

    def work(w: int, n: int) -> None:
        for i in range(n):
            with factory.begin() as s:
                service.record(
                    s,
                    actor=None,
                    username=f"user{w}",
                    action="bench.chained",
                    target_type="entity",
                    target_id=i,
                    details={"w": w, "i": i},
                )

    return work


def _synthetic_lines(m: int) -> tuple[list[dict[str, Any]], list[bytes]]:
    from puhui.audit import chain

    lines: list[dict[str, Any]] = [
        {"type": "header", "format": chain.FORMAT, "head_seq": m, "signing_keys": []}
    ]
    bodies = []
    prev = chain.GENESIS_HASH
    now = datetime.now(UTC)
    for seq in range(1, m + 1):
        fields = dict.fromkeys(chain.RECORD_FIELDS)
        fields |= {"seq": seq, "occurred_at": now, "action": "profile.read", "outcome": "ok"}
        fields |= {"username": "风控经理", "details": {"uscc": "91330203MA0000001X", "n": seq}}
        body = chain.record_body(fields)
        digest = chain.link(prev, body)
        lines.append(chain.record_line(seq=seq, prev_hash=prev, hash=digest, body=body))
        bodies.append(bytes.fromhex(prev) + body)
        prev = digest
    lines.append({"type": "end", "seq": m, "head_hash": prev})
    parsed = [json.loads(chain.dumps_line(line)) for line in lines]
    lines[0]["head_hash"] = prev
    parsed[0]["head_hash"] = prev
    return parsed, bodies


def run() -> dict[str, Any]:
    from puhui.audit import chain, service
    from puhui.config import get_settings
    from puhui.core.security import sm3

    engine, factory, dialect = _setup()
    try:
        result: dict[str, Any] = {"dialect": dialect, "n": N, "m": M}
        plain = _writers(_plain(factory), 1, N)
        chained = _writers(_chained(factory), 1, N)
        result["append_plain_per_s"] = round(N / plain)
        result["append_chained_per_s"] = round(N / chained)
        result["append_chained_vs_plain"] = round(chained / plain, 2)
        print(
            f"[audit] append, one writer ({dialect}): plain {N / plain:,.0f}/s, "
            f"chained {N / chained:,.0f}/s = {chained / plain:.2f}x the time"
        )
        if dialect == "postgresql":
            plain4 = _writers(_plain(factory), 4, N // 4)
            chained4 = _writers(_chained(factory), 4, N // 4)
            result["append4_plain_per_s"] = round(N / plain4)
            result["append4_chained_per_s"] = round(N / chained4)
            result["append4_chained_vs_plain"] = round(chained4 / plain4, 2)
            print(
                f"[audit] append, four writers: plain {N / plain4:,.0f}/s, chained "
                f"{N / chained4:,.0f}/s = {chained4 / plain4:.2f}x the time"
            )

        key = service.platform_key(get_settings())
        start = time.perf_counter()
        exported = sum(1 for _ in service.export_lines(factory, key=key))
        export_s = time.perf_counter() - start
        report = service.verify_database(factory, key=key)
        assert report.ok, report.problems
        result["export_lines_per_s"] = round(exported / export_s)
        print(f"[audit] export from the database: {exported / export_s:,.0f} lines/s")

        lines, bodies = _synthetic_lines(M)
        start = time.perf_counter()
        for body in bodies:
            sm3(body)
        floor = time.perf_counter() - start
        start = time.perf_counter()
        report = chain.verify_lines(lines, {}, require_signed_end=False)
        verify = time.perf_counter() - start
        assert report.ok and report.records == M, report.problems
        result["verify_per_s"] = round(M / verify)
        result["sm3_floor_per_s"] = round(M / floor)
        result["verify_vs_sm3_floor"] = round(verify / floor, 2)
        print(
            f"[audit] verify {M:,} records: {M / verify:,.0f}/s; SM3 alone {M / floor:,.0f}/s "
            f"= {verify / floor:.2f}x the floor"
        )
        return result
    finally:
        engine.dispose()
        for drop in _drop:
            drop()
        _drop.clear()
