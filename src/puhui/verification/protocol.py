"""The JSON-over-HTTPS protocol spoken with commercial identity-verification services
(``docs/identity-verification.md``): HMAC-SM3 request signatures with a timestamp and a
nonce, and the parser of the provider's result callback.

Pure functions, no I/O: what they accept and refuse is property-tested.

Invariants
- The signed string is ``METHOD \\n PATH \\n TIMESTAMP \\n NONCE \\n`` followed by the raw
  body bytes; the signature is lower-case hex HMAC-SM3 under the shared secret; it is
  compared in constant time.
- A timestamp more than ``max_skew`` seconds away from our clock is refused (old or from
  the future); the nonce (16-64 characters of ``[0-9A-Za-z_-]``) is what the caller stores
  to refuse a replay within that window.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from puhui.core.security import hmac_sm3

TIMESTAMP_HEADER = "X-Puhui-Timestamp"
NONCE_HEADER = "X-Puhui-Nonce"
SIGNATURE_HEADER = "X-Puhui-Signature"
RESULTS = ("verified", "rejected", "expired")
NONCE_RE = re.compile(r"[0-9A-Za-z_-]{16,64}")
REFERENCE_RE = re.compile(r"[0-9A-Za-z_.:-]{1,64}")
MAX_REASON = 500
MAX_BODY = 16_384


class ProtocolError(ValueError):
    """The message is refused; ``reason`` is a short English phrase saying why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def signing_string(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n".encode() + body


def sign(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    return hmac_sm3(secret.encode(), signing_string(method, path, timestamp, nonce, body)).hex()


def signed_headers(
    secret: str, method: str, path: str, body: bytes, *, now: datetime, nonce: str | None = None
) -> dict[str, str]:
    """The three headers that authenticate a request or a callback."""
    timestamp = str(int(now.timestamp()))
    nonce = nonce or secrets.token_hex(16)
    return {
        TIMESTAMP_HEADER: timestamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: sign(secret, method, path, timestamp, nonce, body),
    }


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    raise ProtocolError(f"missing {name} header")


def authenticate(
    secret: str,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    max_skew: int,
) -> str:
    """Check a signed message; returns its nonce (the caller refuses a second use)."""
    timestamp = _header(headers, TIMESTAMP_HEADER).strip()
    nonce = _header(headers, NONCE_HEADER).strip()
    signature = _header(headers, SIGNATURE_HEADER).strip().lower()
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise ProtocolError("the timestamp is not a number of seconds")
    if abs(now.timestamp() - int(timestamp)) > max_skew:
        raise ProtocolError("the timestamp is too old or in the future")
    if not NONCE_RE.fullmatch(nonce):
        raise ProtocolError("the nonce is not 16-64 letters, digits, '_' or '-'")
    if len(body) > MAX_BODY:
        raise ProtocolError("the body is too large")
    expected = sign(secret, method, path, timestamp, nonce, body)
    if not hmac.compare_digest(expected, signature):
        raise ProtocolError("the signature does not match")
    return nonce


@dataclass(frozen=True)
class ProviderResult:
    """What a provider says about one verification: its ``reference``, and ``result``
    (``verified``, ``rejected``, ``expired``; None while it is still running)."""

    reference: str
    result: str | None
    reason: str | None = None


def parse_result(body: bytes, *, allow_pending: bool = False) -> ProviderResult:
    """The JSON body of a callback (or of a poll answer, where ``pending`` is allowed)."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError("the body is not JSON") from exc
    if not isinstance(doc, dict):
        raise ProtocolError("the body is not a JSON object")
    reference = doc.get("reference")
    if not isinstance(reference, str) or not REFERENCE_RE.fullmatch(reference):
        raise ProtocolError("reference is missing or malformed")
    result = doc.get("result")
    allowed = RESULTS + (("pending",) if allow_pending else ())
    if result not in allowed:
        raise ProtocolError(f"result must be one of {', '.join(allowed)}")
    reason = doc.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON):
        raise ProtocolError(f"reason must be a string of at most {MAX_REASON} characters")
    if result == "rejected" and not (reason or "").strip():
        raise ProtocolError("a rejection needs a reason")
    return ProviderResult(
        reference=reference,
        result=None if result == "pending" else str(result),
        reason=reason.strip() if isinstance(reason, str) and reason.strip() else None,
    )


def parse_start(body: bytes) -> tuple[str, str]:
    """The provider's answer to a start request: (reference, redirect URL)."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError("the answer is not JSON") from exc
    if not isinstance(doc, dict):
        raise ProtocolError("the answer is not a JSON object")
    reference, url = doc.get("reference"), doc.get("redirect_url")
    if not isinstance(reference, str) or not REFERENCE_RE.fullmatch(reference):
        raise ProtocolError("reference is missing or malformed")
    if not isinstance(url, str) or not url.startswith("https://") or len(url) > 500:
        raise ProtocolError("redirect_url must be an https URL of at most 500 characters")
    return reference, url
