from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from puhui.core.jobs import job_handler, periodic
from puhui.psi import service


@job_handler("psi.expire_sessions")
def expire_sessions(session: Session, payload: dict[str, Any]) -> None:
    service.expire_sessions(session)


periodic("psi.expire_sessions", every=timedelta(minutes=15))
