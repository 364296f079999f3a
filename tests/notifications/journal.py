"""A file-backed test gateway that remembers what it accepted, so it can answer
``recall`` — and that a test can freeze just before or just after it accepts a message,
to kill the worker there (in a child process, as ``tests/core/killable.py`` does).

The journal file is named by ``PUHUI_TEST_JOURNAL``; ``PUHUI_TEST_JOURNAL_PAUSE`` is
``before`` or ``after`` and ``PUHUI_TEST_JOURNAL_MARKER`` the file touched when pausing.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from puhui.notifications.channels import NOT_SENT, Accepted, Envelope, Recalled, register_gateway

NAME = "journal"


class JournalGateway:
    name = NAME

    def __init__(self, path: Path) -> None:
        self.path = path

    def prepare(self) -> None:
        return None

    def _pause(self, where: str) -> None:
        if os.environ.get("PUHUI_TEST_JOURNAL_PAUSE") == where:
            Path(os.environ["PUHUI_TEST_JOURNAL_MARKER"]).write_text(where)
            time.sleep(600)

    def send(self, envelope: Envelope) -> Accepted:
        self._pause("before")
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"reference": envelope.reference, "body": envelope.body}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self._pause("after")
        return Accepted(refs=(f"j-{envelope.message_id}",))

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text("utf-8").splitlines()]

    def recall(self, reference: str) -> Recalled:
        for entry in self.entries():
            if entry["reference"] == reference:
                return Accepted(refs=(f"j-{reference.removeprefix('puhui-')}",))
        return NOT_SENT


def _journal_path() -> Path:
    return Path(os.environ["PUHUI_TEST_JOURNAL"])


register_gateway(
    NAME,
    lambda settings: JournalGateway(_journal_path()),
    key=lambda settings: os.environ.get("PUHUI_TEST_JOURNAL"),
)
