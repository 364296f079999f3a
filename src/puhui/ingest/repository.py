from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, case, delete, func, select
from sqlalchemy.orm import Session

from puhui.ingest.models import Batch, BatchIssue, DataSource


def source_by_code(session: Session, code: str) -> DataSource | None:
    return session.scalar(select(DataSource).where(DataSource.code == code))


def sources_query() -> Select[Any]:
    return select(DataSource).order_by(DataSource.code)


def batch(session: Session, batch_id: int) -> Batch | None:
    return session.get(Batch, batch_id)


def batch_by_digest(session: Session, *, source_id: int, digest: str) -> Batch | None:
    return session.scalar(
        select(Batch).where(Batch.source_id == source_id, Batch.content_sha256 == digest)
    )


def source_by_id(session: Session, source_id: int) -> DataSource | None:
    return session.get(DataSource, source_id)


def sources_of_institution(session: Session, institution_id: int) -> list[DataSource]:
    stmt = select(DataSource).where(DataSource.institution_id == institution_id)
    return list(session.scalars(stmt))


def batches_query(
    *, source_code: str | None, status: str | None, codes: set[str] | None = None
) -> Select[Any]:
    stmt = select(Batch).join(DataSource, DataSource.id == Batch.source_id)
    if source_code:
        stmt = stmt.where(DataSource.code == source_code)
    if codes is not None:
        stmt = stmt.where(DataSource.code.in_(sorted(codes)))
    if status:
        stmt = stmt.where(Batch.status == status)
    return stmt.order_by(Batch.id.desc())


def issues_query(batch_id: int) -> Select[Any]:
    return (
        select(BatchIssue)
        .where(BatchIssue.batch_id == batch_id)
        .order_by(BatchIssue.row, BatchIssue.id)
    )


def replace_issues(session: Session, batch_id: int, issues: Sequence[BatchIssue]) -> None:
    session.execute(delete(BatchIssue).where(BatchIssue.batch_id == batch_id))
    session.add_all(issues)


def batches_with_sources(session: Session, ids: list[int]) -> list[tuple[Batch, DataSource]]:
    if not ids:
        return []
    rows = session.execute(
        select(Batch, DataSource)
        .join(DataSource, DataSource.id == Batch.source_id)
        .where(Batch.id.in_(ids))
    )
    return [(b, s) for b, s in rows]


def source_batch_totals(session: Session, since: Any) -> list[tuple[Any, ...]]:
    """Per data source: the last committed batch (ever), and since ``since`` the batches
    received, the batches refused whole, and the values received and rejected in
    committed batches. Sources without a batch have a row of zeros."""
    committed = Batch.status == "committed"
    recent = Batch.created_at >= since
    stmt = (
        select(
            DataSource.id,
            func.max(case((committed, Batch.committed_at))),
            func.count(case((recent, Batch.id))),
            func.count(case((and_(recent, Batch.status == "rejected"), Batch.id))),
            func.coalesce(func.sum(case((and_(recent, committed), Batch.rows_total), else_=0)), 0),
            func.coalesce(
                func.sum(case((and_(recent, committed), Batch.rows_rejected), else_=0)), 0
            ),
        )
        .outerjoin(Batch, Batch.source_id == DataSource.id)
        .group_by(DataSource.id)
    )
    return [tuple(row) for row in session.execute(stmt)]


def batch_reasons(session: Session, since: Any) -> list[tuple[int, dict[str, Any]]]:
    """(source, issue counts by reason) of each committed batch received since ``since``
    (a few thousand batches a year: summed in Python)."""
    rows = session.execute(
        select(Batch.source_id, Batch.reasons).where(
            Batch.created_at >= since, Batch.status == "committed"
        )
    )
    return [(int(source_id), dict(reasons or {})) for source_id, reasons in rows]
