"""Scoring queries: models, versions, training and batch runs of one institution."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from puhui.scoring.models import (
    APPROVED,
    DONE,
    BatchRun,
    ModelVersion,
    ScoringModel,
    TrainingRun,
)


def add(session: Session, row: object) -> None:
    session.add(row)
    session.flush()


def model(session: Session, model_id: int) -> ScoringModel | None:
    return session.get(ScoringModel, model_id)


def model_by_name(session: Session, institution_id: int, name: str) -> ScoringModel | None:
    return session.scalar(
        select(ScoringModel).where(
            ScoringModel.institution_id == institution_id, ScoringModel.name == name
        )
    )


def models_of(session: Session, institution_id: int) -> list[ScoringModel]:
    return list(
        session.scalars(
            select(ScoringModel)
            .where(ScoringModel.institution_id == institution_id)
            .order_by(ScoringModel.id.desc())
            .limit(100)
        )
    )


def version(session: Session, version_id: int, *, lock: bool = False) -> ModelVersion | None:
    return session.get(ModelVersion, version_id, with_for_update=lock)


def version_with_model(
    session: Session, version_id: int
) -> tuple[ModelVersion, ScoringModel] | None:
    row = session.execute(
        select(ModelVersion, ScoringModel)
        .join(ScoringModel, ScoringModel.id == ModelVersion.model_id)
        .where(ModelVersion.id == version_id)
    ).first()
    return None if row is None else (row[0], row[1])


def versions_of(session: Session, model_id: int) -> list[ModelVersion]:
    return list(
        session.scalars(
            select(ModelVersion)
            .where(ModelVersion.model_id == model_id)
            .order_by(ModelVersion.number.desc())
        )
    )


def version_counts(session: Session, model_ids: list[int]) -> dict[int, tuple[int, list[int]]]:
    out: dict[int, tuple[int, list[int]]] = {i: (0, []) for i in model_ids}
    rows = session.execute(
        select(ModelVersion.model_id, ModelVersion.id, ModelVersion.status).where(
            ModelVersion.model_id.in_(model_ids)
        )
    )
    for model_id, version_id, status in rows:
        n, approved = out[model_id]
        out[model_id] = (n + 1, [*approved, version_id] if status == APPROVED else approved)
    return out


def next_number(session: Session, model_id: int) -> int:
    top = session.scalar(
        select(func.max(ModelVersion.number)).where(ModelVersion.model_id == model_id)
    )
    return int(top or 0) + 1


def training_run(session: Session, run_id: int, *, lock: bool = False) -> TrainingRun | None:
    return session.get(TrainingRun, run_id, with_for_update=lock)


def training_runs_of(session: Session, model_id: int) -> list[TrainingRun]:
    return list(
        session.scalars(
            select(TrainingRun)
            .where(TrainingRun.model_id == model_id)
            .order_by(TrainingRun.id.desc())
            .limit(20)
        )
    )


def batch_run(session: Session, run_id: int, *, lock: bool = False) -> BatchRun | None:
    return session.get(BatchRun, run_id, with_for_update=lock)


def batch_runs_of(session: Session, version_id: int) -> list[BatchRun]:
    return list(
        session.scalars(
            select(BatchRun)
            .where(BatchRun.version_id == version_id)
            .order_by(BatchRun.id.desc())
            .limit(20)
        )
    )


def latest_done_batch(session: Session, version_id: int) -> BatchRun | None:
    return session.scalar(
        select(BatchRun)
        .where(BatchRun.version_id == version_id, BatchRun.status == DONE)
        .order_by(BatchRun.id.desc())
        .limit(1)
    )
