"""Indicator lake and latest-value snapshot at city scale (``PUHUI_BENCH_ENTITIES``,
default 1 380 000).

1. Lake writes: 24 monthly batches (2023-01 … 2024-12) of ``N × 4`` rows (four monthly tax
   indicators of every entity), one Delta commit each; rows/s.
2. One entity's history (all periods, superseding applied), 200 random entities, before and
   after ``compact()``; first touch of a file (footer not cached yet), warm, and with no
   footer cache at all (what a lake too big for the cache costs). Baselines in the same
   run: ``pl.scan_parquet`` over the table's current files with the entity filter pushed
   down (DESIGN.md's ~15 ms reference) and ``pl.scan_delta``.
3. Snapshot built from the lake (those 4 indicators, every entity): the real build path.
4. The snapshot at full catalog width (every non-text indicator, synthetic values written
   directly with ``Snapshot.write`` — building 587 columns from a lake of 2.3 G rows does not
   fit a bench): write time, mapped bytes (must be <= 4 GB), open time in a new reader.
5. Incremental refresh after a batch of 10 000 entities (target <= 1 s).
6. A 5-predicate count on the mapped full-width snapshot against hand-written numpy masks
   over arrays prepared beforehand (the floor).
Everything lives in a temporary folder that is removed at the end.
"""

from __future__ import annotations

import functools
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from deltalake import DeltaTable

from puhui.core.lake import Lake
from puhui.core.snapshot import IndicatorSpec, Snapshot

N = int(os.environ.get("PUHUI_BENCH_ENTITIES", "1380000"))
MONTHS = [202300 + m for m in range(1, 13)] + [202400 + m for m in range(1, 13)]
LAKE_INDICATORS = ("OPR_TAX_TOTAL_M", "OPR_TAX_TOTAL_3M", "OPR_TAX_TOTAL_12M", "OPR_TAX_TOTAL_YOY")
SAMPLES = 200
FULL_SCALE_ROWS = 2_300_000_000
CATALOG = Path(__file__).resolve().parents[1] / "src/puhui/catalog/data/indicators.csv"


def catalog() -> list[IndicatorSpec]:
    """The real catalog's indicators (id = row number, as the catalog assigns them)."""
    rows = pl.read_csv(CATALOG, infer_schema=False).with_row_index("id")
    return [
        IndicatorSpec(
            id=int(r["id"]),
            code=r["code"],
            category=r["category"],
            value_type=r["value_type"],
            allowed_values=tuple((r["allowed_values"] or "").split("|"))
            if r["value_type"] in ("grade", "code")
            else (),
        )
        for r in rows.iter_rows(named=True)
    ]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50_ms": ms(statistics.median(ordered)), "p99_ms": ms(p99)}


def monthly_batch(rng: np.random.Generator, ids: list[int], period: int, n: int) -> pl.DataFrame:
    k = len(ids)
    base = rng.lognormal(10, 1.2, n)
    values = np.column_stack(
        [base * rng.uniform(0.8, 1.2, n), base * 3, base * 12, rng.normal(0.05, 0.2, n)]
    ).ravel()
    return pl.DataFrame(
        {
            "entity_id": np.repeat(np.arange(n, dtype=np.int32), k),
            "indicator_id": np.tile(np.array(ids, dtype=np.int16), n),
            "period": np.full(n * k, period, np.int32),
            "value_num": np.round(values, 2),
            "source_id": np.full(n * k, 3, np.int16),
        }
    )


def history_latency(lake: Lake, entities: np.ndarray) -> dict[str, float]:
    samples = []
    for entity in entities:
        elapsed, frame = timed(functools.partial(lake.history, int(entity)))
        assert frame.height == len(MONTHS) * len(LAKE_INDICATORS), frame.height
        samples.append(elapsed)
    return percentiles(samples)


def baseline_latency(lake: Lake, entities: np.ndarray) -> dict[str, dict[str, float]]:
    files = DeltaTable(str(lake.path)).file_uris()
    out = {}
    scans: list[tuple[str, Callable[[], pl.LazyFrame]]] = [
        ("scan_parquet", lambda: pl.scan_parquet(files)),
        ("scan_delta", lambda: pl.scan_delta(str(lake.path))),
    ]
    for name, scan in scans:
        samples = []
        for entity in entities:
            query = scan().filter(pl.col("entity_id") == int(entity))
            samples.append(timed(query.collect)[0])
        out[name] = percentiles(samples)
    return out


