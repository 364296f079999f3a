"""Acquisition's background work: scheduled saved filters run when due (checked every
quarter of an hour; a daily filter runs at most a quarter of an hour late) and invitations
nobody answered expire."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from puhui.acquisition import leads
from puhui.core.jobs import job_handler, periodic

SCHEDULED_RUNS_JOB = "acquisition.scheduled_runs"


@job_handler(SCHEDULED_RUNS_JOB)
def scheduled_runs(session: Session, payload: dict[str, Any]) -> None:
    leads.run_due(session)
    leads.expire_invitations(session)


periodic(SCHEDULED_RUNS_JOB, every=timedelta(minutes=15))
