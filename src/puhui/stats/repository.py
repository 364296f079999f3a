"""Queries of platform statistics.

Two kinds: the *rollup* queries, which group the domains' own tables by month and are run
only by the refresh job (they scan; at full scale they take seconds), and the *read*
queries the pages and the API run, which touch only this package's small tables
(``stats_monthly`` by month, ``stats_grants`` by month, ``lpr_rates``) and stay in
milliseconds. Each rollup query is written out as SQL in ``docs/statistics.md``.

This is the one package that reads other domains' tables directly (read-only, in the
refresh job): statistics are a reporting view over the whole platform, and going through
each domain's service would turn one ``GROUP BY`` into millions of objects (ADR 0020).

A month is the calendar month in Asia/Shanghai, as the integer ``YYYYMM``; the one
dialect seam is ``month_of``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, cast, delete, func, literal, select
from sqlalchemy.orm import Session

from puhui.accounts.models import Institution
from puhui.consent.models import QueryRecord
from puhui.entities.models import Entity
from puhui.ingest.models import Batch, DataSource
from puhui.instant.models import DecisionPolicy, InstantDecision
from puhui.matching.models import Claim, Demand
from puhui.monitoring.models import Alert, Download
from puhui.scoring.models import ScoringModel
from puhui.stats.models import GrantFact, LprRate, MonthlyFigure, Refresh

Row = tuple[int, str, int]  # month, dimension, value


def month_of(session: Session, column: Any) -> ColumnElement[int]:
    """``YYYYMM`` of a UTC timestamp column, in Asia/Shanghai (UTC+8 all year)."""
    if session.get_bind().dialect.name == "sqlite":
        return cast(func.strftime("%Y%m", column, "+8 hours"), Integer)
    return cast(func.to_char(func.timezone("Asia/Shanghai", column), "YYYYMM"), Integer)


def _rows(session: Session, stmt: Any) -> list[Row]:
    return [
        (int(m), str(d) if d is not None else "", int(v or 0)) for m, d, v in session.execute(stmt)
    ]


# --- rollups (the refresh job) -------------------------------------------------------------


def records_by_source(session: Session, since: datetime) -> list[Row]:
    month = month_of(session, Batch.committed_at)
    stmt = (
        select(month, DataSource.code, func.sum(Batch.rows_accepted))
        .join(DataSource, DataSource.id == Batch.source_id)
        .where(Batch.status == "committed", Batch.committed_at >= since)
        .group_by(month, DataSource.code)
    )
    return _rows(session, stmt)


def records_by_category(session: Session, since: datetime) -> list[Row]:
    """Accepted values by indicator category and month: summed from each committed batch's
    ``accepted_by_category`` (a small JSON map; there are thousands of batches, not
    millions, so the sum is done here rather than with each database's JSON functions)."""
    month = month_of(session, Batch.committed_at)
    stmt = select(month, Batch.accepted_by_category).where(
        Batch.status == "committed", Batch.committed_at >= since
    )
    sums: dict[tuple[int, str], int] = {}
    for m, counts in session.execute(stmt):
        for category, n in (counts or {}).items():
            key = (int(m), str(category))
            sums[key] = sums.get(key, 0) + int(n)
    return [(m, c, n) for (m, c), n in sorted(sums.items())]


def queries_by(session: Session, since: datetime, column: Any) -> list[Row]:
    month = month_of(session, QueryRecord.created_at)
    stmt = (
        select(month, column, func.count())
        .where(QueryRecord.created_at >= since)
        .group_by(month, column)
    )
    return _rows(session, stmt)


def queries_by_institution(session: Session, since: datetime) -> list[Row]:
    return queries_by(session, since, QueryRecord.institution_id)


def queries_by_purpose(session: Session, since: datetime) -> list[Row]:
    return queries_by(session, since, QueryRecord.purpose)


def demands_by_channel(session: Session, since: datetime) -> list[Row]:
    month = month_of(session, Demand.created_at)
    stmt = (
        select(month, Demand.channel, func.count())
        .where(Demand.created_at >= since)
        .group_by(month, Demand.channel)
    )
    return _rows(session, stmt)


def closed_by_channel_outcome(session: Session, since: datetime) -> list[Row]:
    month = month_of(session, Demand.closed_at)
    stmt = (
        select(month, Demand.channel, Demand.status, func.count())
        .where(Demand.closed_at.is_not(None), Demand.closed_at >= since)
        .group_by(month, Demand.channel, Demand.status)
    )
    return [(int(m), f"{c}:{s}", int(n)) for m, c, s, n in session.execute(stmt)]


def alerts(session: Session, since: datetime) -> list[Row]:
    month = month_of(session, Alert.created_at)
    stmt = select(month, literal(""), func.count()).where(Alert.created_at >= since).group_by(month)
    return _rows(session, stmt)


def alerted_months(session: Session, since: datetime) -> list[tuple[int, int]]:
    """Distinct (entity, month) pairs of alerts from ``since``, in month order."""
    month = month_of(session, Alert.created_at)
    stmt = (
        select(Alert.entity_id, month)
        .where(Alert.created_at >= since)
        .group_by(Alert.entity_id, month)
        .order_by(month)
    )
    return [(int(e), int(m)) for e, m in session.execute(stmt)]


def last_alerted_before(session: Session, since: datetime) -> dict[int, int]:
    """The latest alert month before ``since`` of each entity alerted from ``since`` on
    (the only ones the distinct count needs: one index range per such entity, not every
    alert ever)."""
    month = month_of(session, Alert.created_at)
    recent = select(Alert.entity_id).where(Alert.created_at >= since).distinct()
    stmt = (
        select(Alert.entity_id, func.max(month))
        .where(Alert.created_at < since, Alert.entity_id.in_(recent.scalar_subquery()))
        .group_by(Alert.entity_id)
    )
    return {int(e): int(m) for e, m in session.execute(stmt)}


def alert_sms(session: Session, since: datetime) -> list[Row]:
    month = month_of(session, Alert.sms_at)
    stmt = (
        select(month, literal(""), func.count())
        .where(Alert.sms_at.is_not(None), Alert.sms_at >= since)
        .group_by(month)
    )
    return _rows(session, stmt)


def downloads(session: Session, since: datetime) -> tuple[list[Row], list[Row]]:
    month = month_of(session, Download.created_at)
    stmt = (
        select(month, func.count(), func.sum(Download.row_count))
        .where(Download.created_at >= since)
        .group_by(month)
    )
    counts, rows = [], []
    for m, n, r in session.execute(stmt):
        counts.append((int(m), "", int(n)))
        rows.append((int(m), "", int(r or 0)))
    return counts, rows


def instant_decisions(session: Session, since: datetime) -> list[Row]:
    month = month_of(session, InstantDecision.created_at)
    stmt = (
        select(month, InstantDecision.outcome, func.count())
        .where(InstantDecision.created_at >= since)
        .group_by(month, InstantDecision.outcome)
    )
    return _rows(session, stmt)


def institutions_by_kind(session: Session) -> list[Row]:
    """Every institution connected, by the month it was created (small table: all of it)."""
    month = month_of(session, Institution.created_at)
    stmt = select(month, Institution.kind, func.count()).group_by(month, Institution.kind)
    return _rows(session, stmt)


def models_created(session: Session) -> list[Row]:
    month = month_of(session, ScoringModel.created_at)
    stmt = select(month, literal(""), func.count()).group_by(month)
    return _rows(session, stmt)


def instant_products(session: Session) -> list[Row]:
    """Online products by the month their first decision policy was written."""
    first = (
        select(func.min(DecisionPolicy.created_at).label("at"))
        .group_by(DecisionPolicy.product_id)
        .subquery()
    )
    month = month_of(session, first.c.at)
    stmt = select(month, literal(""), func.count()).group_by(month)
    return _rows(session, stmt)


def count_entities(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Entity)) or 0)


