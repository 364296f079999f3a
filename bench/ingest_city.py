"""Ingestion end to end on a generated city: every department file through the real
pipeline (read, validate against the catalog and the registry, one Delta commit per file,
quality report), then a full snapshot rebuild. Baseline measured in the same run: reading
the same files into memory and writing the accepted rows to Parquet with no validation —
the floor that ingestion adds checking and bookkeeping to.

PUHUI_BENCH_ENTITIES (default 100 000; 1380000 is the full city). PUHUI_BENCH_CITY names a
folder holding a city generated earlier (``puhui generate city``) to ingest instead of
generating one. Files stream through in chunks, so memory stays bounded whatever the size
of a file (the full city's tax file holds 477 M values); peak memory is reported.
"""

from __future__ import annotations

import os
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

N = int(os.environ.get("PUHUI_BENCH_ENTITIES", "100000"))


def _dirt(city: Path, factory: Any, settings: Any) -> tuple[int, int, bool]:
    """(faults planted, rejections reported, the two sets equal) for the whole city."""
    import csv
    import json

    from sqlalchemy import select

    from puhui.ingest import service
    from puhui.ingest.generator import DIRT_REASONS
    from puhui.ingest.models import Batch

    manifest = json.loads((city / "manifest.json").read_text(encoding="utf-8"))
    planted = {
        (d["file"], d["row"], d["column"] or "*", DIRT_REASONS[d["kind"]]) for d in manifest["dirt"]
    }
    reported = set()
    with factory() as session:
        for batch in session.scalars(select(Batch)):
            name = f"{service.source_code_of(session, batch)}/{batch.filename}"
            with service.report_path(settings, batch.id).open(encoding="utf-8-sig") as fh:
                for rec in csv.DictReader(fh):
                    if rec["severity"] == "reject":
                        reported.add((name, int(rec["row"]), rec["column"], rec["reason"]))
    return len(planted), len(reported), planted == reported


def _floor(files: list[tuple[str, Path]], out: Path) -> float:
    """Seconds to read every file in chunks and write each chunk to Parquet, unchecked."""
    from puhui.ingest.readers import open_file

    t = time.perf_counter()
    for _, path in files:
        for chunk in open_file(path).chunks():
            chunk.write_parquet(out)
    return time.perf_counter() - t


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run() -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="puhui-bench-ingest-"))
    os.environ.update(
        PUHUI_ENV="test",
        PUHUI_SECRET_KEY="bench-secret-key-long-enough-0123456789abc",  # noqa: S106
        PUHUI_DATA_DIR=str(root / "var"),
        PUHUI_DATABASE_URL=f"sqlite:///{root / 'bench.db'}",
    )
    from puhui.config import get_settings

    get_settings.cache_clear()
    from puhui.cli import initialise
    from puhui.core.db import get_session_factory, session_scope
    from puhui.demo import city_files
    from puhui.ingest import service
    from puhui.ingest.generator import generate_city

    try:
        initialise(quiet=True)
        settings = get_settings()
        factory = get_session_factory(settings.effective_database_url)
        given = os.environ.get("PUHUI_BENCH_CITY")
        city = Path(given) if given else root / "city"
        t = time.perf_counter()
        if not given:
            generate_city(city, entities=N, seed=1)
        gen_s = time.perf_counter() - t
        files = city_files(city)

        floor_s = _floor(files, root / "floor.parquet")

        t = time.perf_counter()
        values = accepted = 0
        per_file = []
        for source, path in files:
            started = time.perf_counter()
            out = service.ingest_path(
                factory, source_code=source, path=path, actor=None, via="cli", settings=settings
            )
            with session_scope(factory) as s:
                batch = service.get_batch(s, batch_id=out.batch_id)
                values += batch.rows_total
                accepted += batch.rows_accepted
                took = time.perf_counter() - started
                per_file.append((f"{source}/{path.name}", batch.rows_total, round(took, 1)))
                print(f"  {source}/{path.name}: {batch.rows_total} values in {took:.1f} s")
        ingest_s = time.perf_counter() - t
        planted, reported, exact = _dirt(city, factory, settings)

        t = time.perf_counter()
        with session_scope(factory) as s:
            snap = service.rebuild_snapshot(s, settings=settings)
        rebuild_s = time.perf_counter() - t
        memory = snap.memory_bytes()["total"]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        result = {
            "benchmark": "ingest_city",
            "entities": N,
            "files": len(files),
            "values": values,
            "accepted": accepted,
            "generate_s": round(gen_s, 1),
            "ingest_s": round(ingest_s, 1),
            "ingest_values_per_s": round(values / ingest_s),
            "floor_read_and_write_s": round(floor_s, 1),
            "ingest_ratio_to_floor": round(ingest_s / floor_s, 2),
            "snapshot_rebuild_s": round(rebuild_s, 1),
            "snapshot_mb": round(memory / 2**20, 1),
            "city_mb": round(_du(city) / 2**20, 1),
            "lake_mb": round(_du(settings.lake_dir) / 2**20, 1),
            "peak_rss_mb": round(peak / 2**20),
            "dirt_planted": planted,
            "dirt_reported": reported,
            "dirt_reported_exactly": exact,
            "largest_files": sorted(per_file, key=lambda f: -f[1])[:5],
        }
        _report(result)
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _report(r: dict[str, Any]) -> None:
    print(f"ingest of a {r['entities']}-entity city ({r['files']} files, {r['values']} values):")
    print(
        f"  generate {r['generate_s']} s; ingest {r['ingest_s']} s = "
        f"{r['ingest_values_per_s']} values/s, {r['ingest_ratio_to_floor']}x the floor"
    )
    print(f"  (floor: read + write Parquet without checks, {r['floor_read_and_write_s']} s)")
    print(
        f"  dirt: {r['dirt_planted']} faults planted, {r['dirt_reported']} rejections "
        f"reported, {'exactly the planted ones' if r['dirt_reported_exactly'] else 'MISMATCH'}"
    )
    print(
        f"  snapshot rebuild {r['snapshot_rebuild_s']} s, {r['snapshot_mb']} MB mapped; "
        f"files {r['city_mb']} MB, lake {r['lake_mb']} MB; peak memory {r['peak_rss_mb']} MB"
    )
