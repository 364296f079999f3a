"""A worker killed in the middle of judging a batch raises each alert and sends each SMS
exactly once.

As in ``tests/notifications/test_exactly_once.py``: a child process claims the evaluation
job and is killed (SIGKILL) after it has written the alerts, the inbox messages and the
SMS messages with their delivery jobs, but before its transaction commits; a surviving
worker takes the job over when the lease runs out. The data lives in a database and a
lake of its own, committed, because two processes share them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from puhui import migrate
from puhui.catalog import service as catalog
from puhui.core import jobs
from puhui.core.db import make_engine, session_scope
from puhui.core.lake import Lake
from puhui.core.security import fields
from puhui.monitoring import evaluation, service
from puhui.monitoring.models import Alert
from puhui.notifications.models import Message
from tests.conftest import create_database
from tests.monitoring.helpers import build, rule
from tests.notifications.helpers import wait_until

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import sys, time
from pathlib import Path
from puhui import registry
registry.load_all()
from puhui.core import jobs
from puhui.core.db import get_session_factory
from puhui.monitoring import evaluation

original = evaluation.send_notices
marker = Path(sys.argv[1])

def send_then_hang(*args, **kwargs):
    original(*args, **kwargs)
    marker.write_text("alerts and SMS written, not committed")
    time.sleep(120)

evaluation.send_notices = send_then_hang
jobs.Worker(get_session_factory(), worker_id="doomed", lease_seconds=1).run_once()
raise SystemExit("the test should have killed this process")
"""


@pytest.fixture
def own_db(tmp_path, settings):
    url, drop = create_database(
        os.environ.get("PUHUI_TEST_DATABASE_URL"), tmp_path, "monitoring_kill"
    )
    engine = make_engine(url)
    migrate.upgrade(engine)
    with sessionmaker(engine).begin() as s:
        catalog.load(s)
    yield url, engine
    engine.dispose()
    drop()


def test_killed_mid_evaluation_raises_each_alert_and_sms_once(
    own_db, tmp_path, monkeypatch, settings
):
    url, engine = own_db
    factory = sessionmaker(engine, expire_on_commit=False)
    data_dir = tmp_path / "data"
    (data_dir / "lake").mkdir(parents=True)
    with session_scope(factory) as s:
        world = build(s, data_dir / "lake", n=4)
        rule(s, world, "OPR_TAX_ARREARS", "threshold", "gt", 0)
        version = world.write(s, [(e, "OPR_TAX_ARREARS", 202601, 10.0) for e in world.ids])
        jobs.enqueue(s, service.EVALUATE_BATCH_JOB, {"batch_id": 1, "lake_version": version})
        bank_id, manager_id = world.bank.id, world.manager.id

    marker = tmp_path / "marker"
    err = tmp_path / "child.err"
    env = {
        **os.environ,
        "PUHUI_DATABASE_URL": url,
        "PUHUI_DATA_DIR": str(data_dir),
        "PUHUI_MONITORING_QUIET_HOURS": "",
        # the mobile numbers were encrypted under this process's data keys
        "PUHUI_KEYRING_FILE": str(fields.keyring_path()),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    with err.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(marker)], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    try:

        def in_position() -> bool:
            assert child.poll() is None, f"child exited: {err.read_text()}"
            return marker.exists()

        wait_until(in_position, seconds=60, what="the child to write alerts and SMS")
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL

    def counts() -> tuple[int, int, int]:
        with factory() as s:
            alerts = s.scalar(select(func.count()).select_from(Alert))
            sms = s.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.channel == "sms", Message.user_id == manager_id)
            )
            inbox = s.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.channel == "inbox", Message.user_id == manager_id)
            )
            return int(alerts or 0), int(sms or 0), int(inbox or 0)

    assert counts() == (0, 0, 0)  # the dead worker's transaction never committed

    quiet_free = settings.model_copy(update={"monitoring_quiet_hours": ""})
    monkeypatch.setattr(evaluation, "get_settings", lambda: quiet_free)
    monkeypatch.setattr(service, "_lake", lambda: Lake(data_dir / "lake"))
    survivor = jobs.Worker(factory, worker_id="survivor", lease_seconds=30)
    wait_until(survivor.run_once, seconds=15, what="the job's lease to run out")
    survivor.run_until_idle(limit=20)

    assert counts() == (4, 1, 1)
    with factory() as s:
        job = s.scalars(select(jobs.Job).where(jobs.Job.kind == service.EVALUATE_BATCH_JOB)).one()
        assert (job.status, job.attempts) == (jobs.DONE, 2)
        sms_ids = s.scalars(select(Message.id).where(Message.channel == "sms")).all()
        deliver = [
            j.payload["message_id"]
            for j in s.scalars(select(jobs.Job).where(jobs.Job.kind == "notifications.deliver"))
        ]
        assert sorted(deliver) == sorted(sms_ids)  # one delivery job for the one SMS
        assert all(
            a.sms_at is not None
            for a in s.scalars(select(Alert).where(Alert.institution_id == bank_id))
        )
    # the same batch judged once more (a re-sent topic): nothing new
    with session_scope(factory) as s:
        outcome = evaluation.evaluate_batch(s, lake=Lake(data_dir / "lake"), lake_version=version)
    assert outcome.created == 0
    assert counts() == (4, 1, 1)
