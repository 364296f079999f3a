"""End to end: a department's file through `ingest_path` into the registry or the lake."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from sqlalchemy import select

from puhui.core.jobs import Job
from puhui.core.lake import Lake
from puhui.entities import service as entities
from puhui.ingest import service
from puhui.ingest.models import Batch, BatchIssue
from puhui.ingest.readers import REGISTRY_COLUMNS

TODAY = date(2026, 11, 27)
A = entities.make("91330212MA2H3K4L5")
B = entities.make("92330203MA2H3K4L6")


def registry_file(path, rows):
    header = ",".join(REGISTRY_COLUMNS)
    lines = [header] + [",".join(r) for r in rows]
    path.write_bytes(("\ufeff" + "\n".join(lines) + "\n").encode())
    return path


def reg_row(code, name, kind="enterprise"):
    return [code, name, kind, code[2:8], "C", "39", "1000000", "2016-05-01", "active", "张三", ""]


def run(world, source, path):
    factory, settings, _ = world
    return service.ingest_path(
        factory,
        source_code=source,
        path=path,
        actor=None,
        via="cli",
        settings=settings,
        today=TODAY,
    )


class TestPipeline:
    def test_registry_then_observations_then_resend(self, world, session):
        _factory, settings, tmp = world
        out = run(
            world,
            "SAMR",
            registry_file(
                tmp / "registry.csv",
                [
                    reg_row(A, "宁波华光电子有限公司"),
                    reg_row(B, "海曙区李四小吃店", "individual_business"),
                    [
                        "9133",
                        "坏代码",
                        "enterprise",
                        "330212",
                        "C",
                        "39",
                        "1",
                        "2016-05-01",
                        "active",
                        "",
                        "",
                    ],
                ],
            ),
        )
        batch = session.get(Batch, out.batch_id)
        assert (batch.status, batch.layout, batch.rows_accepted, batch.rows_rejected) == (
            "committed",
            "registry",
            2,
            1,
        )
        assert batch.accepted_by_category == {"basic": 2}  # the registry is basic information
        assert entities.ids_for(session, [A, B]).keys() == {A, B}

        data = tmp / "tax.csv"
        data.write_text(
            "uscc,indicator,period,value\n"
            f"{A},OPR_TAX_TOTAL_12M,2026-09,120000\n"
            f"{B},OPR_TAX_CREDIT_GRADE,2025,B\n"
            f"{A},NO_SUCH,2026-09,1\n"
            f"{A},OPR_TAX_TOTAL_12M,2026-09,5\n"
            f"{A},OPR_TAX_CREDIT_GRADE,2026-09,甲\n",
            encoding="gbk",
        )
        out = run(world, "TAX", data)
        batch = session.get(Batch, out.batch_id)
        assert (
            batch.status,
            batch.encoding,
            batch.rows_total,
            batch.rows_accepted,
            batch.rows_rejected,
        ) == ("committed", "gbk", 5, 2, 3)
        assert batch.reasons == {"duplicate": 1, "not_allowed_value": 1, "unknown_indicator": 1}
        # the two accepted values are of operating indicators (tax); rejected ones not counted
        assert batch.accepted_by_category == {"operating": 2}
        issues = session.scalars(select(BatchIssue).where(BatchIssue.batch_id == batch.id)).all()
        assert [(i.row, i.column, i.reason, i.value) for i in issues] == [
            (3, "indicator", "unknown_indicator", "NO_SUCH"),
            (4, "*", "duplicate", "5"),
            (5, "value", "not_allowed_value", "甲"),
        ]
        report = service.report_path(settings, batch.id).read_text(encoding="utf-8-sig")
        assert "unknown_indicator" in report and "指标代码不在指标目录中" in report
        lake = Lake(settings.lake_dir)
        assert lake.committed_version(batch.id) == batch.lake_version
        history = lake.history(entities.ids_for(session, [A])[A])
        assert history["value_num"].to_list() == [120000.0]
        jobs = session.scalars(select(Job).where(Job.kind == service.REFRESH_JOB)).all()
        assert [j.payload for j in jobs] == [
            {"batch_id": batch.id, "lake_version": batch.lake_version}
        ]

        again = run(world, "TAX", data)
        assert again.duplicate and again.batch_id == batch.id
        assert lake.history(entities.ids_for(session, [A])[A]).height == 1

    def test_a_file_that_is_not_what_it_claims_is_rejected_whole(self, world, session):
        _, _, tmp = world
        bad = tmp / "x.xlsx"
        bad.write_bytes(b"uscc,indicator,period,value\n")
        out = run(world, "TAX", bad)
        batch = session.get(Batch, out.batch_id)
        assert batch.status == "rejected" and "xlsx" in batch.message
        assert batch.rows_accepted == 0

    def test_a_batch_interrupted_after_the_lake_write_is_finished_by_a_rerun(
        self, world, session, monkeypatch
    ):
        _factory, settings, tmp = world
        run(
            world, "SAMR", registry_file(tmp / "registry.csv", [reg_row(A, "宁波华光电子有限公司")])
        )
        data = tmp / "power.csv"
        data.write_text(
            f"uscc,period,OPR_POWER_M\n{A},2026-09,1500\n{A},2026-10,1600\n", encoding="utf-8"
        )

        def crash(*args, **kwargs):
            raise KeyboardInterrupt("killed")

        monkeypatch.setattr(service, "_record", crash)
        with pytest.raises(KeyboardInterrupt):
            run(world, "POWER", data)
        stuck = session.scalars(select(Batch).where(Batch.filename == "power.csv")).one()
        assert stuck.status == "writing"
        monkeypatch.undo()
        out = run(world, "POWER", data)
        assert out.batch_id == stuck.id and out.status == "committed"
        lake = Lake(settings.lake_dir)
        rows = lake.scan().filter(pl.col("batch_id") == stuck.id).collect()
        assert rows.height == 2  # written once, though the first run got as far as the lake
        # the rerun counted the file again without writing it
        out_batch = session.get(Batch, stuck.id)
        assert out_batch is not None
        session.refresh(out_batch)
        assert (out_batch.rows_total, out_batch.rows_accepted) == (2, 2)

    def test_unknown_source(self, world):
        _, _, tmp = world
        (tmp / "f.csv").write_text("uscc,indicator,period,value\n")
        with pytest.raises(service.SourceNotFound):
            run(world, "NOPE", tmp / "f.csv")


class TestSnapshotFollowsBatches:
    def test_first_batch_builds_it_and_later_batches_refresh_it(self, world, session):
        from puhui.core.snapshot import Snapshot

        _factory, settings, tmp = world
        run(
            world,
            "SAMR",
            registry_file(
                tmp / "registry.csv",
                [
                    reg_row(A, "宁波华光电子有限公司"),
                    reg_row(B, "海曙区电子商行", "individual_business"),
                ],
            ),
        )
        ids = entities.ids_for(session, [A, B])
        first = tmp / "t1.csv"
        first.write_text(
            f"uscc,indicator,period,value\n{A},OPR_TAX_TOTAL_12M,2026-09,100\n{B},OPR_TAX_CREDIT_GRADE,2025,B\n"
        )
        out = run(world, "TAX", first)
        version = session.get(Batch, out.batch_id).lake_version
        service.refresh_snapshot(session, lake_version=version, settings=settings)
        snap = Snapshot.open(service.snapshot_dir(settings))
        view = snap.current()
        assert view.column("OPR_TAX_TOTAL_12M")[ids[A]] == 100.0
        assert view.column("OPR_TAX_CREDIT_GRADE")[ids[B]] == "B"
        assert view.column("OPR_TAX_TOTAL_12M").dtype == pl.Float32

        second = tmp / "t2.csv"
        second.write_text(f"uscc,indicator,period,value\n{A},OPR_TAX_TOTAL_12M,2026-10,250\n")
        out = run(world, "TAX", second)
        service.refresh_snapshot(
            session, lake_version=session.get(Batch, out.batch_id).lake_version, settings=settings
        )
        assert (
            snap.current().column("OPR_TAX_TOTAL_12M")[ids[A]] == 250.0
        )  # picked up without reopening
        assert snap.current().column("OPR_TAX_CREDIT_GRADE")[ids[B]] == "B"


def test_nightly_compaction_keeps_every_value(world, session):
    _, settings, tmp = world
    run(world, "SAMR", registry_file(tmp / "registry.csv", [reg_row(A, "宁波华光电子有限公司")]))
    for month, value in (("2026-08", 1), ("2026-09", 2), ("2026-10", 3)):
        path = tmp / f"p{month}.csv"
        path.write_text(f"uscc,period,OPR_POWER_M\n{A},{month},{value}\n")
        run(world, "POWER", path)
    entity = entities.ids_for(session, [A])[A]
    before = Lake(settings.lake_dir).history(entity).sort("period")
    service.compact_lake(years=[2026], settings=settings)
    after = Lake(settings.lake_dir).history(entity).sort("period")
    assert after.equals(before) and after["value_num"].to_list() == [1.0, 2.0, 3.0]
