from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from puhui.core.jobs import job_handler
from puhui.notifications import service


@job_handler(service.DELIVER_JOB)
def deliver_message(session: Session, payload: dict[str, Any]) -> None:
    service.deliver(session, message_id=int(payload["message_id"]))
