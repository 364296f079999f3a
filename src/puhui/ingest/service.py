"""Data sources and the ingestion of their batches.

Pipeline of one file (:func:`ingest_path`), each step its own transaction so that a crash
anywhere leaves a state the next run finishes:

1. The file's SHA-256 identifies it. A file already committed for this source changes
   nothing and answers with the earlier batch.
2. A batch row is committed in state ``writing`` (visible to operators as unfinished).
3. The file is opened (format, encoding, header, layout checked) and streamed in chunks
   (ADR 0006); each chunk is validated and its good rows handed to the lake writer while
   the next chunk is read. A file that is not what it claims, here or in a later chunk,
   is ``rejected`` as a whole with its message and nothing is committed.
4. Good rows go to the lake as ONE Delta commit tagged with the batch id, made after the
   last chunk (registry rows go to the entity registry instead). The lake write is
   idempotent per batch id, so a run after a crash between this step and the next counts
   the file again and does not write twice.
5. The batch becomes ``committed`` with its quality report (counts, reasons, the first
   issues in the database, every issue in a CSV file written as the chunks went by), and
   a snapshot refresh is queued in the same transaction.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
from sqlalchemy.orm import Session, sessionmaker

from puhui.audit import service as audit
from puhui.catalog import service as catalog
from puhui.config import Settings, get_settings
from puhui.core import jobs
from puhui.core.db import session_scope
from puhui.core.errors import Conflict, NotFound
from puhui.core.i18n import gettext
from puhui.core.lake import Lake, LakeNotFound
from puhui.core.masking import mask_personal_numbers
from puhui.core.orm import utcnow
from puhui.core.pagination import Page, PageParams, paginate
from puhui.core.policy import Actor
from puhui.core.security.fields import current as current_keyring
from puhui.core.snapshot import IndicatorSpec, Snapshot, SnapshotNotFound
from puhui.core.streams import prefetch
from puhui.entities import service as entities
from puhui.ingest import repository
from puhui.ingest.models import COMMITTED, REJECTED, WRITING, Batch, BatchIssue, DataSource
from puhui.ingest.readers import FileRejected, FileStream, open_file
from puhui.ingest.registry_rows import REGISTRY_REASONS, check_registry
from puhui.ingest.schemas import SourceCreate
from puhui.ingest.validate import REASONS, WARNINGS, SeenKeys, Spec, catalog_frame, check

ISSUES_KEPT = 1000
SHANGHAI = ZoneInfo("Asia/Shanghai")  # periods are the city's calendar months
SOURCES_FILE = Path(__file__).resolve().parent / "data" / "sources.csv"
REFRESH_JOB = "snapshot.refresh"
COMPACT_JOB = "lake.compact"
BATCH_COMMITTED = "ingest.batch_committed"
"""Job topic published in the transaction that commits a batch of observations
(payload: ``batch_id``, ``lake_version``), e.g. for risk monitoring."""
Progress = Callable[[str, float | None], None]  # step, fraction of the file done


class SourceNotFound(NotFound):
    default_code = "source_not_found"
    default_message = "No data source with this code."


class DuplicateSource(Conflict):
    default_code = "duplicate_source"
    default_message = "A data source with this code exists."


# --- sources ---------------------------------------------------------------------------


def ensure_default_sources(session: Session) -> int:
    """Register the departments listed in ``data/sources.csv`` that are missing."""
    created = 0
    with SOURCES_FILE.open(encoding="utf-8") as fh:
        for rec in csv.DictReader(fh):
            if repository.source_by_code(session, rec["code"]) is None:
                session.add(DataSource(is_active=True, **rec))
                created += 1
    session.flush()
    return created


def list_sources(session: Session, *, params: PageParams) -> Page[DataSource]:
    return paginate(session, repository.sources_query(), params)


def get_source(session: Session, *, code: str) -> DataSource:
    source = repository.source_by_code(session, code.upper())
    if source is None:
        raise SourceNotFound()
    return source


def create_source(session: Session, *, actor: Actor, data: SourceCreate) -> DataSource:
    if repository.source_by_code(session, data.code) is not None:
        raise DuplicateSource()
    source = DataSource(is_active=True, **data.model_dump())
    session.add(source)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="source.create",
        target_type="data_source",
        target_id=source.id,
        details={"code": source.code},
    )
    return source


# --- batches ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    batch_id: int
    status: str
    duplicate: bool


def file_digest(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def reports_dir(settings: Settings) -> Path:
    return settings.data_dir / "ingest" / "reports"


def report_path(settings: Settings, batch_id: int) -> Path:
    return reports_dir(settings) / f"batch-{batch_id}.csv"


def ingest_path(
    factory: sessionmaker[Session],
    *,
    source_code: str,
    path: Path,
    actor: Actor | None,
    via: str,
    filename: str | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
    today: date | None = None,
) -> Outcome:
    settings = settings or get_settings()
    say = progress or (lambda _step, _done: None)
    say("hashing", None)
    digest, size = file_digest(path)
    with session_scope(factory) as session:
        source = get_source(session, code=source_code)
        source_id, code = source.id, source.code
        earlier = repository.batch_by_digest(session, source_id=source_id, digest=digest)
        if earlier is not None and earlier.status != WRITING:
            return Outcome(earlier.id, earlier.status, duplicate=True)
        if earlier is None:
            earlier = Batch(
                source_id=source_id,
                filename=(filename or path.name)[:255],
                content_sha256=digest,
                size_bytes=size,
                via=via,
                uploaded_by=actor.user_id if actor else None,
                status=WRITING,
            )
            session.add(earlier)
            session.flush()
        batch_id = earlier.id
    say("reading", None)
    report = Report(settings, batch_id)
    try:
        stream = open_file(path)
        if stream.layout == "registry":
            _commit_registry(factory, batch_id=batch_id, stream=stream, actor=actor, report=report)
        else:
            _commit_observations(
                factory,
                batch_id=batch_id,
                source=code,
                stream=stream,
                actor=actor,
                settings=settings,
                report=report,
                today=today or datetime.now(SHANGHAI).date(),
                say=say,
            )
    except FileRejected as exc:
        report.discard()
        with session_scope(factory) as session:
            batch = repository.batch(session, batch_id)
            assert batch is not None
            batch.status = REJECTED
            batch.message = gettext(settings.default_locale, exc.message, **exc.params)
            audit.record(
                session,
                actor=actor,
                username=None if actor else "cli",
                action="ingest.reject",
                target_type="batch",
                target_id=batch_id,
                outcome="failed",
                details={"source": code, "reason": exc.message},
            )
        return Outcome(batch_id, REJECTED, duplicate=False)
    return Outcome(batch_id, COMMITTED, duplicate=False)


def _categories(session: Session) -> dict[int, str]:
    """Indicator id → its category, for counting a batch's records by category."""
    return {i.id: i.category for i in catalog.active_indicators(session)}


