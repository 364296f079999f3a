"""The audit chain's periodic checkpoint: every hour the head, if it moved, is signed
with the platform's SM2 key (see ``service.checkpoint``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from puhui.audit import service
from puhui.config import get_settings
from puhui.core.jobs import job_handler, periodic

CHECKPOINT_JOB = "audit.checkpoint"


@job_handler(CHECKPOINT_JOB)
def checkpoint(session: Session, payload: dict[str, Any]) -> None:
    if service.head(session)[0] == 0:
        return  # nothing to sign yet
    service.checkpoint(session, key=service.platform_key(get_settings()))


periodic(CHECKPOINT_JOB, every=timedelta(hours=1))
