"""Identity-verification providers behind one interface, chosen by
``PUHUI_IDENTITY_VERIFICATION_PROVIDER``.

- ``manual``: nothing leaves the platform; the legal representative uploads two photos
  and operators decide (the service does both, this adapter only names the attempt).
- ``http``: a commercial face-verification service speaking the protocol of
  ``docs/identity-verification.md`` (signed start request, redirect, signed callback or
  poll). Its errors are mapped here onto :class:`ProviderUnavailable`, nowhere else.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol

import httpx

from puhui.config import Settings
from puhui.verification import protocol
from puhui.verification.errors import CallbackRejected, ProviderUnavailable

CALLBACK_PATH = "/api/v1/verification/callbacks/http"


@dataclass(frozen=True)
class Started:
    """A started attempt: the provider's ``reference`` and where the user goes next
    (None: the platform's own page, for providers that need documents)."""

    reference: str
    redirect_url: str | None


class IdentityProvider(Protocol):
    """What every provider offers the service."""

    name: str
    needs_documents: bool  # the user uploads ID photos to the platform

    def start(
        self, *, verification_id: int, name: str, id_number: str, callback_url: str, return_url: str
    ) -> Started:
        """Begin verifying ``name`` / ``id_number``; raises :class:`ProviderUnavailable`."""
        ...

    def poll(self, *, reference: str) -> protocol.ProviderResult:
        """The provider's current answer (``result`` None while running)."""
        ...

    def callback(
        self, *, path: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> tuple[str, protocol.ProviderResult]:
        """Authenticate and read a result callback: (nonce, result); raises
        :class:`CallbackRejected`."""
        ...


class ManualProvider:
    name = "manual"
    needs_documents = True

    def start(
        self, *, verification_id: int, name: str, id_number: str, callback_url: str, return_url: str
    ) -> Started:
        return Started(reference=f"m-{secrets.token_hex(12)}", redirect_url=None)

    def poll(self, *, reference: str) -> protocol.ProviderResult:
        return protocol.ProviderResult(reference=reference, result=None)  # operators decide

    def callback(
        self, *, path: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> tuple[str, protocol.ProviderResult]:
        raise CallbackRejected(reason="the manual provider takes no callbacks")


class HttpProvider:
    """The generic JSON-over-HTTPS provider. ``transport`` is replaced in tests (an
    ``httpx.MockTransport`` standing in for the service)."""

    name = "http"
    needs_documents = False
    transport: ClassVar[httpx.BaseTransport | None] = None
    timeout = 10.0

    def __init__(self, *, base_url: str, secret: str, max_skew: int) -> None:
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.max_skew = max_skew

    def _client(self) -> httpx.Client:
        return httpx.Client(timeout=self.timeout, transport=self.transport)

    def _send(self, method: str, path: str, body: bytes, now: datetime) -> httpx.Response:
        url = httpx.URL(self.base_url + path)
        # the signature covers the path the service receives (its base path included)
        headers = protocol.signed_headers(self.secret, method, url.path, body, now=now)
        headers["Content-Type"] = "application/json"
        try:
            with self._client() as client:
                response = client.request(method, url, content=body or None, headers=headers)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable() from exc
        if response.status_code >= 400:
            raise ProviderUnavailable()
        return response

    def start(
        self, *, verification_id: int, name: str, id_number: str, callback_url: str, return_url: str
    ) -> Started:
        from puhui.core.orm import utcnow

        body = json.dumps(
            {
                "verification_id": str(verification_id),
                "name": name,
                "id_number": id_number,
                "callback_url": callback_url,
                "return_url": return_url,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        response = self._send("POST", "/verifications", body, utcnow())
        try:
            reference, url = protocol.parse_start(response.content)
        except protocol.ProtocolError as exc:
            raise ProviderUnavailable() from exc
        return Started(reference=reference, redirect_url=url)

    def poll(self, *, reference: str) -> protocol.ProviderResult:
        from puhui.core.orm import utcnow

        if not protocol.REFERENCE_RE.fullmatch(reference):
            raise ProviderUnavailable()
        response = self._send("GET", f"/verifications/{reference}", b"", utcnow())
        try:
            return protocol.parse_result(response.content, allow_pending=True)
        except protocol.ProtocolError as exc:
            raise ProviderUnavailable() from exc

    def callback(
        self, *, path: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> tuple[str, protocol.ProviderResult]:
        try:
            nonce = protocol.authenticate(
                self.secret, "POST", path, headers, body, now=now, max_skew=self.max_skew
            )
            return nonce, protocol.parse_result(body)
        except protocol.ProtocolError as exc:
            raise CallbackRejected(reason=exc.reason) from exc


def for_settings(settings: Settings, name: str | None = None) -> IdentityProvider:
    """The provider ``name`` (default: the configured one)."""
    chosen = name or settings.identity_verification_provider
    if chosen == "http":
        return HttpProvider(
            base_url=settings.identity_verification_http_url,
            secret=settings.identity_verification_http_secret,
            max_skew=settings.identity_verification_callback_skew_seconds,
        )
    return ManualProvider()
