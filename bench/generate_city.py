"""Synthetic city generation: wall time, observations and rows per second, size on disk.

Generates a whole city (``PUHUI_BENCH_ENTITIES`` entities, default 1,380,000, 24 months)
into a scratch directory (``PUHUI_BENCH_DIR`` or the system temp dir), measures it and
deletes it. Baseline, for the ratio: drawing random float64 values with numpy and writing
them as one zstd Parquet column, measured on 20 M values in the same process and scaled
to the city's number of observations.
"""

from __future__ import annotations

import io
import os
import resource
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ENTITIES = int(os.environ.get("PUHUI_BENCH_ENTITIES", "1380000"))
SEED = 1
BASELINE_VALUES = 20_000_000


def _baseline_values_per_s() -> float:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    start = time.perf_counter()
    values = np.round(np.random.default_rng(0).lognormal(8, 2, BASELINE_VALUES), 2)
    pq.write_table(pa.table({"value": values}), io.BytesIO(), compression="zstd")
    return BASELINE_VALUES / (time.perf_counter() - start)


def run() -> dict[str, Any]:
    from puhui.ingest.generator import generate_city

    base_rate = _baseline_values_per_s()
    root = Path(tempfile.mkdtemp(prefix="puhui-city-", dir=os.environ.get("PUHUI_BENCH_DIR")))
    last = [0.0]

    def progress(phase: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if phase == "done" or now - last[0] > 30:
            last[0] = now
            print(f"  {phase}: {done:,}/{total:,} entities ({now - start:.0f} s)", flush=True)

    try:
        start = time.perf_counter()
        manifest = generate_city(root, entities=ENTITIES, seed=SEED, progress=progress)
        wall = time.perf_counter() - start
        sizes: dict[str, int] = defaultdict(int)
        total = 0
        for path in root.rglob("*"):
            if path.is_file():
                size = path.stat().st_size
                total += size
                sizes[path.suffix.lstrip(".") or "other"] += size
    finally:
        shutil.rmtree(root, ignore_errors=True)
    obs, rows = manifest.observations, manifest.rows
    by_source: dict[str, int] = defaultdict(int)
    for f in manifest.files:
        by_source[f.source] += f.observations
    baseline_time = obs / base_rate
    result: dict[str, Any] = {
        "benchmark": "generate_city",
        "entities": ENTITIES,
        "months": manifest.months,
        "files": len(manifest.files),
        "observations": obs,
        "rows": rows,
        "planted_dirt": len(manifest.dirt),
        "wall_seconds": round(wall, 1),
        "observations_per_s": round(obs / wall),
        "rows_per_s": round(rows / wall),
        "disk_bytes": total,
        "disk_gib": round(total / 2**30, 2),
        "disk_bytes_by_format": dict(sorted(sizes.items())),
        "observations_by_source": dict(sorted(by_source.items(), key=lambda kv: -kv[1])),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "baseline_values_per_s": round(base_rate),
        "ratio_to_baseline": round(wall / baseline_time, 2),
    }
    files = len(manifest.files)
    print(f"synthetic city: {ENTITIES:,} entities, {manifest.months} months, {files} files")
    print(f"  {obs:,} observations in {rows:,} rows, {wall:.0f} s wall")
    print(f"  {result['observations_per_s']:,} observations/s, {result['rows_per_s']:,} rows/s")
    print(f"  {result['disk_gib']} GiB on disk (deleted), peak RSS {result['peak_rss_mib']:,} MiB")
    print(
        f"  baseline (numpy + one Parquet column): {result['baseline_values_per_s']:,} values/s; "
        f"the city took {result['ratio_to_baseline']}x the baseline's time for as many values"
    )
    return result


if __name__ == "__main__":  # python -m bench.generate_city (python -m bench writes results/)
    import json

    print(json.dumps(run(), indent=2, ensure_ascii=False))
