"""The jobs outbox: enqueue in the caller's transaction, claim, lease, retry, dead, periodic
schedules and the in-process worker. See the invariants in ``puhui.core.jobs``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from puhui.audit.models import AuditEvent
from puhui.core import jobs
from puhui.core.db import session_scope
from puhui.core.errors import Conflict, NotFound
from puhui.core.jobs import DEAD, DONE, PENDING, RUNNING, Job
from puhui.core.orm import utcnow
from puhui.core.policy import Actor, Role
from puhui.notifications import service as notifications
from puhui.notifications.models import Message
from puhui.operations import service as operations
from tests.core import handlers, killable
from tests.core.handlers import EFFECT, ONCE_KIND

ROOT = Path(__file__).resolve().parents[2]
OPERATOR = Actor(user_id=None, username="ops", role=Role.OPERATOR)


def _job(factory: sessionmaker[Session], job_id: int) -> Job:
    with factory() as s:
        job = s.get(Job, job_id)
        assert job is not None
        s.expunge(job)
        return job


def _enqueue(factory: sessionmaker[Session], kind: str, payload: dict, **kw) -> int:
    with session_scope(factory) as s:
        return jobs.enqueue(s, kind, payload, **kw).id


def _effects(factory: sessionmaker[Session], ref: str | None = None) -> list[tuple[str, int]]:
    with factory() as s:
        return handlers.effects(s, ref)


def _wait_until(predicate, *, seconds: float, what: str, step: float = 0.02) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {seconds}s waiting for {what}"
        time.sleep(step)


# --- 1. enqueue ------------------------------------------------------------------------------


class TestEnqueue:
    def test_rolled_back_transaction_leaves_no_job(self, committed):
        with pytest.raises(RuntimeError, match="request failed"), session_scope(committed) as s:
            job = jobs.enqueue(s, EFFECT, {"ref": "rolled-back"})
            assert job.id is not None  # flushed: it exists inside the transaction
            raise RuntimeError("request failed")
        with committed() as s:
            assert s.scalar(select(func.count()).select_from(Job)) == 0

    def test_committed_transaction_leaves_one_pending_job(self, committed, settings):
        before = utcnow()
        with session_scope(committed) as s:
            job_id = jobs.enqueue(s, EFFECT, {"ref": "kept"}).id
        with committed() as s:  # a new session, a new connection
            rows = s.scalars(select(Job)).all()
        assert [r.id for r in rows] == [job_id]
        job = rows[0]
        assert (job.kind, job.payload, job.status, job.attempts) == (
            EFFECT,
            {"ref": "kept"},
            PENDING,
            0,
        )
        assert before <= job.run_at <= utcnow()
        assert job.max_attempts == settings.job_max_attempts
        assert job.locked_by is None and job.lease_until is None

    def test_unknown_kind_is_refused(self, session):
        with pytest.raises(ValueError, match="no handler registered"):
            jobs.enqueue(session, "test.nobody-handles-this", {})
        assert session.scalar(select(func.count()).select_from(Job)) == 0

    def test_dedupe_key_returns_the_existing_job(self, committed):
        with session_scope(committed) as s:
            first = jobs.enqueue(s, EFFECT, {"ref": "a"}, dedupe_key="report:2026-01")
            again = jobs.enqueue(s, EFFECT, {"ref": "b"}, dedupe_key="report:2026-01")
            assert again is first
        with session_scope(committed) as s:  # in a later transaction too
            later = jobs.enqueue(s, EFFECT, {"ref": "c"}, dedupe_key="report:2026-01")
            assert later.id == first.id
            other = jobs.enqueue(s, EFFECT, {"ref": "d"}, dedupe_key="report:2026-02")
            assert other.id != first.id
        with committed() as s:
            rows = s.execute(select(Job.dedupe_key, Job.payload).order_by(Job.id)).all()
        assert rows == [("report:2026-01", {"ref": "a"}), ("report:2026-02", {"ref": "d"})]


# --- 2. running a job, failing, back-off ------------------------------------------------------


class TestRun:
    def test_effect_and_done_commit_together(self, committed):
        job_id = _enqueue(committed, EFFECT, {"ref": "ok"})
        worker = jobs.Worker(committed, worker_id="w1")
        assert worker.run_once() is True
        job = _job(committed, job_id)
        assert (job.status, job.attempts, job.locked_by) == (DONE, 1, "w1")
        assert job.finished_at is not None and job.lease_until is None
        assert job.last_error is None
        assert _effects(committed, "ok") == [("ok", os.getpid())]
        assert worker.run_once() is False  # a done job is not run again
        assert handlers.CALLS["ok"] == 1

    def test_failing_handler_is_rolled_back_and_retried_later(self, committed):
        base = 100.0
        job_id = _enqueue(committed, EFFECT, {"ref": "bad", "fail_times": 99})
        worker = jobs.Worker(committed, worker_id="w1", retry_base_seconds=base)

        for attempt in (1, 2):
            before = utcnow()
            assert worker.run_once() is True
            after = utcnow()
            job = _job(committed, job_id)
            assert (job.status, job.attempts) == (PENDING, attempt)
            assert job.last_error == f"RuntimeError: planned failure {attempt} of bad"
            assert job.locked_by is None and job.lease_until is None
            assert job.finished_at is None
            delay = base * 2 ** (attempt - 1)
            assert before + timedelta(seconds=0.8 * delay) <= job.run_at
            assert job.run_at <= after + timedelta(seconds=1.2 * delay)
            # the handler wrote its effect before raising: it was rolled back
            assert _effects(committed) == []
            # not due yet
            assert worker.run_once() is False
            # let the back-off pass
            with session_scope(committed) as s:
                s.execute(
                    update(Job).where(Job.id == job_id).values(run_at=utcnow() - timedelta(1))
                )
        assert handlers.CALLS["bad"] == 2

    def test_backoff_doubles_and_is_capped(self, monkeypatch):
        seen: list[tuple[float, float]] = []

        def no_jitter(lo: float, hi: float) -> float:
            seen.append((lo, hi))
            return 1.0

        monkeypatch.setattr(jobs.random, "uniform", no_jitter)
        delays = [jobs.backoff(n).total_seconds() for n in range(1, 12)]
        assert delays == [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]
        assert jobs.backoff(0).total_seconds() == 5
        assert jobs.backoff(40).total_seconds() == 3600
        assert jobs.backoff(3, base=2, cap=5).total_seconds() == 5
        assert jobs.backoff(5000).total_seconds() == 3600  # no float overflow
        assert jobs.backoff(2, base=2, cap=5).total_seconds() == 4
        assert set(seen) == {(0.8, 1.2)}

    def test_backoff_jitter_stays_within_20_percent(self):
        samples = [jobs.backoff(3).total_seconds() for _ in range(2000)]  # nominal 20 s
        assert all(16.0 <= s <= 24.0 for s in samples)
        assert min(samples) < 17.0 and max(samples) > 23.0  # it really is jittered
        capped = [jobs.backoff(30).total_seconds() for _ in range(200)]
        assert all(0.8 * 3600 <= s <= 1.2 * 3600 for s in capped)

    def test_unknown_kind_in_the_table_fails_like_a_handler_error(self, committed):
        with session_scope(committed) as s:
            job = Job(kind="test.gone", payload={}, max_attempts=1)
            s.add(job)
            s.flush()
            job_id = job.id
        assert jobs.Worker(committed).run_once() is True
        job = _job(committed, job_id)
        assert job.status == DEAD
        assert "no handler registered for job kind 'test.gone'" in (job.last_error or "")


# --- 3. dead jobs and the operator's retry ----------------------------------------------------


class TestDead:
    def test_dead_after_max_attempts_then_retry_dead_runs_it_again(self, committed):
        job_id = _enqueue(committed, EFFECT, {"ref": "flaky", "fail_times": 3}, max_attempts=3)
        worker = jobs.Worker(committed, worker_id="w1", retry_base_seconds=0)
        assert worker.run_until_idle() == 3
        job = _job(committed, job_id)
        assert (job.status, job.attempts) == (DEAD, 3)
        assert job.finished_at is not None and job.locked_by is None
        assert job.last_error == "RuntimeError: planned failure 3 of flaky"
        assert worker.run_once() is False  # a dead job waits for an operator
        with committed() as s:
            assert jobs.count_by_status(s)[DEAD] == 1

        with session_scope(committed) as s:
            dead = s.get(Job, job_id)
            assert dead is not None
            jobs.retry_dead(s, dead)
        job = _job(committed, job_id)
        assert (job.status, job.attempts, job.finished_at) == (PENDING, 0, None)
        assert job.run_at <= utcnow()

        assert worker.run_once() is True  # the 4th call succeeds
        job = _job(committed, job_id)
        assert (job.status, job.attempts, job.last_error) == (DONE, 1, None)
        assert _effects(committed) == [("flaky", os.getpid())]

    def test_operator_retry_job_is_audited_and_only_for_dead_jobs(
        self, session, factory, effect_tables
    ):
        job = jobs.enqueue(session, EFFECT, {"ref": "ops", "fail_times": 1}, max_attempts=1)
        session.commit()
        worker = jobs.Worker(factory, worker_id="w1", retry_base_seconds=0)
        assert worker.run_until_idle() == 1
        session.refresh(job)
        assert (job.status, job.attempts) == (DEAD, 1)

        retried = operations.retry_job(session, actor=OPERATOR, job_id=job.id)
        assert (retried.status, retried.attempts) == (PENDING, 0)
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "job.retry")).one()
        assert (event.target_type, event.target_id, event.username) == ("job", str(job.id), "ops")
        assert event.details == {"kind": EFFECT}
        session.commit()

        with pytest.raises(Conflict):
            operations.retry_job(session, actor=OPERATOR, job_id=job.id)  # pending now
        with pytest.raises(NotFound):
            operations.retry_job(session, actor=OPERATOR, job_id=job.id + 1000)

        assert worker.run_until_idle() == 1
        session.refresh(job)
        assert (job.status, job.attempts) == (DONE, 1)

    def test_last_attempt_lost_with_its_worker_goes_dead(self, committed):
        job_id = _enqueue(committed, EFFECT, {"ref": "last"}, max_attempts=1)
        first = jobs.Worker(committed, worker_id="died")
        claimed = first.claim()
        assert claimed is not None and claimed.attempts == 1
        with session_scope(committed) as s:  # the worker died; its lease ran out
            s.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(lease_until=utcnow() - timedelta(seconds=1))
            )
        behind = _enqueue(committed, EFFECT, {"ref": "behind"})
        assert jobs.Worker(committed, worker_id="next").run_until_idle() == 1
        assert _job(committed, behind).status == DONE  # the dead one did not stop the worker
        job = _job(committed, job_id)
        assert (job.status, job.attempts, job.locked_by) == (DEAD, 1, None)
        assert job.last_error == "worker stopped during the last attempt"
        assert handlers.CALLS["last"] == 0


# --- 4. leases --------------------------------------------------------------------------------


class TestLease:
    def _expired(self, worker: jobs.Worker) -> jobs.Claimed:
        """Wait (for real) until ``worker`` can take over a job whose lease ran out."""
        got: list[jobs.Claimed] = []

        def take() -> bool:
            claimed = worker.claim()
            if claimed is not None:
                got.append(claimed)
            return bool(got)

        _wait_until(take, seconds=5, what="the lease to expire")
        return got[0]

    def test_a_late_worker_cannot_complete_a_job_taken_over(self, committed, is_postgres):
        job_id = _enqueue(committed, EFFECT, {"ref": "leased"})
        a = jobs.Worker(committed, worker_id="A", lease_seconds=1)
        b = jobs.Worker(committed, worker_id="B", lease_seconds=60)

        claimed_a = a.claim()
        assert claimed_a is not None and claimed_a.attempts == 1
        assert b.claim() is None  # A's lease is still valid
        taken: list[jobs.Claimed] = []

        def b_takes_over() -> None:
            taken.append(self._expired(b))

        # A is slow: while its handler runs, its lease expires and B claims the job. On
        # PostgreSQL B takes over after A has written its (uncommitted) effect; SQLite has
        # one writer at a time, so there B claims before A's handler starts writing.
        if is_postgres:
            handlers.AFTER_EFFECT["leased"] = b_takes_over
        else:
            handlers.BEFORE_EFFECT["leased"] = b_takes_over
        assert a.execute(claimed_a) == RUNNING  # LeaseLost: refused
        assert [c.id for c in taken] == [job_id]
        assert taken[0].attempts == 2
        assert _effects(committed) == []  # A's work was rolled back
        job = _job(committed, job_id)
        assert (job.status, job.locked_by, job.attempts) == (RUNNING, "B", 2)

        assert b.execute(taken[0]) == DONE
        job = _job(committed, job_id)
        assert (job.status, job.locked_by, job.attempts) == (DONE, "B", 2)
        assert _effects(committed) == [("leased", os.getpid())]  # once
        assert handlers.CALLS["leased"] == 2

    def test_a_late_failure_does_not_touch_the_job_taken_over(self, committed):
        job_id = _enqueue(committed, EFFECT, {"ref": "late-fail", "fail_times": 1})
        a = jobs.Worker(committed, worker_id="A", lease_seconds=1)
        b = jobs.Worker(committed, worker_id="B", lease_seconds=60)
        claimed_a = a.claim()
        assert claimed_a is not None
        taken: list[jobs.Claimed] = []
        handlers.BEFORE_EFFECT["late-fail"] = lambda: taken.append(self._expired(b))

        a.execute(claimed_a)  # fails after B took the job over
        job = _job(committed, job_id)
        assert (job.status, job.locked_by, job.attempts, job.last_error) == (
            RUNNING,
            "B",
            2,
            None,
        )
        assert b.execute(taken[0]) == DONE
        assert _effects(committed) == [("late-fail", os.getpid())]


# --- 5. a worker killed mid-job ---------------------------------------------------------------

CHILD = """
from puhui.core import jobs
from puhui.core.db import get_session_factory
from tests.core import killable

