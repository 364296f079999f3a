"""The indicator lake: every observation ever received, as one Delta Lake table.

An observation is ``(entity_id int32, indicator_id int16, period int32 YYYYMM, value_num
float64?, value_text string?, batch_id int64, source_id int16)``. Entity and indicator ids
are the dense integers of the registry and the catalog; this module knows nothing else
about them.

Invariants
- **One batch, one commit.** ``append_batch`` writes a batch as one Delta commit that
  carries the batch id twice: as commit metadata (``puhui.batch_id``, for people and
  ``batches()``) and as a Delta *transaction identifier* ``txn(appId="puhui.batch.<id>",
  version=<the commit's own table version>)``. Delta keeps txn actions in every
  checkpoint, so "is batch N in the table?" is answered from the table state, not from
  commit files that log clean-up may remove. A batch already committed is not written
  again: the call returns the version that committed it.
- **Atomic.** delta-rs writes the Parquet files first and then the commit file with a
  put-if-absent; a process that dies before the commit leaves only files that no version
  references (invisible to readers, removed by ``vacuum``). Commits are made with no
  automatic retry, so a concurrent writer makes ``append_batch`` fail rather than record
  a wrong version; ingest serialises writers anyway (one writer, any number of readers).
- **Append-only; superseding at read time.** Nothing is updated in place. For one
  ``(entity, indicator, period)`` the row with the highest ``batch_id`` is the value; the
  rows it supersedes stay in the table (history is kept, and visible with
  ``include_superseded=True``). The latest value of ``(entity, indicator)`` is the
  superseding row of its highest period. A batch may not repeat a key.
- **Layout for one entity's history.** The table is partitioned by *year*
  (``year = period // 100``, an extra int16 column), not by month: ``compact()`` z-orders a
  year by ``entity_id`` so one entity's twelve months sit in one row group, and its
  history is one small read per year instead of one per month (see decision 0004 for the
  measurements). Every write is sorted by ``(entity_id, indicator_id, period)``, row
  groups hold 8 192 rows and files stop at 8 MB, so Delta's per-file statistics pick the
  one file of a partition that can hold an entity and the Parquet row-group statistics
  the one row group inside it. Reads go straight to those row groups (Snappy: decoding is
  most of a read) through a cache of parsed Parquet footers bounded by row groups (a
  parsed footer costs ~4.5 KB a row group; files are immutable, so one never goes stale).
  Small files keep a cache miss cheap: a footer of ~150 row groups parses in ~3 ms.
- Time travel by Delta version or timestamp: ``scan(version=…)`` and
  ``history(…, version=…)``; files that a compaction replaced stay readable until
  ``vacuum`` removes them (retention ``DELETED_FILE_RETENTION``).
- Local paths only for now; the table itself is plain Delta and can move to object
  storage (the read path then needs a ``pyarrow.fs`` filesystem).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import (
    CommitProperties,
    DeltaTable,
    Transaction,
    WriterProperties,
    write_deltalake,
)
from deltalake.exceptions import CommitFailedError

from puhui.core.errors import Conflict, NotFound, ValidationFailed

OBSERVATION_SCHEMA = pa.schema(
    [
        pa.field("entity_id", pa.int32(), nullable=False),
        pa.field("indicator_id", pa.int16(), nullable=False),
        pa.field("period", pa.int32(), nullable=False),
        pa.field("value_num", pa.float64()),
        pa.field("value_text", pa.string()),
        pa.field("batch_id", pa.int64(), nullable=False),
        pa.field("source_id", pa.int16(), nullable=False),
    ]
)
"""What callers write and read. The table adds the partition column ``year``."""

COLUMNS = tuple(OBSERVATION_SCHEMA.names)
LATEST_SCHEMA = pa.schema([f for f in OBSERVATION_SCHEMA if f.name != "source_id"])
PARTITION_COLUMN = "year"
TABLE_SCHEMA = OBSERVATION_SCHEMA.append(pa.field(PARTITION_COLUMN, pa.int16(), nullable=False))

ROW_GROUP_ROWS = 8_192
TARGET_FILE_BYTES = 8 * 1024 * 1024
FOOTER_CACHE_ROW_GROUPS = 16_384  # a parsed footer takes ~4.5 KB a row group: ~75 MB
SCAN_FOOTER_CACHE_ROW_GROUPS = 65_536  # during a whole-lake scan (~300 MB)
HISTORY_PARALLEL_FILES = 4  # a history spread over more files is read by a thread pool
COMPACT_CHUNK_ROWS = 25_000_000  # rows of one year held at a time while compacting it
COMPACT_FILE_BYTES = 64 * 1024 * 1024
SPREAD_ROWS = 1_000_000  # a file this small spanning many ranges is read once per scan
HISTORY_DIR = "_history"  # Delta ignores directories starting with "_"
HISTORY_BATCH_ROWS = 8_192  # one entity's history is one or two batches of the index
HISTORY_CHUNK_ROWS = 40_000_000  # lake rows sorted at a time while building the index
LATEST_BATCH_ROWS = 262_144  # the latest-value file is only ever read in order
DELETED_FILE_RETENTION = "interval 90 days"
LOG_RETENTION = "interval 3650 days"

_BATCH_KEY = "puhui.batch_id"
_MTIME_SLACK_NS = 200_000_000
_BATCH_ID_LIMIT = 2**40  # batch ids are below this, so (period, batch_id) packs into int64
_KEY = ("entity_id", "indicator_id", "period")
_POLARS_SCHEMA = pl.Schema(
    {
        "entity_id": pl.Int32(),
        "indicator_id": pl.Int16(),
        "period": pl.Int32(),
        "value_num": pl.Float64(),
        "value_text": pl.String(),
        "batch_id": pl.Int64(),
        "source_id": pl.Int16(),
    }
)


class InvalidBatch(ValidationFailed):
    default_code = "invalid_batch"
    default_message = "The batch does not fit the lake: {reason}"


class LakeNotFound(NotFound):
    default_code = "lake_not_found"
    default_message = "No indicator lake at {path}."


class LakeConflict(Conflict):
    default_code = "lake_conflict"
    default_message = "Another writer committed to the lake meanwhile; run the batch again."


@dataclass(frozen=True)
class VersionKeys:
    """What one batch commit touched."""

    entities: np.ndarray  # sorted distinct entity ids
    indicator_ids: list[int]
    since_period: int | None  # the smallest period


@dataclass(frozen=True)
class BatchInfo:
    """One committed batch, as the Delta log tells it."""

    version: int
    batch_id: int
    rows: int
    committed_at: datetime


def writer_properties() -> WriterProperties:
    """Small row groups (statistics prune to one of them). Snappy, not zstd: decoding the
    row group is most of a history read, and zstd doubles it."""
    return WriterProperties(max_row_group_size=ROW_GROUP_ROWS, compression="SNAPPY")


def supersede(frame: pl.DataFrame) -> pl.DataFrame:
    """Keep, for each (entity, indicator, period), the row of the highest batch_id.
    Sorted by (entity_id, indicator_id, period)."""
    return _supersede(frame.lazy()).sort(list(_KEY)).collect()


def latest(frame: pl.DataFrame) -> pl.DataFrame:
    """The latest value of each (entity, indicator): the superseding row of its highest
    period. Sorted by (entity_id, indicator_id)."""
    return _latest(frame.lazy()).sort(["entity_id", "indicator_id"]).collect()


def empty_observations() -> pl.DataFrame:
    return pl.DataFrame(schema=_POLARS_SCHEMA)


@dataclass(frozen=True)
class _Footer:
    """A Parquet footer and the per-row-group bounds that reads prune with."""

    metadata: Any  # pq.FileMetaData
    monotone: bool  # row groups in entity order (a sorted file): bisect them
    entity_lo: list[int]
    entity_hi: list[int]
    period_lo: list[int]
    period_hi: list[int]


class _State:
    """The files of one table version with their Delta statistics, as a small frame."""

    def __init__(self, table: DeltaTable) -> None:
        self.version = table.version()
        root = unquote(table.table_uri.removeprefix("file://")).rstrip("/")
        adds = pl.from_arrow(pa.table(table.get_add_actions(flatten=True)))
        assert isinstance(adds, pl.DataFrame)
        if adds.height == 0:
            self.files = pl.DataFrame(
                schema={
                    "path": pl.String(),
                    "year": pl.Int64(),
                    "rows": pl.Int64(),
                    "e_lo": pl.Int64(),
                    "e_hi": pl.Int64(),
                    "p_lo": pl.Int64(),
                    "p_hi": pl.Int64(),
                    "i_lo": pl.Int64(),
                    "i_hi": pl.Int64(),
                }
            )
            self._rows: list[tuple[Any, ...]] = []
            return
        big = 2**62

        def stat(name: str, default: int) -> pl.Expr:
            if name in adds.columns:
                return pl.col(name).cast(pl.Int64).fill_null(default)
            return pl.lit(default, pl.Int64)

        self.files = adds.select(
            pl.concat_str(pl.lit(root + "/"), pl.col("path")).alias("path"),
            pl.col(f"partition.{PARTITION_COLUMN}").cast(pl.Int64).alias("year"),
            pl.col("num_records").cast(pl.Int64).alias("rows"),
            stat("min.entity_id", -big).alias("e_lo"),
            stat("max.entity_id", big).alias("e_hi"),
            stat("min.period", -big).alias("p_lo"),
            stat("max.period", big).alias("p_hi"),
            stat("min.indicator_id", -big).alias("i_lo"),
            stat("max.indicator_id", big).alias("i_hi"),
        ).sort(["year", "e_lo"])

        self._rows = list(
            self.files.select("path", "year", "e_lo", "e_hi", "p_hi", "i_lo", "i_hi").iter_rows()
        )

    def select(
        self,
        *,
        entity_lo: int,
        entity_hi: int,
        since_period: int | None = None,
        indicator_ids: Sequence[int] | None = None,
    ) -> list[str]:
        """Files whose Delta statistics say they may hold rows of these entities."""
        since_year = -(2**62) if since_period is None else since_period // 100
        since = -(2**62) if since_period is None else since_period
        i_min = min(indicator_ids) if indicator_ids else -(2**62)
        i_max = max(indicator_ids) if indicator_ids else 2**62
        return [
            unquote(path)
            for path, year, e_lo, e_hi, p_hi, i_lo, i_hi in self._rows
            if e_lo <= entity_hi
            and e_hi >= entity_lo
            and year >= since_year
            and p_hi >= since
            and i_lo <= i_max
            and i_hi >= i_min
        ]


class _HistoryIndex:
    """A built history index (:meth:`Lake.build_history`), memory-mapped."""

    def __init__(self, root: Path, stem: str, stamp: int) -> None:
        self.stamp = stamp
        self.version = int(stem.removeprefix("v"))
        bounds = np.load(root / f"{stem}.bounds.npy")
        self.firsts: np.ndarray = bounds[0]
        self.lasts: np.ndarray = bounds[1]
        self.covered = frozenset(
            unquote(p) for p in json.loads((root / f"{stem}.files.json").read_text("utf-8"))
        )
        self._reader = pa.ipc.open_file(pa.memory_map(str(root / f"{stem}.arrow")))
        self._lock = threading.Lock()
        self._root, self._stem = root, stem
        self._latest: tuple[pa.ipc.RecordBatchFileReader, np.ndarray, np.ndarray] | None = None

    @classmethod
    def load(cls, root: Path, stamp: int) -> _HistoryIndex:
        stem = (root / "CURRENT").read_text("utf-8").strip()
        if not stem.startswith("v"):
            raise ValueError(f"bad history index name {stem!r}")
        return cls(root, stem, stamp)

    def latest_source(
        self,
    ) -> tuple[np.ndarray, np.ndarray, Callable[[int, int], pa.Table]] | None:
        """(first entities, last entities, read) of the latest-value file, if built."""
        with self._lock:
            if self._latest is None:
                path = self._root / f"{self._stem}.latest.arrow"
                if not path.is_file():
                    return None
                bounds = np.load(self._root / f"{self._stem}.latest.npy")
                self._latest = (
                    pa.ipc.open_file(pa.memory_map(str(path))),
                    bounds[0],
                    bounds[1],
                )
            reader, firsts, lasts = self._latest

        def read(start: int, stop: int) -> pa.Table:
            return pa.Table.from_batches(
                [reader.get_batch(i) for i in range(start, stop)], schema=LATEST_SCHEMA
            )

        return firsts, lasts, read

    def rows(self, entity_id: int) -> pa.Table:
        """The entity's rows: the batches whose entity range holds it."""
        start = int(np.searchsorted(self.lasts, entity_id, side="left"))
        stop = int(np.searchsorted(self.firsts, entity_id, side="right"))
        return self.read(start, max(start, stop))

    def read(self, start: int, stop: int) -> pa.Table:
        with self._lock:
            batches = [self._reader.get_batch(i) for i in range(start, stop)]
        return pa.Table.from_batches(batches, schema=OBSERVATION_SCHEMA)


