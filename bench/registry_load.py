"""The registry's bulk load with the legal representatives' name and ID number encrypted
(SM4-GCM) and the ID number's blind index (HMAC-SM3): rows per second through
``entities.service.upsert_frame`` — the path of a registry file's ingest and of the full
city load — against the same load with the protection replaced by the identity (the
baseline, same run, same database), encrypting in this process and in worker processes.

PUHUI_BENCH_ENTITIES (default 200 000; the full city has 1 380 000). Set
PUHUI_BENCH_DATABASE_URL to measure on PostgreSQL (the entities table is emptied between
runs; use a throwaway database).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

N = int(os.environ.get("PUHUI_BENCH_ENTITIES", "200000"))
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _id_number(n: int) -> str:
    body = f"330203{1960 + n % 40}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    total = sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def _frame(n: int) -> Any:
    import polars as pl

    from puhui.entities import service as entities
    from puhui.ingest.readers import REGISTRY_COLUMNS
    from puhui.ingest.registry_rows import check_registry

    surnames = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨"
    rows = {
        "row": list(range(1, n + 1)),
        "uscc": [entities.make(f"91330212MA{i:07d}") for i in range(n)],
        "name": [f"宁波测试{i}有限公司" for i in range(n)],
        "entity_kind": ["enterprise"] * n,
        "district": ["330212"] * n,
        "industry_section": ["C"] * n,
        "industry_division": ["34"] * n,
        "registered_capital": ["5000000"] * n,
        "established": ["2015-03-01"] * n,
        "status": ["active"] * n,
        "legal_rep_name": [surnames[i % 16] + "某" + str(i % 100) for i in range(n)],
        "legal_rep_id": [_id_number(i) for i in range(n)],
    }
    raw = pl.DataFrame(rows, schema={"row": pl.Int64, **dict.fromkeys(REGISTRY_COLUMNS, pl.String)})
    checked = check_registry(raw)
    assert checked.accepted.height == n, checked.issues.head()
    return checked.accepted


def run() -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="puhui-bench-registry-"))
    os.environ.update(
        PUHUI_ENV="test",
        PUHUI_SECRET_KEY="bench-secret-key-long-enough-0123456789abc",  # noqa: S106
        PUHUI_DATA_DIR=str(root / "var"),
        PUHUI_DATABASE_URL=os.environ.get(
            "PUHUI_BENCH_DATABASE_URL", f"sqlite:///{root / 'bench.db'}"
        ),
    )
    from puhui.config import get_settings

    get_settings.cache_clear()
    from sqlalchemy import text

    from puhui.cli import initialise
    from puhui.core.db import get_session_factory, session_scope
    from puhui.core.security import fields
    from puhui.entities import repository
    from puhui.entities import service as entities

    try:
        initialise(quiet=True)
        factory = get_session_factory(get_settings().effective_database_url)
        t = time.perf_counter()
        frame = _frame(N)
        print(f"  {N} registry rows made and checked in {time.perf_counter() - t:.1f} s")

        def load(workers: int) -> float:
            with session_scope(factory) as s:
                s.execute(text("DELETE FROM entities"))
            t = time.perf_counter()
            with session_scope(factory) as s:
                assert entities.upsert_frame(s, frame, batch_id=None, workers=workers) == N
            return time.perf_counter() - t

        def crypto_only(workers: int) -> float:
            inputs = (
                repository.protect_inputs(
                    c.get_column("legal_rep_name").to_list(),
                    c.get_column("legal_rep_id").to_list(),
                )
                for c in frame.iter_slices(5000)
            )
            t = time.perf_counter()
            for _ in fields.protect_chunks(repository.PROTECT_SPECS, inputs, workers=workers):
                pass
            return time.perf_counter() - t

        real = fields._protect
        fields._protect = lambda keyring, specs, columns: [list(c) for c in columns]  # type: ignore[assignment]
        try:
            plain_s = load(1)
        finally:
            fields._protect = real  # type: ignore[assignment]
        serial_s = load(1)
        workers = max(2, min(4, os.cpu_count() or 1))
        parallel_s = load(workers)
        crypto_s = crypto_only(1)
        with session_scope(factory) as s:
            stored = s.execute(text("SELECT legal_rep_id FROM entities LIMIT 1")).scalar_one()
            assert stored.startswith("sm4:"), stored
        result = {
            "benchmark": "registry_load",
            "rows": N,
            "database": factory.kw["bind"].dialect.name,
            "workers": workers,
            "cpus": os.cpu_count(),
            "plain_rows_per_s": round(N / plain_s),
            "encrypted_rows_per_s": round(N / serial_s),
            "encrypted_parallel_rows_per_s": round(N / parallel_s),
            "encrypted_ratio_to_plain": round(plain_s / serial_s, 2),
            "encrypted_parallel_ratio_to_plain": round(plain_s / parallel_s, 2),
            "crypto_only_rows_per_s": round(N / crypto_s),
            "full_city_extra_s_serial": round((serial_s - plain_s) * 1_380_000 / N, 1),
            "full_city_extra_s_parallel": round((parallel_s - plain_s) * 1_380_000 / N, 1),
        }
        for key, value in result.items():
            print(f"  {key}: {value}")
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)