killable.SLEEP_SECONDS = 600
jobs.Worker(get_session_factory(), worker_id="doomed", lease_seconds=1).run_once()
raise SystemExit("the test should have killed this process")
"""


def test_worker_killed_mid_job_is_run_again_once(committed, reader: Engine, tmp_path):
    marker = tmp_path / "in-handler"
    job_id = _enqueue(committed, killable.KIND, {"ref": "killed", "marker": str(marker)})
    stderr = tmp_path / "child.err"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    with stderr.open("wb") as err:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD], cwd=ROOT, env=env, stdout=err, stderr=err
        )
    try:

        def child_is_inside_the_job() -> bool:
            assert child.poll() is None, f"child exited: {stderr.read_text()}"
            if not marker.exists():
                return False
            with reader.connect() as conn:
                status = conn.scalar(select(Job.status).where(Job.id == job_id))
            return status == RUNNING

        _wait_until(child_is_inside_the_job, seconds=30, what="the child to run the job")
        with reader.connect() as conn:
            row = conn.execute(select(Job.locked_by, Job.attempts).where(Job.id == job_id)).one()
        assert tuple(row) == ("doomed", 1)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL

    assert _effects(committed) == []  # the child's transaction died with it
    assert _job(committed, job_id).status == RUNNING  # until its lease runs out
    survivor = jobs.Worker(committed, worker_id="survivor", lease_seconds=1)
    _wait_until(survivor.run_once, seconds=10, what="the lease to expire", step=0.05)
    job = _job(committed, job_id)
    assert (job.status, job.attempts, job.locked_by) == (DONE, 2, "survivor")
    assert _effects(committed) == [("killed", os.getpid())]  # exactly one, from this process


# --- 6. several workers -----------------------------------------------------------------------


def test_concurrent_workers_run_each_job_exactly_once(committed, is_postgres):
    n_jobs, n_workers = (200, 4) if is_postgres else (40, 3)
    with session_scope(committed) as s:
        for i in range(n_jobs):
            jobs.enqueue(s, ONCE_KIND, {"ref": f"once-{i}"})
    barrier = threading.Barrier(n_workers)
    ran: dict[str, int] = {}
    errors: list[BaseException] = []

    def drain(worker_id: str) -> None:
        try:
            worker = jobs.Worker(committed, worker_id=worker_id)
            barrier.wait(timeout=10)
            if is_postgres:
                ran[worker_id] = worker.run_until_idle()
                return
            # SQLite has one writer at a time and its busy handler polls, so a worker in a
            # tight loop keeps the write lock to itself; pausing between jobs (outside any
            # transaction) hands it round, so the claims really interleave.
            ran[worker_id] = 0
            while worker.run_once():
                ran[worker_id] += 1
                time.sleep(0.005)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(f"w{i}",)) for i in range(n_workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []

    with committed() as s:
        rows = s.execute(select(Job.status, Job.attempts, Job.locked_by, Job.last_error)).all()
        refs = handlers.once_refs(s)
    assert len(rows) == n_jobs
    assert {(status, attempts, error) for status, attempts, _, error in rows} == {(DONE, 1, None)}
    assert sorted(refs) == sorted(f"once-{i}" for i in range(n_jobs))
    assert sum(ran.values()) == n_jobs
    assert Counter(locked_by for *_, locked_by, _ in rows) == Counter(ran)
    assert all(ran.get(f"w{i}", 0) > 0 for i in range(n_workers)), ran


# --- 7. periodic schedules --------------------------------------------------------------------


class TestPeriodic:
    @pytest.fixture
    def clock(self, monkeypatch):
        """Freeze the jobs module's clock; a slot boundary must not fall mid-test."""
        now = [datetime(2026, 3, 1, 8, 1, 0, tzinfo=UTC)]
        monkeypatch.setattr(jobs, "utcnow", lambda: now[0])
        monkeypatch.setitem(
            jobs._periodic,
            "test.effect",
            jobs.Periodic(kind=EFFECT, every=timedelta(minutes=10), payload={"ref": "tick"}),
        )
        return now

    def _periodic_jobs(self, factory) -> list[tuple[str, str]]:
        with factory() as s:
            return [tuple(r) for r in s.execute(select(Job.kind, Job.dedupe_key).order_by(Job.id))]

    @staticmethod
    def _key(schedule: jobs.Periodic, now: datetime) -> str:
        slot = int(now.timestamp()) // int(schedule.every.total_seconds())
        return f"periodic:{schedule.kind}:{slot}"

    def test_one_job_per_slot_per_schedule(self, committed, clock):
        schedules = jobs.periodic_schedules()
        assert {"jobs.purge_done", "accounts.purge_expired", EFFECT} <= {p.kind for p in schedules}
        assert jobs.enqueue_periodic_due(committed) == len(schedules)
        assert jobs.enqueue_periodic_due(committed) == 0
        first = self._periodic_jobs(committed)
        assert sorted(first) == sorted((p.kind, self._key(p, clock[0])) for p in schedules)

        clock[0] += timedelta(minutes=10)  # 08:11: a new 10-minute slot, same 15-minute and hour
        assert jobs.enqueue_periodic_due(committed) == 1
        assert jobs.enqueue_periodic_due(committed) == 0
        second = self._periodic_jobs(committed)
        assert second == [*first, (EFFECT, self._key(jobs._periodic["test.effect"], clock[0]))]
        with committed() as s:
            payloads = s.scalars(select(Job.payload).where(Job.kind == EFFECT)).all()
        assert payloads == [{"ref": "tick"}, {"ref": "tick"}]

    def test_two_schedulers_at_once_create_one_job_per_slot(self, committed, clock):
        schedules = jobs.periodic_schedules()
        n_threads, rounds = 2, 5
        barrier = threading.Barrier(n_threads)
        created: list[int] = []
        errors: list[BaseException] = []

        def scheduler() -> None:
            try:
                barrier.wait(timeout=10)
                for _ in range(rounds):
                    created.append(jobs.enqueue_periodic_due(committed))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=scheduler) for _ in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert errors == []
        rows = self._periodic_jobs(committed)
        assert sorted(rows) == sorted((p.kind, self._key(p, clock[0])) for p in schedules)
        assert len(created) == n_threads * rounds
        assert sum(created) == len(schedules)


