"""The HTTP provider against a fake face-verification service (``httpx.MockTransport``):
our signed start request, the redirect, the signed callback (good accepted; bad, old,
replayed refused), the poll of a lost callback, and a service that does not answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from puhui.core.orm import utcnow
from puhui.verification import protocol, providers, service
from puhui.verification.models import IdentityVerification
from puhui.verification.schemas import VerificationStart
from tests import factories
from tests.verification.conftest import REP_ID, REP_NAME

SECRET = "s3cret-shared-with-the-face-service-0123456789"
CALLBACK = providers.CALLBACK_PATH


class FakeFaceService:
    """What a vendor would run: checks our signature, answers with a reference and a
    redirect, answers polls with whatever ``results`` holds."""

    def __init__(self) -> None:
        self.started: list[dict[str, str]] = []
        self.results: dict[str, dict[str, str]] = {}
        self.down = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("refused", request=request)
        try:
            protocol.authenticate(
                SECRET,
                request.method,
                request.url.path,
                dict(request.headers),
                request.content,
                now=utcnow(),
                max_skew=60,
            )
        except protocol.ProtocolError as exc:
            return httpx.Response(401, json={"error": exc.reason})
        if request.method == "POST" and request.url.path == "/face/verifications":
            doc = json.loads(request.content)
            self.started.append(doc)
            ref = f"fv-{len(self.started)}"
            return httpx.Response(
                201, json={"reference": ref, "redirect_url": f"https://face.example/s/{ref}"}
            )
        if request.method == "GET" and request.url.path.startswith("/face/verifications/"):
            ref = request.url.path.rsplit("/", 1)[1]
            return httpx.Response(
                200, json=self.results.get(ref, {"reference": ref, "result": "pending"})
            )
        return httpx.Response(404)


@pytest.fixture
def face(configured, monkeypatch) -> Iterator[FakeFaceService]:
    fake = FakeFaceService()
    configured(
        identity_verification_provider="http",
        identity_verification_http_url="https://face.example/face",
        identity_verification_http_secret=SECRET,
    )
    monkeypatch.setattr(providers.HttpProvider, "transport", httpx.MockTransport(fake))
    yield fake


def _start(session, town):
    return service.start(
        session,
        actor=town.ent_actor,
        data=VerificationStart(legal_rep_name=REP_NAME, legal_rep_id_number=REP_ID),
        base_url="https://puhui.example",
    )


def _callback(client, body: dict, *, now=None, nonce=None, secret=SECRET, tamper=False):
    raw = json.dumps(body).encode()
    headers = protocol.signed_headers(
        secret, "POST", CALLBACK, raw, now=now or utcnow(), nonce=nonce
    )
    if tamper:
        raw = raw.replace(b"verified", b"rejected")
    return client.post(
        CALLBACK, content=raw, headers={**headers, "Content-Type": "application/json"}
    )


class TestStart:
    def test_the_signed_start_request_gives_a_redirect(self, session, town, face):
        row = _start(session, town)
        assert row.provider == "http" and row.status == "pending"
        assert row.reference == "fv-1"
        assert row.redirect_url == "https://face.example/s/fv-1"
        (sent,) = face.started
        assert sent["callback_url"] == "https://puhui.example" + CALLBACK
        assert sent["return_url"] == "https://puhui.example/verification"
        assert (sent["name"], sent["id_number"]) == (REP_NAME, REP_ID)
        assert not service.read(row).needs_documents

    def test_the_web_form_sends_the_user_to_the_service(self, client, session, town, face):
        csrf = factories.web_login(client, town.ent.username)
        r = client.post(
            "/verification/start",
            data={"legal_rep_name": REP_NAME, "legal_rep_id_number": REP_ID, "csrf_token": csrf},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"].startswith("https://face.example/s/")

    def test_a_service_that_does_not_answer_is_a_502_and_nothing_is_kept(
        self, client, session, town, face
    ):
        face.down = True
        before = session.scalar(select(func.count()).select_from(IdentityVerification))
        r = client.post(
            "/api/v1/verification",
            json={"legal_rep_name": REP_NAME, "legal_rep_id_number": REP_ID},
            headers=factories.token(client, town.ent.username),
        )
        assert r.status_code == 502, r.text
        assert r.json()["error"]["code"] == "verification_provider_unavailable"
        assert session.scalar(select(func.count()).select_from(IdentityVerification)) == before


class TestCallback:
    def test_a_good_signature_concludes_the_verification(self, client, session, town, face):
        row = _start(session, town)
        r = _callback(client, {"reference": row.reference, "result": "verified"})
        assert r.status_code == 200, r.text
        session.refresh(row)
        assert row.status == "verified"
        assert service.is_verified(session, user_id=town.ent.id, uscc=town.uscc)

    def test_a_rejection_carries_its_reason(self, client, session, town, face):
        row = _start(session, town)
        r = _callback(
            client, {"reference": row.reference, "result": "rejected", "reason": "人脸比对不一致"}
        )
        assert r.status_code == 200
        session.refresh(row)
        assert (row.status, row.reason) == ("rejected", "人脸比对不一致")

    @pytest.mark.parametrize(
        "how",
        ["tampered", "wrong secret", "old", "future"],
    )
    def test_bad_or_stale_signatures_are_refused(self, client, session, town, face, how):
        row = _start(session, town)
        body = {"reference": row.reference, "result": "verified"}
        now = utcnow()
        r = _callback(
            client,
            body,
            tamper=how == "tampered",
            secret="another-secret-of-enough-length-0123456789"
            if how == "wrong secret"
            else SECRET,
            now={"old": now - timedelta(minutes=10), "future": now + timedelta(minutes=10)}.get(
                how, now
            ),
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == "callback_rejected"
        session.refresh(row)
        assert row.status == "pending"

    def test_a_replayed_callback_is_refused(self, client, session, town, face):
        row = _start(session, town)
        body = {"reference": row.reference, "result": "rejected", "reason": "不一致"}
        nonce = "n" * 32
        assert _callback(client, body, nonce=nonce).status_code == 200
        again = _callback(client, body, nonce=nonce)
        assert again.status_code == 409 and again.json()["error"]["code"] == "callback_replayed"

    def test_an_unknown_reference_is_refused(self, client, session, town, face):
        r = _callback(client, {"reference": "nobody", "result": "verified"})
        assert r.status_code == 400

    def test_callbacks_are_refused_when_the_http_provider_is_off(self, client, session, town):
        r = _callback(client, {"reference": "x", "result": "verified"})
        assert r.status_code == 400


class TestPoll:
    def test_a_lost_callback_is_made_up_by_polling(self, session, town, face):
        row = _start(session, town)
        assert service.poll_pending(session) == 0  # still running
        face.results[row.reference] = {"reference": row.reference, "result": "verified"}
        assert service.poll_pending(session) == 1
        assert row.status == "verified"
