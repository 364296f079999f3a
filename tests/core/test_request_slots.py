"""A burst of requests larger than the connection pool must queue, not starve: each
request's session holds its connection between the dependency thread and the endpoint
thread, so without a bound every worker thread can end up waiting for a connection that
only a thread-less request could give back."""

from __future__ import annotations

import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.orm import sessionmaker

from puhui import migrate
from puhui.accounts.models import AuthSession
from puhui.core.db import make_engine, session_scope
from puhui.core.orm import utcnow
from puhui.core.policy import Role
from puhui.core.security import digest, new_token
from tests import factories
from tests.conftest import create_database

REQUESTS = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def tiny_pool_server(tmp_path, settings):
    import uvicorn

    from puhui.app import create_app

    url, drop = create_database(os.environ.get("PUHUI_TEST_DATABASE_URL"), tmp_path, "slots")
    engine = make_engine(url, pool_size=1, max_overflow=1, pool_timeout=3)
    migrate.upgrade(engine)
    factory = sessionmaker(engine, expire_on_commit=False)
    token = new_token()
    with session_scope(factory) as s:
        user = factories.user(s, Role.OPERATOR)
        s.add(
            AuthSession(
                id=digest(token),
                user_id=user.id,
                kind="token",
                last_seen_at=utcnow(),
                expires_at=utcnow() + timedelta(hours=1),
            )
        )
    tiny = settings.model_copy(update={"db_pool_size": 1, "db_max_overflow": 1})
    app = create_app(tiny, session_factory=factory, start_worker=False)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", token
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()
    drop()


def test_a_burst_larger_than_the_pool_is_served(tiny_pool_server):
    base, token = tiny_pool_server
    start = threading.Barrier(REQUESTS)

    def call(_: int) -> int:
        start.wait()
        with httpx.Client(base_url=base, timeout=30) as c:
            return c.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code

    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        codes = list(pool.map(call, range(REQUESTS)))
    assert codes == [200] * REQUESTS
