"""The latest-value snapshot: one row per entity, one typed column per indicator.

What filter, monitoring, scoring and the profile's current values read. It is derived from
the lake (``Snapshot.build``) and kept current by ``refresh`` after each committed batch.

Invariants
- Row ``i`` is entity ``i``; a column is named by its indicator's code. Types by value
  type: amount and ratio ``Float32``, count ``Int32``, flag ``Boolean``, grade and code
  ``Enum(allowed_values)``, date ``Date``; text indicators are not in the snapshot (they are
  read from the lake or the registry). Every column is nullable: null means "never
  reported" (or reported as null).
- The latest value of a cell is the lake's: the superseding row (highest ``batch_id``) of
  the highest period. How lake values become typed cells: amount, ratio and count from
  ``value_num`` (counts rounded); flag ``value_num != 0``, else ``value_text`` in
  ``TRUE_TEXTS``/``FALSE_TEXTS``; grade and code the label in ``value_text`` (a label
  outside ``allowed_values`` becomes null); date ``value_text`` as ``YYYY-MM-DD``, else
  ``value_num`` as ``YYYYMMDD``.
- Columns are split into groups: the indicators of one category in id order, at most
  ``max_group_columns`` to a group (``operating-0``, ``operating-1``, …). Each group is
  one uncompressed Arrow IPC file holding one record batch, named
  ``<group>.v<version>.arrow``, and never changed once written. A refresh writes new files
  only for the groups that hold a touched indicator.
- ``manifest.json`` is the pointer to the current version: it is written to a temporary
  name, fsynced and ``os.replace``-d (atomic), and the directory is fsynced; group files
  are fsynced before it. A version exists only once its manifest does, so a writer that
  dies leaves the previous version intact (and files nobody references, removed by the
  next writer).
- Readers memory-map the files (``pyarrow.memory_map`` + ``ipc.open_file().read_all()`` +
  ``pl.from_arrow``: zero-copy, so every serving process shares one copy in the page
  cache). ``current()`` costs one ``stat`` of the manifest; when it changed, only the
  groups whose file changed are mapped again. Writers keep the previous version's files,
  so a reader between reading the manifest and mapping never finds a file gone; older
  files are deleted (a mapping outlives the unlink on POSIX).
- One writer at a time (an exclusive ``flock`` on ``.lock``), any number of readers.
- ``complete_through`` in the manifest: every lake version up to it is reflected (a build
  sets it to the version it read; a batch refresh moves it on when it is the next
  version). A refresh of a version at or below it does nothing, so the refresh jobs of
  batches that a rebuild already covered are free.
- A batch that touched more than ``REBUILD_SHARE`` of the entities and at least
  ``REBUILD_MIN_INDICATORS`` indicators is not patched cell by cell: the snapshot is
  rebuilt (streaming the lake by entity range), which bounds a refresh's memory whatever
  the batch's size.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import polars as pl
import pyarrow as pa
from pyarrow import ipc

from puhui.core.errors import NotFound, ValidationFailed
from puhui.core.lake import Lake
from puhui.core.streams import prefetch

FORMAT = 1
MANIFEST = "manifest.json"
MAX_GROUP_COLUMNS = 64
REBUILD_SHARE = 0.25
REBUILD_MIN_INDICATORS = 8  # a batch of fewer indicators is patched however many entities
_MTIME_SLACK_NS = 200_000_000
VALUE_TYPES = ("amount", "ratio", "count", "flag", "grade", "code", "date", "text")
TRUE_TEXTS = ("1", "true", "t", "y", "yes", "是")
FALSE_TEXTS = ("0", "false", "f", "n", "no", "否")


SNAPSHOT_CHANGED = "snapshot.changed"
"""The job topic published after the snapshot got a new version (payload: ``version``)."""


class SnapshotNotFound(NotFound):
    default_code = "snapshot_not_found"
    default_message = "No snapshot at {path}."


class InvalidSnapshotInput(ValidationFailed):
    default_code = "invalid_snapshot_input"
    default_message = "The snapshot cannot be written: {reason}"


@dataclass(frozen=True)
class IndicatorSpec:
    """What the snapshot needs to know of a catalog indicator (core does not import the
    catalog; the caller passes these)."""

    id: int
    code: str
    category: str
    value_type: str
    allowed_values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.value_type not in VALUE_TYPES:
            raise InvalidSnapshotInput(reason=f"{self.code}: unknown value type {self.value_type}")
        if self.value_type in ("grade", "code") and not self.allowed_values:
            raise InvalidSnapshotInput(reason=f"{self.code}: a {self.value_type} needs values")

    @property
    def dtype(self) -> pl.DataType | None:
        """The column type, or None for indicators the snapshot leaves out (text)."""
        return snapshot_dtype(self.value_type, self.allowed_values)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "category": self.category,
            "value_type": self.value_type,
            "allowed_values": list(self.allowed_values),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndicatorSpec:
        return cls(
            id=int(data["id"]),
            code=str(data["code"]),
            category=str(data["category"]),
            value_type=str(data["value_type"]),
            allowed_values=tuple(data.get("allowed_values") or ()),
        )


def snapshot_dtype(value_type: str, allowed_values: Sequence[str] = ()) -> pl.DataType | None:
    if value_type in ("amount", "ratio"):
        return pl.Float32()
    if value_type == "count":
        return pl.Int32()
    if value_type == "flag":
        return pl.Boolean()
    if value_type in ("grade", "code"):
        return pl.Enum(list(allowed_values))
    if value_type == "date":
        return pl.Date()
    return None


def typed_value(spec: IndicatorSpec) -> pl.Expr:
    """The cell value of a lake row (columns ``value_num``, ``value_text``) for ``spec``."""
    num, text = pl.col("value_num"), pl.col("value_text")
    kind = spec.value_type
    if kind in ("amount", "ratio"):
        return num.cast(pl.Float32)
    if kind == "count":
        return num.round().cast(pl.Int32, strict=False)
    if kind == "flag":
        lowered = text.str.strip_chars().str.to_lowercase()
        return (
            pl.when(num.is_not_null())
            .then(num != 0)
            .when(lowered.is_in(TRUE_TEXTS))
            .then(pl.lit(True))
            .when(lowered.is_in(FALSE_TEXTS))
            .then(pl.lit(False))
            .otherwise(pl.lit(None, pl.Boolean))
        )
    if kind in ("grade", "code"):
        return text.cast(pl.Enum(list(spec.allowed_values)), strict=False)
    if kind == "date":
        return pl.coalesce(
            text.str.to_date("%Y-%m-%d", strict=False),
            num.cast(pl.Int64, strict=False).cast(pl.String).str.to_date("%Y%m%d", strict=False),
        )
    raise InvalidSnapshotInput(reason=f"{spec.code}: text indicators are not in the snapshot")


@dataclass(frozen=True)
class GroupFile:
    name: str
    file: str
    columns: tuple[str, ...]
    bytes: int


@dataclass(frozen=True)
class Manifest:
    version: int
    n_entities: int
    lake_version: int | None
    created_at: str
    indicators: tuple[IndicatorSpec, ...]
    groups: tuple[GroupFile, ...]
    complete_through: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": self.version,
            "n_entities": self.n_entities,
            "lake_version": self.lake_version,
            "complete_through": self.complete_through,
            "created_at": self.created_at,
            "indicators": [s.to_json() for s in self.indicators],
            "groups": [
                {"name": g.name, "file": g.file, "columns": list(g.columns), "bytes": g.bytes}
                for g in self.groups
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        if data.get("format") != FORMAT:
            raise InvalidSnapshotInput(reason=f"unknown manifest format {data.get('format')}")
        return cls(
            version=int(data["version"]),
            n_entities=int(data["n_entities"]),
            lake_version=data.get("lake_version"),
            complete_through=data.get("complete_through"),
            created_at=str(data["created_at"]),
            indicators=tuple(IndicatorSpec.from_json(s) for s in data["indicators"]),
            groups=tuple(
                GroupFile(g["name"], g["file"], tuple(g["columns"]), int(g["bytes"]))
                for g in data["groups"]
            ),
        )


@dataclass(frozen=True)
class SnapshotView:
    """One version of the snapshot as a reader sees it: a frame per group, all mapped."""

    version: int
    n_entities: int
    lake_version: int | None
    groups: dict[str, pl.DataFrame]
    indicators: tuple[IndicatorSpec, ...]
    group_of: dict[str, str] = field(repr=False)
    group_bytes: dict[str, int] = field(repr=False, default_factory=dict)
    _whole: list[pl.DataFrame] = field(repr=False, compare=False, default_factory=list)

    def frame(self, columns: Iterable[str] | None = None) -> pl.DataFrame:
        """All columns in indicator id order (or only ``columns``); no data is copied."""
        if columns is not None:
            return pl.DataFrame([self.column(c) for c in columns])
        if not self._whole:  # built once per version: 600 columns take a millisecond
            self._whole.append(pl.DataFrame([self.column(s.code) for s in self.indicators]))
        return self._whole[0]

    def column(self, code: str) -> pl.Series:
        return self.groups[self.group_of[code]].get_column(code)


class Snapshot:
    """The snapshot in directory ``path``: read it with ``current()``, keep it current
    with ``refresh()``. ``lake`` is needed only to refresh."""

    def __init__(self, path: str | os.PathLike[str], *, lake: Lake | None = None) -> None:
        self.path = Path(path).resolve()
        self.lake = lake
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._view: SnapshotView | None = None
        self._mapped: dict[str, tuple[str, pl.DataFrame]] = {}
        if not (self.path / MANIFEST).exists():
            raise SnapshotNotFound(path=str(self.path))

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, lake: Lake | None = None) -> Snapshot:
        return cls(path, lake=lake)

    # ------------------------------------------------------------------ writing

    @classmethod
    def build(
        cls,
        lake: Lake,
        indicators: Iterable[IndicatorSpec],
        n_entities: int,
        path: str | os.PathLike[str],
        *,
        max_group_columns: int = MAX_GROUP_COLUMNS,
        chunk_rows: int = 60_000_000,
    ) -> Snapshot:
        """Rebuild the whole snapshot from the lake as of its current version (a new
        version of every group), then catch up with batches committed meanwhile."""
        specs = _snapshot_specs(indicators)
        lake_version = lake.version()
        columns = {s.code: _nulls(s, n_entities) for s in specs}
        by_id = {s.id: s for s in specs}
        # the next entity range is read while this one is scattered into the columns
        ranges = prefetch(lake.iter_latest(chunk_rows=chunk_rows, version=lake_version))
        for rows in ranges:
            for spec, part in _by_indicator(rows, by_id, n_entities):
                entity = part.get_column("entity_id").cast(pl.UInt32)
                values = part.select(typed_value(spec)).to_series()
                columns[spec.code] = columns[spec.code].scatter(entity, values)
        frame = pl.DataFrame([columns[s.code] for s in specs]) if specs else pl.DataFrame()
        snapshot = cls.write(
            frame,
            specs,
            path,
            n_entities=n_entities,
            lake=lake,
            lake_version=lake_version,
            max_group_columns=max_group_columns,
        )
        del frame, columns
        # Batches committed while this build read the lake (their refreshes may have been
        # overwritten by this version): apply them now.
        for version in range(lake_version + 1, lake.version() + 1):
            snapshot.refresh_version(version)
        return snapshot

    @classmethod
    def write(
        cls,
        frame: pl.DataFrame,
        indicators: Iterable[IndicatorSpec],
        path: str | os.PathLike[str],
        *,
        n_entities: int | None = None,
        lake: Lake | None = None,
        lake_version: int | None = None,
        max_group_columns: int = MAX_GROUP_COLUMNS,
    ) -> Snapshot:
        """Write ``frame`` (row = entity, a column per indicator code, typed as
        ``IndicatorSpec.dtype``) as a new version of every group."""
        specs = _snapshot_specs(indicators)
        n = frame.height if n_entities is None else n_entities
        if frame.height != n:
            raise InvalidSnapshotInput(reason=f"{frame.height} rows for {n} entities")
        missing = [s.code for s in specs if s.code not in frame.columns]
        if missing:
            raise InvalidSnapshotInput(reason=f"columns missing: {missing[:10]}")
        wrong = [s.code for s in specs if frame.schema[s.code] != s.dtype]
        if wrong:
            raise InvalidSnapshotInput(reason=f"columns of the wrong type: {wrong[:10]}")
        plan = _plan_groups(specs, max_group_columns)
        root = Path(path).resolve()
        root.mkdir(parents=True, exist_ok=True)
        with _writer_lock(root):
            previous = _read_manifest(root)
            version = 1 if previous is None else previous.version + 1
            groups = tuple(
                _write_group(root, name, frame.select(cols), version) for name, cols in plan
            )
            manifest = Manifest(
                version=version,
                n_entities=n,
                lake_version=lake_version,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                indicators=tuple(specs),
                groups=groups,
                complete_through=lake_version,
            )
            _publish(root, manifest, previous)
        return cls(root, lake=lake)

    def refresh(
        self,
        entity_ids: Iterable[int],
        *,
        indicator_ids: Iterable[int] | None = None,
        since_period: int | None = None,
        batch_version: int | None = None,
    ) -> int:
        """Bring the cells of these entities up to date from the lake; return the new
        version (or the current one when nothing changed).

        Without ``since_period`` every cell of these entities (for ``indicator_ids``, or
        all indicators) is recomputed from the entity's whole history. With it — the
        smallest period of the batch that touched them — only cells with a row at a
        period >= it are rewritten, which reads far less of the lake and is exact for
        what that batch can have changed. Only groups holding a changed indicator, and
        all groups when an entity id is past the end, are rewritten. ``batch_version``:
        the lake version of the batch being applied (moves ``complete_through`` on when
        it is the next one)."""
        if self.lake is None:
            raise InvalidSnapshotInput(reason="refresh needs the lake (Snapshot(path, lake=…))")
        ids = sorted({int(e) for e in entity_ids})
        if ids and ids[0] < 0:
            raise InvalidSnapshotInput(reason="negative entity id")
        with _writer_lock(self.path):
            manifest = _read_manifest(self.path)
            assert manifest is not None
            if not ids:
                return manifest.version
            wanted_ids = None if indicator_ids is None else {int(i) for i in indicator_ids}
            specs = [s for s in manifest.indicators if wanted_ids is None or s.id in wanted_ids]
            by_id = {s.id: s for s in specs}
            if not specs:
                return manifest.version
            lake_version = self.lake.version()
            rows = self.lake.latest_for_entities(
                ids,
                indicator_ids=None if wanted_ids is None else sorted(by_id),
                since_period=since_period,
            )
            n = max(manifest.n_entities, ids[-1] + 1)
            cells = _cell_updates(rows, specs, ids, n, replace=since_period is None)
            grow = n > manifest.n_entities
            if not cells and not grow:
                return manifest.version
            version = manifest.version + 1
            groups = []
            for group in manifest.groups:
                if grow or any(c in cells for c in group.columns):
                    old = _map(self.path / group.file)
                    new_frame = _patched(old, group.columns, cells, n)
                    groups.append(_write_group(self.path, group.name, new_frame, version))
                else:
                    groups.append(group)
            new = Manifest(
                version=version,
                n_entities=n,
                lake_version=lake_version,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                indicators=manifest.indicators,
                groups=tuple(groups),
                complete_through=(
                    batch_version
                    if batch_version is not None
                    and manifest.complete_through is not None
                    and batch_version == manifest.complete_through + 1
                    else manifest.complete_through
                ),
            )
            _publish(self.path, new, manifest)
            return version

    def refresh_version(self, lake_version: int) -> int:
        """Refresh what lake commit ``lake_version`` (one batch) touched: the job an
        ingest batch enqueues once its commit succeeded. Idempotent; free when a rebuild
        already covered the version; a rebuild when the batch touched most entities."""
        lake = self.lake
        if lake is None:
            raise InvalidSnapshotInput(reason="refresh needs the lake (Snapshot(path, lake=…))")
        manifest = _read_manifest(self.path)
        if manifest is None:
            raise SnapshotNotFound(path=str(self.path))
        done = manifest.complete_through
        if done is not None and lake_version <= done:
            return manifest.version
        touched = lake.keys_of_version(lake_version)  # None: no batch, nothing to refresh
        if (
            touched is not None
            and touched.entities.size > REBUILD_SHARE * max(manifest.n_entities, 1)
            and len(touched.indicator_ids) >= REBUILD_MIN_INDICATORS
        ):
            n = max(manifest.n_entities, int(touched.entities.max()) + 1)
            return Snapshot.build(lake, manifest.indicators, n, self.path).version
        if touched is None:
            return manifest.version
        return self.refresh(
            touched.entities.tolist(),
            indicator_ids=touched.indicator_ids,
            since_period=touched.since_period,
            batch_version=lake_version,
        )

    # ------------------------------------------------------------------ reading

    def current(self) -> SnapshotView:
        """The current version; a ``stat`` when nothing changed, else the changed groups
        are mapped again (the others keep their mapping)."""
        with self._lock:
            for attempt in range(5):
                stamp = _stamp(self.path / MANIFEST)
                if stamp == self._stamp and self._view is not None and _settled(stamp):
                    return self._view
                manifest = _read_manifest(self.path)
                if manifest is None:
                    raise SnapshotNotFound(path=str(self.path))
                if self._view is not None and manifest.version == self._view.version:
                    self._stamp = stamp
                    return self._view
                try:
                    self._view = self._load(manifest)
                except FileNotFoundError:  # a writer removed it meanwhile: look again
                    if attempt == 4:
                        raise
                    continue
                self._stamp = stamp
                return self._view
        raise AssertionError("unreachable")

    def memory_bytes(self) -> dict[str, int]:
        """Bytes of each mapped group and their ``total``: the page cache one copy of the
        snapshot takes however many processes map it (Arrow IPC uncompressed is the
        in-memory layout)."""
        sizes = dict(self.current().group_bytes)
        sizes["total"] = sum(sizes.values())
        return sizes

    @property
    def version(self) -> int:
        return self.current().version

    def _load(self, manifest: Manifest) -> SnapshotView:
        groups: dict[str, pl.DataFrame] = {}
        mapped: dict[str, tuple[str, pl.DataFrame]] = {}
        group_of: dict[str, str] = {}
        for group in manifest.groups:
            known = self._mapped.get(group.name)
            if known is not None and known[0] == group.file:
                frame = known[1]
            else:
                frame = _map(self.path / group.file)
            groups[group.name] = frame
            mapped[group.name] = (group.file, frame)
            group_of.update(dict.fromkeys(group.columns, group.name))
        self._mapped = mapped
        sizes = {g.name: g.bytes for g in manifest.groups}
        return SnapshotView(
            version=manifest.version,
            n_entities=manifest.n_entities,
            lake_version=manifest.lake_version,
            groups=groups,
            indicators=manifest.indicators,
            group_of=group_of,
            group_bytes=sizes,
        )


# ---------------------------------------------------------------------- helpers


Cells = dict[str, tuple[pl.Series, pl.Series]]
"""Indicator code -> (entity ids as UInt32, new typed values), aligned."""


def _cell_updates(
    rows: pl.DataFrame, specs: Sequence[IndicatorSpec], ids: list[int], n: int, *, replace: bool
) -> Cells:
    """The cells a refresh writes. ``replace``: every cell of these entities for these
    indicators (null where the lake has no row); otherwise only cells that have a row."""
    by_id = {s.id: s for s in specs}
    cells: Cells = {}
    if not replace:
        for spec, part in _by_indicator(rows, by_id, n):
            entity = part.get_column("entity_id").cast(pl.UInt32)
            cells[spec.code] = (entity, part.select(typed_value(spec)).to_series())
        return cells
    keys = pl.DataFrame({"entity_id": pl.Series(ids, dtype=pl.Int32)})
    entity = keys.get_column("entity_id").cast(pl.UInt32)
    parts = dict(_by_indicator(rows, by_id, n, keyed=True))
    for spec in specs:
        part = parts.get(spec.id)
        if part is None:
            values = pl.Series(spec.code, [None] * len(ids), dtype=spec.dtype)
        else:
            aligned = keys.join(part, on="entity_id", how="left", maintain_order="left")
            values = aligned.select(typed_value(spec)).to_series()
        cells[spec.code] = (entity, values)
    return cells


def _patched(old: pl.DataFrame, columns: Sequence[str], cells: Cells, n: int) -> pl.DataFrame:
    """A group's new columns: changed cells scattered into a copy, grown to ``n`` rows;
    untouched columns are the mapped ones (written out as they are)."""
    out = []
    for code in columns:
        col = old.get_column(code)
        if old.height < n:
            col = col.extend_constant(None, n - old.height)
        if code in cells:
            entity, values = cells[code]
            col = col.clone().scatter(entity, values)
        out.append(col)
    return pl.DataFrame(out)


def _snapshot_specs(indicators: Iterable[IndicatorSpec]) -> list[IndicatorSpec]:
    specs = sorted((s for s in indicators if s.dtype is not None), key=lambda s: s.id)
    codes = [s.code for s in specs]
    if len(set(codes)) != len(codes) or len({s.id for s in specs}) != len(specs):
        raise InvalidSnapshotInput(reason="indicator ids and codes must be unique")
    return specs


def _plan_groups(
    specs: Sequence[IndicatorSpec], max_group_columns: int
) -> list[tuple[str, list[str]]]:
    by_category: dict[str, list[str]] = {}
    for spec in specs:
        by_category.setdefault(spec.category, []).append(spec.code)
    plan = []
    for category, codes in by_category.items():
        slug = re.sub(r"[^a-z0-9_]+", "_", category.lower()).strip("_") or "group"
        for k in range(0, len(codes), max_group_columns):
            plan.append((f"{slug}-{k // max_group_columns}", codes[k : k + max_group_columns]))
    return plan


def _nulls(spec: IndicatorSpec, n: int) -> pl.Series:
    return pl.Series(spec.code, dtype=spec.dtype).extend_constant(None, n)


def _by_indicator(
    rows: pl.DataFrame, by_id: dict[int, IndicatorSpec], n: int, *, keyed: bool = False
) -> Iterator[Any]:
    """(spec, rows of that indicator) for the snapshot's indicators, entities below ``n``;
    with ``keyed`` (indicator id, rows) instead."""
    rows = rows.filter(
        pl.col("indicator_id").is_in(list(by_id)) & (pl.col("entity_id") < n)
    ).select("entity_id", "indicator_id", "value_num", "value_text")
    if rows.height == 0:
        return
    for key, part in rows.partition_by("indicator_id", as_dict=True).items():
        spec = by_id[int(cast(int, key[0]))]
        yield (spec.id, part) if keyed else (spec, part)


def _write_group(root: Path, name: str, frame: pl.DataFrame, version: int) -> GroupFile:
    """One uncompressed IPC file, one record batch (contiguous columns to map), fsynced."""
    file = f"{name}.v{version}.arrow"
    table = frame.rechunk().to_arrow()
    with open(root / file, "wb") as sink:
        with ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table, max_chunksize=max(table.num_rows, 1))
        sink.flush()
        os.fsync(sink.fileno())
    return GroupFile(name, file, tuple(frame.columns), (root / file).stat().st_size)


def _map(path: Path) -> pl.DataFrame:
    source = pa.memory_map(str(path), "r")
    table = ipc.open_file(source).read_all()
    return cast(pl.DataFrame, pl.from_arrow(table, rechunk=False))


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _settled(stamp: tuple[int, int, int] | None) -> bool:
    """An unchanged (inode, mtime, size) proves nothing while the mtime is within a few
    kernel ticks of now (a new manifest could reuse the inode and the tick); then the
    manifest is read again (its version decides)."""
    return stamp is None or time.time_ns() - stamp[1] > _MTIME_SLACK_NS


def _read_manifest(root: Path) -> Manifest | None:
    try:
        data = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return Manifest.from_json(data)


def _publish(root: Path, manifest: Manifest, previous: Manifest | None) -> None:
    """Swap the pointer atomically, then delete the files neither it nor the previous
    version references."""
    tmp = root / f".{MANIFEST}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        json.dump(manifest.to_json(), out, ensure_ascii=False, indent=1)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, root / MANIFEST)
    _fsync_dir(root)
    keep = {g.file for g in manifest.groups}
    if previous is not None:
        keep |= {g.file for g in previous.groups}
    for entry in root.iterdir():
        stale = entry.suffix == ".arrow" and entry.name not in keep
        if stale or (entry.name.startswith(f".{MANIFEST}.") and entry != tmp):
            entry.unlink(missing_ok=True)


def _fsync_dir(root: Path) -> None:
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _writer_lock(root: Path) -> Iterator[None]:
    with open(root / ".lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
