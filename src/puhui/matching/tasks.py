"""Matching's background work: the grades of open demands after each snapshot change, and
the deadline sweep (reminders, expiries) every fifteen
minutes (deadlines are a working day and a week: a quarter of an hour late is
within reason)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from puhui.core.jobs import job_handler, periodic, subscribe
from puhui.core.snapshot import SNAPSHOT_CHANGED
from puhui.matching import service

SWEEP_JOB = "matching.sweep"
GRADES_JOB = "matching.grades"


@job_handler(SWEEP_JOB)
def sweep(session: Session, payload: dict[str, Any]) -> None:
    service.sweep(session)


periodic(SWEEP_JOB, every=timedelta(minutes=15))


@job_handler(GRADES_JOB)
def refresh_grades(session: Session, payload: dict[str, Any]) -> None:
    """After the snapshot changed (new data, new scores): today's grade on open demands."""
    service.refresh_grades(session)


subscribe(SNAPSHOT_CHANGED, GRADES_JOB)
