"""The acquisition filter at city scale: 1.38 M entities × the 50 key indicators.

A synthetic snapshot (``PUHUI_BENCH_FILTER_ENTITIES`` rows, default 1 380 000; a fifth of
the cells empty, like young or small entities) is written with ``Snapshot.write`` and
memory-mapped as the service maps it; with ``PUHUI_BENCH_VAR`` the snapshot of that data
folder is used instead. Six realistic filters (3–6 conditions, one with an OR group), each
a count plus the top 20 by the health score, run through the service's evaluator
(``filters.plan`` + ``filters.run`` with the opt-out mask) and against:

- baseline, same run: hand-written numpy boolean masks over the same arrays (decoded
  beforehand, empty cells as NaN / -1) with ``argpartition`` for the top 20 — the floor;
- PostgreSQL (``PUHUI_BENCH_DATABASE_URL``, else the local server; skipped when it cannot
  be reached): the same columns COPY-ed into a scratch database, a B-tree index per
  column, the same filter as ``count(*)`` plus ``ORDER BY … LIMIT 20``.

Figures: p50 / p99 per engine over every filter and repetition, and p50 ratios against
the numpy floor in the same run.
"""

from __future__ import annotations

import io
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from bench.jobs_outbox import _drop, scratch_database

N = int(os.environ.get("PUHUI_BENCH_FILTER_ENTITIES", "1380000"))
REPEAT = int(os.environ.get("PUHUI_BENCH_FILTER_REPEAT", "30"))
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
EMPTY_SHARE = 0.2
TOP = 20

FILTERS: list[dict[str, Any]] = [
    {  # growing manufacturers with a good tax record
        "conditions": [
            {"indicator": "BAS_INDUSTRY_SECTION", "op": "in", "values": ["C"]},
            {"indicator": "OPR_TAX_TOTAL_YOY", "op": "gt", "value": 0.1},
            {"indicator": "OPR_TAX_CREDIT_GRADE", "op": "in", "values": ["A", "B"]},
        ]
    },
    {  # first-time borrowers of some size, in two districts
        "conditions": [
            {"indicator": "FIN_FIRST_TIME_BORROWER", "op": "is_true"},
            {"indicator": "BAS_DISTRICT", "op": "in", "values": ["330203", "330212"]},
            {"indicator": "OPR_SS_HEADCOUNT_M", "op": "between", "lo": 10, "hi": 200},
            {"indicator": "NEG_RECORDS_TOTAL", "op": "eq", "value": 0},
        ]
    },
    {  # technology firms: any of the labels, invoiced sales in a range, clean record
        "conditions": [
            {
                "any": [
                    {"indicator": "POS_HIGH_TECH", "op": "is_true"},
                    {"indicator": "POS_SPECIALISED_SME", "op": "is_true"},
                    {"indicator": "PRP_INVENTION_PATENTS", "op": "ge", "value": 3},
                ]
            },
            {"indicator": "OPR_INV_SALES_12M", "op": "between", "lo": 1e6, "hi": 5e7},
            {"indicator": "NEG_DISHONEST_CASES", "op": "eq", "value": 0},
            {"indicator": "FIN_LENDING_BANKS", "op": "le", "value": 2},
        ]
    },
    {  # exporters with growing trade and power use
        "conditions": [
            {"indicator": "OPR_EXPORT_12M", "op": "gt", "value": 1e6},
            {"indicator": "OPR_TRADE_YOY", "op": "gt", "value": 0},
            {"indicator": "OPR_POWER_YOY", "op": "ge", "value": 0},
            {"indicator": "BAS_AGE_YEARS", "op": "ge", "value": 3},
            {"indicator": "CRE_HEALTH_GRADE", "op": "in", "values": ["A", "B", "C"]},
        ]
    },
    {  # small and micro firms: capital, headcount, grade, no abnormal operation
        "conditions": [
            {"indicator": "BAS_SMALL_MICRO", "op": "is_true"},
            {"indicator": "BAS_REG_CAPITAL", "op": "between", "lo": 1e5, "hi": 1e7},
            {"indicator": "OPR_HPF_HEADCOUNT_M", "op": "ge", "value": 5},
            {"indicator": "NEG_ABNORMAL_OPERATION", "op": "is_false"},
            {"indicator": "CRE_HEALTH_SCORE", "op": "ge", "value": 60},
            {"indicator": "BAS_ENTITY_TYPE", "op": "eq", "value": "enterprise"},
        ]
    },
    {  # broad: any growth signal (many matches: the top-20 partial sort is exercised)
        "conditions": [
            {"indicator": "OPR_TAX_TOTAL_YOY", "op": "gt", "value": 0},
            {"indicator": "OPR_INV_SALES_YOY", "op": "gt", "value": -0.5},
            {"indicator": "NEG_LAWSUITS_DEFENDANT_12M", "op": "lt", "value": 2},
        ]
    },
]


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _ms(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values) * 1000, 2),
        "p99_ms": round(_pct(values, 99) * 1000, 2),
        "n": len(values),
    }


