"""Is the platform changing outcomes? Banks' service quality (the matching league, month
by month), data quality by source and by indicator category, and the coverage of
inclusive finance by district and industry.

Invariants
- Service quality and coverage are read from rollups (``quality_*`` tables) that
  :func:`refresh` recomputes whole from the platform's own data (the hourly job, or an
  operator's request); the figures are exactly those of the direct computation as of the
  refresh (``as_of``), which tests/quality/test_rollups.py checks. docs/quality.md gives
  the SQL that reproduces each one.
- Data quality is computed when asked. The share of entities with a value per category
  scans the snapshot's validity bitmaps, kept per process per snapshot version (which
  is immutable).
- An institution's administrator sees its own institution's row and trend; other
  institutions only as ranks (no id, no name).
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.orm import Session

from puhui.audit import service as audit
from puhui.catalog import service as catalog
from puhui.config import Settings, get_settings
from puhui.core.i18n import gettext
from puhui.core.orm import utcnow
from puhui.core.policy import Actor, Role
from puhui.core.snapshot import Snapshot, SnapshotNotFound, SnapshotView
from puhui.entities import service as entities
from puhui.ingest import service as ingest
from puhui.matching import service as matching
from puhui.quality import repository
from puhui.quality.models import FirstLoans, Median, Place, Refresh, ServiceMonth
from puhui.quality.schemas import (
    DISTRICT_TILES,
    SCHEDULE_DAYS,
    SECTIONS,
    CategoryQuality,
    Coverage,
    CoverageMonth,
    DataQuality,
    PlaceCoverage,
    ReasonCount,
    ServiceQuality,
    ServiceRow,
    SourceQuality,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
TOP_REASONS = 3
_lock = threading.Lock()
_snapshots: dict[str, Snapshot] = {}
_category_counts: dict[tuple[str, int], dict[str, tuple[int, int, float]]] = {}
REFRESH_JOB = "quality.refresh"
KEEP_REFRESHES = 200
COUNT_FIELDS = (
    "claims",
    "active",
    "in_sla",
    "contact_known",
    "granted",
    "overdue",
    "rating_sum",
    "ratings",
    "complaints",
)


def _share(part: int, whole: int, places: int = 4) -> float | None:
    return round(part / whole, places) if whole else None


def month_keys(months: int, now: datetime) -> list[str]:
    """The last ``months`` calendar months (Asia/Shanghai) up to ``now``'s, oldest first."""
    local = now.astimezone(SHANGHAI)
    y, m = local.year, local.month
    keys = []
    for _ in range(months):
        keys.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return keys[::-1]


def month_start(key: str) -> datetime:
    """The first instant of month ``YYYY-MM`` in Asia/Shanghai, in UTC."""
    y, m = int(key[:4]), int(key[5:7])
    return datetime(y, m, 1, tzinfo=SHANGHAI).astimezone(UTC)


# --- bank service quality -------------------------------------------------------------


def service_quality(
    session: Session, *, actor: Actor, months: int = 12, now: datetime | None = None
) -> ServiceQuality:
    """The league over the claims made in the last ``months`` months, with each
    institution's monthly figures; administrators see others anonymised. Read from the
    rollups: the figures are those of :func:`puhui.matching.service.league_report` as of
    the last refresh (none before the first)."""
    now = now or utcnow()
    keys = month_keys(months, now)
    since = month_start(keys[0])
    run = repository.last_refresh(session)
    counts = {
        (r.institution_id, r.month): {f: int(getattr(r, f)) for f in COUNT_FIELDS}
        for r in repository.service_months(session, keys[0])
    }
    medians: list[tuple[str, int | None, str | None, float]] = [
        ("m", i, m, h) for i, m, h in repository.medians(session, "m", keys[0])
    ]
    medians += [("p", None, m, h) for _i, m, h in repository.medians(session, "p", keys[0])]
    # an institution's claims since keys[0] are those since its first month ≥ keys[0]
    window: dict[int, tuple[str, float]] = {}
    for i, m, h in repository.medians(session, "w", keys[0]):
        if i not in window or m < window[i][0]:
            window[i] = (m, h)
    medians += [("i", i, None, h) for i, (_m, h) in window.items()]
    report = matching.league_from(session, counts, medians)
    own = actor.institution_id if actor.role is Role.INSTITUTION_ADMIN else None
    named = actor.role is not Role.INSTITUTION_ADMIN
    rows = []
    for rank, r in enumerate(report.rows, start=1):
        visible = named or r.institution_id == own
        rows.append(
            ServiceRow(
                rank=rank,
                institution_id=r.institution_id if visible else None,
                institution_name=r.institution_name if visible else None,
                **r.model_dump(exclude={"institution_id", "institution_name"}),
            )
        )
    trend = [
        m
        for m in report.months
        if m.month in keys and (named or m.institution_id is None or m.institution_id == own)
    ]
    return ServiceQuality(
        since=since,
        months=keys,
        rows=rows,
        trend=trend,
        as_of=run.started_at if run else None,
    )


