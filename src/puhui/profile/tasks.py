from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from puhui.core.jobs import job_handler, subscribe
from puhui.core.snapshot import SNAPSHOT_CHANGED
from puhui.profile import service

SCORE_JOB = "profile.health_score"


@job_handler(SCORE_JOB)
def recompute_scores(session: Session, payload: dict[str, Any]) -> None:
    """After the snapshot changed: score every entity and write the scores that changed
    (a batch of the platform's own source, which refreshes the snapshot in turn; the
    next run finds nothing changed and stops)."""
    factory = sessionmaker(bind=session.get_bind(), expire_on_commit=False)
    service.recompute_scores(factory)


subscribe(SNAPSHOT_CHANGED, SCORE_JOB)
