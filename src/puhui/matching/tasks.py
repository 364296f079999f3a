"""Matching's background work: the deadline sweep (reminders, expiries) every fifteen
minutes (deadlines are a working day and a week: a quarter of an hour late is
within reason)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from puhui.core.jobs import job_handler, periodic
from puhui.matching import service

SWEEP_JOB = "matching.sweep"


@job_handler(SWEEP_JOB)
def sweep(session: Session, payload: dict[str, Any]) -> None:
    service.sweep(session)


periodic(SWEEP_JOB, every=timedelta(minutes=15))