# --- the rollups ----------------------------------------------------------------------


def refresh(session: Session, *, now: datetime | None = None) -> Refresh:
    """Recompute every service-quality and coverage rollup as of ``now``, whole, in the
    caller's transaction (readers see the old rollups until it commits). Idempotent."""
    started = now or utcnow()
    rows = repository.replace(
        session,
        ServiceMonth,
        (
            {"institution_id": inst, "month": month, **counts}
            for (inst, month), counts in matching.league_counts(session, now=started).items()
        ),
    )
    rows += repository.replace(
        session,
        Median,
        (
            {"scope": scope, "institution_id": inst, "month": month, "hours": hours}
            for scope, inst, month, hours in contact_medians(matching.contact_hours(session))
        ),
    )
    rows += repository.replace(
        session,
        FirstLoans,
        (
            {"district": d, "section": s or "", "month": m, "entities": n}
            for d, s, m, n in matching.first_loans(session)
        ),
    )
    rows += repository.replace(
        session,
        Place,
        (
            {"district": d, "section": s or "", "entities": n}
            for d, s, n in entities.counts_by_place(session)
        ),
    )
    run = Refresh(started_at=started, finished_at=utcnow(), rows=rows)
    repository.add_refresh(session, run)
    session.flush()
    repository.prune_refreshes(session, KEEP_REFRESHES)
    return run


def last_refresh(session: Session) -> Refresh | None:
    return repository.last_refresh(session)