def _specs() -> dict[str, Any]:
    from puhui.acquisition.filters import KeySpec
    from puhui.catalog import file as catalog_file

    return {
        r.code: KeySpec(
            code=r.code,
            category=r.category,
            value_type=r.value_type,
            allowed_values=tuple(r.allowed_values),
            sensitivity=r.sensitivity,
            personal=r.personal,
        )
        for r in catalog_file.read().rows
        if r.is_key
    }


def _synthetic(specs: dict[str, Any], n: int, root: Path) -> Any:
    """A snapshot of ``n`` entities × the key indicators, written and mapped for real."""
    from puhui.core.snapshot import IndicatorSpec, Snapshot

    rng = np.random.default_rng(42)
    columns = []
    for code, spec in specs.items():
        empty = rng.random(n) < EMPTY_SHARE
        kind = spec.value_type
        if kind == "amount":
            values = pl.Series(code, rng.lognormal(13, 2.5, n).astype(np.float32))
        elif kind == "ratio":
            if code == "CRE_HEALTH_SCORE":
                raw = rng.random(n) * 100
            elif code == "BAS_AGE_YEARS":
                raw = rng.random(n) * 30
            else:
                raw = rng.normal(0.05, 0.4, n)
            values = pl.Series(code, raw.astype(np.float32))
        elif kind == "count":
            values = pl.Series(code, (rng.geometric(0.08, n) - 1).astype(np.int32))
        elif kind == "flag":
            values = pl.Series(code, rng.random(n) < 0.15)
        else:
            allowed = list(spec.allowed_values)
            picks = rng.integers(0, len(allowed), n)
            values = pl.Series(code, np.array(allowed)[picks]).cast(pl.Enum(allowed))
        columns.append(
            pl.select(pl.when(pl.Series(empty)).then(None).otherwise(values))
            .to_series()
            .alias(code)
        )
    frame = pl.DataFrame(columns)
    indicators = [
        IndicatorSpec(i, s.code, s.category, s.value_type, s.allowed_values)
        for i, s in enumerate(specs.values(), start=1)
    ]
    return Snapshot.write(frame, indicators, root / "snapshot", n_entities=n).current()


def _view(specs: dict[str, Any], root: Path) -> Any:
    given = os.environ.get("PUHUI_BENCH_VAR")
    if given:
        from puhui.core.snapshot import Snapshot

        return Snapshot.open(Path(given) / "snapshot").current()
    return _synthetic(specs, N, root)


# --- the numpy floor ------------------------------------------------------------------------