class Lake:
    """The indicator lake at ``path`` (a local directory).

    Readers see new commits without reopening: every read first compares the modification
    time of ``_delta_log`` (a microsecond ``stat``) and loads new commits when it moved.
    Safe to share between threads.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        create: bool = True,
        footer_cache_row_groups: int = FOOTER_CACHE_ROW_GROUPS,
    ) -> None:
        self.path = Path(path).resolve()
        self._log_dir = self.path / "_delta_log"
        self._lock = threading.RLock()
        self._footers: OrderedDict[str, _Footer] = OrderedDict()
        self._footer_cache_row_groups = footer_cache_row_groups
        self._cached_row_groups = 0
        if not DeltaTable.is_deltatable(str(self.path)):
            if not create:
                raise LakeNotFound(path=str(self.path))
            self.path.mkdir(parents=True, exist_ok=True)
            DeltaTable.create(
                str(self.path),
                TABLE_SCHEMA,
                partition_by=[PARTITION_COLUMN],
                name="observations",
                description="Puhui indicator observations (one commit per ingest batch)",
                configuration={
                    "delta.logRetentionDuration": LOG_RETENTION,
                    "delta.deletedFileRetentionDuration": DELETED_FILE_RETENTION,
                },
            )
        self._table = DeltaTable(str(self.path))
        self._log_mtime = self._log_stamp()
        self._state = _State(self._table)
        self._old_states: OrderedDict[int, _State] = OrderedDict()
        self._index: _HistoryIndex | None = None
        self._index_usable: dict[tuple[int, int], bool] = {}

    # ------------------------------------------------------------------ writing

    def append_batch(self, table: pa.Table | pl.DataFrame, batch_id: int) -> int:
        """Append one ingest batch as one Delta commit; return that commit's version.

        Idempotent per ``batch_id``: when the batch is already committed nothing is
        written and the version that committed it is returned. The ``batch_id`` column
        may be left out (it is filled in); when present it must equal ``batch_id``.
        """
        return self.append_batch_chunks([table], batch_id)

    def append_batch_chunks(self, chunks: Iterable[pa.Table | pl.DataFrame], batch_id: int) -> int:
        """:meth:`append_batch` for a batch too big for memory: the chunks are checked,
        sorted and written to Parquet files one by one as they come, and committed
        together as ONE Delta commit after the last. Each chunk is checked like a batch;
        that no key repeats *across* chunks is the caller's promise (ingest keeps a bitmap
        of the keys it accepted). If the chunks raise, nothing is committed (the files
        written so far are unreferenced, for ``vacuum``) and the exception propagates.
        """
        if not 0 <= batch_id < _BATCH_ID_LIMIT:
            raise InvalidBatch(reason=f"batch_id {batch_id} is outside [0, 2**40)")
        with self._lock:
            self._sync(force=True)
            done = self.committed_version(batch_id)
            if done is not None:
                return done
            expected = self._table.version() + 1
            counted = [0]
            failure: list[BaseException] = []

            def batches() -> Iterator[pa.RecordBatch]:
                try:
                    for chunk in chunks:
                        data = _prepare(chunk, batch_id)
                        counted[0] += data.num_rows
                        yield from data.to_batches()
                except BaseException as exc:  # the writer replaces it with its own error
                    failure.append(exc)
                    raise

            reader = pa.RecordBatchReader.from_batches(TABLE_SCHEMA, batches())
            try:
                write_deltalake(
                    self._table,
                    reader,
                    mode="append",
                    writer_properties=writer_properties(),
                    target_file_size=TARGET_FILE_BYTES,
                    commit_properties=CommitProperties(
                        custom_metadata={_BATCH_KEY: str(batch_id)},
                        app_transactions=[Transaction(app_id=_app_id(batch_id), version=expected)],
                        max_commit_retries=0,
                    ),
                )
            except CommitFailedError as exc:  # another writer took the version
                self._sync(force=True)
                raise LakeConflict() from exc
            except Exception:
                if failure:
                    raise failure[0] from None
                raise
            if failure:  # the writer swallowed it
                raise failure[0]
            self._sync(force=True)
            version = self._table.version()
            if version != expected or self.committed_version(batch_id) != expected:
                raise LakeConflict()
            return version

    def committed_version(self, batch_id: int) -> int | None:
        """The table version that committed ``batch_id``, or None if it never did."""
        with self._lock:
            self._sync()
            version = self._table.transaction_version(_app_id(batch_id))
            return None if version is None else int(version)

    def compact(
        self,
        years: Iterable[int] | None = None,
        *,
        chunk_rows: int = COMPACT_CHUNK_ROWS,
        transform: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
    ) -> dict[int, dict[str, float]]:
        """Maintenance: rewrite each year partition as one run of files sorted by
        (entity, indicator, period), so one entity's year is one row group. Years whose
        files are already disjoint sorted runs are skipped. The year is read entity range
        by entity range (about ``chunk_rows`` rows each) and streamed into one Delta commit
        that replaces the year's files, so memory stays bounded at any year's size (a
        Delta z-order of the full city's 2025 took more than 23 GB). Logical content and
        history are unchanged; superseded rows are kept. Run it in the ingest queue, like a
        batch. Returns, per compacted year, files removed/added, rows and seconds taken.

        ``transform``: every year asked for is rewritten (sorted or not) and each range
        passes through it before it is written; it must keep every row and key as it is
        and change only values (re-encryption under a new key does). A writer that
        committed meanwhile makes the rewrite fail (:class:`LakeConflict`), never lost."""
        with self._lock:
            self._sync(force=True)
            wanted = set(years) if years is not None else None
            report: dict[int, dict[str, float]] = {}
            for year, files in self._state.files.group_by("year", maintain_order=True):
                y = int(cast(int, year[0]))
                if wanted is not None and y not in wanted:
                    continue
                if transform is None and _disjoint(files):
                    continue
                started = time.perf_counter()
                try:
                    self._rewrite_year(y, files, chunk_rows, transform)
                except CommitFailedError as exc:
                    raise LakeConflict(
                        "Another writer committed to the lake while year {year} was "
                        "rewritten; nothing of the rewrite was kept: run it again.",
                        year=y,
                    ) from exc
                self._sync(force=True)
                after = self._state.files.filter(pl.col("year") == y)
                report[y] = {
                    "files_removed": float(files.height),
                    "files_added": float(after.height),
                    "rows": float(cast(int, files["rows"].sum())),
                    "seconds": time.perf_counter() - started,
                }
        if report or self._history_index(self._at(None)) is None:
            self.build_history()
        return report

    def _rewrite_year(
        self,
        year: int,
        files: pl.DataFrame,
        chunk_rows: int,
        transform: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
    ) -> None:
        lo_all = max(int(cast(int, files["e_lo"].min())), 0)
        hi_all = int(cast(int, files["e_hi"].max()))
        rows = max(int(cast(int, files["rows"].sum())), 1)
        step = max(1, (hi_all - lo_all + 1) * chunk_rows // rows)
        spans = list(
            files.select(
                pl.col("path").map_elements(unquote, return_dtype=pl.String), "e_lo", "e_hi"
            ).iter_rows()
        )
        # the writer pulls batches on its own thread while this one holds the lake's lock:
        # parse the footers here, and read with them, never through the locked cache
        footers = {p: self._parse_footer(p) for p, _, _ in spans}

        def batches() -> Iterator[pa.RecordBatch]:
            for lo in range(lo_all, hi_all + 1, step):
                hi = min(lo + step - 1, hi_all)
                paths = [p for p, e_lo, e_hi in spans if e_lo <= hi and e_hi >= lo]
                tables = [self._read(p, lo=lo, hi=hi, footer=footers[p]) for p in paths]
                part = (
                    _lazy(tables)
                    .filter(pl.col("entity_id").is_between(lo, hi))
                    .sort([*_KEY, "batch_id"])
                    .with_columns(pl.lit(year, pl.Int16).alias(PARTITION_COLUMN))
                    .collect()
                )
                if part.height and transform is not None:
                    part = transform(part)
                if part.height:
                    yield from part.to_arrow().cast(TABLE_SCHEMA).to_batches()

        write_deltalake(
            self._table,
            pa.RecordBatchReader.from_batches(TABLE_SCHEMA, batches()),
            mode="overwrite",
            predicate=f"{PARTITION_COLUMN} = {year}",
            writer_properties=writer_properties(),
            target_file_size=COMPACT_FILE_BYTES,
            commit_properties=CommitProperties(
                custom_metadata={"puhui.compact": str(year)}, max_commit_retries=0
            ),
        )

    def vacuum(self, *, dry_run: bool = False) -> list[str]:
        """Delete files no version within the retention window needs (replaced by a
        compaction, or left by a write that died before its commit)."""
        with self._lock:
            return list(self._table.vacuum(dry_run=dry_run))

    # ------------------------------------------------------------------ reading

    def version(self) -> int:
        with self._lock:
            self._sync()
            return int(self._table.version())

    def batches(self) -> list[BatchInfo]:
        """Committed batches, newest first (as far back as the Delta log is retained)."""
        with self._lock:
            self._sync()
            history = self._table.history()
        out = []
        for commit in history:
            if _BATCH_KEY not in commit:
                continue
            metrics = commit.get("operationMetrics") or {}
            out.append(
                BatchInfo(
                    version=int(commit["version"]),
                    batch_id=int(commit[_BATCH_KEY]),
                    rows=int(metrics.get("num_added_rows", commit.get("puhui.rows", 0))),
                    committed_at=datetime.fromtimestamp(commit["timestamp"] / 1000, UTC),
                )
            )
        return out

    def scan(self, version: int | datetime | None = None) -> pl.LazyFrame:
        """Every observation row of a version (default: the latest), superseded rows
        included; ``version`` may be a table version or a timestamp (time travel)."""
        with self._lock:
            self._sync()
            if version is None:
                version = int(self._table.version())
        return pl.scan_delta(str(self.path), version=version).select(COLUMNS)

    def history(
        self,
        entity_id: int,
        indicator_ids: Sequence[int] | None = None,
        *,
        version: int | None = None,
        include_superseded: bool = False,
    ) -> pl.DataFrame:
        """All periods of one entity's indicators, superseding applied, sorted by
        (indicator_id, period). ``version`` reads the table as it was at that version."""
        state = self._at(version)
        files = state.select(entity_lo=entity_id, entity_hi=entity_id, indicator_ids=indicator_ids)
        index = self._history_index(state)
        if index is not None:
            # the entity's rows of the indexed version are one or two batches of the
            # index; only files committed since (new batches) are read from the lake
            newer = [p for p in files if p not in index.covered]
            if not newer:  # sorted already: superseding keeps the last row of each run
                return _sorted_history(
                    index.rows(entity_id), entity_id, indicator_ids, include_superseded
                )
            tables = [index.rows(entity_id), *self._read_all(newer, lo=entity_id, hi=entity_id)]
        # without an index: one row group in each of up to ~40 yearly files, decoded in
        # parallel (pyarrow releases the GIL): half the time of a sequential read
        elif len(files) > HISTORY_PARALLEL_FILES:
            tables = list(
                _history_pool().map(lambda p: self._read(p, lo=entity_id, hi=entity_id), files)
            )
        else:
            tables = self._read_all(files, lo=entity_id, hi=entity_id)
        rows = _lazy(tables).filter(pl.col("entity_id") == entity_id)
        if indicator_ids is not None:
            rows = rows.filter(pl.col("indicator_id").is_in(list(indicator_ids)))
        if include_superseded:
            return rows.sort(["indicator_id", "period", "batch_id"]).collect()
        return _supersede(rows).sort(["indicator_id", "period"]).collect()

    def latest_for_entities(
        self,
        entity_ids: Iterable[int],
        *,
        indicator_ids: Sequence[int] | None = None,
        since_period: int | None = None,
    ) -> pl.DataFrame:
        """The latest value of each (entity, indicator) of these entities.

        With ``since_period`` only periods >= it are read, so a pair whose rows are all
        older is missing from the answer. That is what an incremental snapshot refresh
        wants with the batch's smallest period: a pair the batch touched has a row there,
        and an older row can never be its latest."""
        ids = sorted({int(e) for e in entity_ids})
        if not ids:
            return empty_observations()
        state = self._at(None)
        files = state.select(
            entity_lo=ids[0],
            entity_hi=ids[-1],
            since_period=since_period,
            indicator_ids=indicator_ids,
        )
        tables = self._read_all(files, lo=ids[0], hi=ids[-1], ids=ids, since_period=since_period)
        rows = _lazy(tables).filter(pl.col("entity_id").is_in(ids))
        if since_period is not None:
            rows = rows.filter(pl.col("period") >= since_period)
        if indicator_ids is not None:
            rows = rows.filter(pl.col("indicator_id").is_in(list(indicator_ids)))
        return _latest(rows).sort(["entity_id", "indicator_id"]).collect()

    def iter_latest(
        self, *, chunk_rows: int = 20_000_000, version: int | None = None
    ) -> Iterator[pl.DataFrame]:
        """The latest value of every (entity, indicator), chunk by chunk: each chunk is a
        contiguous entity range of about ``chunk_rows`` lake rows (rows inside a chunk in
        no particular order), so a full snapshot build never holds the lake in memory."""
        state = self._at(version)
        files = state.files
        if files.height == 0:
            return
        index = self._history_index(state)
        if index is not None:
            yield from self._latest_from_index(index, state, chunk_rows)
            return
        lo_all = max(int(cast(int, files["e_lo"].min())), 0)
        hi_all = int(cast(int, files["e_hi"].max()))
        rows = int(cast(int, files["rows"].sum()))
        span = hi_all - lo_all + 1
        step = max(1, span * chunk_rows // max(rows, 1))
        by_path = dict(zip(files["path"].to_list(), files["year"].to_list(), strict=True))
        # every range reads the footers of the files spanning all entities (events dated
        # over decades) again: a scan keeps more footers than a serving process would
        cap = self._footer_cache_row_groups
        self._footer_cache_row_groups = max(cap, SCAN_FOOTER_CACHE_ROW_GROUPS)
        try:
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="lake-read") as pool:
                spread, spread_paths = self._spread_files(pool, files, step, lo_all, hi_all)
                entities = spread.get_column("entity_id")
                for lo in range(lo_all, hi_all + 1, step):
                    hi = min(lo + step - 1, hi_all)
                    paths = [
                        p for p in state.select(entity_lo=lo, entity_hi=hi) if p not in spread_paths
                    ]
                    a = int(entities.search_sorted(lo, "left"))
                    b = int(entities.search_sorted(hi, "right"))
                    extra = spread.slice(a, b - a).to_arrow()
                    yield self._latest_of_range(pool, paths, by_path, lo, hi, extra)
        finally:
            self._footer_cache_row_groups = cap

    def _spread_files(
        self, pool: ThreadPoolExecutor, files: pl.DataFrame, step: int, lo: int, hi: int
    ) -> tuple[pl.DataFrame, set[str]]:
        """Small files whose entities span many ranges (events dated over decades, one
        small file per year partition) are read once, cut to their run tails, and handed
        to each range as rows, instead of being opened again by every range."""
        spread = files.filter(
            ((pl.col("e_hi") - pl.col("e_lo")) > 2 * step) & (pl.col("rows") <= SPREAD_ROWS)
        )["path"].to_list()
        tables = pool.map(
            lambda p: _maybe_tails(self._read(p, lo=lo, hi=hi, columns=_LATEST_COLUMNS), lo, hi),
            spread,
        )
        rows = _lazy(tables).sort("entity_id").collect()
        return rows, set(spread)

    def _latest_of_range(
        self,
        pool: ThreadPoolExecutor,
        paths: list[str],
        year_of: dict[str, int],
        lo: int,
        hi: int,
        extra: pa.Table | None = None,
    ) -> pl.DataFrame:
        """Latest values of entities [lo, hi], the year partitions newest first.

        In the newest year every file is read and cut to the tails of its sorted runs
        (a file of 12 months keeps 1 row in 12). In an older year a pair already seen in a
        newer one cannot win (a later period always does), so only the key columns are
        read, and the value columns only of the row groups still holding a candidate: the
        old months of a monthly series cost their keys, not their values."""
        parts: list[pa.Table] = [] if extra is None or not extra.num_rows else [extra]
        found: np.ndarray | None = None  # (entity - lo) * 1024 + indicator seen in a newer year
        years = sorted({year_of.get(p, 0) for p in paths}, reverse=True)
        for year in years:
            group = [p for p in paths if year_of.get(p, 0) == year]
            if found is None:
                tables = pool.map(
                    lambda p: _maybe_tails(
                        self._read(p, lo=lo, hi=hi, columns=_LATEST_COLUMNS), lo, hi
                    ),
                    group,
                )
                found = np.zeros((hi - lo + 1) * 1024, dtype=bool)
            else:
                tables = pool.map(
                    functools.partial(self._read_candidates, lo=lo, hi=hi, found=found), group
                )
            got = [t for t in tables if t is not None and t.num_rows]
            parts.extend(got)
            for table in got:
                found[_pair_slots(table, lo)] = True
        return _latest(_lazy(parts), _LATEST_COLUMNS).collect()

    def _read_candidates(
        self, path: str, *, lo: int, hi: int, found: np.ndarray
    ) -> pa.Table | None:
        groups = self._groups(path, lo=lo, hi=hi)
        if not groups:
            return None
        footer = self._footer(path)
        with pa.OSFile(path) as source:
            parquet = pq.ParquetFile(source, metadata=footer.metadata)
            keys = parquet.read_row_groups(groups, columns=list(_KEY), use_threads=False)
        slots = _pair_slots(keys, lo)
        inside = (slots >= 0) & (slots < found.size)
        rest = np.flatnonzero(inside)
        rest = rest[~found[slots[rest]]]  # pairs no newer year holds: usually few
        if not rest.size:
            return None
        # dropping whole pairs keeps every run sorted: the tails of what is left are exact
        frame = cast(pl.DataFrame, pl.from_arrow(keys.take(rest), rechunk=False))
        tails = _tail_mask(frame, lo, hi).to_numpy()
        chosen = np.zeros(slots.size, dtype=bool)
        chosen[rest[tails]] = True
        wanted = pl.Series(chosen)
        if not wanted.any():
            return None
        sizes = [footer.metadata.row_group(g).num_rows for g in groups]
        starts = list(itertools.accumulate(sizes, initial=0))
        keep = [
            (g, start, size)
            for g, start, size in zip(groups, starts, sizes, strict=False)
            if wanted.slice(start, size).any()
        ]
        values = [c for c in _LATEST_COLUMNS if c not in _KEY]
        with pa.OSFile(path) as source:
            parquet = pq.ParquetFile(source, metadata=footer.metadata)
            table = parquet.read_row_groups(
                [g for g, _, _ in keep], columns=values, use_threads=False
            )
        # the keys of those row groups were read already: only the values are new
        key_part = pa.concat_tables([keys.slice(start, size) for _, start, size in keep])
        for name in reversed(_KEY):
            table = table.add_column(0, name, key_part.column(name))
        mask = pl.concat([wanted.slice(start, size) for _, start, size in keep])
        return table.select(list(_LATEST_COLUMNS)).filter(mask.to_arrow())

    # ------------------------------------------------------------------ the history index

    def build_history(self, *, chunk_rows: int = HISTORY_CHUNK_ROWS) -> dict[str, float]:
        """Write the history index of the current version: every row of the lake sorted
        by (entity, indicator, period, batch) into one LZ4-compressed Arrow IPC file of
        small record batches, with the first and last entity of each batch. One entity's
        history is then one or two batches (a millisecond) instead of a row group in each
        of ~40 yearly files, and a full scan for the latest values reads it in order.
        Batches committed later are read from the lake beside it; a compaction that
        replaces files retires it until it is built again (``compact`` does that). Run it
        in the ingest queue, like a compaction. Returns rows, batches and seconds."""
        started = time.perf_counter()
        with self._lock:
            self._sync(force=True)
            state = self._state
        root = self.path / HISTORY_DIR
        root.mkdir(exist_ok=True)
        stem = f"v{state.version:010d}"
        tmp = root / f".{stem}.arrow.tmp"
        latest_tmp = root / f".{stem}.latest.arrow.tmp"
        bounds: dict[str, tuple[list[int], list[int]]] = {"all": ([], []), "latest": ([], [])}
        rows = 0
        options = pa.ipc.IpcWriteOptions(compression="lz4")
        with (
            pa.OSFile(str(tmp), "wb") as sink,
            pa.ipc.new_file(sink, OBSERVATION_SCHEMA, options=options) as writer,
            pa.OSFile(str(latest_tmp), "wb") as latest_sink,
            pa.ipc.new_file(latest_sink, LATEST_SCHEMA, options=options) as latest_writer,
            ThreadPoolExecutor(max_workers=2, thread_name_prefix="lake-history-build") as pool,
        ):
            for part in self._sorted_ranges(pool, state, chunk_rows):
                rows += part.height
                _write_runs(
                    writer,
                    part.to_arrow().cast(OBSERVATION_SCHEMA),
                    HISTORY_BATCH_ROWS,
                    bounds["all"],
                )
                # the last row of each pair's run is its latest value: the whole snapshot
                # rebuild reads these (a tenth of the rows) instead of every row
                latest = part.lazy().filter(_LAST_OF_PAIR).select(_LATEST_COLUMNS).collect()
                _write_runs(
                    latest_writer,
                    latest.to_arrow().cast(LATEST_SCHEMA),
                    LATEST_BATCH_ROWS,
                    bounds["latest"],
                )
        bounds_tmp = root / f".{stem}.bounds.npy.tmp"
        latest_bounds_tmp = root / f".{stem}.latest.npy.tmp"
        for path, (firsts, lasts) in (
            (bounds_tmp, bounds["all"]),
            (latest_bounds_tmp, bounds["latest"]),
        ):
            with open(path, "wb") as out:
                np.save(out, np.array([firsts, lasts], dtype=np.int64).reshape(2, -1))
        covered = root / f".{stem}.files.json.tmp"
        covered.write_text(json.dumps(sorted(state.files["path"].to_list())), encoding="utf-8")
        for tmp_path, final in (
            (tmp, root / f"{stem}.arrow"),
            (bounds_tmp, root / f"{stem}.bounds.npy"),
            (latest_tmp, root / f"{stem}.latest.arrow"),
            (latest_bounds_tmp, root / f"{stem}.latest.npy"),
            (covered, root / f"{stem}.files.json"),
        ):
            os.replace(tmp_path, final)
        current = root / ".CURRENT.tmp"
        current.write_text(stem, encoding="utf-8")
        os.replace(current, root / "CURRENT")
        for old in root.iterdir():  # older indexes: readers that mapped one keep it open
            if old.name.startswith("v") and not old.name.startswith(stem):
                old.unlink(missing_ok=True)
        return {
            "version": float(state.version),
            "rows": float(rows),
            "batches": float(len(bounds["all"][0])),
            "seconds": time.perf_counter() - started,
        }

    def _sorted_ranges(
        self, pool: ThreadPoolExecutor, state: _State, chunk_rows: int
    ) -> Iterator[pl.DataFrame]:
        """Every row of ``state``, entity range by entity range, each sorted by
        (entity, indicator, period, batch)."""
        files = state.files
        if files.height == 0:
            return
        lo_all = max(int(cast(int, files["e_lo"].min())), 0)
        hi_all = int(cast(int, files["e_hi"].max()))
        step = max(
            1, (hi_all - lo_all + 1) * chunk_rows // max(int(cast(int, files["rows"].sum())), 1)
        )
        # small files spanning every range (events over decades) are read once
        spread_paths = set(
            files.filter(
                ((pl.col("e_hi") - pl.col("e_lo")) > 2 * step) & (pl.col("rows") <= SPREAD_ROWS)
            )["path"].to_list()
        )
        spread = (
            _lazy(pool.map(lambda p: self._read(p, lo=lo_all, hi=hi_all), sorted(spread_paths)))
            .sort("entity_id")
            .collect()
        )
        entities = spread.get_column("entity_id")
        cap = self._footer_cache_row_groups
        self._footer_cache_row_groups = max(cap, SCAN_FOOTER_CACHE_ROW_GROUPS)
        try:
            for lo in range(lo_all, hi_all + 1, step):
                hi = min(lo + step - 1, hi_all)
                paths = [
                    p for p in state.select(entity_lo=lo, entity_hi=hi) if p not in spread_paths
                ]
                a = int(entities.search_sorted(lo, "left"))
                b = int(entities.search_sorted(hi, "right"))
                tables = list(pool.map(functools.partial(self._read, lo=lo, hi=hi), paths))
                part = (
                    _lazy([*tables, spread.slice(a, b - a).to_arrow()])
                    .filter(pl.col("entity_id").is_between(lo, hi))
                    .sort([*_KEY, "batch_id"])
                    .collect()
                )
                if part.height:
                    yield part
        finally:
            self._footer_cache_row_groups = cap

    def _history_index(self, state: _State) -> _HistoryIndex | None:
        """The history index usable for ``state``: built from files all still in it."""
        root = self.path / HISTORY_DIR
        try:
            stamp = os.stat(root / "CURRENT").st_mtime_ns
        except FileNotFoundError:
            return None
        with self._lock:
            index = self._index
            if index is None or index.stamp != stamp:
                try:
                    index = self._index = _HistoryIndex.load(root, stamp)
                except (FileNotFoundError, ValueError, OSError, pa.ArrowInvalid):
                    self._index = None
                    return None
            usable = self._index_usable.get((stamp, state.version))
            if usable is None:
                usable = index.version <= state.version and index.covered.issubset(
                    unquote(p) for p in state.files["path"].to_list()
                )
                self._index_usable[(stamp, state.version)] = usable
                while len(self._index_usable) > 16:
                    self._index_usable.pop(next(iter(self._index_usable)))
        return index if usable else None

    def _latest_from_index(
        self, index: _HistoryIndex, state: _State, chunk_rows: int
    ) -> Iterator[pl.DataFrame]:
        """:meth:`iter_latest` from the history index: its latest-value file holds each
        pair's latest row of the indexed version, in entity order; rows of files
        committed since are read once, reduced to their latest, and merged in."""
        newer = [
            unquote(p) for p in state.files["path"].to_list() if unquote(p) not in index.covered
        ]
        lo_all = max(int(cast(int, state.files["e_lo"].min())), 0)
        hi_all = int(cast(int, state.files["e_hi"].max()))
        fresh = (
            _latest(_lazy(self._read(p, lo=lo_all, hi=hi_all) for p in newer), _LATEST_COLUMNS)
            .sort("entity_id")
            .collect()
        )
        fresh_entities = fresh.get_column("entity_id")
        source = index.latest_source()
        if source is not None:
            firsts, lasts, read = source
            per_chunk = max(1, chunk_rows // 4 // LATEST_BATCH_ROWS)
        else:  # an index without its latest file: reduce the history's runs
            firsts, lasts, read = index.firsts, index.lasts, index.read
            per_chunk = max(1, chunk_rows // HISTORY_BATCH_ROWS)
        batches = len(firsts)
        start, prev_hi = 0, lo_all - 1
        while start < batches or prev_hi < hi_all:
            stop = min(start + per_chunk, batches)
            # end the chunk between entities, so no entity is split across two chunks
            while stop < batches and firsts[stop] == lasts[stop - 1]:
                stop += 1
            # contiguous entity ranges, the last one open-ended: entities only the newer
            # files know fall into one of them
            lo = prev_hi + 1
            hi = (
                int(lasts[stop - 1])
                if stop < batches
                else max(hi_all, int(lasts[-1]) if batches else hi_all)
            )
            part = _lazy([read(start, stop)]).select(_LATEST_COLUMNS)
            if source is None:
                part = part.filter(_LAST_OF_PAIR)
            a = int(fresh_entities.search_sorted(lo, "left"))
            b = int(fresh_entities.search_sorted(hi, "right"))
            if b > a:
                part = _latest(pl.concat([part, fresh.slice(a, b - a).lazy()]), _LATEST_COLUMNS)
            yield part.collect()
            start, prev_hi = stop, hi

    def rows_of_version(self, version: int) -> pl.DataFrame:
        """The rows that commit ``version`` added if it is a batch (empty for the
        table's creation and for compactions, which change no value)."""
        added = self._files_of_version(version)
        if not added:
            return empty_observations()
        return _lazy(pq.read_table(p, columns=list(COLUMNS)) for p in added).collect()

    def keys_of_version(self, version: int) -> VersionKeys | None:
        """What batch commit ``version`` touched (None if it is no batch), read file by
        file and key columns only, so a batch of hundreds of millions of rows costs a
        bitmap of entities, not the rows: e.g. for a snapshot refresh job."""
        if version < 1 or not self._is_batch_commit(version):
            return None
        entities = np.zeros(0, dtype=bool)
        indicators: set[int] = set()
        since: int | None = None
        for path in self._files_of_version(version):
            keys = pl.from_arrow(
                pq.read_table(path, columns=["entity_id", "indicator_id", "period"])
            )
            assert isinstance(keys, pl.DataFrame)
            if not keys.height:
                continue
            ids = keys.get_column("entity_id").to_numpy()
            top = int(ids.max()) + 1
            if top > entities.size:
                entities = np.concatenate([entities, np.zeros(top - entities.size, bool)])
            entities[ids] = True
            indicators.update(keys.get_column("indicator_id").unique().to_list())
            low = int(cast(int, keys.get_column("period").min()))
            since = low if since is None else min(since, low)
        return VersionKeys(np.flatnonzero(entities), sorted(indicators), since)

    def _files_of_version(self, version: int) -> list[str]:
        if version < 1 or not self._is_batch_commit(version):
            return []
        before = set(self._at(version - 1).files["path"].to_list())
        return [p for p in self._at(version).files["path"].to_list() if p not in before]

    def _is_batch_commit(self, version: int) -> bool:
        log = self._log_dir / f"{version:020d}.json"
        with open(log, encoding="utf-8") as commit:
            for line in commit:
                info = json.loads(line).get("commitInfo")
                if info is not None:
                    return _BATCH_KEY in info
        return False

    def refresh(self) -> None:
        """Load commits made by other processes now (reads do this by themselves)."""
        with self._lock:
            self._sync(force=True)

    # ------------------------------------------------------------------ internals

    def _log_stamp(self) -> int:
        try:
            return os.stat(self._log_dir).st_mtime_ns
        except FileNotFoundError:
            return 0

    def _sync(self, *, force: bool = False) -> None:
        stamp = self._log_stamp()
        # File times are coarse (kernel ticks): a commit in the same tick as the one we
        # saw leaves the stamp unchanged. Trust an unchanged stamp only once it is older
        # than the slack; until then load the log anyway (2 ms).
        settled = time.time_ns() - stamp > _MTIME_SLACK_NS
        if not force and stamp == self._log_mtime and settled:
            return
        self._table.update_incremental()
        self._log_mtime = stamp
        if self._table.version() != self._state.version:
            self._state = _State(self._table)

    def _at(self, version: int | None) -> _State:
        with self._lock:
            self._sync()
            if version is None or version == self._state.version:
                return self._state
            state = self._old_states.get(version)
            if state is None:
                state = _State(DeltaTable(str(self.path), version=version))
                self._old_states[version] = state
                while len(self._old_states) > 8:
                    self._old_states.popitem(last=False)
            return state

    def _footer(self, path: str) -> _Footer:
        with self._lock:
            footer = self._footers.get(path)
            if footer is not None:
                self._footers.move_to_end(path)
                return footer
        footer = self._parse_footer(path)
        with self._lock:
            if path not in self._footers:
                self._footers[path] = footer
                self._cached_row_groups += len(footer.entity_lo)
            while self._footers and self._cached_row_groups > self._footer_cache_row_groups:
                _, dropped = self._footers.popitem(last=False)
                self._cached_row_groups -= len(dropped.entity_lo)
        return footer

    @staticmethod
    def _parse_footer(path: str) -> _Footer:
        """A file's footer and per-row-group bounds, read from disk (no cache, no lock)."""
        metadata = pq.read_metadata(path)
        names = metadata.schema.names
        e_col, p_col = names.index("entity_id"), names.index("period")
        e_lo, e_hi, p_lo, p_hi = [], [], [], []
        for i in range(metadata.num_row_groups):
            group = metadata.row_group(i)
            e_stats = group.column(e_col).statistics
            p_stats = group.column(p_col).statistics
            has_e = e_stats is not None and e_stats.has_min_max
            has_p = p_stats is not None and p_stats.has_min_max
            e_lo.append(int(e_stats.min) if has_e else -(2**62))
            e_hi.append(int(e_stats.max) if has_e else 2**62)
            p_lo.append(int(p_stats.min) if has_p else -(2**62))
            p_hi.append(int(p_stats.max) if has_p else 2**62)
        monotone = all(a <= b for a, b in itertools.pairwise(e_lo)) and all(
            a <= b for a, b in itertools.pairwise(e_hi)
        )
        return _Footer(metadata, monotone, e_lo, e_hi, p_lo, p_hi)

    def _read_all(
        self,
        paths: list[str],
        *,
        lo: int,
        hi: int,
        ids: list[int] | None = None,
        since_period: int | None = None,
        columns: Sequence[str] = COLUMNS,
    ) -> list[pa.Table | None]:
        # Scans and refreshes read sequentially (they run in their own threads already);
        # a history read over many yearly files uses the history pool instead.
        return [
            self._read(p, lo=lo, hi=hi, ids=ids, since_period=since_period, columns=columns)
            for p in paths
        ]

    def _groups(
        self,
        path: str,
        *,
        lo: int,
        hi: int,
        ids: list[int] | None = None,
        since_period: int | None = None,
        footer: _Footer | None = None,
    ) -> list[int]:
        """The row groups of one file whose statistics say they may hold entities in
        ``[lo, hi]`` (and, given sorted ``ids``, one of those; given ``since_period``, a
        period >= it). With ``footer`` the cache (and its lock) is not touched."""
        footer = footer or self._footer(path)
        first, stop = 0, len(footer.entity_lo)
        if footer.monotone:  # a sorted file: bisect instead of looking at every group
            first = bisect.bisect_left(footer.entity_hi, lo)
            stop = bisect.bisect_right(footer.entity_lo, hi)
        groups = []
        for g in range(first, stop):
            g_lo, g_hi = footer.entity_lo[g], footer.entity_hi[g]
            if g_lo > hi or g_hi < lo:
                continue
            if since_period is not None and footer.period_hi[g] < since_period:
                continue
            if ids is not None:
                k = bisect.bisect_left(ids, g_lo)
                if k == len(ids) or ids[k] > g_hi:
                    continue
            groups.append(g)
        return groups

    def _read(
        self,
        path: str,
        *,
        lo: int,
        hi: int,
        ids: list[int] | None = None,
        since_period: int | None = None,
        columns: Sequence[str] = COLUMNS,
        footer: _Footer | None = None,
    ) -> pa.Table | None:
        """The row groups of one file whose statistics say they may hold entities in
        ``[lo, hi]`` (and, given sorted ``ids``, one of those; given ``since_period``, a
        period >= it). Rows are not filtered here: callers filter once, in Polars. With
        ``footer`` the cache (and its lock) is not touched."""
        footer = footer or self._footer(path)
        groups = self._groups(path, lo=lo, hi=hi, ids=ids, since_period=since_period, footer=footer)
        if not groups:
            return None
        # An OSFile source skips pyarrow's filesystem resolution: a third of a small read.
        with pa.OSFile(path) as source:
            parquet = pq.ParquetFile(source, metadata=footer.metadata)
            return parquet.read_row_groups(
                groups, columns=list(columns), use_threads=len(groups) > 8
            )


@functools.cache
def _history_pool() -> ThreadPoolExecutor:
    """Threads shared by every history read of the process (never nested in itself)."""
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="lake-history")


def _pair_slots(table: pa.Table, lo: int) -> np.ndarray:
    """(entity - lo) * 1024 + indicator of each row (indicator ids are below 1024)."""
    entity = np.asarray(table.column("entity_id").to_numpy(), dtype=np.int64)
    indicator = np.asarray(table.column("indicator_id").to_numpy(), dtype=np.int64)
    slots: np.ndarray = (entity - lo) * 1024 + indicator
    return slots


def _maybe_tails(table: pa.Table | None, lo: int, hi: int) -> pa.Table | None:
    return None if table is None else _run_tails(table, lo, hi)


def _app_id(batch_id: int) -> str:
    return f"puhui.batch.{batch_id}"


def _disjoint(files: pl.DataFrame) -> bool:
    """True when the files are one sorted run: in entity order, each starts at or after
    the entity the one before ends with (a run cut into files by size may split one
    entity's rows between two neighbours)."""
    if files.height <= 1:
        return True
    ordered = files.sort(["e_lo", "e_hi"])
    return bool((ordered["e_lo"].slice(1) >= ordered["e_hi"].slice(0, files.height - 1)).all())


_LATEST_COLUMNS = ("entity_id", "indicator_id", "period", "value_num", "value_text", "batch_id")


_PAIR = pl.col("entity_id").cast(pl.Int64) * 1024 + pl.col("indicator_id").cast(pl.Int64)
_LAST_OF_PAIR = (_PAIR.shift(-1) != _PAIR).fill_null(True)  # in (entity, indicator, …) order


def _tail_mask(frame: pl.DataFrame, lo: int, hi: int) -> pl.Series:
    """Rows (entities in [lo, hi]) that can be a latest value within one file's rows.

    A batch writes each chunk sorted by (entity, indicator, period), so a file is a few
    sorted segments (a compacted one: many short ones). Inside a segment, of a run of one
    (entity, indicator) only the rows of the run's last period can win; all of them are
    kept (a compacted file may hold one key from several batches, decided by batch_id
    later). Rows of other runs and segments stay candidates: the hash across files decides.
    """
    months = (pl.col("period").cast(pl.Int64) // 100 - 1900) * 12 + pl.col("period") % 100
    packed = _PAIR * 8192 + months  # periods from 1900 to 2582 fit 13 bits
    keyed = frame.lazy().select(
        _PAIR.alias("_pair"), packed.alias("_packed"), pl.col("entity_id").is_between(lo, hi)
    )
    ends = (
        (pl.col("_pair") != pl.col("_pair").shift(-1))
        | (pl.col("_packed").shift(-1) < pl.col("_packed"))  # a new sorted segment
    ).fill_null(True)  # the last run too
    tail = pl.when(ends).then(pl.col("_packed")).backward_fill()
    return (
        keyed.select(((pl.col("_packed") == tail) & pl.col("entity_id")).alias("_tail"))
        .collect()
        .get_column("_tail")
    )


def _run_tails(table: pa.Table, lo: int, hi: int) -> pa.Table:
    """The rows of one file's row groups that can be a latest value (:func:`_tail_mask`)."""
    frame = cast(pl.DataFrame, pl.from_arrow(table, rechunk=False))
    return table.filter(_tail_mask(frame, lo, hi).to_arrow())


def _lazy(tables: Iterable[pa.Table | None]) -> pl.LazyFrame:
    """Arrow row groups as one lazy frame of the observation schema."""
    present = [t for t in tables if t is not None]
    if not present:
        return empty_observations().lazy()
    table = pa.concat_tables(present, promote_options="permissive")
    frame = cast(pl.DataFrame, pl.from_arrow(table, rechunk=False))
    schema = pl.Schema({c: t for c, t in _POLARS_SCHEMA.items() if c in frame.columns})
    return frame.lazy().cast(schema)


def _write_runs(
    writer: pa.ipc.RecordBatchFileWriter,
    table: pa.Table,
    batch_rows: int,
    bounds: tuple[list[int], list[int]],
) -> None:
    """Write an entity-sorted table in batches, noting each batch's first and last entity."""
    for batch in table.to_batches(max_chunksize=batch_rows):
        if not batch.num_rows:
            continue
        entity = batch.column(0)
        bounds[0].append(int(entity[0].as_py()))
        bounds[1].append(int(entity[len(entity) - 1].as_py()))
        writer.write_batch(batch)


def _sorted_history(
    table: pa.Table,
    entity_id: int,
    indicator_ids: Sequence[int] | None,
    include_superseded: bool,
) -> pl.DataFrame:
    """:meth:`Lake.history` from rows sorted by (entity, indicator, period, batch), as the
    history index keeps them: the highest batch of a key is the last row of its run."""
    rows = _lazy([table]).filter(pl.col("entity_id") == entity_id)
    if indicator_ids is not None:
        rows = rows.filter(pl.col("indicator_id").is_in(list(indicator_ids)))
    if not include_superseded:
        key = pl.col("indicator_id").cast(pl.Int64) * 2**32 + pl.col("period").cast(pl.Int64)
        rows = rows.filter((key != key.shift(-1)).fill_null(True))
    return rows.select(COLUMNS).collect()


def _supersede(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Rows of the highest batch_id of their (entity, indicator, period); any order."""
    winner = pl.col("batch_id") == pl.col("batch_id").max().over(list(_KEY))
    return rows.filter(winner).select(COLUMNS)


def _latest(rows: pl.LazyFrame, columns: Sequence[str] = COLUMNS) -> pl.LazyFrame:
    """The row of the highest (period, batch_id) of each (entity, indicator); any order.
    A window maximum is several times faster than sorting tens of millions of rows, and
    over one packed key faster than over two columns."""
    order = pl.col("period").cast(pl.Int64) * _BATCH_ID_LIMIT + pl.col("batch_id")
    pair = pl.col("entity_id").cast(pl.Int64) * 1024 + pl.col("indicator_id").cast(pl.Int64)
    winner = order == order.max().over(pair)
    return rows.filter(winner).select(columns)


def _prepare(table: pa.Table | pl.DataFrame, batch_id: int) -> pa.Table:
    """Check a batch against the schema and return it sorted, with ``year``, as Arrow."""
    frame = table if isinstance(table, pl.DataFrame) else pl.from_arrow(table)
    if not isinstance(frame, pl.DataFrame):
        raise InvalidBatch(reason="expected a table")
    if "batch_id" not in frame.columns:
        frame = frame.with_columns(pl.lit(batch_id, pl.Int64).alias("batch_id"))
    if "value_text" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.String).alias("value_text"))
    if "value_num" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.Float64).alias("value_num"))
    missing = [c for c in COLUMNS if c not in frame.columns]
    extra = [c for c in frame.columns if c not in COLUMNS]
    if missing or extra:
        raise InvalidBatch(
            reason=f"columns missing {missing}, unknown {extra}",
            details={"missing": missing, "unknown": extra},
        )
    try:
        frame = frame.select(COLUMNS).cast(_POLARS_SCHEMA, strict=True)
    except pl.exceptions.PolarsError as exc:
        raise InvalidBatch(reason=f"a column has the wrong type ({exc})") from exc
    required = ["entity_id", "indicator_id", "period", "batch_id", "source_id"]
    nulls = {c: n for c, n in frame.select(required).null_count().row(0, named=True).items() if n}
    if nulls:
        raise InvalidBatch(reason=f"null values in {sorted(nulls)}", details=nulls)
    problems = frame.select(
        (pl.col("batch_id") != batch_id).sum().alias("other batch_id"),
        (pl.col("entity_id") < 0).sum().alias("negative entity_id"),
        (pl.col("indicator_id") < 0).sum().alias("negative indicator_id"),
        (
            ~pl.col("period").is_between(100_001, 999_912)
            | ~(pl.col("period") % 100).is_between(1, 12)
        )
        .sum()
        .alias("period not YYYYMM"),
    ).row(0, named=True)
    frame = frame.sort(list(_KEY))
    # Sorted, a repeated key is two equal neighbours: cheaper than hashing every key.
    same = pl.all_horizontal(pl.col(c) == pl.col(c).shift(1) for c in _KEY)
    problems["repeated (entity, indicator, period)"] = frame.select(same.sum()).item()
    bad = {k: int(v) for k, v in problems.items() if v}
    if bad:
        raise InvalidBatch(reason=", ".join(f"{k}: {v} rows" for k, v in bad.items()), details=bad)
    frame = frame.with_columns((pl.col("period") // 100).cast(pl.Int16).alias(PARTITION_COLUMN))
    return frame.to_arrow().cast(TABLE_SCHEMA)
