from __future__ import annotations

from puhui.core.policy import Role
from tests import factories


class TestHealth:
    def test_healthz_checks_database_and_lake(self, client, settings):
        r = client.get("/healthz")
        assert r.status_code == 200
        assert r.json()["database"] == "ok" and r.json()["lake"] == "ok"

    def test_healthz_reports_a_missing_lake(self, app, settings, tmp_path):
        from fastapi.testclient import TestClient

        from puhui.app import create_app

        broken = settings.model_copy(update={"data_dir": tmp_path / "nowhere"})
        bad = create_app(broken, session_factory=app.state.session_factory, start_worker=False)
        with TestClient(bad) as c:
            r = c.get("/healthz")
        assert r.status_code == 503 and r.json()["lake"].startswith("error")


class TestErrors:
    def test_api_errors_are_json_in_the_one_shape(self, client):
        r = client.get("/api/v1/no-such-thing")
        assert r.status_code == 404
        assert r.json() == {"error": {"code": "not_found", "message": "未找到。", "details": None}}

    def test_api_requires_bearer(self, client):
        r = client.get("/api/v1/me")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"

    def test_web_errors_are_pages(self, client, session):
        factories.web_login(client, factories.user(session, Role.ENTERPRISE).username)
        r = client.get("/admin/institutions")
        assert r.status_code == 403 and "<h1>您无权执行此操作。</h1>" in r.text

    def test_htmx_errors_are_partials(self, client, session):
        factories.web_login(client, factories.user(session, Role.ENTERPRISE).username)
        r = client.get("/admin/institutions", headers={"HX-Request": "true"})
        assert r.status_code == 403 and "<html" not in r.text and "alert-error" in r.text

    def test_web_pages_redirect_to_login(self, client):
        r = client.get("/admin/users", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login?next=/admin/users"

    def test_json_body_errors_name_the_field(self, client, session):
        h = factories.token(client, factories.user(session, Role.OPERATOR).username)
        r = client.post(
            "/api/v1/institutions",
            content=b"{not json",
            headers={**h, "content-type": "application/json"},
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "validation_failed"


class TestSecurityHeaders:
    def test_pages_carry_security_headers(self, client):
        r = client.get("/login")
        assert r.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "HttpOnly" in r.headers["set-cookie"]

    def test_openapi_documents_the_api(self, client):
        spec = client.get("/openapi.json").json()
        assert "/api/v1/auth/token" in spec["paths"] and "/api/v1/audit/events" in spec["paths"]
        assert not any(p.startswith("/admin") for p in spec["paths"])