def grants_since(session: Session, since: datetime) -> list[Any]:
    """Granted claims (the loans) that ended on or after ``since``, oldest first."""
    stmt = (
        select(
            Claim.id,
            Claim.demand_id,
            Demand.entity_id,
            Claim.institution_id,
            Demand.channel,
            Claim.ended_at,
            Demand.created_at,
            Claim.amount_fen,
            Claim.rate_bp,
        )
        .join(Demand, Demand.id == Claim.demand_id)
        .where(Claim.status == "granted", Claim.ended_at.is_not(None), Claim.ended_at >= since)
        .order_by(Claim.ended_at, Claim.id)
    )
    return list(session.execute(stmt))


def last_financed_before(session: Session, entity_ids: Iterable[int]) -> dict[int, int]:
    """Of ``entity_ids``, each one's latest loan month already in ``stats_grants``."""
    ids = sorted(set(entity_ids))
    found: dict[int, int] = {}
    for i in range(0, len(ids), 900):
        chunk = ids[i : i + 900]
        stmt = (
            select(GrantFact.entity_id, func.max(GrantFact.month))
            .where(GrantFact.entity_id.in_(chunk))
            .group_by(GrantFact.entity_id)
        )
        found.update({int(e): int(m) for e, m in session.execute(stmt)})
    return found


