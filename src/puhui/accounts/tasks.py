from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from puhui.accounts import service
from puhui.core.jobs import job_handler, periodic


@job_handler("accounts.purge_expired")
def purge_expired(session: Session, payload: dict[str, Any]) -> None:
    service.purge_expired(session)


periodic("accounts.purge_expired", every=timedelta(minutes=15))
