"""PSI over the API on the small city, driven by the real client (puhui.psi.client):
results equal the plain intersection with the filtered set, count mode hides which
items matched, which mode needs the platform's grant, sessions are single-use, bounded,
scoped to their institution, rate limited and audited — and no request body the server
receives carries a USCC of the bank's list, in clear or hashed."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from puhui.audit.models import AuditEvent
from puhui.core.orm import utcnow
from puhui.psi import protocol
from puhui.psi.client import PsiClient, PsiClientError, prepare
from puhui.psi.models import PsiSession
from tests import factories

GROWS = [{"indicator": "OPR_TAX_TOTAL_YOY", "op": "gt", "value": 0}]  # entity A only
SESSIONS = "/api/v1/psi/sessions"


def _client(city, who: str = "cm_a", http: Any = None) -> PsiClient:
    token = city.h(who)["Authorization"].removeprefix("Bearer ")
    return PsiClient(token=token, http=http or city.client)


def _others(n: int) -> list[str]:
    return [factories.uscc() for _ in range(n)]


def _grant(city, bank: str = "a") -> None:
    r = city.client.put(f"/api/v1/psi/grants/{city.banks[bank]}", headers=city.h("operator"))
    assert r.status_code == 200 and r.json()["granted"] is True, r.text


class TestResults:
    def test_count_mode_counts_the_intersection_with_the_filtered_set(self, city):
        mine = [*_others(5), city.a.lower(), city.b]
        result = _client(city).intersect(mine, conditions=GROWS)
        assert (result.mode, result.count, result.items) == ("count", 1, 7)
        assert result.server_items == 1 and result.matches is None
        everyone = _client(city).intersect(mine)  # no conditions: every findable entity
        assert everyone.count == 2 and everyone.server_items == 2

    def test_which_mode_needs_the_platforms_grant(self, city):
        mine = [*_others(3), city.a, city.b]
        with pytest.raises(PsiClientError) as exc:
            _client(city).intersect(mine, conditions=GROWS, mode="which")
        assert exc.value.status == 403 and exc.value.code == "psi_which_not_allowed"
        _grant(city)
        result = _client(city).intersect(mine, conditions=GROWS, mode="which")
        assert result.mode == "which" and result.matches == [city.a]
        # another bank has no grant
        with pytest.raises(PsiClientError):
            _client(city, "cm_b").intersect(mine, mode="which")

    def test_which_mode_switched_off_by_platform_policy(self, city, monkeypatch):
        _grant(city)
        monkeypatch.setattr(city.settings, "psi_which_enabled", False)
        with pytest.raises(PsiClientError) as exc:
            _client(city).intersect([city.a], mode="which")
        assert exc.value.code == "psi_which_not_allowed"

    def test_opted_out_entities_are_not_in_the_set(self, city):
        r = city.client.put(
            "/api/v1/me/marketing", json={"opted_out": True}, headers=city.h("ent_a")
        )
        assert r.status_code == 200
        result = _client(city).intersect([city.a, city.b])
        assert result.count == 1 and result.server_items == 1


class TestCountOnly:
    def _raw(self, city, items: list[str], mode: str) -> tuple[bytes, list[bytes], list[bytes]]:
        secret = protocol.new_secret()
        h = city.h("cm_a")
        sid = city.client.post(SESSIONS, json={"mode": mode}, headers=h).json()["id"]
        blinded = protocol.encode(protocol.blind_items(secret, items))
        r = city.client.post(f"{SESSIONS}/{sid}/intersect", json={"items": blinded}, headers=h)
        assert r.status_code == 200, r.text
        body = r.json()
        return secret, protocol.decode(body["items"]), protocol.decode(body["server_items"])

    def test_count_mode_answer_carries_no_order(self, city):
        mine = [city.a, *_others(29)]  # the one match is first
        seen = set()
        for _ in range(4):
            secret, doubled, theirs = self._raw(city, mine, "count")
            found = protocol.intersect(secret, doubled, theirs)
            assert len(found) == 1
            seen.add(found[0])
        assert seen != {0}  # always at index 0 would reveal which item matched (p = 30^-4)

    def test_which_mode_answer_keeps_the_lists_order(self, city):
        _grant(city)
        mine = [*_others(9), city.a]
        secret, doubled, theirs = self._raw(city, mine, "which")
        assert protocol.intersect(secret, doubled, theirs) == [9]


class _Recorder:
    """An ASGI wrapper that keeps every request body the server receives."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def recording() -> Any:
            message = await receive()
            if message.get("type") == "http.request":
                self.bodies.append(message.get("body", b""))
            return message

        await self.app(scope, recording, send)