def _median(values: np.ndarray[Any, Any]) -> float:
    """The mean of the one or two middle values, summed as the league sums them."""
    ordered = np.sort(values)
    n = len(ordered)
    middle = (
        [float(ordered[n // 2])] if n % 2 else [float(x) for x in ordered[n // 2 - 1 : n // 2 + 1]]
    )
    return sum(middle) / len(middle)


def contact_medians(
    values: Iterable[tuple[int, str, float]],
) -> list[tuple[str, int, str, float]]:
    """From every contacted claim's (institution, month, hours): the exact median of each
    institution in a month (``m``), of the platform in a month (``p``, institution 0) and
    of each institution over the months from each of its months on (``w``)."""
    by_inst: dict[int, dict[str, list[float]]] = {}
    by_month: dict[str, list[float]] = {}
    for inst, month, hours in values:
        by_inst.setdefault(inst, {}).setdefault(month, []).append(hours)
        by_month.setdefault(month, []).append(hours)
    out: list[tuple[str, int, str, float]] = []
    for inst, per_month in by_inst.items():
        acc: list[np.ndarray[Any, Any]] = []
        for month in sorted(per_month, reverse=True):
            arr = np.asarray(per_month[month], dtype=np.float64)
            out.append(("m", inst, month, _median(arr)))
            acc.append(arr)
            out.append(("w", inst, month, _median(np.concatenate(acc))))
    out += [("p", 0, m, _median(np.asarray(v, dtype=np.float64))) for m, v in by_month.items()]
    return out


# --- data quality ---------------------------------------------------------------------


def data_quality(
    session: Session,
    *,
    days: int = 90,
    now: datetime | None = None,
    locale: str = "zh_CN",
    settings: Settings | None = None,
) -> DataQuality:
    """Per source: freshness against its schedule, and over the last ``days`` days the
    batches, the rejection rate of values and the top rejection reasons. Per category:
    the share of registered entities with at least one value in the snapshot."""
    now = now or utcnow()
    since = now - timedelta(days=days)
    sources = [
        _source_quality(a, now, locale) for a in ingest.source_activity(session, since=since)
    ]
    n = entities.count(session)
    version, counts = _categories(session, settings or get_settings())
    categories = []
    for category in catalog.CATEGORIES:
        indicators, with_value, fill = counts.get(category, (0, 0, 0.0))
        categories.append(
            CategoryQuality(
                category=category,
                label=gettext(locale, category),
                indicators=indicators,
                entities_with_value=with_value,
                share=_share(with_value, n) if version is not None else None,
                fill_rate=round(fill / n / indicators, 4) if n and indicators else None,
            )
        )
    return DataQuality(
        since=since,
        now=now,
        entities=n,
        snapshot_version=version,
        sources=sources,
        categories=categories,
    )


def _source_quality(a: ingest.SourceActivity, now: datetime, locale: str) -> SourceQuality:
    period = timedelta(days=SCHEDULE_DAYS.get(a.schedule, 31))
    due = a.last_batch_at + period if a.last_batch_at else None
    if due is None:
        state, late = "never", None
    elif now > due:
        state, late = "overdue", (now - due).days
    else:
        state, late = "on_time", 0
    top = sorted(a.reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_REASONS]
    return SourceQuality(
        code=a.code,
        name=a.name,
        department=a.department,
        schedule=a.schedule,
        is_active=a.is_active,
        last_batch_at=a.last_batch_at,
        due_at=due,
        overdue_days=late,
        state=state,
        batches=a.batches,
        rejected_batches=a.rejected_batches,
        rows_total=a.rows_total,
        rows_rejected=a.rows_rejected,
        rejection_rate=_share(a.rows_rejected, a.rows_total),
        top_reasons=[
            ReasonCount(reason=r, label=ingest.reason_message(locale, r), count=c) for r, c in top
        ],
    )


def _categories(
    session: Session, settings: Settings
) -> tuple[int | None, dict[str, tuple[int, int, float]]]:
    """(snapshot version, {category: (indicators, entities with a value, summed
    per-indicator values)}); nothing before the first snapshot."""
    path = str(ingest.snapshot_dir(settings))
    try:
        with _lock:
            snap = _snapshots.get(path)
            if snap is None:
                snap = _snapshots[path] = Snapshot.open(path)
        view = snap.current()
    except SnapshotNotFound:
        return None, {}
    key = (path, view.version)
    with _lock:
        known = _category_counts.get(key)
    if known is None:
        known = category_counts(view)
        with _lock:
            for k in [k for k in _category_counts if k[0] == path]:
                del _category_counts[k]
            _category_counts[key] = known
    return view.version, known


def category_counts(view: SnapshotView) -> dict[str, tuple[int, int, float]]:
    """Per category: its indicators in the snapshot, the rows with a value in at least
    one of them, and the sum over its indicators of the rows with a value. Read from the
    Arrow validity bitmaps (an OR of bytes per column), not from the values."""
    by_category: dict[str, list[str]] = {}
    for spec in view.indicators:
        if spec.code in view.group_of:
            by_category.setdefault(spec.category, []).append(spec.code)
    out = {}
    for category, codes in by_category.items():
        any_valid, per_column = valid_rows([view.column(c) for c in codes], view.n_entities)
        out[category] = (len(codes), any_valid, float(sum(per_column)))
    return out


def valid_rows(columns: Sequence[pl.Series], n: int) -> tuple[int, list[int]]:
    """Rows (of ``n``) non-null in at least one column, and each column's non-null rows."""
    acc = np.zeros((n + 7) // 8, dtype=np.uint8)
    per_column = []
    for series in columns:
        arr = series.to_arrow()
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        valid = len(arr) - arr.null_count
        per_column.append(valid)
        if valid == 0:
            continue
        bitmap = arr.buffers()[0]
        if arr.null_count == 0:
            bits = np.packbits(np.ones(len(arr), dtype=bool), bitorder="little")
        elif bitmap is not None and arr.offset == 0:
            bits = np.frombuffer(bitmap, dtype=np.uint8, count=(len(arr) + 7) // 8)
        else:
            bits = np.packbits(np.asarray(pc.is_valid(arr), dtype=bool), bitorder="little")
        k = min(len(bits), len(acc))
        acc[:k] |= bits[:k]
    rows = int(np.unpackbits(acc, count=n, bitorder="little").sum()) if n else 0
    return rows, per_column


# --- coverage of inclusive finance ----------------------------------------------------


def coverage(session: Session, *, months: int = 12, now: datetime | None = None) -> Coverage:
    """Share of active entities that got a loan through the platform, by district and
    industry section, and month by month (cumulative) for the city and each district."""
    now = now or utcnow()
    keys = month_keys(months, now)
    run = repository.last_refresh(session)
    places = [(d, s or None, n) for d, s, n in repository.places(session)]
    loans = [(d, s or None, m, n) for d, s, m, n in repository.first_loans(session)]
    by_district: dict[str, int] = {}
    by_section: dict[str, int] = {}
    for district, section, n in places:
        by_district[district] = by_district.get(district, 0) + n
        by_section[section or "-"] = by_section.get(section or "-", 0) + n
    got_district: dict[str, int] = {}
    got_section: dict[str, int] = {}
    for district, section, _month, n in loans:
        got_district[district] = got_district.get(district, 0) + n
        got_section[section or "-"] = got_section.get(section or "-", 0) + n
    total = sum(by_district.values())
    borrowers = sum(got_district.values())
    districts = []
    for code in sorted(set(entities.DISTRICTS) | set(by_district) | set(got_district)):
        col, row = DISTRICT_TILES.get(code, (None, None))
        districts.append(
            PlaceCoverage(
                code=code,
                name=entities.DISTRICTS.get(code, code),
                entities=by_district.get(code, 0),
                borrowers=got_district.get(code, 0),
                share=_share(got_district.get(code, 0), by_district.get(code, 0)),
                column=col,
                row=row,
            )
        )
    industries = [
        PlaceCoverage(
            code=code,
            name=SECTIONS.get(code, code),
            entities=by_section.get(code, 0),
            borrowers=got_section.get(code, 0),
            share=_share(got_section.get(code, 0), by_section.get(code, 0)),
        )
        for code in sorted(set(by_section) | set(got_section))
    ]
    trend = _coverage_trend(keys, loans, by_district, total)
    return Coverage(
        entities=total,
        borrowers=borrowers,
        share=_share(borrowers, total),
        months=keys,
        districts=districts,
        industries=industries,
        trend=trend,
        as_of=run.started_at if run else None,
    )


def _coverage_trend(
    keys: list[str],
    loans: Iterable[tuple[str, str | None, str, int]],
    by_district: dict[str, int],
    total: int,
) -> list[CoverageMonth]:
    new: dict[tuple[str | None, str], int] = {}
    before: dict[str | None, int] = {}
    for district, _section, month, n in loans:
        for place in (None, district):
            if month < keys[0]:
                before[place] = before.get(place, 0) + n
            else:
                new[(place, month)] = new.get((place, month), 0) + n
    out = []
    for place in [None, *sorted(set(entities.DISTRICTS) | set(by_district))]:
        running = before.get(place, 0)
        whole = total if place is None else by_district.get(place, 0)
        for key in keys:
            fresh = new.get((place, key), 0)
            running += fresh
            out.append(
                CoverageMonth(
                    district=place,
                    month=key,
                    new_borrowers=fresh,
                    borrowers=running,
                    share=_share(running, whole),
                )
            )
    return out


# --- CSV ------------------------------------------------------------------------------


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """UTF-8 with a BOM, so spreadsheet programs read the Chinese names."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def service_csv(report: ServiceQuality) -> bytes:
    fields = [
        "claims",
        "active",
        "median_contact_hours",
        "within_sla",
        "granted",
        "grant_rate",
        "overdue",
        "satisfaction",
        "ratings",
        "complaints",
    ]
    rows: list[list[Any]] = [
        ["total", r.rank, r.institution_id, r.institution_name, *[getattr(r, f) for f in fields]]
        for r in report.rows
    ]
    names = {r.institution_id: r.institution_name for r in report.rows if r.institution_id}
    rows += [
        [
            m.month,
            None,
            m.institution_id,
            names.get(m.institution_id) if m.institution_id else "",
            *[getattr(m, f) for f in fields],
        ]
        for m in report.trend
    ]
    return _csv(["period", "rank", "institution_id", "institution", *fields], rows)


def data_csv(report: DataQuality) -> bytes:
    rows: list[list[Any]] = [
        [
            "source",
            s.code,
            s.name,
            s.schedule,
            s.last_batch_at.isoformat() if s.last_batch_at else None,
            s.state,
            s.overdue_days,
            s.batches,
            s.rejected_batches,
            s.rows_total,
            s.rows_rejected,
            s.rejection_rate,
            "; ".join(f"{r.reason}={r.count}" for r in s.top_reasons),
            None,
        ]
        for s in report.sources
    ]
    rows += [
        [
            "category",
            c.category,
            c.label,
            None,
            None,
            None,
            None,
            c.indicators,
            None,
            report.entities,
            c.entities_with_value,
            c.share,
            None,
            c.fill_rate,
        ]
        for c in report.categories
    ]
    header = [
        "kind",
        "code",
        "name",
        "schedule",
        "last_batch_at",
        "state",
        "overdue_days",
        "batches_or_indicators",
        "rejected_batches",
        "rows_or_entities",
        "rejected_or_with_value",
        "rejection_rate_or_share",
        "top_reasons",
        "fill_rate",
    ]
    return _csv(header, rows)


def coverage_csv(report: Coverage) -> bytes:
    rows: list[list[Any]] = [
        ["district", d.code, d.name, None, d.entities, None, d.borrowers, d.share]
        for d in report.districts
    ]
    rows += [
        ["industry", i.code, i.name, None, i.entities, None, i.borrowers, i.share]
        for i in report.industries
    ]
    names = {d.code: d.name for d in report.districts}
    rows += [
        [
            "month",
            t.district or "",
            names.get(t.district or "", "") if t.district else "",
            t.month,
            None,
            t.new_borrowers,
            t.borrowers,
            t.share,
        ]
        for t in report.trend
    ]
    return _csv(
        ["kind", "code", "name", "month", "entities", "new_borrowers", "borrowers", "share"], rows
    )


def record_export(session: Session, *, actor: Actor, report: str, **params: Any) -> None:
    """A CSV of the figures left the platform: who took which, with which parameters."""
    audit.record(
        session,
        actor=actor,
        action="quality.export",
        target_type="quality",
        target_id=report,
        details=params,
    )
