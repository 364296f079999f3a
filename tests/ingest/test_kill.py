"""Killing `puhui ingest` mid-batch and running it again gives the same lake as one clean
run: nothing half-written is visible, nothing is written twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
from sqlalchemy import create_engine, text

from puhui.core.lake import Lake
from puhui.ingest.generator import generate_city
from tests.conftest import TEST_SECRET, create_database


def _env(tmp: Path, url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PUHUI_ENV="test",
        PUHUI_SECRET_KEY=TEST_SECRET,
        PUHUI_DATA_DIR=str(tmp / "var"),
        PUHUI_DATABASE_URL=url,
        PUHUI_LOG_FORMAT="console",
    )
    return env


def _ingest(env: dict[str, str], *files: Path, source: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "puhui", "ingest", *map(str, files), "--source", source],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _status(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT status FROM ingest_batches WHERE filename = 'tax_monthly.parquet'")
            ).first()
            return row[0] if row else None
    except Exception:  # the tables may not exist yet
        return None
    finally:
        engine.dispose()


def _lake_rows(tmp: Path) -> pl.DataFrame:
    rows = Lake(tmp / "var" / "lake", create=False).scan().collect()
    return rows.drop("batch_id").sort(["entity_id", "indicator_id", "period"])


def test_kill_mid_batch_then_rerun_equals_one_clean_run(tmp_path):
    city = tmp_path / "city"
    generate_city(city, entities=2500, seed=5, dirt=False)
    registry, tax = city / "SAMR" / "registry.csv", city / "TAX" / "tax_monthly.parquet"
    results = {}
    for name, kill in (("clean", False), ("killed", True)):
        tmp = tmp_path / name
        tmp.mkdir()
        url, drop = create_database(os.environ.get("PUHUI_TEST_DATABASE_URL"), tmp, f"kill_{name}")
        try:
            env = _env(tmp, url)
            assert _ingest(env, registry, source="SAMR").wait(120) == 0
            proc = _ingest(env, tax, source="TAX")
            if kill:
                deadline = time.monotonic() + 60
                while (
                    _status(url) != "writing"
                    and proc.poll() is None
                    and time.monotonic() < deadline
                ):
                    time.sleep(0.02)
                assert proc.poll() is None, "the batch finished before it could be killed"
                time.sleep(0.3)  # somewhere in reading, validating or writing the lake
                proc.send_signal(signal.SIGKILL)
                proc.wait(30)
                assert _status(url) == "writing"  # left unfinished, visibly so
                proc = _ingest(env, tax, source="TAX")
            out = proc.communicate(timeout=300)[0].decode()
            assert proc.returncode == 0, out
            assert _status(url) == "committed"
            results[name] = _lake_rows(tmp)
        finally:
            drop()
    assert results["killed"].height > 0
    assert results["killed"].equals(results["clean"])
