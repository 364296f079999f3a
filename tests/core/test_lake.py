"""The indicator lake: one commit per batch, idempotent and atomic appends, superseding,
history, time travel and the row-group layout. No database is involved."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.core.lake import (
    COLUMNS,
    ROW_GROUP_ROWS,
    InvalidBatch,
    Lake,
    LakeConflict,
    LakeNotFound,
    latest,
    supersede,
)

KEY = ["entity_id", "indicator_id", "period"]
PERIODS = [202211, 202212, 202301, 202302, 202303]


def batch(
    rng: np.random.Generator,
    *,
    rows: int = 400,
    entities: int = 60,
    indicators: int = 8,
    periods: list[int] = PERIODS,
    source_id: int = 1,
) -> pl.DataFrame:
    """Random observations with unique (entity, indicator, period) keys."""
    frame = pl.DataFrame(
        {
            "entity_id": rng.integers(0, entities, rows).astype(np.int32),
            "indicator_id": rng.integers(0, indicators, rows).astype(np.int16),
            "period": rng.choice(periods, rows).astype(np.int32),
            "value_num": np.round(rng.normal(100, 30, rows), 2),
            "value_text": rng.choice(["A", "B", "C"], rows),
            "source_id": np.full(rows, source_id, np.int16),
        }
    ).unique(KEY, keep="first", maintain_order=True)
    nulls = rng.random(frame.height) < 0.1
    return frame.with_columns(
        pl.when(pl.Series(nulls)).then(None).otherwise(pl.col("value_num")).alias("value_num")
    )


def stamped(frame: pl.DataFrame, batch_id: int) -> pl.DataFrame:
    return frame.with_columns(pl.lit(batch_id, pl.Int64).alias("batch_id")).select(COLUMNS)


def all_rows(lake: Lake, version: int | datetime | None = None) -> pl.DataFrame:
    rows: pl.DataFrame = lake.scan(version).collect()
    return rows.sort([*KEY, "batch_id"])


def reference_latest(rows: pl.DataFrame) -> pl.DataFrame:
    """Latest (entity, indicator) the plain way: sort, then the last row of each group."""
    return (
        rows.sort([*KEY, "batch_id"])
        .group_by(["entity_id", "indicator_id"], maintain_order=True)
        .last()
        .select(COLUMNS)
        .sort(["entity_id", "indicator_id"])
    )


def reference_history(rows: pl.DataFrame, entity_id: int) -> pl.DataFrame:
    return (
        rows.filter(pl.col("entity_id") == entity_id)
        .sort([*KEY, "batch_id"])
        .group_by(["indicator_id", "period"], maintain_order=True)
        .last()
        .select(COLUMNS)
        .sort(["indicator_id", "period"])
    )


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


def commit_files(path: Path) -> list[dict[str, list[dict[str, object]]]]:
    """Each commit file of the Delta log, as {action name: [actions]}."""
    out = []
    for file in sorted((path / "_delta_log").glob("*.json")):
        actions: dict[str, list[dict[str, object]]] = {}
        for line in file.read_text().splitlines():
            (name, body), *_ = json.loads(line).items()
            actions.setdefault(name, []).append(body)
        out.append(actions)
    return out


class TestAppend:
    def test_one_commit_per_batch(self, lake: Lake, rng: np.random.Generator) -> None:
        versions = [lake.append_batch(batch(rng), batch_id) for batch_id in (7, 8, 9)]
        assert versions == [1, 2, 3]
        commits = commit_files(lake.path)
        assert len(commits) == 4  # the table's creation, then one per batch
        for batch_id, commit in zip((7, 8, 9), commits[1:], strict=True):
            assert commit["commitInfo"][0]["puhui.batch_id"] == str(batch_id)
            assert commit["txn"] == [{"appId": f"puhui.batch.{batch_id}", "version": batch_id - 6}]
            assert len(commit["add"]) >= 1
            assert "remove" not in commit
        assert [b.batch_id for b in lake.batches()] == [9, 8, 7]
        assert [b.version for b in lake.batches()] == [3, 2, 1]

    def test_reappending_a_batch_changes_nothing(
        self, lake: Lake, rng: np.random.Generator
    ) -> None:
        first = batch(rng)
        assert lake.append_batch(first, 41) == 1
        before = all_rows(lake)
        log = sorted(os.listdir(lake.path / "_delta_log"))
        assert lake.append_batch(first, 41) == 1
        assert lake.append_batch(batch(rng), 41) == 1  # the batch id decides, not the rows
        assert lake.version() == 1
        assert sorted(os.listdir(lake.path / "_delta_log")) == log
        assert all_rows(lake).equals(before)
        assert lake.committed_version(41) == 1
        assert lake.committed_version(42) is None

    def test_a_new_handle_knows_the_committed_batches(
        self, lake: Lake, rng: np.random.Generator
    ) -> None:
        lake.append_batch(batch(rng), 5)
        assert Lake(lake.path, create=False).append_batch(batch(rng), 5) == 1

    def test_batch_id_column_is_filled_in_or_checked(
        self, lake: Lake, rng: np.random.Generator
    ) -> None:
        rows = batch(rng)
        lake.append_batch(rows, 3)
        assert all_rows(lake)["batch_id"].unique().to_list() == [3]
        with pytest.raises(InvalidBatch):
            lake.append_batch(stamped(rows, 3), 4)

    @pytest.mark.parametrize(
        "change",
        [
            pl.col("period").replace(PERIODS[0], 202213),
            pl.col("entity_id").replace(3, -1),
            pl.col("source_id").replace(1, None),
        ],
        ids=["month 13", "negative entity", "null source"],
    )
    def test_invalid_batches_are_refused_whole(
        self, lake: Lake, rng: np.random.Generator, change: pl.Expr
    ) -> None:
        rows = batch(rng)
        with pytest.raises(InvalidBatch):
            lake.append_batch(rows.with_columns(change), 1)
        assert lake.version() == 0
        assert lake.committed_version(1) is None

    def test_a_batch_may_not_repeat_a_key(self, lake: Lake, rng: np.random.Generator) -> None:
        rows = batch(rng)
        with pytest.raises(InvalidBatch, match="repeated"):
            lake.append_batch(pl.concat([rows, rows.head(1)]), 1)
        with pytest.raises(InvalidBatch, match="columns"):
            lake.append_batch(rows.drop("source_id"), 1)
        with pytest.raises(InvalidBatch):
            lake.append_batch(rows, -1)
        assert lake.version() == 0

    def test_arrow_tables_are_accepted(self, lake: Lake, rng: np.random.Generator) -> None:
        rows = stamped(batch(rng), 2)
        table = rows.to_arrow()
        assert isinstance(table, pa.Table)
        assert lake.append_batch(table, 2) == 1
        assert all_rows(lake).equals(rows.sort([*KEY, "batch_id"]))

    def test_files_are_sorted_by_entity_in_small_row_groups(self, lake: Lake) -> None:
        rng = np.random.default_rng(1)
        rows = batch(rng, rows=30_000, entities=5_000, indicators=20, periods=[202301])
        lake.append_batch(rows, 1)
        (file,) = sorted(lake.path.glob("year=2023/*.parquet"))
        parquet = pq.ParquetFile(file)
        assert parquet.metadata.num_row_groups >= 2
        sizes = [
            parquet.metadata.row_group(g).num_rows for g in range(parquet.metadata.num_row_groups)
        ]
        assert max(sizes) <= ROW_GROUP_ROWS
        entity = parquet.read(columns=["entity_id"]).column(0).to_pylist()
        assert entity == sorted(entity)
        # the footer cache is bounded by row groups; with none, reads parse footers each time
        uncached = Lake(lake.path, create=False, footer_cache_row_groups=0)
        small = Lake(lake.path, create=False, footer_cache_row_groups=1)
        for e in (0, 2_500, 4_999):
            assert uncached.history(e).equals(lake.history(e))
            assert small.history(e).equals(lake.history(e))
        assert not uncached._footers
        assert len(small._footers) <= 1

    def test_an_empty_batch_is_a_commit_too(self, lake: Lake, rng: np.random.Generator) -> None:
        assert lake.append_batch(batch(rng).head(0), 12) == 1
        assert lake.append_batch(batch(rng).head(0), 12) == 1
        assert lake.committed_version(12) == 1
        assert lake.rows_of_version(1).height == 0

    def test_opening_a_missing_lake_without_create_fails(self, tmp_path: Path) -> None:
        with pytest.raises(LakeNotFound):
            Lake(tmp_path / "nothing", create=False)


class TestCrash:
    def test_files_of_a_write_that_never_committed_are_invisible(
        self, tmp_path: Path, rng: np.random.Generator
    ) -> None:
        first, second = batch(rng), batch(rng)
        lake = Lake(tmp_path / "lake")
        lake.append_batch(first, 1)
        # What a writer killed before its commit leaves: data files of the batch in the
        # partition folders and a commit that never got its final name.
        for (year,), part in stamped(second, 2).group_by(pl.col("period") // 100):
            pq.write_table(part.to_arrow(), lake.path / f"year={year}" / "part-dead.parquet")
        (lake.path / "_delta_log" / "_commit_dead.json.tmp").write_text("{}")

        reopened = Lake(lake.path, create=False)
        assert reopened.version() == 1
        assert all_rows(reopened).equals(all_rows(lake))
        assert reopened.committed_version(2) is None
        entity = int(second["entity_id"][0])
        assert reopened.history(entity).equals(reference_history(stamped(first, 1), entity))

        assert reopened.append_batch(second, 2) == 2
        clean = Lake(tmp_path / "clean")
        clean.append_batch(first, 1)
        clean.append_batch(second, 2)
        assert all_rows(reopened).equals(all_rows(clean))

    def test_a_writer_killed_mid_write_leaves_nothing_and_the_batch_can_be_rerun(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "lake"
        Lake(path)  # created here, so the child only appends
        child = textwrap.dedent(
            """
            import sys
            import numpy as np
            import polars as pl
            from puhui.core.lake import Lake

            rng = np.random.default_rng(7)
            n = 1_500_000
            rows = pl.DataFrame({
                "entity_id": rng.integers(0, 400_000, n).astype(np.int32),
                "indicator_id": rng.integers(0, 200, n).astype(np.int16),
                "period": rng.choice([202201, 202305, 202407], n).astype(np.int32),
                "value_num": rng.random(n),
                "source_id": np.ones(n, np.int16),
            }).unique(["entity_id", "indicator_id", "period"], keep="first", maintain_order=True)
            rows.write_parquet(sys.argv[2])
            lake = Lake(sys.argv[1])
            print("writing", flush=True)
            lake.append_batch(rows, 99)
            print("committed", flush=True)
            """
        )
        script = tmp_path / "child.py"
        script.write_text(child)
        saved = tmp_path / "rows.parquet"
        proc = subprocess.Popen(
            [sys.executable, str(script), str(path), str(saved)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "writing"
        commit = path / "_delta_log" / f"{1:020d}.json"
        deadline = time.monotonic() + 60
        killed_before_commit = False
        while time.monotonic() < deadline and proc.poll() is None:
            written = [p for p in path.glob("year=*/*") if p.is_file()]
            if written and not commit.exists():
                os.kill(proc.pid, signal.SIGKILL)
                killed_before_commit = not commit.exists()
                break
            time.sleep(0.002)
        proc.wait(timeout=60)
        assert killed_before_commit, "the child committed before it could be killed mid-write"

        lake = Lake(path, create=False)
        assert lake.version() == 0
        assert lake.scan().collect().height == 0
        assert lake.committed_version(99) is None
        assert list(path.glob("year=*/*")), "the dead write left its (unreferenced) files"

        rows = pl.read_parquet(saved)
        assert lake.append_batch(rows, 99) == 1
        assert lake.append_batch(rows, 99) == 1
        expected = rows.with_columns(pl.lit(None, pl.String).alias("value_text"))
        assert all_rows(lake).equals(stamped(expected, 99).sort([*KEY, "batch_id"]))


class TestSuperseding:
    def test_a_later_batch_supersedes_and_history_is_kept(self, lake: Lake) -> None:
        first = pl.DataFrame(
            {
                "entity_id": [1, 1, 1, 2],
                "indicator_id": [5, 5, 6, 5],
                "period": [202301, 202302, 202302, 202302],
                "value_num": [10.0, 11.0, 1.0, 7.0],
                "source_id": [1, 1, 1, 1],
            }
        )
        correction = pl.DataFrame(
            {
                "entity_id": [1],
                "indicator_id": [5],
                "period": [202302],
                "value_num": [12.5],
                "value_text": ["corrected"],
                "source_id": [2],
            }
        )
        lake.append_batch(first, 1)
        lake.append_batch(correction, 2)

        history = lake.history(1)
        assert history.select("indicator_id", "period", "value_num", "batch_id").rows() == [
            (5, 202301, 10.0, 1),
            (5, 202302, 12.5, 2),
            (6, 202302, 1.0, 1),
        ]
        assert lake.history(1, [6])["value_num"].to_list() == [1.0]
        everything = lake.history(1, include_superseded=True)
        assert everything.filter(pl.col("period") == 202302, pl.col("indicator_id") == 5)[
            "value_num"
        ].to_list() == [11.0, 12.5]
        assert all_rows(lake).height == 5  # the superseded row is still in the table
        assert lake.latest_for_entities([1, 2]).select(
            "entity_id", "indicator_id", "value_num"
        ).rows() == [(1, 5, 12.5), (1, 6, 1.0), (2, 5, 7.0)]

    def test_the_higher_batch_id_wins_whatever_the_commit_order(self, lake: Lake) -> None:
        row = {"entity_id": [3], "indicator_id": [1], "period": [202305], "source_id": [1]}
        lake.append_batch(pl.DataFrame({**row, "value_num": [2.0]}), 20)
        lake.append_batch(pl.DataFrame({**row, "value_num": [1.0]}), 10)
        assert lake.history(3)["value_num"].to_list() == [2.0]
        assert lake.latest_for_entities([3])["batch_id"].to_list() == [20]

    def test_history_and_latest_match_a_plain_reference(
        self, lake: Lake, rng: np.random.Generator
    ) -> None:
        for batch_id in rng.permutation(np.arange(1, 7)):
            lake.append_batch(batch(rng, source_id=int(batch_id)), int(batch_id))
        rows = all_rows(lake)
        for entity in range(0, 60, 7):
            assert lake.history(entity).equals(reference_history(rows, entity))
        wanted = [0, 3, 4, 17, 59, 1000]
        expected = reference_latest(rows.filter(pl.col("entity_id").is_in(wanted)))
        assert lake.latest_for_entities(wanted).equals(expected)
        assert latest(rows).equals(reference_latest(rows))
        assert supersede(rows).height == rows.unique(KEY).height
        chunks = list(lake.iter_latest(chunk_rows=300))
        assert len(chunks) > 1
        assert (
            pl.concat(chunks)
            .sort(["entity_id", "indicator_id"])
            .equals(reference_latest(rows).drop("source_id"))
        )

    def test_latest_since_a_period_reads_only_what_a_batch_can_change(
        self, lake: Lake, rng: np.random.Generator
    ) -> None:
        lake.append_batch(batch(rng), 1)
        late = batch(rng, periods=[202302, 202303])
        lake.append_batch(late, 2)
        rows = all_rows(lake)
        entities = late["entity_id"].unique().to_list()
        since = lake.latest_for_entities(entities, since_period=202302)
        full = lake.latest_for_entities(entities)
        # every pair the late batch touched is in the answer, with its true latest value
        touched = late.select("entity_id", "indicator_id").unique()
        assert since.join(touched, on=["entity_id", "indicator_id"]).height == touched.height
        assert since.join(full, on=list(since.columns), how="anti", nulls_equal=True).height == 0
        assert since["period"].min() >= 202302  # type: ignore[operator]
        assert full.equals(reference_latest(rows.filter(pl.col("entity_id").is_in(entities))))


class TestCompaction:
    def test_compaction_keeps_content_and_makes_one_sorted_run(self, lake: Lake) -> None:
        rng = np.random.default_rng(3)
        for batch_id, period in enumerate([202301, 202302, 202303, 202304], start=1):
            lake.append_batch(
                batch(rng, rows=20_000, entities=3_000, indicators=10, periods=[period]),
                batch_id,
            )
        rows = all_rows(lake)
        histories = {e: lake.history(e) for e in (0, 1_500, 2_999)}
        version = lake.version()

        report = lake.compact()
        assert set(report) == {2023}
        assert report[2023]["files_removed"] == 4
        assert lake.version() == version + 1
        assert all_rows(lake).equals(rows)
        assert all(lake.history(e).equals(h) for e, h in histories.items())
        assert lake.rows_of_version(version + 1).height == 0  # a compaction brings no rows
        assert lake.rows_of_version(2).equals(
            lake.scan(2).collect().filter(pl.col("batch_id") == 2)
        )
        assert lake.compact() == {}  # already one sorted run
        assert lake.committed_version(2) == 2  # the batch ids survive compaction
        assert lake.history(1_500, version=version).equals(histories[1_500])

    def test_compaction_in_small_entity_ranges_gives_the_same_table(self, lake: Lake) -> None:
        rng = np.random.default_rng(5)
        for batch_id, periods in enumerate([[202401, 202402], [202402], [202403]], start=1):
            lake.append_batch(
                batch(rng, rows=15_000, entities=2_000, indicators=8, periods=periods), batch_id
            )
        rows = all_rows(lake)
        histories = {e: lake.history(e) for e in (0, 999, 1_999)}
        report = lake.compact(chunk_rows=997)  # ~45 ranges streamed into one commit
        assert report[2024]["rows"] == rows.height
        assert all_rows(lake).equals(rows)
        assert all(lake.history(e).equals(h) for e, h in histories.items())
        assert lake.compact() == {}  # one sorted run now

    def test_a_transform_rewrites_a_sorted_year_and_changes_only_values(self, lake: Lake) -> None:
        rng = np.random.default_rng(11)
        lake.append_batch(batch(rng, rows=5_000, entities=800, periods=[202501]), 1)
        lake.append_batch(batch(rng, rows=5_000, entities=800, periods=[202401]), 2)
        lake.compact()  # both years one sorted run: a plain compaction skips them now
        assert lake.compact() == {}
        rows = all_rows(lake)
        report = lake.compact(
            [2025],
            transform=lambda part: part.with_columns(pl.col("value_text").str.to_lowercase()),
        )
        in_2025 = rows.filter(pl.col("period") == 202501).height
        assert set(report) == {2025} and report[2025]["rows"] == in_2025
        after = all_rows(lake)
        lowered = pl.col("value_text").str.to_lowercase()
        assert after.equals(
            rows.with_columns(pl.when(pl.col("period") == 202501).then(lowered).otherwise(
                pl.col("value_text")))
        )  # fmt: skip
        assert lake.history(7).equals(
            rows.filter(pl.col("entity_id") == 7)
            .pipe(lambda r: r.with_columns(pl.when(pl.col("period") == 202501).then(lowered)
                                           .otherwise(pl.col("value_text"))))
            .sort(["indicator_id", "period", "batch_id"])
            .unique(["indicator_id", "period"], keep="last", maintain_order=True)
            .select(lake.history(7).columns)
        )  # fmt: skip

    def test_a_writer_committing_during_a_rewrite_wins_and_the_rewrite_is_refused(
        self, lake: Lake, tmp_path: Path
    ) -> None:
        rng = np.random.default_rng(13)
        lake.append_batch(batch(rng, rows=3_000, entities=500, periods=[202501]), 1)
        other = Lake(lake.path)  # another process's handle on the same table
        late = batch(rng, rows=200, entities=500, periods=[202502])
        appended: list[int] = []

        def meanwhile(part: pl.DataFrame) -> pl.DataFrame:
            if not appended:  # a batch commits while the year is being rewritten
                # (from a thread of its own: this one runs inside delta-rs's writer)
                writer = threading.Thread(
                    target=lambda: appended.append(other.append_batch(late, 2))
                )
                writer.start()
                writer.join(timeout=60)
            return part.with_columns(pl.lit("X").alias("value_text"))

        with pytest.raises(LakeConflict, match="2025"):
            lake.compact([2025], transform=meanwhile)
        lake.refresh()
        rows = all_rows(lake)
        assert lake.committed_version(2) == appended[0]
        assert rows.filter(pl.col("batch_id") == 2).height == late.height
        assert rows.filter(pl.col("value_text") == "X").height == 0  # nothing half-applied

    def test_a_run_cut_into_files_by_size_counts_as_sorted(self) -> None:
        from puhui.core.lake import _disjoint

        run = pl.DataFrame({"e_lo": [0, 100, 100, 250], "e_hi": [100, 100, 250, 300]})
        assert _disjoint(run)
        assert not _disjoint(pl.DataFrame({"e_lo": [0, 50], "e_hi": [100, 150]}))


class TestTimeTravel:
    def test_a_version_shows_the_values_of_its_time(self, lake: Lake) -> None:
        row = {"entity_id": [9], "indicator_id": [2], "period": [202310], "source_id": [1]}
        lake.append_batch(pl.DataFrame({**row, "value_num": [100.0]}), 1)
        between = datetime.now(UTC)
        time.sleep(0.05)
        lake.append_batch(pl.DataFrame({**row, "value_num": [120.0]}), 2)

        assert supersede(lake.scan(1).collect())["value_num"].to_list() == [100.0]
        assert supersede(lake.scan(2).collect())["value_num"].to_list() == [120.0]
        assert supersede(lake.scan(between).collect())["value_num"].to_list() == [100.0]
        assert lake.scan(0).collect().height == 0
        assert lake.history(9, version=1)["value_num"].to_list() == [100.0]
        assert lake.history(9)["value_num"].to_list() == [120.0]
        assert lake.rows_of_version(2)["value_num"].to_list() == [120.0]

    def test_a_reader_sees_new_commits_without_reopening(
        self, lake: Lake, rng: np.random.Generator
    ) -> None:
        reader = Lake(lake.path, create=False)
        assert reader.version() == 0
        assert reader.history(1).height == 0
        rows = batch(rng)
        lake.append_batch(rows, 1)
        assert reader.version() == 1
        assert reader.history(1).equals(reference_history(stamped(rows, 1), 1))


class TestLatestByRuns:
    @settings(max_examples=25, deadline=None)
    @given(
        seed=st.integers(0, 2**32 - 1),
        batches=st.integers(1, 5),
        chunk_rows=st.integers(20, 2_000),
        compacted=st.booleans(),
    )
    def test_the_latest_of_every_pair_equals_the_plain_reference(
        self, seed: int, batches: int, chunk_rows: int, compacted: bool
    ) -> None:
        """iter_latest keeps only the tails of each file's sorted runs before hashing; with
        files of several batches (compacted: sorted by entity only, keys repeated across
        batches) and entity ranges cutting through files, nothing may go missing."""
        rng = np.random.default_rng(seed)
        with tempfile.TemporaryDirectory() as tmp:
            lake = Lake(Path(tmp) / "lake")
            for batch_id in rng.permutation(np.arange(1, batches + 1)):
                rows = batch(rng, rows=300, entities=40, indicators=4, periods=[202212, 202301])
                lake.append_batch(rows, int(batch_id))
            if compacted:
                lake.compact([2022, 2023])
            got = pl.concat(list(lake.iter_latest(chunk_rows=chunk_rows)))
            expected = reference_latest(all_rows(lake)).drop("source_id")
            assert got.sort(["entity_id", "indicator_id"]).equals(expected)


class TestHistoryIndex:
    """The entity-sorted history index a compaction leaves beside the lake: histories and
    latest values read through it equal the plain reference, with batches committed after
    it, and a stale index is never used."""

    def _city(self, lake: Lake, rng: np.random.Generator) -> None:
        for batch_id, periods in enumerate(
            [[202211, 202212], [202301, 202302], [202212, 202303], [202303]], start=1
        ):
            lake.append_batch(
                batch(rng, rows=6_000, entities=900, indicators=12, periods=periods), batch_id
            )

    def test_compaction_builds_it_and_histories_come_from_it(
        self, lake: Lake, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self._city(lake, rng)
        rows = all_rows(lake)
        lake.compact()
        assert (lake.path / "_history" / "CURRENT").is_file()
        assert lake._history_index(lake._at(None)) is not None
        reads: list[str] = []
        original = Lake._read

        def counting(self: Lake, path: str, **kwargs: object) -> object:
            reads.append(path)
            return original(self, path, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(Lake, "_read", counting)
        for entity in (0, 1, 450, 898, 899, 5_000):
            assert lake.history(entity).equals(reference_history(rows, entity))
            superseded = lake.history(entity, include_superseded=True)
            assert superseded.height == rows.filter(pl.col("entity_id") == entity).height
        assert reads == []  # nothing but the index was read

    def test_batches_after_the_index_are_read_beside_it(
        self, lake: Lake, rng: np.random.Generator
    ) -> None:
        self._city(lake, rng)
        lake.compact()
        later = batch(rng, rows=3_000, entities=1_200, indicators=12, periods=[202303, 202304])
        lake.append_batch(later, 9)  # newer values and entities the index never saw
        rows = all_rows(lake)
        for entity in (3, 450, 899, 1_000, 1_199):
            assert lake.history(entity).equals(reference_history(rows, entity))
        got = pl.concat(list(lake.iter_latest(chunk_rows=2_000)))
        assert got.sort(["entity_id", "indicator_id"]).equals(
            reference_latest(rows).drop("source_id")
        )

    def test_a_stale_index_is_not_used(self, lake: Lake, rng: np.random.Generator) -> None:
        self._city(lake, rng)
        lake.build_history()  # of the uncompacted files
        lake.append_batch(batch(rng, rows=2_000, entities=900, periods=[202303]), 7)
        with lake._lock:  # a compaction that does not rebuild it replaces indexed files
            lake._sync(force=True)
            files = lake._state.files.filter(pl.col("year") == 2023)
            lake._rewrite_year(2023, files, 1_000_000)
        rows = all_rows(lake)
        assert lake._history_index(lake._at(None)) is None
        for entity in (0, 450, 899):
            assert lake.history(entity).equals(reference_history(rows, entity))
        other = Lake(lake.path)  # another process sees the same
        assert other._history_index(other._at(None)) is None
        lake.build_history()
        assert other._history_index(other._at(None)) is not None
        assert other.history(450).equals(reference_history(rows, 450))

    @settings(max_examples=15, deadline=None)
    @given(seed=st.integers(0, 10_000), chunk_rows=st.integers(50, 5_000), extra=st.booleans())
    def test_latest_through_the_index_equals_the_reference(
        self, seed: int, chunk_rows: int, extra: bool
    ) -> None:
        rng = np.random.default_rng(seed)
        with tempfile.TemporaryDirectory() as tmp:
            lake = Lake(Path(tmp) / "lake")
            for batch_id in rng.permutation(np.arange(1, 4)):
                rows = batch(rng, rows=300, entities=50, indicators=4, periods=[202212, 202301])
                lake.append_batch(rows, int(batch_id))
            lake.build_history(chunk_rows=max(chunk_rows, 1))
            if extra:
                lake.append_batch(batch(rng, rows=200, entities=70, periods=[202301]), 9)
            got = pl.concat(list(lake.iter_latest(chunk_rows=chunk_rows)))
            expected = reference_latest(all_rows(lake)).drop("source_id")
            assert got.sort(["entity_id", "indicator_id"]).equals(expected)
            for entity in (0, 25, 49, 69):
                assert lake.history(entity).equals(reference_history(all_rows(lake), entity))

    def test_new_entities_between_indexed_ones_and_an_index_without_its_latest_file(
        self, lake: Lake, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from puhui.core import lake as lake_module

        # one row a batch, so chunks end between entity 5 and entity 9
        monkeypatch.setattr(lake_module, "HISTORY_BATCH_ROWS", 1)
        monkeypatch.setattr(lake_module, "LATEST_BATCH_ROWS", 1)
        rows = pl.DataFrame(
            {
                "entity_id": [5, 5, 9, 9],
                "indicator_id": [1, 2, 1, 1],
                "period": [202301, 202301, 202301, 202302],
                "value_num": [1.0, 2.0, 3.0, 4.0],
                "source_id": [1, 1, 1, 1],
            }
        )
        lake.append_batch(rows, 1)
        lake.build_history()
        gap = pl.DataFrame(
            {
                "entity_id": [7, 9],
                "indicator_id": [1, 1],
                "period": [202303, 202301],
                "value_num": [7.0, 30.0],
                "source_id": [2, 2],
            }
        )
        lake.append_batch(gap, 2)
        expected = reference_latest(all_rows(lake)).drop("source_id")
        for chunk_rows in (1, 10, 10_000_000):
            got = pl.concat(list(lake.iter_latest(chunk_rows=chunk_rows)))
            assert got.sort(["entity_id", "indicator_id"]).equals(expected)
        for old in (lake.path / "_history").glob("*.latest.*"):
            old.unlink()  # an index built before the latest-value file existed
        fresh = Lake(lake.path)
        got = pl.concat(list(fresh.iter_latest(chunk_rows=1)))
        assert got.sort(["entity_id", "indicator_id"]).equals(expected)
