"""The hourly statistics refresh at scale: ``stats.service.refresh`` of the rolling months
(the previous month and this one) over years of query records and alerts.

Data (a scratch database; SQLite, or ``PUHUI_BENCH_DATABASE_URL``): ``PUHUI_BENCH_QUERIES``
query records (default 3 000 000) and ``PUHUI_BENCH_ALERTS`` alerts (default 1 000 000)
spread evenly over the eight years up to now, written straight into the tables (foreign
keys unchecked: only the columns the statistics read matter; a third of the alerts sent by
SMS). Timed: the refresh, median of three, each rolled back. Baseline, same run: the same
refresh with the indexes of migration 0027 dropped (a scan of each table, as before them;
the query for the alerted entities' earlier alerts is the new one in both).
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from bench.jobs_outbox import _drop
from bench.stats import _setup  # the same scratch database, migrated

QUERIES = int(os.environ.get("PUHUI_BENCH_QUERIES", "3000000"))
ALERTS = int(os.environ.get("PUHUI_BENCH_ALERTS", "1000000"))
RUNS = 3
INDEXES = (
    ("ix_query_records_created", "query_records"),
    ("ix_demands_created", "demands"),
    ("ix_monitoring_alerts_created", "monitoring_alerts"),
    ("ix_monitoring_alerts_sms", "monitoring_alerts"),
    ("ix_monitoring_alerts_entity_created", "monitoring_alerts"),
    ("ix_instant_decisions_created", "instant_decisions"),
)
SPAN_SECONDS = 8 * 365 * 86_400


def _fill(engine: Any) -> None:
    """Rows evenly over eight years up to now, ids and references synthetic."""
    start = datetime.now(UTC) - timedelta(seconds=SPAN_SECONDS)
    pg = engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        if not pg:  # on the driver's connection, before a transaction, or SQLite ignores it
            conn.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")
        conn.begin()
        if pg:
            conn.execute(text("SET session_replication_role = replica"))  # no FK checks
            conn.execute(
                text(
                    "INSERT INTO query_records (entity_id, institution_id, username, role, "
                    "kind, purpose, categories, audit_event_id, created_at) "
                    "SELECT g % 100000 + 1, g % 76 + 1, 'bench', 'customer_manager', "
                    "'profile', (ARRAY['query','monitoring','download','decision'])[g % 4 + 1], "
                    "'[\"basic\"]', g, :start + (g * :step) * interval '1 second' "
                    "FROM generate_series(1, :n) AS g"
                ),
                {"start": start, "step": SPAN_SECONDS / QUERIES, "n": QUERIES},
            )
            conn.execute(
                text(
                    "INSERT INTO monitoring_alerts (institution_id, entity_id, rule_id, "
                    "indicator_id, period, kind, severity, value, threshold, op, "
                    "rule_set_version, status, note, created_at, sms_at) "
                    "SELECT g % 76 + 1, g % 37000 + 1, g, 1, 202401, 'level', 'high', 1.0, "
                    "0.0, '>', 1, 'new', '', "
                    ":start + (g * :step) * interval '1 second', "
                    "CASE WHEN g % 3 = 0 THEN :start + (g * :step) * interval '1 second' END "
                    "FROM generate_series(1, :n) AS g"
                ),
                {"start": start, "step": SPAN_SECONDS / ALERTS, "n": ALERTS},
            )
        else:
            step_q, step_a = SPAN_SECONDS / QUERIES, SPAN_SECONDS / ALERTS
            first = start.strftime("%Y-%m-%d %H:%M:%S")
            conn.execute(
                text(
                    "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g "
                    "WHERE i < :n) "
                    "INSERT INTO query_records (entity_id, institution_id, username, role, "
                    "kind, purpose, categories, audit_event_id, created_at) "
                    "SELECT i % 100000 + 1, i % 76 + 1, 'bench', 'customer_manager', "
                    "'profile', CASE i % 4 WHEN 0 THEN 'query' WHEN 1 THEN 'monitoring' "
                    "WHEN 2 THEN 'download' ELSE 'decision' END, '[\"basic\"]', i, "
                    "datetime(:first, '+' || CAST(i * :step AS INTEGER) || ' seconds') FROM g"
                ),
                {"first": first, "step": step_q, "n": QUERIES},
            )
            conn.execute(
                text(
                    "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g "
                    "WHERE i < :n) "
                    "INSERT INTO monitoring_alerts (institution_id, entity_id, rule_id, "
                    "indicator_id, period, kind, severity, value, threshold, op, "
                    "rule_set_version, status, note, created_at, sms_at) "
                    "SELECT i % 76 + 1, i % 37000 + 1, i, 1, 202401, 'level', 'high', 1.0, "
                    "0.0, '>', 1, 'new', '', "
                    "datetime(:first, '+' || CAST(i * :step AS INTEGER) || ' seconds'), "
                    "CASE WHEN i % 3 = 0 THEN "
                    "datetime(:first, '+' || CAST(i * :step AS INTEGER) || ' seconds') END FROM g"
                ),
                {"first": first, "step": step_a, "n": ALERTS},
            )
        conn.commit()
        if not pg:
            conn.connection.driver_connection.execute("PRAGMA foreign_keys = ON")
    with engine.connect() as conn:
        if pg:
            conn.execute(text("ANALYZE"))
            conn.commit()
        else:
            conn.execute(text("ANALYZE"))


def _time_refresh(engine: Any) -> tuple[float, int]:
    """Median seconds of the rolling refresh (each run rolled back) and its rows."""
    from sqlalchemy.orm import Session

    from puhui.stats import service

    times, rows = [], 0
    for _ in range(RUNS):
        with engine.connect() as conn:
            tx = conn.begin()
            session = Session(bind=conn)
            started = time.perf_counter()
            run = service.refresh(session, since_month=service.prev_month(_this_month()))
            times.append(time.perf_counter() - started)
            rows = run.rows
            session.close()
            tx.rollback()
    return statistics.median(times), rows


def _this_month() -> int:
    from puhui.stats import service

    return service.local_month(datetime.now(UTC))


def run() -> dict[str, Any]:
    engine, _ = _setup()
    try:
        started = time.perf_counter()
        _fill(engine)
        fill_s = time.perf_counter() - started
        indexed_s, rows = _time_refresh(engine)
        with engine.begin() as conn:
            for name, _table in INDEXES:
                conn.execute(text(f"DROP INDEX {name}"))
        scan_s, scan_rows = _time_refresh(engine)
        assert scan_rows == rows, (scan_rows, rows)
        result = {
            "benchmark": "stats_refresh",
            "database": engine.dialect.name,
            "query_records": QUERIES,
            "alerts": ALERTS,
            "fill_s": round(fill_s, 1),
            "refresh_indexed_s": round(indexed_s, 3),
            "refresh_without_indexes_s": round(scan_s, 3),
            "speedup": round(scan_s / indexed_s, 1),
            "rollup_rows": rows,
        }
        _report(result)
        return result
    finally:
        engine.dispose()
        while _drop:
            _drop.pop()()


def _report(r: dict[str, Any]) -> None:
    print(
        f"stats refresh of the rolling months on {r['database']}: {r['query_records']} query "
        f"records and {r['alerts']} alerts over 8 years (filled in {r['fill_s']} s)"
    )
    print(
        f"  with the indexes of migration 0027 {r['refresh_indexed_s']} s; without them (baseline, "
        f"same run) {r['refresh_without_indexes_s']} s: x{r['speedup']} faster"
    )