def _count_categories(into: dict[str, int], rows: pl.DataFrame, categories: dict[int, str]) -> None:
    if rows.height == 0:
        return
    per_indicator = rows.get_column("indicator_id").value_counts()
    for indicator_id, n in per_indicator.iter_rows():
        category = categories.get(int(indicator_id), "unknown")
        into[category] = into.get(category, 0) + int(n)


def _specs(session: Session) -> list[Spec]:
    return [
        Spec(
            id=i.id,
            code=i.code,
            value_type=i.value_type,
            source=i.source,
            min_value=i.min_value,
            max_value=i.max_value,
            allowed_values=list(i.allowed_values),
        )
        for i in catalog.active_indicators(session)
    ]


class Report:
    """The quality report of one batch, written chunk by chunk as the file streams by:
    every issue in a CSV (UTF-8 with BOM, so spreadsheet programs read it), the first
    :data:`ISSUES_KEPT` kept for the database, counts by reason. The CSV gets its final
    name only when the batch commits; a rejected file leaves none."""

    def __init__(self, settings: Settings, batch_id: int) -> None:
        self.settings = settings
        self.path = report_path(settings, batch_id)
        self._tmp = self.path.with_suffix(".part")
        self._fh: BinaryIO | None = None
        self.first = pl.DataFrame(schema=ISSUE_SCHEMA)
        self.reasons: dict[str, int] = {}
        self.warned = 0
        self._messages: dict[str, str] = {}

    def add(self, issues: pl.DataFrame) -> None:
        issues = issues.select(list(ISSUE_SCHEMA)).cast(ISSUE_SCHEMA)  # type: ignore[arg-type]
        if self._fh is None:
            self._tmp.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self._tmp.open("wb")
            self._fh.write(b"\xef\xbb\xbf")
            pl.DataFrame(schema={**ISSUE_SCHEMA, "message": pl.String}).write_csv(self._fh)
        if not issues.height:
            return
        for reason, n in issues.group_by("reason").len().iter_rows():
            self.reasons[reason] = self.reasons.get(reason, 0) + n
            if reason not in self._messages:
                self._messages[reason] = reason_message(self.settings.default_locale, reason)
        self.warned += issues.filter(pl.col("severity") == "warn").height
        if self.first.height < ISSUES_KEPT:
            self.first = pl.concat([self.first, issues.head(ISSUES_KEPT - self.first.height)])
        issues.with_columns(
            # the rejected value as sent, any ID or mobile number in it masked (as in the
            # database's copy): the report is a file on disk, readable by its source
            pl.col("value").map_elements(mask_personal_numbers, return_dtype=pl.String),
            pl.col("reason")
            .replace_strict(self._messages, default="", return_dtype=pl.String)
            .alias("message"),
        ).write_csv(self._fh, include_header=False)

    def publish(self) -> Path:
        if self._fh is None:
            self.add(pl.DataFrame(schema=ISSUE_SCHEMA))
        assert self._fh is not None
        self._fh.close()
        self._fh = None
        self._tmp.replace(self.path)
        return self.path

    def discard(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self._tmp.unlink(missing_ok=True)


ISSUE_SCHEMA = {
    "row": pl.Int64,
    "column": pl.String,
    "reason": pl.String,
    "severity": pl.String,
    "value": pl.String,
}


def _commit_observations(
    factory: sessionmaker[Session],
    *,
    batch_id: int,
    source: str,
    stream: FileStream,
    actor: Actor | None,
    settings: Settings,
    report: Report,
    today: date,
    say: Progress,
) -> None:
    with session_scope(factory) as session:
        specs = _specs(session)
        categories = _categories(session)
        table, allowed = catalog_frame(specs)
        registry = entities.registry_frame(session)
        n_entities = entities.max_id(session) + 1
        source_id = repository.source_by_code(session, source).id  # type: ignore[union-attr]
        sealed = catalog.lake_fields(session)
    seen = SeenKeys(n_entities, [s.id for s in specs if s.source == source])
    touched = np.zeros(n_entities, dtype=bool)
    counts = {"values": 0, "accepted": 0}
    by_category: dict[str, int] = {}

    def accepted_chunks() -> Iterator[pl.DataFrame]:
        for chunk in stream.chunks():
            checked = check(
                chunk,
                source=source,
                indicators=table,
                allowed=allowed,
                registry=registry,
                today=today,
                seen=seen,
            )
            issues = checked.issues
            if stream.layout == "wide":
                # a wide file's value columns are named by indicator code: report that
                # column, and a fault of the whole row (its code or period) once, not once
                # per value (a wide row is never split between chunks)
                issues = issues.with_columns(
                    pl.when(pl.col("column").is_in(["value", "indicator"]))
                    .then(pl.col("indicator"))
                    .otherwise(pl.col("column"))
                    .alias("column")
                ).unique(subset=["row", "column", "reason"], keep="first", maintain_order=True)
            report.add(issues.drop("indicator"))
            rows = checked.accepted.select(
                "entity_id",
                "indicator_id",
                "period",
                "value_num",
                "value_text",
                pl.lit(batch_id, dtype=pl.Int64).alias("batch_id"),
                pl.lit(source_id, dtype=pl.Int16).alias("source_id"),
            )
            counts["values"] += chunk.height
            counts["accepted"] += rows.height
            _count_categories(by_category, rows, categories)
            touched[rows.get_column("entity_id").to_numpy()] = True
            say("validating and writing", stream.done_fraction())
            yield sealed.seal(rows)

    lake = Lake(settings.lake_dir)
    version = lake.committed_version(batch_id)
    if version is None:
        # reading and checking the next chunk overlaps with encoding the last one
        version = lake.append_batch_chunks(prefetch(accepted_chunks()), batch_id)
    else:
        # committed by a run that died before recording it: count again, write nothing
        for _ in accepted_chunks():
            pass
    with session_scope(factory) as session:
        _record(
            session,
            batch_id=batch_id,
            stream=stream,
            rows_total=counts["values"],
            report=report,
            accepted=counts["accepted"],
            lake_version=version,
            touched=int(touched.sum()),
            actor=actor,
            refresh=counts["accepted"] > 0,
            by_category=by_category,
        )


def _commit_registry(
    factory: sessionmaker[Session],
    *,
    batch_id: int,
    stream: FileStream,
    actor: Actor | None,
    report: Report,
) -> None:
    raw = stream.read_all()
    checked = check_registry(raw.frame)
    report.add(checked.issues)
    with session_scope(factory) as session:
        written = entities.upsert_frame(session, checked.accepted, batch_id=batch_id)
        _record(
            session,
            batch_id=batch_id,
            stream=stream,
            rows_total=raw.rows,
            report=report,
            accepted=written,
            lake_version=None,
            touched=written,
            actor=actor,
            refresh=False,
            by_category={"basic": written} if written else {},
        )


def _record(
    session: Session,
    *,
    batch_id: int,
    stream: FileStream,
    rows_total: int,
    report: Report,
    accepted: int,
    lake_version: int | None,
    touched: int,
    actor: Actor | None,
    refresh: bool,
    by_category: dict[str, int],
) -> None:
    batch = repository.batch(session, batch_id)
    assert batch is not None
    batch.accepted_by_category = dict(sorted(by_category.items()))
    batch.format, batch.encoding, batch.layout = stream.format, stream.encoding, stream.layout
    # counts are of values (the rows of the long form; a wide row holds several)
    batch.rows_total = rows_total
    batch.rows_accepted = accepted
    batch.rows_rejected = rows_total - accepted
    batch.rows_warned = report.warned
    batch.reasons = dict(sorted(report.reasons.items()))
    batch.lake_version = lake_version
    batch.entities_touched = touched
    batch.status = COMMITTED
    batch.committed_at = utcnow()
    repository.replace_issues(
        session,
        batch_id,
        [
            BatchIssue(
                batch_id=batch_id,
                row=r["row"],
                column=r["column"],
                reason=r["reason"],
                severity=r["severity"],
                # the rejected value as sent, any ID or mobile number in it masked
                value=None if r["value"] is None else mask_personal_numbers(str(r["value"]))[:200],
            )
            for r in report.first.iter_rows(named=True)
        ],
    )
    if refresh and lake_version is not None:
        jobs.enqueue(
            session,
            REFRESH_JOB,
            {"batch_id": batch_id, "lake_version": lake_version},
            dedupe_key=f"snapshot-refresh:{batch_id}",
        )
        jobs.publish(
            session,
            BATCH_COMMITTED,
            {"batch_id": batch_id, "lake_version": lake_version},
            dedupe_key=f"batch:{batch_id}",
        )
    audit.record(
        session,
        actor=actor,
        username=None if actor else "cli",
        action="ingest.commit",
        target_type="batch",
        target_id=batch_id,
        details={
            "accepted": accepted,
            "rejected": batch.rows_rejected,
            "warned": batch.rows_warned,
        },
    )
    session.flush()
    # the report gets its name with the commit of this transaction as near as a file
    # can: a crash in between leaves a batch "writing" that the next run finishes
    report.publish()


@dataclass(frozen=True)
class Lineage:
    """Where a batch of values came from: the data source and when it was committed."""

    batch_id: int
    source_code: str
    source_name: str
    department: str
    level: str
    committed_at: datetime | None
    filename: str


def lineage(session: Session, batch_ids: Iterable[int]) -> dict[int, Lineage]:
    """The lineage of these batches (ids the platform does not know are left out)."""
    out: dict[int, Lineage] = {}
    for batch, source in repository.batches_with_sources(session, sorted(set(batch_ids))):
        out[batch.id] = Lineage(
            batch_id=batch.id,
            source_code=source.code,
            source_name=source.name,
            department=source.department,
            level=source.level,
            committed_at=batch.committed_at,
            filename=batch.filename,
        )
    return out


def commit_derived(
    factory: sessionmaker[Session],
    *,
    source_code: str,
    label: str,
    rows: pl.DataFrame,
    settings: Settings | None = None,
) -> int | None:
    """Values the platform computes itself (the business-health score) as one batch of
    its own source: one lake commit, a batch record, a snapshot refresh queued, exactly as
    a department's file. ``rows``: entity_id, indicator_id, period, value_num, value_text.
    The same rows twice are one batch. Returns the batch id (None for no rows)."""
    settings = settings or get_settings()
    if rows.height == 0:
        return None
    digest = hashlib.sha256(
        label.encode() + rows.hash_rows(seed=7).to_numpy().tobytes()
    ).hexdigest()
    with session_scope(factory) as session:
        source = get_source(session, code=source_code)
        source_id = source.id
        earlier = repository.batch_by_digest(session, source_id=source_id, digest=digest)
        if earlier is not None and earlier.status != WRITING:
            return earlier.id
        if earlier is None:
            earlier = Batch(
                source_id=source_id,
                filename=label[:255],
                content_sha256=digest,
                size_bytes=int(rows.estimated_size()),
                via="derived",
                status=WRITING,
            )
            session.add(earlier)
            session.flush()
        batch_id = earlier.id
        sealed = catalog.lake_fields(session)
    lake = Lake(settings.lake_dir)
    version = lake.committed_version(batch_id)
    if version is None:
        version = lake.append_batch(
            sealed.seal(rows).with_columns(
                pl.lit(batch_id, dtype=pl.Int64).alias("batch_id"),
                pl.lit(source_id, dtype=pl.Int16).alias("source_id"),
            ),
            batch_id,
        )
    with session_scope(factory) as session:
        batch = repository.batch(session, batch_id)
        assert batch is not None
        batch.format, batch.layout = "derived", "long"
        batch.rows_total = batch.rows_accepted = rows.height
        by_category: dict[str, int] = {}
        _count_categories(by_category, rows, _categories(session))
        batch.accepted_by_category = dict(sorted(by_category.items()))
        batch.rows_rejected = batch.rows_warned = 0
        batch.reasons = {}
        batch.lake_version = version
        batch.entities_touched = rows.get_column("entity_id").n_unique()
        batch.status = COMMITTED
        batch.committed_at = utcnow()
        jobs.enqueue(
            session,
            REFRESH_JOB,
            {"batch_id": batch_id, "lake_version": version},
            dedupe_key=f"snapshot-refresh:{batch_id}",
        )
        jobs.publish(
            session,
            BATCH_COMMITTED,
            {"batch_id": batch_id, "lake_version": version},
            dedupe_key=f"batch:{batch_id}",
        )
        audit.record(
            session,
            actor=None,
            username="platform",
            action="ingest.derived",
            target_type="batch",
            target_id=batch_id,
            details={"source": source_code, "label": label, "values": rows.height},
        )
        session.flush()
        Report(settings, batch_id).publish()
    return batch_id


def open_snapshot(settings: Settings | None = None) -> Snapshot:
    """The current snapshot (raises ``SnapshotNotFound`` before the first build)."""
    settings = settings or get_settings()
    return Snapshot.open(snapshot_dir(settings), lake=Lake(settings.lake_dir))


def open_lake(settings: Settings | None = None) -> Lake:
    settings = settings or get_settings()
    return Lake(settings.lake_dir)


def reason_message(locale: str, reason: str) -> str:
    text = REASONS.get(reason) or WARNINGS.get(reason)
    message = text[1] if text else REGISTRY_REASONS.get(reason, reason)
    return gettext(locale, message)


# --- snapshot ----------------------------------------------------------------------------


def snapshot_dir(settings: Settings) -> Path:
    return settings.data_dir / "snapshot"


def snapshot_specs(session: Session) -> list[IndicatorSpec]:
    return [
        IndicatorSpec(
            id=i.id,
            code=i.code,
            category=i.category,
            value_type=i.value_type,
            allowed_values=tuple(i.allowed_values),
        )
        for i in catalog.active_indicators(session)
    ]


def compact_lake(
    *,
    years: list[int] | None = None,
    every_year: bool = False,
    settings: Settings | None = None,
) -> dict[int, dict[str, float]]:
    """Compact the lake's years (default: the current one; ``every_year``: all of them) so
    one entity's history is a few row groups (ADR 0004). Years already in one sorted run
    are skipped, so this is cheap when nothing changed."""
    settings = settings or get_settings()
    if every_year:
        return Lake(settings.lake_dir).compact(None)
    if years is None:
        years = [datetime.now(SHANGHAI).year]
    return Lake(settings.lake_dir).compact(years)


def reseal_lake(
    factory: sessionmaker[Session], *, settings: Settings | None = None
) -> dict[int, int]:
    """Encrypt again, under the active data key, the lake's personal text values that are
    under older keys (after ``puhui keys rotate``): only the years that hold such values
    are rewritten. Returns the values re-encrypted per year."""
    settings = settings or get_settings()
    with factory() as session:
        sealed = catalog.lake_fields(session)
    if not sealed.codes:
        return {}
    try:
        lake = Lake(settings.lake_dir, create=False)
    except LakeNotFound:
        return {}
    active = f"sm4:{current_keyring().active}:"
    stale = (
        lake.scan()
        .select((pl.col("period") // 100).alias("year"), "indicator_id", "value_text")
        .filter(
            pl.col("indicator_id").is_in(list(sealed.codes))
            & pl.col("value_text").str.starts_with("sm4:")
            & ~pl.col("value_text").str.starts_with(active)
        )
        .group_by("year")
        .len()
        .collect()
    )
    counts = {int(y): int(n) for y, n in stale.iter_rows()}
    if counts:
        lake.compact(sorted(counts), transform=sealed.reseal)
    return counts


def build_history_index(*, settings: Settings | None = None) -> dict[str, float]:
    """Build the lake's history index (``puhui lake index``; compaction does it too)."""
    settings = settings or get_settings()
    return Lake(settings.lake_dir).build_history()


def rebuild_snapshot(session: Session, *, settings: Settings | None = None) -> Snapshot:
    """Build the whole snapshot from the lake (``puhui snapshot rebuild``)."""
    settings = settings or get_settings()
    lake = Lake(settings.lake_dir)
    return Snapshot.build(
        lake, snapshot_specs(session), entities.max_id(session) + 1, snapshot_dir(settings)
    )


def refresh_snapshot(
    session: Session, *, lake_version: int, settings: Settings | None = None
) -> int:
    """Bring the snapshot up to date with one committed batch (idempotent); build it first
    if there is none yet."""
    settings = settings or get_settings()
    path = snapshot_dir(settings)
    lake = Lake(settings.lake_dir)
    try:
        snapshot = Snapshot.open(path, lake=lake)
    except SnapshotNotFound:
        return rebuild_snapshot(session, settings=settings).version
    return snapshot.refresh_version(lake_version)


def list_batches(
    session: Session, *, source_code: str | None, status: str | None, params: PageParams
) -> Page[Batch]:
    return paginate(
        session, repository.batches_query(source_code=source_code, status=status), params
    )


def get_batch(session: Session, *, batch_id: int) -> Batch:
    batch = repository.batch(session, batch_id)
    if batch is None:
        raise NotFound("No such batch.")
    return batch


def batch_issues(session: Session, *, batch_id: int, params: PageParams) -> Page[BatchIssue]:
    return paginate(session, repository.issues_query(batch_id), params)


# --- who sees which batches --------------------------------------------------------------


def visible_source_codes(session: Session, actor: Actor) -> set[str] | None:
    """None: every source (operators, regulators, the platform's stewards); otherwise the
    codes of the sources bound to the steward's own institution."""
    if (
        actor.is_platform_wide
        or actor.institution_kind is None
        or actor.institution_kind.value == "platform"
    ):
        return None
    return {s.code for s in repository.sources_of_institution(session, actor.institution_id or -1)}


def batch_for(session: Session, *, actor: Actor, batch_id: int) -> Batch:
    """A batch the actor may see; others' batches are "not found"."""
    batch = get_batch(session, batch_id=batch_id)
    allowed = visible_source_codes(session, actor)
    if allowed is not None:
        source = repository.source_by_id(session, batch.source_id)
        if source is None or source.code not in allowed:
            raise NotFound("No such batch.")
    return batch


def batches_for(
    session: Session,
    *,
    actor: Actor,
    source_code: str | None,
    status: str | None,
    params: PageParams,
) -> Page[Batch]:
    allowed = visible_source_codes(session, actor)
    codes = None if allowed is None else allowed
    if source_code and codes is not None and source_code not in codes:
        return Page(items=[], total=0, page=params.page, per_page=params.per_page)
    stmt = repository.batches_query(source_code=source_code, status=status, codes=codes)
    return paginate(session, stmt, params)


def source_for_upload(session: Session, *, actor: Actor, code: str) -> DataSource:
    source = get_source(session, code=code)
    allowed = visible_source_codes(session, actor)
    if allowed is not None and source.code not in allowed:
        raise SourceNotFound()
    return source


UPLOAD_JOB = "ingest.file"


def queue_upload(
    session: Session,
    *,
    actor: Actor,
    source_code: str,
    filename: str,
    stream: BinaryIO,
    via: str,
    settings: Settings | None = None,
) -> jobs.Job:
    """Keep an uploaded file (streamed to disk, hashed on the way) and queue its ingestion;
    the job runs the same pipeline as the command line. The audit record and the job
    commit with the caller's transaction."""
    settings = settings or get_settings()
    source = source_for_upload(session, actor=actor, code=source_code)
    safe = Path(filename or "upload").name[:120] or "upload"
    incoming = settings.data_dir / "ingest" / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    size = 0
    with tempfile.NamedTemporaryFile(dir=incoming, delete=False, suffix=".part") as out:
        while chunk := stream.read(1 << 20):
            h.update(chunk)
            out.write(chunk)
            size += len(chunk)
    if size == 0:
        Path(out.name).unlink(missing_ok=True)
        raise FileRejected("The file is empty.")
    digest = h.hexdigest()
    folder = incoming / digest[:16]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / safe
    Path(out.name).replace(path)
    job = jobs.enqueue(
        session,
        UPLOAD_JOB,
        {
            "source": source.code,
            "path": str(path),
            "filename": safe,
            "sha256": digest,
            "via": via,
            "user_id": actor.user_id,
            "username": actor.username,
            "role": actor.role.value,
            "institution_id": actor.institution_id,
            "api_key_id": actor.api_key_id,
        },
        dedupe_key=f"ingest:{source.code}:{digest}",
    )
    audit.record(
        session,
        actor=actor,
        action="ingest.upload",
        target_type="data_source",
        target_id=source.id,
        details={"filename": safe, "bytes": size, "sha256": digest},
    )
    return job


def upload_job(session: Session, *, actor: Actor, job_id: int) -> jobs.Job:
    """An upload job of the actor (platform-wide roles see all of them)."""
    job = jobs.get_job(session, job_id)
    if (
        job is None
        or job.kind != UPLOAD_JOB
        or (not actor.is_platform_wide and job.payload.get("user_id") != actor.user_id)
    ):
        raise NotFound("No such upload.")
    return job


def batch_of_job(session: Session, *, job: jobs.Job) -> Batch | None:
    return batch_of_upload(session, job.payload)


def batch_of_upload(session: Session, payload: dict[str, Any]) -> Batch | None:
    """The batch an upload job's file became (None while it has not)."""
    source = repository.source_by_code(session, str(payload.get("source", "")))
    if source is None:
        return None
    digest = payload.get("sha256")
    if not isinstance(digest, str):  # queued before the digest was kept in the job
        path = Path(str(payload.get("path", "")))
        if not path.exists():
            return None
        digest, _ = file_digest(path)
    return repository.batch_by_digest(session, source_id=source.id, digest=digest)


def remove_upload(path: Path, settings: Settings | None = None) -> None:
    """Delete an uploaded file once the pipeline is through with it (committed, rejected or
    a duplicate): its values live on in the lake, personal ones sealed; the department
    keeps its original. Only files under the upload folder are touched."""
    settings = settings or get_settings()
    incoming = (settings.data_dir / "ingest" / "incoming").resolve()
    path = path.resolve()
    if incoming not in path.parents:
        return
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # other files of the same digest may remain
        path.parent.rmdir()


def source_code_of(session: Session, batch: Batch) -> str:
    source = repository.source_by_id(session, batch.source_id)
    return source.code if source else ""


# --- data quality across sources ------------------------------------------------------------


@dataclass(frozen=True)
class SourceActivity:
    """What one data source sent: its last committed batch (ever) and, since a date,
    the batches received and refused whole, the values received and rejected in
    committed batches, and the rejected values by reason (warnings left out)."""

    code: str
    name: str
    department: str
    schedule: str
    is_active: bool
    last_batch_at: datetime | None
    batches: int
    rejected_batches: int
    rows_total: int
    rows_rejected: int
    reasons: dict[str, int]


def source_activity(session: Session, *, since: datetime) -> list[SourceActivity]:
    """Every data source, by code (see docs/quality.md for the SQL)."""
    totals = {int(r[0]): r[1:] for r in repository.source_batch_totals(session, since)}
    reasons: dict[int, dict[str, int]] = {}
    for source_id, counts in repository.batch_reasons(session, since):
        mine = reasons.setdefault(source_id, {})
        for reason, n in counts.items():
            if reason in WARNINGS:
                continue
            mine[reason] = mine.get(reason, 0) + int(n)
    out = []
    for source in session.scalars(repository.sources_query()):
        last, batches, refused, total, rejected = totals.get(source.id, (None, 0, 0, 0, 0))
        if isinstance(last, str):  # SQLite answers MAX over a CASE as text
            last = datetime.fromisoformat(last)
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=ZoneInfo("UTC"))
        out.append(
            SourceActivity(
                code=source.code,
                name=source.name,
                department=source.department,
                schedule=source.schedule,
                is_active=source.is_active,
                last_batch_at=last,
                batches=int(batches or 0),
                rejected_batches=int(refused or 0),
                rows_total=int(total or 0),
                rows_rejected=int(rejected or 0),
                reasons=reasons.get(source.id, {}),
            )
        )
    return out
