"""Entity search at full scale: p50/p99 of ``SearchIndex.search`` over N entities
(default 1.38 M) for name and code queries, against a baseline measured in the same run:
the bare Polars literal ``str.contains`` filter over the same names (the floor the index
adds ranking and paging to), and SQLite ``LIKE '%q%'`` over the same rows for scale.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import time
from typing import Any

import numpy as np
import polars as pl

from puhui.entities import service, uscc
from puhui.entities.search import SearchIndex

N = int(os.environ.get("PUHUI_BENCH_ENTITIES", "1380000"))
SAMPLES = 200
ROOTS = (
    "华光海天阳明甬江东钱湖北仑天一鼓楼月湖慈城梁祝河姆渡四明溪口镇海象山宁海丹城东海前湾".replace(
        "", " "
    ).split()
)
TRADES = [
    "电子",
    "科技",
    "贸易",
    "机械",
    "模具",
    "五金",
    "服装",
    "食品",
    "建材",
    "塑料",
    "汽配",
    "文具",
    "家电",
    "化工",
]
FORMS = ["有限公司", "有限责任公司", "股份有限公司", "五金店", "商行", "经营部", "专业合作社"]
DISTRICTS = list(service.DISTRICTS)


def _rows(rng: np.random.Generator) -> list[tuple[Any, ...]]:
    a = rng.integers(0, len(ROOTS), N)
    b = rng.integers(0, len(ROOTS), N)
    t = rng.integers(0, len(TRADES), N)
    f = rng.integers(0, len(FORMS), N)
    d = rng.integers(0, len(DISTRICTS), N)
    rows = []
    for i in range(N):
        district = DISTRICTS[d[i]]
        code = uscc.make(f"91{district}{i:09d}".replace("I", "1")[:17])
        name = f"宁波{ROOTS[a[i]]}{ROOTS[b[i]]}{i % 997}{TRADES[t[i]]}{FORMS[f[i]]}"
        rows.append((i + 1, code, name, "enterprise", district, "C", "active", True))
    return rows


def _timed(fn: Any, queries: list[str]) -> list[float]:
    out = []
    for q in queries:
        start = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - start) * 1000)
    return out


def _pct(values: list[float], p: float) -> float:
    return float(np.percentile(values, p))


def run() -> dict[str, Any]:
    rng = np.random.default_rng(7)
    rows = _rows(rng)
    start = time.perf_counter()
    index = SearchIndex.build("bench", [rows])
    build_s = time.perf_counter() - start
    names = [r[2] for r in rows]
    picks = rng.integers(0, N, SAMPLES)
    name_queries = [names[i][2:6] for i in picks[: SAMPLES // 2]] + [
        ROOTS[i % len(ROOTS)] + ROOTS[(i * 7) % len(ROOTS)] for i in range(SAMPLES // 2)
    ]
    code_queries = [rows[i][1] for i in picks[: SAMPLES // 2]] + [
        rows[i][1][6:14] for i in picks[SAMPLES // 2 :]
    ]
    frame = index.frame
    floor = _timed(
        lambda q: frame.filter(pl.col("name").str.contains(q, literal=True)).height, name_queries
    )
    by_name = _timed(lambda q: index.search(q, limit=20), name_queries)
    by_code = _timed(lambda q: index.search(q, limit=20), code_queries)
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE e (id INTEGER PRIMARY KEY, uscc TEXT UNIQUE, name TEXT)")
    conn.executemany("INSERT INTO e VALUES (?, ?, ?)", [(r[0], r[1], r[2]) for r in rows])
    sqlite_like = _timed(
        lambda q: conn.execute(
            "SELECT id FROM e WHERE name LIKE ? LIMIT 20", (f"%{q}%",)
        ).fetchall(),
        name_queries[:40],
    )
    result = {
        "benchmark": "entity_search",
        "entities": N,
        "index_build_s": round(build_s, 2),
        "index_mb": round(frame.estimated_size("mb"), 1),
        "name_p50_ms": round(_pct(by_name, 50), 2),
        "name_p99_ms": round(_pct(by_name, 99), 2),
        "code_p50_ms": round(_pct(by_code, 50), 2),
        "code_p99_ms": round(_pct(by_code, 99), 2),
        "floor_polars_contains_p50_ms": round(_pct(floor, 50), 2),
        "name_p50_ratio_to_floor": round(statistics.median(by_name) / statistics.median(floor), 2),
        "sqlite_like_p50_ms": round(_pct(sqlite_like, 50), 2),
    }
    print(
        f"entity search over {N} entities (index built in {result['index_build_s']} s, "
        f"{result['index_mb']} MB):"
    )
    print(
        f"  by name: p50 {result['name_p50_ms']} ms, p99 {result['name_p99_ms']} ms "
        f"({result['name_p50_ratio_to_floor']}x the bare Polars contains, "
        f"p50 {result['floor_polars_contains_p50_ms']} ms)"
    )
    print(f"  by code: p50 {result['code_p50_ms']} ms, p99 {result['code_p99_ms']} ms")
    print(f"  SQLite LIKE '%q%' LIMIT 20 over the same rows: p50 {result['sqlite_like_p50_ms']} ms")
    return result
