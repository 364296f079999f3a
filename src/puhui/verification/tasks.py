"""Identity verification's background work: the hourly sweep (expire unfinished
attempts, delete photos past their retention, forget old callback nonces) and, with the
HTTP provider, a poll of pending attempts every quarter of an hour (a lost callback must not
leave anyone waiting)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from puhui.core.jobs import job_handler, periodic
from puhui.verification import service

SWEEP_JOB = "verification.sweep"
POLL_JOB = "verification.poll"


@job_handler(SWEEP_JOB)
def sweep(session: Session, payload: dict[str, Any]) -> None:
    service.sweep(session)


@job_handler(POLL_JOB)
def poll(session: Session, payload: dict[str, Any]) -> None:
    service.poll_pending(session)


periodic(SWEEP_JOB, every=timedelta(hours=1))
periodic(POLL_JOB, every=timedelta(minutes=15))
