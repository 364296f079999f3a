"""Scoring tables: a bank's models, their versions (each one scorecard, with its
maker/checker trail), the training runs that produce versions from a labelled sample,
and the batch runs that score the whole population.

A version's ``definition`` never changes once written: a change is a new version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from puhui.core.orm import Base, CreatedAtMixin, UTCDateTime

# version states (see service.TRANSITIONS)
DRAFT = "draft"
PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"
RETIRED = "retired"
VERSION_STATES = (DRAFT, PENDING, APPROVED, REJECTED, RETIRED)

# run states (training and batch scoring)
QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"


class ScoringModel(CreatedAtMixin, Base):
    __tablename__ = "scoring_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (UniqueConstraint("institution_id", "name"),)


class ModelVersion(CreatedAtMixin, Base):
    __tablename__ = "scoring_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("scoring_models.id"))
    number: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(12))  # scorecard (written) or trained
    status: Mapped[str] = mapped_column(String(12), default=DRAFT)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    binning: Mapped[list[Any] | None] = mapped_column(JSON)
    # bin shares and score deciles of the training population (or, for a written card,
    # of the snapshot population when it was submitted): the PSI baseline
    population: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str] = mapped_column(String(300), default="")

    __table_args__ = (UniqueConstraint("model_id", "number"),)

    def is_approved(self) -> bool:
        return self.status == APPROVED


class TrainingRun(CreatedAtMixin, Base):
    __tablename__ = "scoring_training_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("scoring_models.id"))
    status: Mapped[str] = mapped_column(String(12), default=QUEUED)
    filename: Mapped[str] = mapped_column(String(200), default="")
    # [[entity_id, bad], ...] of the matched rows: the labels never leave the platform
    sample: Mapped[list[Any]] = mapped_column(JSON)
    n_rows: Mapped[int] = mapped_column(Integer, default=0)
    n_matched: Mapped[int] = mapped_column(Integer, default=0)
    n_bad: Mapped[int] = mapped_column(Integer, default=0)
    features: Mapped[list[str]] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("scoring_versions.id"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_scoring_training_runs_model", "model_id"),)


class BatchRun(CreatedAtMixin, Base):
    """One scoring of the whole population by one version; its ranked leads are a file
    under the data folder (entity, score, reason codes), read page by page."""

    __tablename__ = "scoring_batch_runs"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("scoring_versions.id"))
    status: Mapped[str] = mapped_column(String(12), default=QUEUED)
    snapshot_version: Mapped[int | None] = mapped_column(Integer)
    n_scored: Mapped[int] = mapped_column(Integer, default=0)
    path: Mapped[str | None] = mapped_column(String(300))
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_scoring_batch_runs_version", "version_id"),)
