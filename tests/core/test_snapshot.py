"""The latest-value snapshot: typed columns, full build and incremental refresh against a
plain reference, the atomic pointer, readers picking up versions, mapping and memory.
No database is involved."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from puhui.core import snapshot as snapshot_module
from puhui.core.lake import Lake
from puhui.core.snapshot import (
    FALSE_TEXTS,
    TRUE_TEXTS,
    IndicatorSpec,
    InvalidSnapshotInput,
    Snapshot,
    SnapshotNotFound,
)

SPECS = (
    IndicatorSpec(0, "OPR_SALES", "operating", "amount"),
    IndicatorSpec(1, "OPR_TAX", "operating", "amount"),
    IndicatorSpec(2, "FIN_DEBT_RATIO", "financial", "ratio"),
    IndicatorSpec(3, "NEG_LAWSUITS", "negative", "count"),
    IndicatorSpec(4, "NEG_DISHONEST", "negative", "flag"),
    IndicatorSpec(5, "BAS_TAX_GRADE", "basic", "grade", ("A", "B", "C", "D", "M")),
    IndicatorSpec(6, "BAS_DISTRICT", "basic", "code", ("330203", "330205", "330206")),
    IndicatorSpec(7, "BAS_ESTABLISHED", "basic", "date"),
    IndicatorSpec(8, "BAS_NAME", "basic", "text"),
    IndicatorSpec(9, "OPR_STAFF", "operating", "count"),
)
GROUP_COLUMNS = 2  # small groups, so a category spans several files
EXPECTED_DTYPES = {
    "OPR_SALES": pl.Float32(),
    "OPR_TAX": pl.Float32(),
    "FIN_DEBT_RATIO": pl.Float32(),
    "NEG_LAWSUITS": pl.Int32(),
    "NEG_DISHONEST": pl.Boolean(),
    "BAS_TAX_GRADE": pl.Enum(["A", "B", "C", "D", "M"]),
    "BAS_DISTRICT": pl.Enum(["330203", "330205", "330206"]),
    "BAS_ESTABLISHED": pl.Date(),
    "OPR_STAFF": pl.Int32(),
}
PERIODS = (202306, 202307, 202308, 202401)


def observations(
    rng: np.random.Generator, *, rows: int, entities: int, periods: tuple[int, ...] = PERIODS
) -> pl.DataFrame:
    """Random lake rows whose values fit (or, sometimes, do not fit) their indicator."""
    by_id = {s.id: s for s in SPECS}
    out = []
    for _ in range(rows):
        spec = by_id[int(rng.integers(0, len(SPECS)))]
        num: float | None = None
        text: str | None = None
        kind = spec.value_type
        if kind in ("amount", "ratio"):
            num = float(np.round(rng.normal(500, 300), 3))
        elif kind == "count":
            num = float(rng.choice([0.0, 1.0, 2.0, 3.2, 7.7, 41.0]))
        elif kind == "flag":
            if rng.random() < 0.6:
                num = float(rng.integers(0, 2))
            else:
                text = str(rng.choice(["true", "否", "YES", "0", "maybe"]))
        elif kind in ("grade", "code"):
            text = str(rng.choice([*spec.allowed_values, "??"]))
        elif kind == "date":
            if rng.random() < 0.5:
                text = f"20{rng.integers(0, 24):02d}-{rng.integers(1, 13):02d}-15"
            else:
                num = float(f"20{rng.integers(0, 24):02d}{rng.integers(1, 13):02d}03")
        else:
            text = f"name {rng.integers(0, 1000)}"
        if rng.random() < 0.05:
            num, text = None, None  # an explicit "unknown"
        out.append(
            {
                "entity_id": int(rng.integers(0, entities)),
                "indicator_id": spec.id,
                "period": int(rng.choice(periods)),
                "value_num": num,
                "value_text": text,
                "source_id": 1,
            }
        )
    schema = {
        "entity_id": pl.Int32,
        "indicator_id": pl.Int16,
        "period": pl.Int32,
        "value_num": pl.Float64,
        "value_text": pl.String,
        "source_id": pl.Int16,
    }
    frame = pl.DataFrame(out, schema=schema, orient="row") if out else pl.DataFrame(schema=schema)
    return frame.unique(["entity_id", "indicator_id", "period"], keep="first", maintain_order=True)


def cell(spec: IndicatorSpec, num: float | None, text: str | None) -> object:
    """The typed value of one lake row, in plain Python (the reference's own rules)."""
    kind = spec.value_type
    if kind in ("amount", "ratio"):
        return num
    if kind == "count":
        return None if num is None else round(num)
    if kind == "flag":
        if num is not None:
            return num != 0
        lowered = (text or "").strip().lower()
        return True if lowered in TRUE_TEXTS else False if lowered in FALSE_TEXTS else None
    if kind in ("grade", "code"):
        return text if text in spec.allowed_values else None
    if kind == "date":
        if text is not None:
            try:
                return datetime.strptime(text, "%Y-%m-%d").date()  # noqa: DTZ007 - a date
            except ValueError:
                pass
        if num is not None:
            try:
                return datetime.strptime(str(int(num)), "%Y%m%d").date()  # noqa: DTZ007
            except ValueError:
                return None
    return None


def reference(lake: Lake, n: int) -> pl.DataFrame:
    """The snapshot computed the plain way: every row, group_by, last, one cell at a time."""
    rows = lake.scan().collect()
    last = (
        rows.sort(["entity_id", "indicator_id", "period", "batch_id"])
        .group_by(["entity_id", "indicator_id"], maintain_order=True)
        .last()
    )
    by_id = {s.id: s for s in SPECS}
    cells: dict[str, list[object]] = {code: [None] * n for code in EXPECTED_DTYPES}
    for entity, indicator, num, text in last.select(
        "entity_id", "indicator_id", "value_num", "value_text"
    ).iter_rows():
        spec = by_id[indicator]
        if spec.code in cells and entity < n:
            cells[spec.code][entity] = cell(spec, num, text)
    return pl.DataFrame(
        [pl.Series(code, cells[code], dtype=EXPECTED_DTYPES[code]) for code in EXPECTED_DTYPES]
    )


def build(lake: Lake, n: int, path: Path) -> Snapshot:
    return Snapshot.build(lake, SPECS, n, path, max_group_columns=GROUP_COLUMNS)


def differences(left: pl.DataFrame, right: pl.DataFrame) -> list[str]:
    """What differs between two snapshot frames: the schema, or the names of the columns
    whose values differ (empty when equal)."""
    if left.schema != right.schema:
        return [f"schema {left.schema} != {right.schema}"]
    return [name for name in left.columns if not left[name].equals(right[name])]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1207)


