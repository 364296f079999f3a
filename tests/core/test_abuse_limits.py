"""Abuse limits over HTTP: log-in per username and per client IP, one-time codes per mobile
number (a minute and a day), profile queries and downloads per user and institution — each a
429 with ``Retry-After`` and a message in the caller's language; body caps (413) for JSON,
chunked bodies and uploads; and the security headers on every kind of response."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from puhui.core.policy import Role
from tests import factories

TOKEN = "/api/v1/auth/token"
CODE = "/api/v1/auth/register/code"


def _login(client, username: str, password: str = "wrong-password", **kw: Any):
    return client.post(TOKEN, data={"username": username, "password": password}, **kw)


def _assert_429(r, *, most: int) -> None:
    assert r.status_code == 429, r.text
    assert 1 <= int(r.headers["Retry-After"]) <= most


class TestLogin:
    def test_per_username(self, client, session, settings, monkeypatch):
        monkeypatch.setattr(settings, "limit_login_per_username", 3)
        user = factories.user(session, Role.CUSTOMER_MANAGER, factories.institution(session))
        for _ in range(3):
            assert _login(client, user.username).status_code == 401
        r = _login(client, user.username, factories.PASSWORD)  # even the right password
        _assert_429(r, most=settings.limit_login_window_seconds)
        assert r.json()["error"]["code"] == "rate_limited"
        assert "登录尝试过于频繁" in r.json()["error"]["message"]
        r = _login(client, user.username.upper(), headers={"Accept-Language": "en"})
        assert r.status_code == 429 and "Too many log-in attempts" in r.json()["error"]["message"]
        assert _login(client, "someone-else").status_code == 401  # other names unaffected

    def test_per_client_ip(self, client, settings, monkeypatch):
        monkeypatch.setattr(settings, "limit_login_per_ip", 4)
        for n in range(4):
            assert _login(client, f"nobody{n}").status_code == 401
        _assert_429(_login(client, "nobody-else"), most=settings.limit_login_window_seconds)

    def test_login_page_shows_the_limit(self, client, settings, monkeypatch):
        monkeypatch.setattr(settings, "limit_login_per_username", 1)
        page = client.get("/login")
        csrf = factories_csrf(page.text)
        form = {"username": "pageuser", "password": "x", "csrf_token": csrf}
        assert client.post("/login", data=form).status_code == 401
        r = client.post("/login", data=form)
        _assert_429(r, most=settings.limit_login_window_seconds)
        assert "登录尝试过于频繁" in r.text and "<form" in r.text


def factories_csrf(html: str) -> str:
    from tests.conftest import csrf_from

    return csrf_from(html)


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 1, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class TestOneTimeCodes:
    @pytest.fixture
    def clock(self, monkeypatch) -> _Clock:
        clock = _Clock()
        monkeypatch.setattr("puhui.core.limits.utcnow", clock)
        monkeypatch.setattr("puhui.accounts.service.utcnow", clock)
        return clock

    def test_one_a_minute(self, client, clock):
        assert client.post(CODE, json={"mobile": "13811110001"}).status_code == 202
        clock.now += timedelta(seconds=20)
        _assert_429(client.post(CODE, json={"mobile": "13811110001"}), most=60)
        assert client.post(CODE, json={"mobile": "13811110002"}).status_code == 202
        clock.now += timedelta(seconds=41)
        assert client.post(CODE, json={"mobile": "13811110001"}).status_code == 202

    def test_ten_a_day(self, client, clock, settings):
        assert settings.limit_sms_codes_per_day == 10
        for _ in range(10):
            assert client.post(CODE, json={"mobile": "13811110003"}).status_code == 202
            clock.now += timedelta(seconds=61)
        r = client.post(CODE, json={"mobile": "13811110003"})
        _assert_429(r, most=86_400)
        assert "验证码" in r.json()["error"]["message"]
        clock.now += timedelta(days=1)
        assert client.post(CODE, json={"mobile": "13811110003"}).status_code == 202


class TestQueriesAndDownloads:
    def test_profile_queries_per_user(self, city, monkeypatch):
        monkeypatch.setattr(city.settings, "limit_profile_per_user", 2)
        h = city.h("ent_a")
        url = f"/api/v1/entities/{city.a}/profile"
        assert [city.client.get(url, headers=h).status_code for _ in range(2)] == [200, 200]
        r = city.client.get(url, headers=h)
        _assert_429(r, most=3600)
        assert "查询过于频繁" in r.json()["error"]["message"]
        assert (
            city.client.get(
                f"/api/v1/entities/{city.b}/profile", headers=city.h("ent_b")
            ).status_code
            == 200
        )

    def test_downloads_per_user(self, city, monkeypatch):
        monkeypatch.setattr(city.settings, "limit_export_per_user", 1)
        h = city.h("ent_a")
        url = f"/api/v1/entities/{city.a}/report.pdf"
        assert city.client.get(url, headers=h).status_code == 200
        r = city.client.get(url, headers=h)
        _assert_429(r, most=3600)
        assert r.json()["error"]["code"] == "rate_limited"

    def test_downloads_per_institution(self, city, monkeypatch):
        """The batch quality report (CSV): the platform's budget of one is spent by the
        first download, so the second is refused."""
        monkeypatch.setattr(city.settings, "limit_export_per_institution", 1)
        op = city.h("operator")
        batches = city.client.get("/api/v1/ingest/batches", headers=op).json()["items"]
        url = f"/api/v1/ingest/batches/{batches[0]['id']}/report.csv"
        assert city.client.get(url, headers=op).status_code == 200
        _assert_429(city.client.get(url, headers=op), most=3600)

    def test_a_statistics_csv_counts_and_its_json_does_not(self, city, monkeypatch):
        monkeypatch.setattr(city.settings, "limit_export_per_user", 1)
        h = city.h("regulator")
        url = "/api/v1/stats/series/queries"
        for _ in range(3):  # the figures as JSON: not a download
            assert city.client.get(url, headers=h).status_code == 200
        assert city.client.get(url, params={"format": "csv"}, headers=h).status_code == 200
        _assert_429(city.client.get(url, params={"format": "csv"}, headers=h), most=3600)


# Routes whose paths look like files but are not downloads of platform data, each with why.
NOT_DOWNLOADS = {
    "/api/v1/entities/{uscc}/profile": "a profile query: its own per-user limit",
    "/entities/{uscc}/profile": "a profile query: its own per-user limit",
    "/api/v1/entities/{uscc}/report": "the credit report as JSON: a profile query",
    "/api/v1/reports/{number}/verify": "public check of a report number, no data",
    "/api/v1/loan-codes/{code_id}/qr.{fmt}": "the bank's own QR code image",
    "/api/v1/acquisition/export-quota": "how much of the quota is left",
    "/api/v1/monitoring/downloads": "the list of one's packages",
    "/api/v1/monitoring/downloads/{download_id}": "one package's manifest, no rows",
    "/monitoring/downloads": "the page listing one's packages",
    "/verification/reviews/{verification_id}/photos/{kind}": (
        "shown inline on the review page, behind the reviewer's second factor; every view "
        "is audited"
    ),
    "/openapi.json": "the API description",
}
FILE_LIKE = re.compile(
    r"(\.(csv|xlsx|pdf|json|sql|zip|png)$|\{fmt\}|export|/csv/|download|attachments/|"
    r"package|photos/|report|documents?/|series/)"
)


def _downloads_marked(dependant) -> bool:
    return any(
        getattr(dep.call, "__puhui_download__", False) or _downloads_marked(dep)
        for dep in dependant.dependencies
    )


def test_every_file_route_counts_against_the_download_budget(app):
    """A route added later that serves a file (CSV, XLSX, PDF, JSON or SQL export, an
    attachment) without ``limited_download()`` fails here; the stats series, a download
    only with ``format=csv``, is tested by behaviour above."""
    from fastapi.routing import APIRoute, iter_route_contexts

    checked, unmarked = 0, []
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or "GET" not in route.methods:
            continue
        if not FILE_LIKE.search(route.path) or route.path in NOT_DOWNLOADS:
            continue
        if route.path == "/api/v1/stats/series/{key}":
            continue
        checked += 1
        if not _downloads_marked(route.dependant):
            unmarked.append(route.path)
    assert unmarked == []
    assert checked >= 18  # the pattern still finds the platform's downloads


class TestBodies:
    def test_json_over_the_cap_is_413(self, client, settings, monkeypatch):
        monkeypatch.setattr(settings, "max_body_bytes", 2048)
        body = b'{"conditions": [], "pad": "' + b"x" * 3000 + b'"}'
        r = client.post(
            "/api/v1/acquisition/filter",
            content=body,
            headers={"Content-Type": "application/json", "Accept-Language": "en"},
        )
        assert r.status_code == 413
        error = r.json()["error"]
        assert error["code"] == "body_too_large" and "2 KB" in error["message"]
        assert r.headers["X-Frame-Options"] == "DENY"

    def test_chunked_body_over_the_cap_is_413(self, client, settings, monkeypatch):
        monkeypatch.setattr(settings, "max_body_bytes", 2048)

        def chunks():
            yield b'{"conditions": [], "pad": "'
            for _ in range(10):
                yield b"x" * 1000
            yield b'"}'

        r = client.post(
            "/api/v1/acquisition/filter",
            content=chunks(),
            headers={"Content-Type": "application/json"},
        )
        assert "content-length" not in {k.lower() for k in r.request.headers}
        assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"

    def test_uploads_have_their_own_larger_cap(self, client, settings, monkeypatch):
        monkeypatch.setattr(settings, "max_body_bytes", 2048)
        monkeypatch.setattr(settings, "max_upload_bytes", 8192)
        files = {"file": ("a.csv", b"uscc,indicator,period,value\n" + b"x" * 4000)}
        r = client.post("/api/v1/ingest/batches", files=files, data={"source": "TAX"})
        assert r.status_code != 413  # refused for other reasons (no login), not for size
        files = {"file": ("a.csv", b"x" * 9000)}
        r = client.post("/api/v1/ingest/batches", files=files, data={"source": "TAX"})
        assert r.status_code == 413

    def test_psi_lists_take_the_upload_cap(self, client, settings, monkeypatch):
        monkeypatch.setattr(settings, "max_body_bytes", 2048)
        items = ["A" * 43 + "="] * 100  # ~4.7 KB of JSON
        r = client.post("/api/v1/psi/sessions/x/intersect", json={"items": items})
        assert r.status_code == 401  # reached the route's policy: not refused for size


class TestSecurityHeaders:
    @pytest.mark.parametrize("path", ["/login", "/api/v1/catalog/indicators", "/nope", "/healthz"])
    def test_every_response_carries_them(self, client, path):
        r = client.get(path, follow_redirects=False)
        csp = r.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "'unsafe-eval'" not in csp
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in r.headers

    def test_static_files_too(self, client):
        r = client.get("/static/app.css")
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "Content-Security-Policy" in r.headers

    def test_hsts_only_over_tls(self, app):
        with TestClient(app, base_url="https://testserver") as tls:
            r = tls.get("/login")
        assert r.headers["Strict-Transport-Security"].startswith("max-age=31536000")