class TestPrivacy:
    def test_server_never_receives_the_list_in_clear_or_hashed(self, city):
        _grant(city)
        mine = [city.a, city.b, *_others(20)]
        recorder = _Recorder(city.client.app)
        with TestClient(recorder, base_url="http://testserver") as http:
            result = _client(city, http=http).intersect(mine, conditions=GROWS, mode="which")
        assert result.matches == [city.a]
        sent = b"".join(recorder.bodies)
        assert b'"items"' in sent  # the blinded list did go through this recorder
        for code in mine:
            point = protocol.hash_to_point(code)
            forms = [
                code,
                code.lower(),
                hashlib.sha256(code.encode()).hexdigest(),
                hashlib.sha512(code.encode()).hexdigest(),
                hashlib.sha256(code.encode()).digest(),
                hashlib.sha512(protocol.HASH_TAG + code.encode()).digest()[:16],
                point,
                point.hex(),
                base64.b64encode(point).decode(),
            ]
            for form in forms:
                needle = form.encode() if isinstance(form, str) else form
                assert needle not in sent, f"{code} leaked as {form!r}"

    def test_audit_records_sizes_mode_and_filter_never_items(self, city):
        mine = [city.a, *_others(4)]
        _client(city).intersect(mine, conditions=GROWS)
        with city.factory() as s:
            events = s.scalars(
                select(AuditEvent).where(AuditEvent.action.like("psi.%")).order_by(AuditEvent.id)
            ).all()
        assert [e.action for e in events] == ["psi.open", "psi.intersect"]
        done = events[1].details
        assert done["mode"] == "count" and done["client_items"] == 5
        assert done["server_items"] == 1 and "OPR_TAX_TOTAL_YOY gt 0" in done["filter"]
        text = json.dumps([e.details for e in events])
        assert all(code not in text for code in mine)


class TestSessions:
    def _open(self, city, who: str = "cm_a", **body: Any) -> str:
        r = city.client.post(SESSIONS, json=body, headers=city.h(who))
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def _items(self, n: int) -> list[str]:
        return protocol.encode(protocol.blind_items(protocol.new_secret(), _others(n)))

    def test_a_session_runs_once(self, city):
        sid = self._open(city)
        h = city.h("cm_a")
        url = f"{SESSIONS}/{sid}/intersect"
        assert city.client.post(url, json={"items": self._items(2)}, headers=h).status_code == 200
        r = city.client.post(url, json={"items": self._items(2)}, headers=h)
        assert r.status_code == 409 and r.json()["error"]["code"] == "psi_session_closed"
        shown = city.client.get(f"{SESSIONS}/{sid}", headers=h).json()
        assert shown["status"] == "done" and shown["client_items"] == 2
        with city.factory() as s:
            assert s.scalar(select(PsiSession.nonce).where(PsiSession.public_id == sid)) is None

    def test_expired_session_is_closed(self, city):
        sid = self._open(city)
        with city.factory.begin() as s:
            row = s.scalar(select(PsiSession).where(PsiSession.public_id == sid))
            row.expires_at = utcnow() - timedelta(seconds=1)
        r = city.client.post(
            f"{SESSIONS}/{sid}/intersect", json={"items": self._items(1)}, headers=city.h("cm_a")
        )
        assert r.status_code == 409

    def test_another_institutions_session_is_not_found(self, city):
        sid = self._open(city)
        r = city.client.post(
            f"{SESSIONS}/{sid}/intersect", json={"items": self._items(1)}, headers=city.h("cm_b")
        )
        assert r.status_code == 404
        assert city.client.get(f"{SESSIONS}/{sid}", headers=city.h("cm_b")).status_code == 404

    def test_list_size_is_bounded(self, city, monkeypatch):
        monkeypatch.setattr(city.settings, "psi_max_items", 3)
        sid = self._open(city)
        r = city.client.post(
            f"{SESSIONS}/{sid}/intersect", json={"items": self._items(4)}, headers=city.h("cm_a")
        )
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"] == "items"

    def test_too_broad_a_filter_is_refused(self, city, monkeypatch):
        monkeypatch.setattr(city.settings, "psi_max_server_items", 1)
        r = city.client.post(SESSIONS, json={}, headers=city.h("cm_a"))
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"] == "conditions"
        assert self._open(city, conditions=GROWS)  # one entity: narrow enough

    def test_malformed_item_is_named(self, city):
        sid = self._open(city)
        items = [*self._items(1), base64.b64encode(bytes(32)).decode()]
        r = city.client.post(
            f"{SESSIONS}/{sid}/intersect", json={"items": items}, headers=city.h("cm_a")
        )
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"] == "items.1"

    def test_invalid_filter_names_the_condition(self, city):
        bad = [{"indicator": "NOPE", "op": "gt", "value": 1}]
        r = city.client.post(SESSIONS, json={"conditions": bad}, headers=city.h("cm_a"))
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"] == "conditions.0.indicator"

    def test_sessions_per_institution_are_rate_limited(self, city, monkeypatch):
        monkeypatch.setattr(city.settings, "psi_sessions_per_hour", 2)
        self._open(city, "cm_a")
        self._open(city, "rm_a")  # same institution, another user
        r = city.client.post(SESSIONS, json={}, headers=city.h("cm_a"))
        assert r.status_code == 429
        assert 1 <= int(r.headers["Retry-After"]) <= 3600
        assert r.json()["error"]["code"] == "rate_limited"
        self._open(city, "cm_b")  # another institution has its own budget

    def test_only_lenders_staff_run_psi(self, city):
        r = city.client.post(SESSIONS, json={}, headers=city.h("admin_a"))
        assert r.status_code == 403


class TestClientInput:
    def test_prepare_normalises_and_dedupes(self, city):
        assert prepare([city.a.lower(), f" {city.a} ", "", city.b]) == [city.a, city.b]

    def test_prepare_names_the_bad_line(self):
        with pytest.raises(PsiClientError, match="line 2"):
            prepare([factories.uscc(), "not-a-code"])
