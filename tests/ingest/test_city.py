"""The generated city through the real pipeline: ingestion reports exactly the dirt the
generator planted — every planted fault at its row and column with the matching reason,
and nothing else."""

from __future__ import annotations

import csv
import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from puhui import demo
from puhui.ingest import service
from puhui.ingest.generator import DIRT_REASONS, generate_city
from puhui.ingest.models import Batch


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    out = tmp_path_factory.mktemp("city")
    generate_city(out, entities=1200, seed=11)
    return out


def test_ingesting_the_city_reports_exactly_the_planted_dirt(city, connection, settings, tmp_path):
    settings = settings.model_copy(update={"data_dir": tmp_path})
    factory = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    with factory.begin() as s:
        service.ensure_default_sources(s)
    for source, path in demo.city_files(city):
        out = service.ingest_path(
            factory, source_code=source, path=path, actor=None, via="cli", settings=settings
        )
        assert out.status == "committed", path
    manifest = json.loads((city / "manifest.json").read_text(encoding="utf-8"))
    planted = {
        (d["file"], d["row"], d["column"] or "*", DIRT_REASONS[d["kind"]]) for d in manifest["dirt"]
    }
    flagged = {("SAMR/registry.csv", m["row"]) for m in manifest["registry_check_mismatch"]}
    reported, warned = set(), set()
    with factory() as session:
        for batch in session.scalars(select(Batch)):
            name = f"{service.source_code_of(session, batch)}/{batch.filename}"
            with service.report_path(settings, batch.id).open(encoding="utf-8-sig") as fh:
                for rec in csv.DictReader(fh):
                    if rec["severity"] == "reject":
                        reported.add((name, int(rec["row"]), rec["column"], rec["reason"]))
                    elif name == "SAMR/registry.csv":
                        warned.add((name, int(rec["row"])))
    assert planted, "the generator planted no dirt"
    assert reported == planted
    assert warned == flagged
