"""The scheduled refresh of the statistics rollups (hourly; operators can queue one)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from puhui.core.jobs import job_handler, periodic
from puhui.stats import service


@job_handler(service.REFRESH_JOB)
def refresh(session: Session, payload: dict[str, Any]) -> None:
    """Recompute the months from ``since_month`` (default: the previous month)."""
    since = payload.get("since_month")
    service.refresh(session, since_month=int(since) if since else None)


periodic(service.REFRESH_JOB, every=timedelta(hours=1))
