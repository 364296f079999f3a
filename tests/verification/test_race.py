"""Two deliveries of the same signed callback at the same moment: exactly one is accepted,
the other is refused as a replay (the nonce's unique key decides, not the first read)."""

from __future__ import annotations

import json
import os
import threading
from datetime import timedelta

import pytest
from sqlalchemy.orm import sessionmaker

from puhui.config import get_settings
from puhui.core.errors import PuhuiError
from puhui.core.orm import utcnow
from puhui.core.policy import Role
from puhui.entities import service as entities
from puhui.verification import protocol, providers, service
from puhui.verification.models import IdentityVerification
from tests import factories
from tests.entities.factories import record
from tests.verification.conftest import REP_ID, REP_NAME

SECRET = "s3cret-shared-with-the-face-service-0123456789"


@pytest.fixture
def own_engine(tmp_path, engine):
    """A database of the test's own: the deliveries commit for real."""
    from puhui import migrate
    from puhui.core.db import make_engine
    from tests.conftest import create_database

    url, drop = create_database(os.environ.get("PUHUI_TEST_DATABASE_URL"), tmp_path, "idvrace")
    engine = make_engine(url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()
    drop()


def test_simultaneous_deliveries_are_accepted_once(own_engine):
    settings = get_settings().model_copy(
        update={
            "identity_verification_provider": "http",
            "identity_verification_http_url": "https://face.example",
            "identity_verification_http_secret": SECRET,
        }
    )
    factory = sessionmaker(bind=own_engine, expire_on_commit=False)
    with factory.begin() as s:
        rec = record("并发公司", legal_rep_name=REP_NAME, legal_rep_id=REP_ID)
        entities.upsert(s, [rec])
        user = factories.user(s, Role.ENTERPRISE, verified=False)
        user.entity_uscc = rec.uscc
        s.add(
            IdentityVerification(
                user_id=user.id,
                entity_uscc=rec.uscc,
                provider="http",
                reference="fv-race",
                status="pending",
                claimed_name=REP_NAME,
                claimed_id_number=REP_ID,
                expires_at=utcnow() + timedelta(hours=1),
            )
        )
    body = json.dumps({"reference": "fv-race", "result": "verified"}).encode()
    headers = protocol.signed_headers(
        SECRET, "POST", providers.CALLBACK_PATH, body, now=utcnow(), nonce="r" * 32
    )
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def deliver() -> None:
        barrier.wait()
        try:
            with factory.begin() as s:
                service.handle_callback(
                    s, path=providers.CALLBACK_PATH, headers=headers, body=body, settings=settings
                )
            outcomes.append("accepted")
        except PuhuiError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["accepted", "callback_replayed"]


def test_two_simultaneous_starts_leave_one_pending_attempt(own_engine):
    """A double click on "start": the second start replaces the first (expired as
    "replaced"), never two pending attempts side by side."""
    from sqlalchemy import select

    from puhui.core.policy import Actor
    from puhui.verification.schemas import VerificationStart

    factory = sessionmaker(bind=own_engine, expire_on_commit=False)
    with factory.begin() as s:
        rec = record("双击公司", legal_rep_name=REP_NAME, legal_rep_id=REP_ID)
        entities.upsert(s, [rec])
        user = factories.user(s, Role.ENTERPRISE, verified=False)
        user.entity_uscc = rec.uscc
    actor = Actor(
        user_id=user.id, username=user.username, role=Role.ENTERPRISE, entity_uscc=rec.uscc
    )
    data = VerificationStart(legal_rep_name=REP_NAME, legal_rep_id_number=REP_ID)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def start() -> None:
        barrier.wait()
        try:
            with factory.begin() as s:
                service.start(s, actor=actor, data=data, base_url="http://testserver")
            outcomes.append("started")
        except PuhuiError as exc:  # pragma: no cover - shown in the assertion
            outcomes.append(exc.code)
        except Exception as exc:  # SQLite: the loser's stale snapshot cannot write
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    with factory() as s:
        statuses = s.scalars(
            select(IdentityVerification.status).where(IdentityVerification.user_id == user.id)
        ).all()
    assert sorted(statuses).count("pending") == 1, (statuses, outcomes)
    if own_engine.dialect.name == "postgresql":  # the lock makes the second one wait
        assert outcomes == ["started", "started"]
        assert sorted(statuses) == ["expired", "pending"]
