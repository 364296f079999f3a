"""A worker killed mid-send neither loses nor duplicates a message.

A child process runs the deliver job and is killed (SIGKILL) at a chosen point of the
hand-over; a surviving worker then takes the job over when its lease runs out. With a
gateway that can answer ``recall`` (the file-backed journal gateway) the message ends up
handed over exactly once wherever the kill fell; over SMPP, which cannot answer, a message
killed mid-submit is never sent again and is settled by its delivery receipt.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from puhui.core import jobs
from puhui.core.db import session_scope
from puhui.core.orm import utcnow
from puhui.notifications import service, tasks
from puhui.notifications.models import DEAD, DELIVERED, SENDING, SENT, Message
from tests.notifications import journal
from tests.notifications.helpers import message, receipts, wait_until
from tests.notifications.smsc import PendingReceipt

ROOT = Path(__file__).resolve().parents[2]
MOBILE = "13900139000"

CHILD = """
from puhui import registry
registry.load_all()
import tests.notifications.journal  # noqa: F401 - registers the journal gateway
from puhui.core import jobs
from puhui.core.db import get_session_factory

jobs.Worker(get_session_factory(), worker_id="doomed", lease_seconds=1).run_once()
raise SystemExit("the test should have killed this process")
"""


def _queue(committed, gateway: str | None = None) -> int:
    with session_scope(committed) as s:
        queued = service.send_sms(s, recipient=MOBILE, body="验证码 123456", purpose="test")
        if gateway is not None:
            queued.gateway = gateway
        return queued.id


def _status(reader: Engine, message_id: int) -> str | None:
    with reader.connect() as conn:
        return conn.scalar(select(Message.status).where(Message.id == message_id))


def _kill_child_when(ready, tmp_path: Path, env: dict[str, str]) -> None:
    stderr = tmp_path / "child.err"
    env = {
        **os.environ,
        **env,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    with stderr.open("wb") as err:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD], cwd=ROOT, env=env, stdout=err, stderr=err
        )
    try:

        def in_position() -> bool:
            assert child.poll() is None, f"child exited: {stderr.read_text()}"
            return ready()

        wait_until(in_position, seconds=30, what="the child to reach the kill point")
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL


def _lease_runs_out(committed, message_id: int) -> None:
    """Time passes: the dead worker's claim on the message expires."""
    with session_scope(committed) as s:
        s.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


def _survivor_takes_over(committed) -> None:
    survivor = jobs.Worker(committed, worker_id="survivor", lease_seconds=1)
    wait_until(survivor.run_once, seconds=10, what="the job's lease to expire")
    survivor.run_until_idle()


@pytest.mark.parametrize("where", ["before", "after"])
def test_killed_around_the_hand_over_is_delivered_exactly_once(
    where, committed, reader, tmp_path, monkeypatch
):
    path, marker = tmp_path / "journal.jsonl", tmp_path / "paused"
    monkeypatch.setenv("PUHUI_TEST_JOURNAL", str(path))
    gateway = journal.JournalGateway(path)
    message_id = _queue(committed, gateway=journal.NAME)

    _kill_child_when(
        lambda: marker.exists() and _status(reader, message_id) == SENDING,
        tmp_path,
        {"PUHUI_TEST_JOURNAL_PAUSE": where, "PUHUI_TEST_JOURNAL_MARKER": str(marker)},
    )
    assert len(gateway.entries()) == (0 if where == "before" else 1)
    killed = message(committed, message_id)
    assert (killed.status, killed.attempts) == (SENDING, 1)  # claimed, outcome not recorded

    _lease_runs_out(committed, message_id)
    _survivor_takes_over(committed)

    assert [e["reference"] for e in gateway.entries()] == [f"puhui-{message_id}"]  # once
    done = message(committed, message_id)
    assert done.status == SENT and done.gateway_ref == f"j-{message_id}"
    # killed before: recall says "not sent", so it is sent on a second attempt;
    # killed after: recall finds it, so it is recorded without being sent again
    assert done.attempts == (2 if where == "before" else 1)


def test_killed_mid_submit_over_smpp_is_not_resent_and_its_receipt_settles_it(
    committed, reader, tmp_path, smsc, smpp_settings
):
    smsc.hold = True  # the SMSC takes the submit_sm but has not answered when we kill
    message_id = _queue(committed)
    _kill_child_when(
        lambda: len(smsc.received()) == 1 and _status(reader, message_id) == SENDING,
        tmp_path,
        {
            "PUHUI_SMS_GATEWAY": "smpp",
            "PUHUI_SMPP_PORT": str(smsc.port),
            "PUHUI_SMPP_SYSTEM_ID": "puhui",
            "PUHUI_SMPP_SOURCE_ADDR": "10690001",
        },
    )
    smsc.hold = False
    (held,) = smsc.received()
    assert held.user_reference == message_id % 65536

    _lease_runs_out(committed, message_id)
    _survivor_takes_over(committed)
    parked = message(committed, message_id)
    assert parked.status == DEAD and parked.last_error == service.UNKNOWN_OUTCOME
    assert len(smsc.received()) == 1  # not sent again

    # the SMSC had accepted it after all: its receipt names our reference
    smsc.send_receipt(
        PendingReceipt("SM-HELD-1", MOBILE, "10690001", "DELIVRD", held.user_reference)
    )

    def collected() -> bool:
        with session_scope(committed) as s:
            tasks.collect_receipts(s, {})
        return bool(receipts(committed, message_id))

    wait_until(collected, seconds=5, what="the receipt")
    settled = message(committed, message_id)
    assert (settled.status, settled.gateway_ref) == (DELIVERED, "SM-HELD-1")
    assert settled.last_error is None
    assert len(smsc.received()) == 1
