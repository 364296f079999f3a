"""Files bigger than memory: read in chunks, checked chunk by chunk (duplicates across
chunks included), written to the lake as one commit after the last chunk."""

from __future__ import annotations

import itertools
from datetime import date

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from puhui.core.lake import Lake
from puhui.entities import service as entities
from puhui.ingest import readers, service
from puhui.ingest.models import Batch
from puhui.ingest.readers import open_file, read_file
from puhui.ingest.validate import SeenKeys
from tests.ingest.test_pipeline import A, reg_row, registry_file, run

TODAY = date(2026, 11, 27)


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(readers, "CHUNK_VALUES", 7)


class TestSeenKeys:
    @settings(max_examples=60, deadline=None)
    @given(
        keys=st.lists(
            st.tuples(
                st.integers(0, 9), st.sampled_from([3, 8, 40]), st.sampled_from([202401, 202512])
            ),
            max_size=80,
        ),
        cut=st.lists(st.integers(1, 20), max_size=10),
    )
    def test_a_key_is_flagged_exactly_when_an_earlier_chunk_had_it(self, keys, cut):
        seen = SeenKeys(10, [3, 8, 40])
        earlier: set[tuple[int, int, int]] = set()
        start = 0
        for size in [*cut, len(keys)]:
            chunk = list(dict.fromkeys(keys[start : start + size]))  # distinct within a chunk
            start += size
            if not chunk:
                continue
            frame = pl.DataFrame(chunk, schema=["e", "i", "p"], orient="row")
            slots = frame.select(seen.slots(pl.col("e"), pl.col("i"), pl.col("p")))
            flagged = seen.add(*(slots.get_column(c).to_numpy() for c in slots.columns)).tolist()
            assert flagged == [k in earlier for k in chunk]
            earlier.update(chunk)

    def test_an_indicator_outside_the_set_is_a_programming_error(self):
        seen = SeenKeys(5, [1, 2])
        frame = pl.DataFrame({"e": [0], "i": [3], "p": [202401]})
        slots = frame.select(seen.slots(pl.col("e"), pl.col("i"), pl.col("p")))
        byte = slots.get_column("_byte").fill_null(-1).to_numpy()
        with pytest.raises(ValueError, match="outside"):
            seen.add(slots.get_column("_year").to_numpy(), byte, slots["_mask"].to_numpy())


class TestChunkedReading:
    def test_chunks_concatenate_to_the_whole_file_and_never_split_a_wide_row(
        self, tmp_path, small_chunks
    ):
        lines = ["uscc,period,OPR_POWER_M,OPR_WATER_M,OPR_GAS_M"]
        lines += [f"C{i},2026-09,{i},{i + 1},{'' if i % 3 else i}" for i in range(1, 41)]
        path = tmp_path / "w.csv"
        path.write_text("\n".join(lines) + "\n")
        stream = open_file(path)
        chunks = list(stream.chunks())
        assert len(chunks) > 5 and stream.rows == 40
        rows_of = [set(c["row"].to_list()) for c in chunks]
        for a, b in itertools.pairwise(rows_of):
            assert max(a) < min(b)  # in file order, no row in two chunks
        whole = pl.concat(chunks)
        assert whole.height == 40 * 2 + 13
        assert sorted(whole["row"].unique().to_list()) == list(range(1, 41))

    def test_long_texts_end_a_chunk_before_its_value_count(self, tmp_path, monkeypatch):
        monkeypatch.setattr(readers, "CHUNK_BYTES", 4096)
        lines = ["uscc,indicator,period,value"]
        lines += [f"C{i},BAS_SCOPE,2026-10,{'经营范围' * 100}" for i in range(30)]
        path = tmp_path / "profile.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        sizes = [c.height for c in open_file(path).chunks()]
        assert sum(sizes) == 30 and len(sizes) >= 7 and max(sizes) <= 4

    def test_parquet_and_jsonl_chunk_too(self, tmp_path, small_chunks):
        n = 50
        pq.write_table(
            pa.table(
                {
                    "uscc": [f"C{i}" for i in range(n)],
                    "indicator": ["OPR_POWER_M"] * n,
                    "period": ["2026-09"] * n,
                    "value": list(range(n)),
                }
            ),
            tmp_path / "p.parquet",
            row_group_size=16,
        )
        stream = open_file(tmp_path / "p.parquet")
        chunks = list(stream.chunks())
        assert len(chunks) == 8 and stream.done_fraction() == 1.0
        assert pl.concat(chunks)["row"].to_list() == list(range(1, n + 1))
        jsonl = tmp_path / "e.jsonl"
        jsonl.write_text(
            "\n".join(
                f'{{"uscc": "C{i}", "indicator": "X", "period": "2026", "value": {i}}}'
                for i in range(n)
            )
        )
        assert read_file(jsonl).frame["row"].to_list() == list(range(1, n + 1))

    def test_a_jsonl_line_that_is_not_utf8_rejects_the_file(self, tmp_path):
        path = tmp_path / "e.jsonl"
        path.write_bytes(b'{"uscc": "A"}\n{"uscc": "\xff\xfe"}\n')
        with pytest.raises(readers.FileRejected) as info:
            read_file(path)
        assert info.value.params == {"line": 2}