def synthetic_wide(specs: list[IndicatorSpec], n: int, rng: np.random.Generator) -> pl.DataFrame:
    """Every snapshot column with plausible values, ~20 % null."""
    columns = []
    for spec in specs:
        kind = spec.value_type
        if kind == "amount":
            series = pl.Series(spec.code, rng.lognormal(8, 2, n).astype(np.float32))
        elif kind == "ratio":
            series = pl.Series(spec.code, rng.normal(0.1, 0.5, n).astype(np.float32))
        elif kind == "count":
            series = pl.Series(spec.code, rng.poisson(2, n).astype(np.int32))
        elif kind == "flag":
            series = pl.Series(spec.code, rng.random(n) < 0.1)
        elif kind in ("grade", "code"):
            labels = np.array(spec.allowed_values)[rng.integers(0, len(spec.allowed_values), n)]
            series = pl.Series(spec.code, labels).cast(spec.dtype)  # type: ignore[arg-type]
        else:  # date
            days = rng.integers(0, 20_000, n).astype(np.int32)
            series = pl.Series(spec.code, days).cast(pl.Date)
        missing = pl.Series(rng.random(n) < 0.2)
        columns.append(
            pl.select(pl.when(missing).then(None).otherwise(series).alias(spec.code)).to_series()
        )
    return pl.DataFrame(columns)


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def run() -> dict[str, Any]:
    rng = np.random.default_rng(20240630)
    specs = catalog()
    by_code = {s.code: s for s in specs}
    lake_ids = [by_code[c].id for c in LAKE_INDICATORS]
    root = Path(tempfile.mkdtemp(prefix="puhui-bench-lake-"))
    result: dict[str, Any] = {"entities": N, "months": len(MONTHS), "lake_indicators": 4}
    print(f"lake + snapshot bench: {N:,} entities, temp dir {root}")
    try:
        lake = Lake(root / "lake")
        result["write"] = _writes(lake, lake_ids, rng)
        print(f"  write: {result['write']}")
        result["history"] = _history(lake, rng)
        result["build_from_lake"] = _build(lake, [by_code[c] for c in LAKE_INDICATORS], root)
        print(f"  build from lake (4 indicators, every entity): {result['build_from_lake']}")
        snap, result["full_width"] = _full_width(lake, specs, root, rng)
        print(f"  full width: {result['full_width']}")
        result["refresh"] = _refresh(lake, snap, lake_ids, rng)
        print(f"  refresh 10k entities: {result['refresh']}")
        result["filter"] = _filter(snap, [s for s in specs if s.dtype is not None])
        print(f"  5-predicate count: {result['filter']}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return result


def _writes(lake: Lake, lake_ids: list[int], rng: np.random.Generator) -> dict[str, Any]:
    seconds, rows = 0.0, 0
    for batch_id, period in enumerate(MONTHS, start=1):
        batch = monthly_batch(rng, lake_ids, period, N)
        elapsed, version = timed(functools.partial(lake.append_batch, batch, batch_id))
        assert version == batch_id
        seconds += elapsed
        rows += batch.height
    return {
        "rows": rows,
        "seconds": round(seconds, 1),
        "rows_per_s": round(rows / seconds),
        "extrapolated_2_3G_rows_minutes": round(FULL_SCALE_ROWS / (rows / seconds) / 60),
        "files": len(DeltaTable(str(lake.path)).file_uris()),
        "bytes_on_disk": sum(p.stat().st_size for p in lake.path.rglob("*.parquet")),
    }


def _history(lake: Lake, rng: np.random.Generator) -> dict[str, Any]:
    picks = rng.integers(0, N, 4 * SAMPLES)
    serving = Lake(lake.path, create=False)  # a new serving process: no footer cached yet
    before = {
        "first_touch": history_latency(serving, picks[:SAMPLES]),
        "warm": history_latency(serving, picks[SAMPLES : 2 * SAMPLES]),
    }
    base_before = baseline_latency(lake, picks[:40])
    print(f"  history before compaction: {before}; baselines {base_before}")
    elapsed, report = timed(lake.compact)
    print(f"  compaction {elapsed:.1f} s: {report}")
    serving = Lake(lake.path, create=False)
    # At 2.3 G rows the footers do not all fit the cache: every lookup then parses them
    uncached = Lake(lake.path, create=False, footer_cache_row_groups=0)
    after = {
        "first_touch": history_latency(serving, picks[2 * SAMPLES : 3 * SAMPLES]),
        "warm": history_latency(serving, picks[3 * SAMPLES :]),
        "no_footer_cache": history_latency(uncached, picks[:SAMPLES]),
    }
    base_after = baseline_latency(lake, picks[:40])
    print(f"  history after compaction: {after}; baselines {base_after}")
    return {
        "before_compaction": before,
        "after_compaction": after,
        "baseline_before": base_before,
        "baseline_after": base_after,
        "compaction_seconds": round(elapsed, 1),
        "compaction": {str(y): r for y, r in report.items()},
        "warm_p50_speedup_vs_scan_parquet_before": round(
            base_before["scan_parquet"]["p50_ms"] / after["warm"]["p50_ms"], 1
        ),
        "warm_p50_speedup_vs_scan_parquet_after": round(
            base_after["scan_parquet"]["p50_ms"] / after["warm"]["p50_ms"], 1
        ),
    }


def _build(lake: Lake, lake_specs: list[IndicatorSpec], root: Path) -> dict[str, Any]:
    elapsed, built = timed(lambda: Snapshot.build(lake, lake_specs, N, root / "from-lake"))
    sample = N // 3
    expected = lake.history(sample, [lake_specs[0].id])["value_num"][-1]
    got = built.current().column(lake_specs[0].code)[sample]
    assert abs(got - expected) <= 1e-3 * max(1.0, abs(expected)), (got, expected)
    out = {
        "seconds": round(elapsed, 1),
        "lake_rows_read": len(MONTHS) * len(lake_specs) * N,
        "bytes": built.memory_bytes()["total"],
    }
    shutil.rmtree(root / "from-lake")
    return out


def _full_width(
    lake: Lake, specs: list[IndicatorSpec], root: Path, rng: np.random.Generator
) -> tuple[Snapshot, dict[str, Any]]:
    wide_specs = [s for s in specs if s.dtype is not None]
    generated, wide = timed(lambda: synthetic_wide(wide_specs, N, rng))
    start = time.perf_counter()
    snap = Snapshot.write(wide, specs, root / "snapshot", lake=lake)
    elapsed = time.perf_counter() - start
    del wide  # about 3 GB of heap; from here on only the mapped files
    sizes = snap.memory_bytes()
    before_open = rss_mb()
    opened, _view = timed(lambda: Snapshot.open(root / "snapshot").current())
    out = {
        "columns": len(wide_specs),
        "groups": len(sizes) - 1,
        "write_seconds": round(elapsed, 1),
        "generate_seconds": round(generated, 1),
        "bytes": sizes["total"],
        "gb": round(sizes["total"] / 1e9, 2),
        "open_ms": ms(opened),
        "open_rss_growth_mb": round(rss_mb() - before_open, 1),
    }
    assert sizes["total"] <= 4e9
    return snap, out


def _refresh(
    lake: Lake, snap: Snapshot, lake_ids: list[int], rng: np.random.Generator
) -> dict[str, Any]:
    touched = np.sort(rng.choice(N, 10_000, replace=False)).astype(np.int32)
    batch = monthly_batch(rng, lake_ids, 202501, N).filter(pl.col("entity_id").is_in(touched))
    appended, version = timed(lambda: lake.append_batch(batch, 1000))
    old_files = _group_files(snap)
    refreshed, _version = timed(lambda: snap.refresh_version(version))
    rewritten = [g for g, f in _group_files(snap).items() if old_files[g] != f]
    view = snap.current()
    check = int(touched[17])
    want = batch.filter(pl.col("entity_id") == check, pl.col("indicator_id") == lake_ids[0])
    assert abs(view.column(LAKE_INDICATORS[0])[check] - want["value_num"][0]) < 1
    whole, _version = timed(lambda: snap.refresh(touched.tolist(), indicator_ids=lake_ids))
    return {
        "entities": len(touched),
        "append_seconds": round(appended, 2),
        "refresh_version_seconds": round(refreshed, 2),
        "groups_rewritten": rewritten,
        "bytes_rewritten": sum(snap.memory_bytes()[g] for g in rewritten),
        "refresh_whole_history_seconds": round(whole, 2),
    }


def _group_files(snap: Snapshot) -> dict[str, str]:
    import json

    manifest = json.loads((snap.path / "manifest.json").read_text())
    return {g["name"]: g["file"] for g in manifest["groups"]}


def _filter(snap: Snapshot, specs: list[IndicatorSpec]) -> dict[str, Any]:
    def first(kind: str, category: str | None = None) -> str:
        return next(
            s.code
            for s in specs
            if s.value_type == kind and (category is None or s.category == category)
        )

    amount, ratio = first("amount", "operating"), first("ratio", "financial")
    count, flag, grade = first("count", "negative"), first("flag", "negative"), first("grade")
    grade_spec = next(s for s in specs if s.code == grade)
    view = snap.current()
    frame = view.frame()
    predicate = (
        (pl.col(amount) > 1_000)
        & (pl.col(ratio) > 0)
        & (pl.col(count) <= 3)
        & (pl.col(flag) == False)  # noqa: E712 - a Polars expression
        & pl.col(grade).is_in(list(grade_spec.allowed_values[:2]))
    )

    def polars_count() -> int:
        return int(frame.select(predicate.sum()).item())

    # the floor: numpy arrays prepared beforehand, nulls already turned into sentinels
    a = view.column(amount).fill_null(float("nan")).to_numpy()
    r = view.column(ratio).fill_null(float("nan")).to_numpy()
    c = view.column(count).fill_null(1 << 30).to_numpy()
    f = view.column(flag).cast(pl.UInt8).fill_null(2).to_numpy()
    g = view.column(grade).to_physical().fill_null(255).to_numpy()

    def numpy_count() -> int:
        mask = (a > 1_000) & (r > 0) & (c <= 3) & (f == 0) & (g < 2)
        return int(np.count_nonzero(mask))

    assert polars_count() == numpy_count()
    polars_s = statistics.median(timed(polars_count)[0] for _ in range(30))
    numpy_s = statistics.median(timed(numpy_count)[0] for _ in range(30))
    return {
        "matches": polars_count(),
        "polars_ms": ms(polars_s),
        "numpy_ms": ms(numpy_s),
        "polars_vs_numpy": round(polars_s / numpy_s, 2),
        "columns": [amount, ratio, count, flag, grade],
    }


if __name__ == "__main__":
    run()