def clear_months(session: Session, metrics: Sequence[str], since_month: int) -> None:
    session.execute(
        delete(MonthlyFigure).where(
            MonthlyFigure.metric.in_(metrics), MonthlyFigure.month >= since_month
        )
    )


def clear_grants(session: Session, since_month: int) -> None:
    session.execute(delete(GrantFact).where(GrantFact.month >= since_month))


def put_figures(session: Session, metric: str, rows: Iterable[Row], since_month: int) -> int:
    merged: dict[tuple[int, str], int] = {}
    for month, dim, value in rows:
        if month >= since_month:
            merged[(month, dim)] = merged.get((month, dim), 0) + value
    session.add_all(
        MonthlyFigure(metric=metric, month=m, dim=d, value=v) for (m, d), v in merged.items()
    )
    return len(merged)


def put_grants(session: Session, facts: Iterable[GrantFact]) -> None:
    session.add_all(facts)


def add_refresh(session: Session, refresh: Refresh) -> None:
    session.add(refresh)


def last_refresh(session: Session) -> Refresh | None:
    return session.scalars(select(Refresh).order_by(Refresh.id.desc()).limit(1)).first()


# --- reads (pages and API) -----------------------------------------------------------------


def figures(session: Session, *, first: int, last: int) -> list[tuple[str, int, str, int]]:
    stmt = select(
        MonthlyFigure.metric, MonthlyFigure.month, MonthlyFigure.dim, MonthlyFigure.value
    ).where(MonthlyFigure.month >= first, MonthlyFigure.month <= last)
    # Core rows, not ORM ones: tens of thousands of tuples at full scale
    return [tuple(r) for r in session.connection().execute(stmt).all()]  # type: ignore[misc]


def figures_before(
    session: Session, metrics: Sequence[str], first: int
) -> list[tuple[str, str, int]]:
    """Totals of ``metrics`` before month ``first`` (for cumulative series)."""
    stmt = (
        select(MonthlyFigure.metric, MonthlyFigure.dim, func.sum(MonthlyFigure.value))
        .where(MonthlyFigure.metric.in_(metrics), MonthlyFigure.month < first)
        .group_by(MonthlyFigure.metric, MonthlyFigure.dim)
    )
    return [(str(a), str(b), int(c or 0)) for a, b, c in session.execute(stmt)]


def latest_as_of(session: Session, metric: str, last: int) -> tuple[int, int] | None:
    """The newest (month, value) of an as-of metric in or before month ``last``."""
    row = session.execute(
        select(MonthlyFigure.month, MonthlyFigure.value)
        .where(MonthlyFigure.metric == metric, MonthlyFigure.month <= last)
        .order_by(MonthlyFigure.month.desc())
        .limit(1)
    ).first()
    return (int(row[0]), int(row[1])) if row else None


def institution_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(Institution.id, Institution.name).where(Institution.id.in_(wanted))
    )
    return {int(i): str(n) for i, n in rows}


def lpr_all(session: Session) -> list[LprRate]:
    return list(
        session.scalars(select(LprRate).order_by(LprRate.effective_on.desc(), LprRate.tenor))
    )


def lpr_exists(session: Session, *, tenor: str, effective_on: date) -> bool:
    return (
        session.scalar(
            select(LprRate.id).where(LprRate.tenor == tenor, LprRate.effective_on == effective_on)
        )
        is not None
    )


def add_lpr(session: Session, rate: LprRate) -> None:
    session.add(rate)
    session.flush()
