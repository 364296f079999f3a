"""Run the benchmarks: ``python -m bench [NAME…]``.

Each benchmark measures a baseline in the same process and prints its figures as ratios
against it, because machines here are noisy. Results also go to ``bench/results/*.json``.
Set ``PUHUI_BENCH_DATABASE_URL`` to measure on PostgreSQL instead of a throwaway SQLite file.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import (
    acquisition_filter,
    audit_chain,
    entity_search,
    generate_city,
    ingest_city,
    instant,
    jobs_outbox,
    lake_seal,
    lake_snapshot,
    matching,
    monitoring,
    profile_query,
    psi,
    quality,
    registry_load,
    scoring,
    stats,
    stats_refresh,
)

BENCHMARKS = {
    "jobs": jobs_outbox.run,
    "search": entity_search.run,
    "generate_city": generate_city.run,
    "lake": lake_snapshot.run,
    "ingest": ingest_city.run,
    "profile": profile_query.run,
    "matching": matching.run,
    "acquisition": acquisition_filter.run,
    "instant": instant.run,
    "psi": psi.run,
    "audit": audit_chain.run,
    "scoring": scoring.run,
    "monitoring": monitoring.run,
    "stats": stats.run,
    "registry_load": registry_load.run,
    "quality": quality.run,
    "lake_seal": lake_seal.run,
    "stats_refresh": stats_refresh.run,
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    for name in names:
        result = BENCHMARKS[name]()
        result["at"] = datetime.now(UTC).isoformat(timespec="seconds")
        (out / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
