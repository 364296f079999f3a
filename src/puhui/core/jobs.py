"""The jobs outbox and its worker.

Invariants
- ``enqueue()`` adds a row in the caller's session: the job exists only if the caller's
  transaction commits, so a rolled-back request leaves no job behind.
- A worker *claims* a job in a short transaction (``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, so several workers never take the same row; SQLite has one writer at a
  time anyway), then runs the handler in a second transaction that also marks the job
  done. Either the handler's effects and "done" commit together, or neither does.
- A claim is a lease. If the worker dies, the lease runs out and another worker runs the
  job again; because the first run's transaction never committed, the effect happens
  once. A slow worker that lost its lease cannot mark the job done (its commit is
  refused) and its work is rolled back.
- A failing job is retried with exponential back-off; after ``max_attempts`` it is
  ``dead`` and waits for an operator, who sees it on the jobs page and may retry it.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Index,
    Integer,
    String,
    Text,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from puhui.core.db import get_session_factory, session_scope
from puhui.core.orm import Base, CreatedAtMixin, UTCDateTime, utcnow

log = logging.getLogger(__name__)

PENDING, RUNNING, DONE, DEAD = "pending", "running", "done", "dead"
STATUSES = (PENDING, RUNNING, DONE, DEAD)


class Job(CreatedAtMixin, Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=6)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)

    __table_args__ = (Index("ix_jobs_status_run_at", "status", "run_at"),)

    def is_claimable(self, now: datetime) -> bool:
        if self.status == PENDING:
            return self.run_at <= now
        return self.status == RUNNING and self.lease_until is not None and self.lease_until < now


Handler = Callable[[Session, dict[str, Any]], None]


@dataclass(frozen=True)
class Periodic:
    kind: str
    every: timedelta
    payload: dict[str, Any]


_handlers: dict[str, Handler] = {}
_periodic: dict[str, Periodic] = {}


def job_handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the handler of a job kind. Handlers must be idempotent."""

    def register(fn: Handler) -> Handler:
        if kind in _handlers and _handlers[kind] is not fn:
            raise RuntimeError(f"job kind {kind!r} registered twice")
        _handlers[kind] = fn
        return fn

    return register


def periodic(kind: str, *, every: timedelta, payload: dict[str, Any] | None = None) -> None:
    """Schedule job ``kind`` every ``every``; at most one job per time slot, however many
    workers run the scheduler (the slot is the job's dedupe key)."""
    _periodic[kind] = Periodic(kind=kind, every=every, payload=payload or {})


_subscribers: dict[str, list[str]] = {}


def subscribe(topic: str, kind: str) -> None:
    """Run job ``kind`` whenever ``topic`` is published (see :func:`publish`)."""
    kinds = _subscribers.setdefault(topic, [])
    if kind not in kinds:
        kinds.append(kind)


def publish(
    session: Session, topic: str, payload: dict[str, Any], *, dedupe_key: str | None = None
) -> list[Job]:
    """Queue one job for each kind subscribed to ``topic``, in the caller's transaction
    (so a domain can react to another's event without either importing the other)."""
    return [
        enqueue(
            session,
            kind,
            payload,
            dedupe_key=None if dedupe_key is None else f"{kind}:{dedupe_key}",
        )
        for kind in _subscribers.get(topic, [])
    ]


def registered_kinds() -> list[str]:
    return sorted(_handlers)


def periodic_schedules() -> list[Periodic]:
    return list(_periodic.values())


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    run_at: datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int | None = None,
) -> Job:
    """Add a job to the caller's transaction. With ``dedupe_key`` an existing job with the
    same key is returned instead of a new one."""
    if kind not in _handlers:
        raise ValueError(f"no handler registered for job kind {kind!r}")
    if dedupe_key is not None:
        existing = session.scalar(select(Job).where(Job.dedupe_key == dedupe_key))
        if existing is not None:
            return existing
    return _insert(session, kind, payload, run_at, dedupe_key, max_attempts)


