from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from puhui.core import orm
from puhui.core.jobs import job_handler, periodic, subscribe
from puhui.core.snapshot import SNAPSHOT_CHANGED
from puhui.profile import retention, service

SCORE_JOB = "profile.health_score"
RETENTION_JOB = "profile.expire_negative_records"


@job_handler(SCORE_JOB)
def recompute_scores(session: Session, payload: dict[str, Any]) -> None:
    """After the snapshot changed: score every entity and write the scores that changed
    (a batch of the platform's own source, which refreshes the snapshot in turn; the
    next run finds nothing changed and stops)."""
    factory = sessionmaker(bind=session.get_bind(), expire_on_commit=False)
    service.recompute_scores(factory)


subscribe(SNAPSHOT_CHANGED, SCORE_JOB)


@job_handler(RETENTION_JOB)
def expire_negative_records(session: Session, payload: dict[str, Any]) -> None:
    """Daily: retract the negative records whose retention ran out (see
    ``profile.retention``); the retraction batch refreshes the snapshot in turn."""
    factory = sessionmaker(bind=session.get_bind(), expire_on_commit=False)
    retention.expire_negative_records(factory, now=orm.utcnow())


periodic(RETENTION_JOB, every=timedelta(days=1))
