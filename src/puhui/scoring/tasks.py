"""Scoring's background work: training a model on a labelled sample, and scoring the
whole population with an approved version."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from puhui.core.jobs import job_handler
from puhui.scoring import service


@job_handler(service.TRAIN_JOB)
def train(session: Session, payload: dict[str, Any]) -> None:
    service.run_training(session, run_id=int(payload["run_id"]))


@job_handler(service.BATCH_JOB)
def batch(session: Session, payload: dict[str, Any]) -> None:
    service.run_batch(session, run_id=int(payload["run_id"]))
