"""Browser fixtures: a live server on its own database, with the demo data, and Debian's
chromium driven through Playwright.

The live server runs the real app (in-process worker included) with uvicorn in a thread,
on a database of its own: the suite's per-test rollback cannot reach another process's
connections, and the browser needs committed data.

Without chromium the browser tests are skipped, unless ``PUHUI_REQUIRE_BROWSER=1`` (CI),
in which case they fail. They never download a browser.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from tests.conftest import create_database

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
REQUIRE_ENV = "PUHUI_REQUIRE_BROWSER"


def _unavailable(reason: str) -> None:
    """Skip, or fail when the environment says the browser tests must run."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1, so the browser tests may not be skipped)")
    pytest.skip(f"{reason}; set {REQUIRE_ENV}=1 to make this a failure")


def chromium_executable() -> str | None:
    if Path(CHROMIUM).is_file():
        return CHROMIUM
    return shutil.which("chromium")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the browser ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = chromium_executable()
    if executable is None:
        _unavailable(f"chromium not found (looked for {CHROMIUM} and `chromium` on PATH)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")
    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    except Exception as exc:
        pw.stop()
        _unavailable(f"chromium at {executable} did not start: {exc}")
    yield b
    b.close()
    pw.stop()


# --- the live server --------------------------------------------------------------------


@dataclass
class LiveServer:
    url: str
    engine: Engine
    logins: list[tuple[str, str, str]] = field(default_factory=list)


@pytest.fixture(scope="session")
def live_server(settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    import uvicorn

    from puhui import demo, migrate
    from puhui.app import create_app
    from puhui.catalog import service as catalog
    from puhui.core.db import make_engine, session_scope
    from puhui.core.web import STATIC_DIR

    htmx = STATIC_DIR / "vendor" / "htmx.min.js"
    if not htmx.is_file():
        pytest.fail(f"{htmx} is missing: run `make static` before the browser tests")

    url, drop = create_database(
        os.environ.get("PUHUI_TEST_DATABASE_URL"), tmp_path_factory.mktemp("browser"), "browser"
    )
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        with session_scope(sessionmaker(engine)) as session:
            logins = demo.create(session)
            catalog.load(session)

        live_settings = settings.model_copy(
            update={"database_url": url, "worker_poll_seconds": 0.1}
        )
        app = create_app(
            live_settings,
            session_factory=sessionmaker(engine, expire_on_commit=False),
            start_worker=True,
        )
        port = _free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="puhui-live-server", daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, thread)
        try:
            yield LiveServer(url=base, engine=engine, logins=logins)
        finally:
            server.should_exit = True
            thread.join(timeout=15)
    finally:
        engine.dispose()
        drop()


def _wait_healthy(base: str, thread: threading.Thread, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if not thread.is_alive():
            pytest.fail("the live server thread stopped during start-up (see the log above)")
        try:
            r = httpx.get(f"{base}/healthz", timeout=2)
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}: {r.text}"
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.05)
    pytest.fail(f"the live server did not answer /healthz within {timeout:.0f}s: {last}")


# --- pages ------------------------------------------------------------------------------


@dataclass
class Problems:
    """What the browser reported: console errors and uncaught page errors."""

    console: list[str] = field(default_factory=list)
    page: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.console.clear()
        self.page.clear()

    def assert_none(self, where: str) -> None:
        assert not self.console, f"console errors on {where}: {self.console}"
        assert not self.page, f"page errors on {where}: {self.page}"


@pytest.fixture
def new_page(browser, live_server: LiveServer) -> Iterator[Callable[[], tuple[Any, Problems]]]:
    """Open a page in a fresh browser context (own cookies); returns (page, problems)."""
    contexts: list[Any] = []

    def make() -> tuple[Any, Problems]:
        context = browser.new_context(
            base_url=live_server.url,
            viewport={"width": 1280, "height": 800},
            locale="zh-CN",
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        problems = Problems()

        def on_console(msg: Any) -> None:
            if msg.type != "error":
                return
            problems.console.append(f"{msg.text} @ {msg.location}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: problems.page.append(str(exc)))
        return page, problems

    yield make
    for context in contexts:
        context.close()