class TestChunkedPipeline:
    def test_a_duplicate_in_a_later_chunk_is_rejected_and_one_commit_holds_the_rest(
        self, world, session, small_chunks
    ):
        _factory, settings, tmp = world
        run(
            world, "SAMR", registry_file(tmp / "registry.csv", [reg_row(A, "宁波华光电子有限公司")])
        )
        lake = Lake(settings.lake_dir)
        before = lake.version()
        lines = ["uscc,indicator,period,value"]
        lines += [f"{A},OPR_POWER_M,2025-{m:02d},{m}" for m in range(1, 13)]
        lines += [f"{A},OPR_POWER_M,2025-03,99"]  # row 13: repeats row 3, chunks apart
        path = tmp / "power.csv"
        path.write_text("\n".join(lines) + "\n")
        out = run(world, "POWER", path)
        batch = session.get(Batch, out.batch_id)
        assert (batch.rows_total, batch.rows_accepted, batch.rows_rejected) == (13, 12, 1)
        assert batch.reasons == {"duplicate": 1}
        assert lake.version() == before + 1  # one commit for the whole file
        rows = lake.scan().filter(pl.col("batch_id") == out.batch_id).collect()
        march = rows.filter(pl.col("period") == 202503)["value_num"].to_list()
        assert march == [3.0]  # the first occurrence wins
        report = service.report_path(settings, out.batch_id).read_text(encoding="utf-8-sig")
        assert report.splitlines()[1].startswith("13,*,duplicate,reject,99")

    def test_damage_after_the_first_chunks_rejects_the_whole_file_and_commits_nothing(
        self, world, session, small_chunks, monkeypatch
    ):
        _factory, settings, tmp = world
        run(
            world, "SAMR", registry_file(tmp / "registry.csv", [reg_row(A, "宁波华光电子有限公司")])
        )
        lake = Lake(settings.lake_dir)
        before = lake.version()
        monkeypatch.setattr(readers, "CSV_BLOCK_BYTES", 256)
        good = [f"{A},OPR_POWER_M,2025-{m:02d},{m}" for m in range(1, 13)]
        path = tmp / "power.csv"
        # blocks of good lines (several chunks reach the lake writer), then a bad line
        body = "\n".join(good) + "\n" + "x,y,z,w,extra\n"
        path.write_text("uscc,indicator,period,value\n" + body)
        written = []
        real = service.Lake.append_batch_chunks

        def spy(self, chunks, batch_id):
            def counted():
                for chunk in chunks:
                    written.append(chunk.height)
                    yield chunk

            return real(self, counted(), batch_id)

        monkeypatch.setattr(service.Lake, "append_batch_chunks", spy)
        out = run(world, "POWER", path)
        assert sum(written) >= 7  # good chunks went to the writer before the damage
        batch = session.get(Batch, out.batch_id)
        assert batch.status == "rejected" and "Expected 4 columns, got 5" in batch.message
        assert lake.version() == before
        assert not service.report_path(settings, out.batch_id).exists()
        ids = session.scalars(select(Batch.id).where(Batch.status == "committed")).all()
        assert out.batch_id not in ids
        assert entities.ids_for(session, [A])  # the registry batch before it stays


class TestLakeChunks:
    def test_a_failing_chunk_source_commits_nothing_and_keeps_its_exception(self, tmp_path):
        lake = Lake(tmp_path / "lake")

        def chunks():
            yield pl.DataFrame(
                {"entity_id": [1], "indicator_id": [2], "period": [202401], "source_id": [1]},
                schema_overrides={"entity_id": pl.Int32, "indicator_id": pl.Int16},
            ).with_columns(pl.col("period").cast(pl.Int32), pl.col("source_id").cast(pl.Int16))
            raise readers.FileRejected("The XLSX file is truncated or damaged.")

        with pytest.raises(readers.FileRejected):
            lake.append_batch_chunks(chunks(), 7)
        assert lake.version() == 0 and lake.committed_version(7) is None