# --- 8. the in-process worker of the web app --------------------------------------------------


def test_app_worker_delivers_a_committed_message(settings, engine, committed, reader):
    from puhui.app import create_app

    fast = settings.model_copy(update={"worker_poll_seconds": 0.05})
    app = create_app(fast, session_factory=sessionmaker(engine), start_worker=True)

    def status(message_id: int) -> str:
        with reader.connect() as conn:
            return conn.scalar(select(Message.status).where(Message.id == message_id)) or ""

    before = {t for t in threading.enumerate() if t.name == "puhui-worker"}  # e.g. a live server's
    with TestClient(app) as client:
        ours = {t for t in threading.enumerate() if t.name == "puhui-worker"} - before
        assert len(ours) == 1
        assert client.get("/healthz").status_code == 200
        with session_scope(committed) as s:
            message = notifications.send_sms(
                s, recipient="13800138000", body="测试短信", purpose="test"
            )
            s.flush()
            time.sleep(0.3)  # six polls: the worker must not deliver an uncommitted message
            assert status(message.id) == ""  # not even visible outside this transaction
        _wait_until(lambda: status(message.id) == "sent", seconds=10, what="delivery")

    assert not any(t.is_alive() for t in ours)
    with committed() as s:
        sent = s.get(Message, message.id)
        assert sent is not None
        assert sent.gateway_ref == f"log-{message.id}" and sent.sent_at is not None
        job = s.scalars(select(Job).where(Job.kind == notifications.DELIVER_JOB)).one()
        assert (job.status, job.attempts, job.payload) == (DONE, 1, {"message_id": message.id})