def _insert(
    session: Session,
    kind: str,
    payload: dict[str, Any] | None,
    run_at: datetime | None,
    dedupe_key: str | None,
    max_attempts: int | None,
) -> Job:
    if max_attempts is None:
        from puhui.config import get_settings

        max_attempts = get_settings().job_max_attempts
    job = Job(
        kind=kind,
        payload=payload or {},
        run_at=run_at or utcnow(),
        dedupe_key=dedupe_key,
        max_attempts=max_attempts,
        status=PENDING,
        attempts=0,
    )
    session.add(job)
    session.flush()
    return job


def backoff(attempts: int, *, base: float = 5.0, cap: float = 3600.0) -> timedelta:
    """Exponential back-off with jitter: ~base, 2·base, 4·base … capped."""
    exponent = max(0, attempts - 1)
    delay = cap if exponent >= 64 else min(cap, base * 2**exponent)
    return timedelta(seconds=delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not crypto


class LeaseLost(Exception):
    """Another worker took the job over while this one was still running it."""


@dataclass
class Claimed:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int


class Worker:
    """Claims and runs jobs. Several may run at once against PostgreSQL."""

    def __init__(
        self,
        factory: sessionmaker[Session] | None = None,
        *,
        worker_id: str | None = None,
        lease_seconds: int = 300,
        retry_base_seconds: float = 5.0,
    ) -> None:
        self.factory = factory or get_session_factory()
        self.worker_id = (
            worker_id or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        )
        self.lease = timedelta(seconds=lease_seconds)
        self.retry_base = retry_base_seconds

    def claim(self) -> Claimed | None:
        """Lease the next due job; a job whose last attempt died with its worker is marked
        dead on the way and the search goes on."""
        while True:
            now = utcnow()
            with session_scope(self.factory) as session:
                row = session.execute(
                    select(Job.id, Job.kind, Job.payload, Job.attempts, Job.max_attempts)
                    .where(
                        or_(
                            (Job.status == PENDING) & (Job.run_at <= now),
                            (Job.status == RUNNING) & (Job.lease_until < now),
                        )
                    )
                    .order_by(Job.run_at, Job.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                ).first()
                if row is None:
                    return None
                if row.attempts >= row.max_attempts:
                    # Its last attempt died with its worker: give up rather than loop forever.
                    session.execute(
                        update(Job)
                        .where(Job.id == row.id)
                        .values(
                            status=DEAD,
                            finished_at=now,
                            locked_by=None,
                            lease_until=None,
                            last_error="worker stopped during the last attempt",
                        )
                    )
                    log.error("job dead", extra={"job_id": row.id, "kind": row.kind})
                    continue
                session.execute(
                    update(Job)
                    .where(Job.id == row.id)
                    .values(
                        status=RUNNING,
                        attempts=Job.attempts + 1,
                        locked_by=self.worker_id,
                        lease_until=now + self.lease,
                        started_at=now,
                    )
                )
                return Claimed(
                    row.id, row.kind, dict(row.payload or {}), row.attempts + 1, row.max_attempts
                )

    def execute(self, job: Claimed) -> str:
        """Run one claimed job; returns its new status."""
        handler = _handlers.get(job.kind)
        try:
            if handler is None:
                raise LookupError(f"no handler registered for job kind {job.kind!r}")
            with session_scope(self.factory) as session:
                handler(session, job.payload)
                session.flush()
                done = session.execute(
                    update(Job)
                    .where(Job.id == job.id, Job.locked_by == self.worker_id, Job.status == RUNNING)
                    .values(status=DONE, finished_at=utcnow(), lease_until=None, last_error=None)
                )
                if done.rowcount != 1:  # type: ignore[attr-defined]
                    raise LeaseLost(job.id)
            log.info("job done", extra={"job_id": job.id, "kind": job.kind})
            return DONE
        except LeaseLost:
            log.warning("job lease lost; its work was rolled back", extra={"job_id": job.id})
            return RUNNING
        except Exception as exc:
            return self._failed(job, exc)

    def _failed(self, job: Claimed, exc: Exception) -> str:
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:2000]
        now = utcnow()
        dead = job.attempts >= job.max_attempts
        with session_scope(self.factory) as session:
            result = session.execute(
                update(Job)
                .where(Job.id == job.id, Job.locked_by == self.worker_id)
                .values(
                    status=DEAD if dead else PENDING,
                    run_at=now if dead else now + backoff(job.attempts, base=self.retry_base),
                    finished_at=now if dead else None,
                    locked_by=None,
                    lease_until=None,
                    last_error=error,
                )
            )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            log.warning("job failed after its lease was lost", extra={"job_id": job.id})
            return RUNNING
        level = logging.ERROR if dead else logging.WARNING
        log.log(level, "job failed", extra={"job_id": job.id, "kind": job.kind, "dead": dead})
        return DEAD if dead else PENDING

    def run_once(self) -> bool:
        """Claim and run one job; False when there was nothing to do."""
        job = self.claim()
        if job is None:
            return False
        self.execute(job)
        return True

    def run_until_idle(self, limit: int = 10_000) -> int:
        ran = 0
        while ran < limit and self.run_once():
            ran += 1
        return ran

    def run_forever(self, stop: threading.Event, poll_seconds: float = 1.0) -> None:
        log.info("worker started", extra={"worker": self.worker_id})
        while not stop.is_set():
            try:
                worked = self.run_once()
            except Exception:
                log.exception("worker loop error")
                worked = False
            if not worked:
                stop.wait(poll_seconds)
        log.info("worker stopped", extra={"worker": self.worker_id})


def enqueue_periodic_due(factory: sessionmaker[Session] | None = None) -> int:
    """Enqueue every periodic job whose current time slot has no job yet."""
    now = utcnow()
    created = 0
    for schedule in _periodic.values():
        seconds = int(schedule.every.total_seconds())
        slot = int(now.timestamp()) // seconds
        key = f"periodic:{schedule.kind}:{slot}"
        try:
            with session_scope(factory) as session:
                if session.scalar(select(Job.id).where(Job.dedupe_key == key)) is not None:
                    continue
                # insert without enqueue's look-up: a racing scheduler's row must make
                # this insert fail (unique key), not be taken for our own
                _insert(session, schedule.kind, schedule.payload, None, key, None)
            created += 1  # committed: this scheduler's insert took the slot
        except IntegrityError:
            pass  # another scheduler's insert won the race for this slot
            pass  # another scheduler took this slot first
    return created


def start_scheduler(factory: sessionmaker[Session] | None = None, *, seconds: int = 30) -> Any:
    """Run :func:`enqueue_periodic_due` every ``seconds`` on an APScheduler thread."""
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        enqueue_periodic_due,
        "interval",
        seconds=seconds,
        args=[factory],
        next_run_time=utcnow(),
        max_instances=1,
        coalesce=True,
        id="puhui-periodic",
    )
    scheduler.start()
    return scheduler


# --- operator actions -------------------------------------------------------------------


def count_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
    counts = dict.fromkeys(STATUSES, 0)
    counts.update(dict(rows))
    return counts


def jobs_query(status: str | None = None) -> Any:
    stmt = select(Job)
    if status:
        stmt = stmt.where(Job.status == status)
    return stmt.order_by(Job.id.desc())


def get_job(session: Session, job_id: int) -> Job | None:
    return session.get(Job, job_id)


def retry_dead(session: Session, job: Job) -> None:
    """Give a dead job a fresh set of attempts."""
    job.status = PENDING
    job.attempts = 0
    job.run_at = utcnow()
    job.finished_at = None
    job.locked_by = None
    job.lease_until = None
    session.flush()


def purge_done(session: Session, *, older_than: timedelta) -> int:
    result = session.execute(
        delete(Job).where(Job.status == DONE, Job.finished_at < utcnow() - older_than)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@job_handler("jobs.purge_done")
def _purge_done_job(session: Session, payload: dict[str, Any]) -> None:
    purge_done(session, older_than=timedelta(days=int(payload.get("days", 7))))


periodic("jobs.purge_done", every=timedelta(hours=1), payload={"days": 7})