def _decoded(view: Any, specs: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every key column as a plain numpy array: numbers as float with NaN for empty,
    codes as their index (-1 empty), flags as int8 (-1 empty)."""
    out = {}
    for code, spec in specs.items():
        if code not in view.group_of:
            continue
        col = view.column(code)
        if spec.value_type in ("grade", "code"):
            out[code] = col.to_physical().fill_null(-1).cast(pl.Int32).to_numpy()
        elif spec.value_type == "flag":
            out[code] = col.cast(pl.Int8).fill_null(-1).to_numpy()
        elif spec.value_type == "count":
            out[code] = col.cast(pl.Float64).fill_null(np.nan).to_numpy()
        else:
            out[code] = col.fill_null(np.nan).to_numpy()
    return out


def _np_leaf(  # noqa: PLR0911 - one return per op
    arrays: dict[str, np.ndarray], specs: dict[str, Any], c: dict[str, Any]
) -> np.ndarray:
    if "any" in c:
        parts = [_np_leaf(arrays, specs, x) for x in c["any"]]
        return np.logical_or.reduce(parts)
    a, spec, op = arrays[c["indicator"]], specs[c["indicator"]], c["op"]
    cast = np.float32 if a.dtype == np.float32 else float
    if op == "in":  # a lookup table over the code index (slot 0: empty)
        allowed = list(spec.allowed_values)
        table = np.zeros(len(allowed) + 1, dtype=bool)
        table[[allowed.index(v) + 1 for v in c["values"]]] = True
        return table[a + 1]
    if op == "eq" and isinstance(c["value"], str):
        return a == list(spec.allowed_values).index(c["value"])
    if op == "is_true":
        return a == 1
    if op == "is_false":
        return a == 0
    if op == "between":
        return (a >= cast(c["lo"])) & (a <= cast(c["hi"]))
    v = cast(c["value"])
    return {"gt": a > v, "ge": a >= v, "lt": a < v, "le": a <= v, "eq": a == v}[op]


def _numpy(
    arrays: dict[str, np.ndarray], specs: dict[str, Any], flt: dict[str, Any], eligible: np.ndarray
) -> tuple[int, list[int]]:
    mask = eligible.copy()
    for c in flt["conditions"]:
        mask &= _np_leaf(arrays, specs, c)
    rows = np.flatnonzero(mask)
    score = arrays["CRE_HEALTH_SCORE"][rows]
    score = np.where(np.isnan(score), -np.inf, score)
    k = min(TOP, rows.size)
    if k == 0:
        return 0, []
    top = np.argpartition(-score, k - 1)[:k] if k < rows.size else np.arange(rows.size)
    best = rows[top[np.lexsort((rows[top], -score[top]))]]
    return int(rows.size), best.tolist()


# --- PostgreSQL --------------------------------------------------------------------------------


def _sql(flt: dict[str, Any], specs: dict[str, Any]) -> str:
    def leaf(c: dict[str, Any]) -> str:
        if "any" in c:
            return "(" + " OR ".join(leaf(x) for x in c["any"]) + ")"
        col, op = c["indicator"].lower(), c["op"]
        if op == "in":
            return f"{col} IN ({', '.join(repr(v) for v in c['values'])})"
        if op == "is_true":
            return f"{col}"
        if op == "is_false":
            return f"NOT {col}"
        if op == "between":
            return f"{col} BETWEEN {c['lo']!r} AND {c['hi']!r}"
        sym = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "eq": "="}[op]
        return f"{col} {sym} {c['value']!r}"

    return " AND ".join(leaf(c) for c in flt["conditions"])


def _postgres(view: Any, specs: dict[str, Any]) -> Any:
    from sqlalchemy import create_engine, text

    server = os.environ.get("PUHUI_BENCH_DATABASE_URL", DEFAULT_PG)
    try:
        url = scratch_database(server)
    except Exception as exc:
        print(f"  PostgreSQL skipped: {exc.__class__.__name__}")
        return None
    engine = create_engine(url)
    codes = [c for c in specs if c in view.group_of]
    types = {"amount": "real", "ratio": "real", "count": "integer", "flag": "boolean"}
    cols = ", ".join(f"{c.lower()} {types.get(specs[c].value_type, 'text')}" for c in codes)
    start = time.perf_counter()
    frame = view.frame(codes).with_row_index("id")
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE snap (id integer PRIMARY KEY, {cols})"))
        raw = conn.connection.dbapi_connection
        with raw.cursor() as cur:
            for chunk in frame.iter_slices(200_000):
                buf = io.BytesIO()
                chunk.with_columns(pl.col(pl.Enum).cast(pl.String)).write_csv(
                    buf, include_header=False, null_value=""
                )
                with cur.copy("COPY snap FROM STDIN WITH (FORMAT csv)") as copy:
                    copy.write(buf.getvalue())
    with engine.begin() as conn:
        for c in codes:
            conn.execute(text(f"CREATE INDEX ON snap ({c.lower()})"))
        conn.execute(text("ANALYZE snap"))
    print(f"  PostgreSQL loaded and indexed in {time.perf_counter() - start:.0f} s")
    return engine


def _pg_run(engine: Any, where: str) -> tuple[int, list[int]]:
    from sqlalchemy import text

    with engine.connect() as conn:
        # the WHERE is built from this module's own constant filters
        count = text(f"SELECT count(*) FROM snap WHERE {where}")  # noqa: S608
        total = conn.execute(count).scalar_one()
        order = f"ORDER BY cre_health_score DESC NULLS LAST, id LIMIT {TOP}"
        page = text(f"SELECT id FROM snap WHERE {where} {order}")  # noqa: S608
        ids = conn.execute(page).scalars().all()
    return int(total), list(ids)


def _interleaved(engines: dict[str, Callable[[], Any]]) -> dict[str, list[float]]:
    """Each engine ``REPEAT`` times, taking turns, so all see the same machine."""
    out: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(REPEAT):
        for name, fn in engines.items():
            t = time.perf_counter()
            fn()
            out[name].append(time.perf_counter() - t)
    return out


# --- the run -----------------------------------------------------------------------------------


def run() -> dict[str, Any]:  # noqa: PLR0915 - one benchmark, read top to bottom
    from puhui.acquisition import filters
    from puhui.acquisition.schemas import FilterRequest

    specs = _specs()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        view = _view(specs, Path(tmp))
        n = view.n_entities
        print(
            f"acquisition filter: {n:,} entities × {len(view.group_of)} columns "
            f"(snapshot ready in {time.perf_counter() - t0:.1f} s)"
        )
        rng = np.random.default_rng(3)
        eligible = rng.random(n) >= 0.01  # 1 % opted out
        eligible.flags.writeable = False
        arrays = _decoded(view, specs)
        plans = [
            filters.plan(FilterRequest.model_validate({**f, "limit": TOP}), specs) for f in FILTERS
        ]

        def service(i: int) -> tuple[int, list[int]]:
            plan = plans[i]
            frame = pl.DataFrame(
                [view.column(c) for c in dict.fromkeys([*plan.columns, plan.sort])]
            )
            found = filters.run(frame, plan, eligible=eligible)
            return found.total, found.ids

        times: dict[str, list[float]] = {"service": [], "numpy": []}
        per_filter = []
        for i, flt in enumerate(FILTERS):
            got, want = service(i), _numpy(arrays, specs, flt, eligible)
            assert got == want, f"filter {i}: service {got[0]} vs numpy {want[0]}"
            mine = _interleaved(
                {
                    "service": partial(service, i),
                    "numpy": partial(_numpy, arrays, specs, flt, eligible),
                }
            )
            times["service"] += mine["service"]
            times["numpy"] += mine["numpy"]
            per_filter.append({"matches": got[0], **{k: _ms(v) for k, v in mine.items()}})
            p50 = {k: _ms(v)["p50_ms"] for k, v in mine.items()}
            print(
                f"  filter {i}: {got[0]:>9,} matches  service p50 {p50['service']:6.2f} ms"
                f"  numpy p50 {p50['numpy']:6.2f} ms"
            )

        engine = _postgres(view, specs) if os.environ.get("PUHUI_BENCH_SKIP_PG") != "1" else None
        if engine is not None:
            times["postgresql"] = []
            opted = np.flatnonzero(~eligible)
            # the opt-out exclusion in SQL: a NOT IN over the same ids
            with engine.begin() as conn:
                from sqlalchemy import text

                conn.execute(text("CREATE TABLE optout (id integer PRIMARY KEY)"))
                conn.execute(
                    text("INSERT INTO optout SELECT unnest(CAST(:ids AS integer[]))"),
                    {"ids": opted.tolist()},
                )
                conn.execute(text("ANALYZE optout"))
            for i, flt in enumerate(FILTERS):
                where = f"{_sql(flt, specs)} AND id NOT IN (SELECT id FROM optout)"  # noqa: S608
                total, _ = _pg_run(engine, where)
                assert total == per_filter[i]["matches"], (i, total, per_filter[i]["matches"])
                for _ in range(max(3, REPEAT // 6)):
                    t = time.perf_counter()
                    _pg_run(engine, where)
                    times["postgresql"].append(time.perf_counter() - t)
            engine.dispose()
        for drop in _drop:
            drop()
        _drop.clear()

    figures = {k: _ms(v) for k, v in times.items()}
    floor = figures["numpy"]["p50_ms"]
    ratios = {
        f"{k}_vs_numpy_p50": round(v["p50_ms"] / floor, 2)
        for k, v in figures.items()
        if k != "numpy"
    }
    if "postgresql" in figures:
        ratios["postgresql_vs_service_p50"] = round(
            figures["postgresql"]["p50_ms"] / figures["service"]["p50_ms"], 1
        )
    for name, f in figures.items():
        print(f"  {name:<10} p50 {f['p50_ms']:7.2f} ms  p99 {f['p99_ms']:7.2f} ms  (n={f['n']})")
    for name, r in ratios.items():
        print(f"  {name}: {r}×")
    return {"entities": n, "filters": per_filter, "figures": figures, "ratios": ratios}
