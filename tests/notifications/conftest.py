"""Fixtures of the notifications tests: committed data (for workers, threads and child
processes), a test SMSC, a local SMTP server and settings pointing at them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from puhui.core.jobs import DEAD, DONE, Job
from puhui.notifications import channels, service, tasks
from puhui.notifications.models import DeliveryReceipt, Message
from tests.notifications.smsc import Smsc


@pytest.fixture
def reader(engine: Engine) -> Iterator[Engine]:
    """Looks at committed rows without waiting for SQLite's write lock."""
    eng = create_engine(engine.url)
    yield eng
    eng.dispose()


@pytest.fixture
def committed(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """A plain session factory on the engine; removes what the test committed."""
    with engine.begin() as conn:
        open_jobs = conn.scalar(
            select(func.count()).select_from(Job).where(Job.status.not_in([DONE, DEAD]))
        )
        assert open_jobs == 0, "another test left committed jobs behind"
        job_floor = conn.scalar(select(func.coalesce(func.max(Job.id), 0)))
        message_floor = conn.scalar(select(func.coalesce(func.max(Message.id), 0)))
        receipt_floor = conn.scalar(select(func.coalesce(func.max(DeliveryReceipt.id), 0)))
    yield sessionmaker(engine, expire_on_commit=False)
    channels.close_gateways()
    with engine.begin() as conn:
        conn.execute(delete(Job).where(Job.id > job_floor))
        conn.execute(delete(DeliveryReceipt).where(DeliveryReceipt.id > receipt_floor))
        conn.execute(delete(Message).where(Message.id > message_floor))


@pytest.fixture
def configure(monkeypatch, settings):
    """``configure(**fields)``: the settings the notifications code sees in this test."""

    def apply(**fields):
        custom = settings.model_copy(update=fields)
        monkeypatch.setattr(service, "get_settings", lambda: custom)
        monkeypatch.setattr(tasks, "get_settings", lambda: custom)
        return custom

    yield apply
    channels.close_gateways()


@pytest.fixture
def smsc() -> Iterator[Smsc]:
    server = Smsc().start()
    yield server
    channels.close_gateways()
    server.stop()


@pytest.fixture
def smpp_settings(configure, smsc):
    return configure(
        sms_gateway="smpp",
        smpp_host="127.0.0.1",
        smpp_port=smsc.port,
        smpp_system_id="puhui",
        smpp_password="secret",
        smpp_source_addr="10690001",
        smpp_timeout_seconds=2.0,
        smpp_receipt_wait_seconds=0.3,
    )