@pytest.fixture
def lake(tmp_path: Path, rng: np.random.Generator) -> Lake:
    lake = Lake(tmp_path / "lake")
    lake.append_batch(observations(rng, rows=300, entities=40), 1)
    lake.append_batch(observations(rng, rows=200, entities=40), 2)
    return lake


@pytest.fixture
def snap(lake: Lake, tmp_path: Path) -> Snapshot:
    return build(lake, 40, tmp_path / "snapshot")


class TestBuild:
    def test_columns_are_typed_by_value_type_and_text_is_left_out(self, snap: Snapshot) -> None:
        view = snap.current()
        assert dict(view.frame().schema) == EXPECTED_DTYPES
        assert view.frame().height == view.n_entities == 40
        assert "BAS_NAME" not in view.group_of
        assert sorted(view.groups) == [
            "basic-0",
            "basic-1",
            "financial-0",
            "negative-0",
            "operating-0",
            "operating-1",
        ]
        assert view.column("OPR_SALES").dtype == pl.Float32
        assert view.frame(["NEG_DISHONEST", "BAS_ESTABLISHED"]).columns == [
            "NEG_DISHONEST",
            "BAS_ESTABLISHED",
        ]

    def test_full_build_equals_the_plain_reference(self, lake: Lake, snap: Snapshot) -> None:
        assert not differences(snap.current().frame(), reference(lake, 40))
        assert snap.current().lake_version == lake.version() == 2

    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        seed=st.integers(0, 2**32 - 1),
        entities=st.integers(1, 25),
        sizes=st.lists(st.integers(0, 60), min_size=1, max_size=4),
        order=st.randoms(use_true_random=False),
    )
    def test_full_build_equals_the_reference_on_random_batches(
        self, seed: int, entities: int, sizes: list[int], order: object
    ) -> None:
        rng = np.random.default_rng(seed)
        batch_ids = list(range(1, len(sizes) + 1))
        order.shuffle(batch_ids)  # type: ignore[attr-defined]  # commit order != batch order
        with tempfile.TemporaryDirectory() as tmp:
            lake = Lake(Path(tmp) / "lake")
            for batch_id, size in zip(batch_ids, sizes, strict=True):
                lake.append_batch(observations(rng, rows=size, entities=entities), batch_id)
            snap = build(lake, entities, Path(tmp) / "snapshot")
            assert not differences(snap.current().frame(), reference(lake, entities))

    def test_a_build_catches_up_with_batches_committed_while_it_ran(
        self,
        lake: Lake,
        rng: np.random.Generator,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        late = observations(rng, rows=60, entities=40, periods=(202405,))
        read = lake.iter_latest

        def read_while_a_batch_lands(**kwargs: object) -> object:
            Lake(lake.path, create=False).append_batch(late, 3)  # another process commits
            return read(**kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(lake, "iter_latest", read_while_a_batch_lands)
        snap = build(lake, 40, tmp_path / "caught-up")
        assert snap.current().lake_version == 3
        assert not differences(snap.current().frame(), reference(lake, 40))

    def test_write_refuses_frames_that_do_not_fit(self, snap: Snapshot, tmp_path: Path) -> None:
        frame = snap.current().frame()
        with pytest.raises(InvalidSnapshotInput, match="wrong type"):
            Snapshot.write(
                frame.with_columns(pl.col("OPR_SALES").cast(pl.Float64)), SPECS, tmp_path / "x"
            )
        with pytest.raises(InvalidSnapshotInput, match="missing"):
            Snapshot.write(frame.drop("OPR_TAX"), SPECS, tmp_path / "x")
        with pytest.raises(InvalidSnapshotInput):
            IndicatorSpec(99, "X", "basic", "grade")  # a grade needs its values
        with pytest.raises(SnapshotNotFound):
            Snapshot.open(tmp_path / "nothing")


class TestRefresh:
    @pytest.fixture(autouse=True)
    def _patch_cell_by_cell(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # these batches touch most of a few dozen entities: keep them on the incremental
        # path (TestBigBatches covers the rebuild)
        monkeypatch.setattr(snapshot_module, "REBUILD_SHARE", 1.0)

    def test_refresh_after_each_batch_equals_a_full_rebuild(
        self, lake: Lake, snap: Snapshot, rng: np.random.Generator, tmp_path: Path
    ) -> None:
        for batch_id in (3, 4, 5):
            rows = observations(rng, rows=40, entities=40, periods=(202401, 202402))
            version = lake.append_batch(rows, batch_id)
            snap.refresh_version(version)
        late = observations(rng, rows=40, entities=40, periods=(202306,))  # an old period
        snap.refresh_version(lake.append_batch(late, 6))
        rebuilt = build(lake, 40, tmp_path / "rebuilt")
        assert not differences(snap.current().frame(), rebuilt.current().frame())
        assert not differences(snap.current().frame(), reference(lake, 40))

    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        seed=st.integers(0, 2**32 - 1),
        sizes=st.lists(st.integers(1, 40), min_size=1, max_size=4),
        whole=st.lists(st.booleans(), min_size=4, max_size=4),
    )
    def test_incremental_refresh_equals_a_rebuild_on_random_batches(
        self, seed: int, sizes: list[int], whole: list[bool]
    ) -> None:
        rng = np.random.default_rng(seed)
        with tempfile.TemporaryDirectory() as tmp:
            lake = Lake(Path(tmp) / "lake")
            lake.append_batch(observations(rng, rows=50, entities=12), 1)
            snap = build(lake, 12, Path(tmp) / "snapshot")
            for k, size in enumerate(sizes):
                periods = tuple(int(p) for p in rng.choice((*PERIODS, 202402), 2))
                # some batches name entities past the end: the snapshot grows
                rows = observations(rng, rows=size, entities=15, periods=periods)
                version = lake.append_batch(rows, 10 - k if k % 2 else 20 + k)
                if whole[k]:  # recompute every cell of the touched entities
                    snap.refresh(rows["entity_id"].to_list())
                else:  # only what the batch can have changed
                    snap.refresh_version(version)
            n = snap.current().n_entities
            rebuilt = build(lake, n, Path(tmp) / "rebuilt")
            assert not differences(snap.current().frame(), rebuilt.current().frame())
            assert not differences(snap.current().frame(), reference(lake, n))

    def test_only_the_groups_of_touched_indicators_are_rewritten(
        self, lake: Lake, snap: Snapshot
    ) -> None:
        before = {g.name: g.file for g in snapshot_module._read_manifest(snap.path).groups}  # type: ignore[union-attr]
        row = {"entity_id": [3], "period": [202402], "source_id": [1]}
        lake.append_batch(pl.DataFrame({**row, "indicator_id": [2], "value_num": [0.25]}), 9)
        assert snap.refresh([3], indicator_ids=[2], since_period=202402) == 2
        after = {g.name: g.file for g in snapshot_module._read_manifest(snap.path).groups}  # type: ignore[union-attr]
        changed = {name for name in before if before[name] != after[name]}
        assert changed == {"financial-0"}
        assert after["financial-0"] == "financial-0.v2.arrow"
        assert snap.current().column("FIN_DEBT_RATIO")[3] == pytest.approx(0.25)

    def test_nothing_to_change_makes_no_version(self, lake: Lake, snap: Snapshot) -> None:
        assert snap.refresh([], since_period=202401) == 1
        assert snap.refresh([5], indicator_ids=[8]) == 1  # text: not in the snapshot
        assert snap.refresh([5], since_period=209912) == 1

    def test_new_entities_grow_the_snapshot(self, lake: Lake, snap: Snapshot) -> None:
        row = {"entity_id": [45], "period": [202402], "source_id": [1], "indicator_id": [0]}
        lake.append_batch(pl.DataFrame({**row, "value_num": [12.0]}), 9)
        snap.refresh_version(lake.version())
        view = snap.current()
        assert view.n_entities == 46
        assert view.frame().height == 46
        assert view.column("OPR_SALES")[45] == 12.0
        assert view.column("OPR_SALES")[41] is None

    def test_refresh_needs_the_lake(self, snap: Snapshot) -> None:
        with pytest.raises(InvalidSnapshotInput):
            Snapshot.open(snap.path).refresh([1])


class TestBigBatches:
    def test_a_batch_touching_most_entities_rebuilds_and_later_refreshes_are_free(
        self,
        lake: Lake,
        snap: Snapshot,
        rng: np.random.Generator,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(snapshot_module, "REBUILD_MIN_INDICATORS", 1)
        assert snapshot_module._read_manifest(snap.path).complete_through == 2  # type: ignore[union-attr]
        big = observations(rng, rows=400, entities=40, periods=(202402,))
        small = observations(rng, rows=3, entities=40, periods=(202403,))
        v_big = lake.append_batch(big, 3)
        v_small = lake.append_batch(small, 4)
        assert snap.refresh_version(v_big) == 2  # rebuilt from the lake as it is now
        manifest = snapshot_module._read_manifest(snap.path)
        assert manifest is not None and manifest.complete_through == v_small
        assert snap.refresh_version(v_small) == 2  # the rebuild covered it: nothing to do
        assert snap.refresh_version(v_big) == 2
        assert not differences(snap.current().frame(), reference(lake, 40))

    def test_a_batch_of_few_indicators_is_patched_however_many_entities_it_touched(
        self, lake: Lake, snap: Snapshot
    ) -> None:
        # the business-health score: two indicators of every entity, from the platform
        ids = list(range(40))
        rows = pl.DataFrame(
            {
                "entity_id": ids,
                "indicator_id": [2] * 40,
                "period": [202402] * 40,
                "source_id": [1] * 40,
                "value_num": [i / 100 for i in ids],
            }
        )
        version = lake.append_batch(rows, 9)
        assert snap.refresh_version(version) == 2
        manifest = snapshot_module._read_manifest(snap.path)
        assert manifest is not None
        assert [g.file for g in manifest.groups if g.name == "operating-0"] == [
            "operating-0.v1.arrow"  # patched, not rebuilt: the other groups stay
        ]
        assert snap.current().column("FIN_DEBT_RATIO")[39] == pytest.approx(0.39)
        assert not differences(snap.current().frame(), reference(lake, 40))

    def test_a_small_batch_refreshes_cell_by_cell_and_moves_the_watermark(
        self, lake: Lake, snap: Snapshot
    ) -> None:
        row = {"entity_id": [3], "period": [202402], "source_id": [1]}
        version = lake.append_batch(
            pl.DataFrame({**row, "indicator_id": [2], "value_num": [0.5]}), 9
        )
        assert snap.refresh_version(version) == 2
        manifest = snapshot_module._read_manifest(snap.path)
        assert manifest is not None and manifest.complete_through == version
        assert [g.file for g in manifest.groups if g.name == "operating-0"] == [
            "operating-0.v1.arrow"  # only the touched group was rewritten
        ]
        assert snap.current().column("FIN_DEBT_RATIO")[3] == pytest.approx(0.5)

    def test_keys_of_a_version_read_only_what_it_touched(self, lake: Lake) -> None:
        rows = pl.DataFrame(
            {
                "entity_id": [7, 3, 7],
                "indicator_id": [2, 2, 5],
                "period": [202402, 202311, 202402],
                "value_num": [1.0, 2.0, 3.0],
                "source_id": [1, 1, 1],
            }
        )
        keys = lake.keys_of_version(lake.append_batch(rows, 9))
        assert keys is not None
        assert keys.entities.tolist() == [3, 7]
        assert (keys.indicator_ids, keys.since_period) == ([2, 5], 202311)
        assert lake.keys_of_version(0) is None


class TestPointer:
    def test_a_reader_picks_up_a_new_version_without_reopening(
        self, lake: Lake, snap: Snapshot
    ) -> None:
        reader = Snapshot.open(snap.path)
        old = reader.current()
        assert reader.current() is old  # nothing changed: the same view, one stat
        lake.append_batch(
            pl.DataFrame(
                {
                    "entity_id": [0],
                    "indicator_id": [3],
                    "period": [202405],
                    "value_num": [17.0],
                    "source_id": [1],
                }
            ),
            9,
        )
        snap.refresh_version(lake.version())
        new = reader.current()
        assert (old.version, new.version) == (1, 2)
        assert new.column("NEG_LAWSUITS")[0] == 17
        assert old.column("NEG_LAWSUITS")[0] != 17  # the old view stays readable
        assert new.groups["basic-0"] is old.groups["basic-0"]  # unchanged: not mapped again
        assert new.groups["negative-0"] is not old.groups["negative-0"]

    def test_a_reader_process_picks_up_a_new_version(
        self, lake: Lake, snap: Snapshot, tmp_path: Path
    ) -> None:
        child = textwrap.dedent(
            """
            import sys
            from puhui.core.snapshot import Snapshot

            snap = Snapshot.open(sys.argv[1])
            print(snap.current().version, flush=True)
            sys.stdin.readline()
            view = snap.current()
            print(view.version, view.column("OPR_TAX")[7], flush=True)
            """
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", child, str(snap.path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        assert proc.stdout.readline().split() == ["1"]
        lake.append_batch(
            pl.DataFrame(
                {
                    "entity_id": [7],
                    "indicator_id": [1],
                    "period": [202405],
                    "value_num": [99.5],
                    "source_id": [1],
                }
            ),
            9,
        )
        snap.refresh_version(lake.version())
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().split() == ["2", "99.5"]
        assert proc.wait(timeout=30) == 0

    def test_a_writer_that_dies_before_the_pointer_leaves_the_old_version(
        self, lake: Lake, snap: Snapshot, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        before = snap.current().frame()

        def die(*args: object, **kwargs: object) -> None:
            raise KeyboardInterrupt("killed")

        lake.append_batch(
            pl.DataFrame(
                {
                    "entity_id": [1],
                    "indicator_id": [0],
                    "period": [202405],
                    "value_num": [1.0],
                    "source_id": [1],
                }
            ),
            9,
        )
        with monkeypatch.context() as patch:
            patch.setattr(snapshot_module, "_publish", die)
            with pytest.raises(KeyboardInterrupt):
                snap.refresh_version(lake.version())
        assert (snap.path / "operating-0.v2.arrow").exists()  # written, never published
        reader = Snapshot.open(snap.path)
        assert reader.current().version == 1
        assert not differences(reader.current().frame(), before)

        assert snap.refresh_version(lake.version()) == 2  # the next writer redoes it
        assert reader.current().column("OPR_SALES")[1] == 1.0
        for _ in range(2):  # two more versions: version 1's files are removed
            lake.append_batch(
                pl.DataFrame(
                    {
                        "entity_id": [2],
                        "indicator_id": [0],
                        "period": [202406 + _],
                        "value_num": [2.0],
                        "source_id": [1],
                    }
                ),
                10 + _,
            )
            snap.refresh_version(lake.version())
        files = sorted(p.name for p in snap.path.glob("*.arrow"))
        assert "operating-0.v1.arrow" not in files
        assert {"operating-0.v3.arrow", "operating-0.v4.arrow", "basic-0.v1.arrow"} <= set(files)
        assert not list(snap.path.glob(".manifest.json.*"))


class TestMemory:
    def test_columns_are_mapped_not_copied(self, tmp_path: Path) -> None:
        n = 200_000
        rng = np.random.default_rng(5)
        frame = pl.DataFrame(
            [
                pl.Series("OPR_SALES", rng.random(n, dtype=np.float32)),
                pl.Series("OPR_TAX", rng.random(n, dtype=np.float32)),
                pl.Series("FIN_DEBT_RATIO", rng.random(n, dtype=np.float32)),
                pl.Series("NEG_LAWSUITS", rng.integers(0, 9, n).astype(np.int32)),
                pl.Series("NEG_DISHONEST", rng.random(n) < 0.1),
                pl.Series("BAS_TAX_GRADE", rng.choice(["A", "B"], n)).cast(
                    EXPECTED_DTYPES["BAS_TAX_GRADE"]
                ),
                pl.Series("BAS_DISTRICT", rng.choice(["330203", "330206"], n)).cast(
                    EXPECTED_DTYPES["BAS_DISTRICT"]
                ),
                pl.Series("BAS_ESTABLISHED", rng.integers(0, 20_000, n).astype(np.int32)).cast(
                    pl.Date
                ),
                pl.Series("OPR_STAFF", rng.integers(0, 500, n).astype(np.int32)),
            ]
        ).with_columns(pl.when(pl.int_range(n) % 7 == 0).then(None).otherwise(pl.all()).name.keep())
        snap = Snapshot.write(frame, SPECS, tmp_path / "snapshot", max_group_columns=GROUP_COLUMNS)
        view = snap.current()
        assert not differences(view.frame(), frame.select(list(EXPECTED_DTYPES)))

        regions = []
        for line in Path("/proc/self/maps").read_text().splitlines():
            fields = line.split()
            if fields[-1].startswith(str(snap.path)) and fields[-1].endswith(".arrow"):
                start, end = (int(x, 16) for x in fields[0].split("-"))
                regions.append((start, end))
        assert regions, "the group files are memory-mapped"
        for code in ("OPR_SALES", "NEG_LAWSUITS", "NEG_DISHONEST", "BAS_ESTABLISHED"):
            buffers = [b for b in view.column(code).to_arrow().buffers() if b is not None]
            assert buffers
            for buffer in buffers:
                assert any(a <= buffer.address < b for a, b in regions), code

        sizes = snap.memory_bytes()
        files = {p.name.split(".")[0]: p.stat().st_size for p in snap.path.glob("*.arrow")}
        assert {k: v for k, v in sizes.items() if k != "total"} == files
        assert sizes["total"] == sum(files.values())
        # 6 columns of 4 bytes, 2 enums of 1 byte, 1 bit-packed flag, validity bits
        expected = n * (6 * 4 + 2 + 1 / 8 + 9 / 8)
        assert expected <= sizes["total"] <= expected * 1.05 + 100_000

    def test_an_empty_value_date_column_round_trips(self, tmp_path: Path) -> None:
        specs = [IndicatorSpec(1, "D", "basic", "date")]
        frame = pl.DataFrame([pl.Series("D", [date(2024, 1, 2), None], dtype=pl.Date)])
        view = Snapshot.write(frame, specs, tmp_path / "s").current()
        assert view.column("D").to_list() == [date(2024, 1, 2), None]
