"""The scheduled refresh of the quality rollups (hourly; operators can queue one)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from puhui.core.jobs import job_handler, periodic
from puhui.quality import service


@job_handler(service.REFRESH_JOB)
def refresh(session: Session, payload: dict[str, Any]) -> None:
    """Recompute every quality rollup from the matching and registry tables."""
    service.refresh(session)


periodic(service.REFRESH_JOB, every=timedelta(hours=1))
