from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from puhui.core import jobs
from puhui.core.db import session_scope
from puhui.core.jobs import Job
from puhui.notifications.models import DeliveryReceipt, Message, MessagePart


def wait_until(predicate: Callable[[], bool], *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {seconds}s waiting for {what}"
        time.sleep(0.02)


def message(factory: sessionmaker[Session], message_id: int) -> Message:
    with factory() as s:
        found = s.get(Message, message_id)
        assert found is not None
        s.expunge(found)
        return found


def parts(factory: sessionmaker[Session], message_id: int) -> list[tuple[int, str, str]]:
    with factory() as s:
        rows = s.execute(
            select(MessagePart.part, MessagePart.gateway_ref, MessagePart.status)
            .where(MessagePart.message_id == message_id)
            .order_by(MessagePart.part)
        )
        return [tuple(r) for r in rows]


def receipts(factory: sessionmaker[Session], message_id: int) -> list[str]:
    with factory() as s:
        return list(
            s.scalars(
                select(DeliveryReceipt.stat)
                .where(DeliveryReceipt.message_id == message_id)
                .order_by(DeliveryReceipt.id)
            )
        )


def due_jobs(factory: sessionmaker[Session], kind: str) -> list[Job]:
    with factory() as s:
        rows = list(s.scalars(select(Job).where(Job.kind == kind, Job.status == jobs.PENDING)))
        for row in rows:
            s.expunge(row)
        return rows


def run_worker(factory: sessionmaker[Session]) -> int:
    return jobs.Worker(factory, worker_id="test", retry_base_seconds=0).run_until_idle()


def queue(factory: sessionmaker[Session], fn: Callable[[Session], Message]) -> int:
    with session_scope(factory) as s:
        return fn(s).id
