"""A job handler that a test kills mid-transaction (in a child process).

It writes its effect row, then — when ``SLEEP_SECONDS`` is set, as the child sets it —
touches the marker file named in the payload and sleeps inside the still-open
transaction, so the process can be killed with the effect written but not committed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from puhui.core.jobs import job_handler
from tests.core.handlers import add_effect

KIND = "test.killable"
SLEEP_SECONDS = 0.0


@job_handler(KIND)
def killable(session: Session, payload: dict[str, Any]) -> None:
    add_effect(session, str(payload["ref"]))
    session.flush()
    if SLEEP_SECONDS:
        Path(payload["marker"]).write_text("in handler, effect written, not committed")
        time.sleep(SLEEP_SECONDS)
