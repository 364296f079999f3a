"""The bank's side of private set intersection: a small Python API over HTTP.

    from puhui.psi.client import PsiClient
    with PsiClient("https://puhui.example", api_key="phk_…") as psi:
        result = psi.intersect(my_usccs, conditions=[...], mode="count")
        result.count          # how many of my_usccs are in the filtered set
        result.matches        # which ones (mode "which", when the platform allows it)

Only blinded values leave this process: ``H(x)^a`` with a secret ``a`` that is generated
here for each run and never sent (see :mod:`puhui.psi.protocol` for the argument). The
USCCs are normalised the way the registry stores them; a line that is no USCC is refused
with its line number before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

import httpx

from puhui.entities import service as entities
from puhui.psi import protocol

DEFAULT_TIMEOUT = 300.0  # a 100 k-item session takes seconds on the server


class PsiClientError(Exception):
    """The server refused (``status``, ``code`` and its message) or a local input is wrong
    (``status`` 0)."""

    def __init__(self, message: str, *, status: int = 0, code: str = "invalid_input") -> None:
        self.status = status
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class PsiResult:
    session_id: str
    mode: Literal["count", "which"]
    count: int  # items of the bank's list in the filtered set
    items: int  # distinct items sent
    server_items: int  # size of the filtered set
    matches: list[str] | None = field(default=None)  # which mode only, in list order


def prepare(usccs: Iterable[str]) -> list[str]:
    """Normalised, distinct USCCs in first-seen order. A code whose only fault is its check
    character is kept (some codes issued in the wild carry one); anything else raises
    :class:`PsiClientError` naming the line (1-based)."""
    out: dict[str, None] = {}
    for line, raw in enumerate(usccs, start=1):
        if not raw.strip():
            continue
        try:
            code, _ = entities.official_code(raw)
        except entities.InvalidUSCC as exc:
            raise PsiClientError(f"line {line}: {raw.strip()!r} is not a USCC ({exc})") from None
        out.setdefault(code)
    return list(out)


class PsiClient:
    """Talks to ``/api/v1/psi`` with an API key (``X-API-Key``) or a bearer token.
    ``http`` replaces the HTTP client (tests pass the app's TestClient)."""

    def __init__(
        self,
        base_url: str = "",
        *,
        api_key: str | None = None,
        token: str | None = None,
        http: httpx.Client | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        headers = {"Accept": "application/json"}
        if api_key:
            headers["X-API-Key"] = api_key
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._headers = headers
        self._own = http is None
        self._http = http or httpx.Client(base_url=base_url, timeout=timeout)

    def __enter__(self) -> PsiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._own:
            self._http.close()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self._http.post(path, json=body, headers=self._headers)
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                code, message = str(error["code"]), str(error["message"])
                details = error.get("details") or []
                if isinstance(details, list) and details:
                    message += " " + "; ".join(
                        f"{d.get('field')}: {d.get('message')}" for d in details[:5]
                    )
            except (ValueError, KeyError, TypeError):
                code, message = "http_error", response.text[:200]
            raise PsiClientError(message, status=response.status_code, code=code)
        data: dict[str, Any] = response.json()
        return data

    def intersect(
        self,
        usccs: Iterable[str],
        *,
        conditions: Sequence[dict[str, Any]] = (),
        match: Literal["all", "any"] = "all",
        mode: Literal["count", "which"] = "count",
    ) -> PsiResult:
        """Run one session: how many (or which) of ``usccs`` match ``conditions``."""
        items = prepare(usccs)
        if not items:
            raise PsiClientError("the list has no USCC")
        secret = protocol.new_secret()
        blinded = protocol.encode(protocol.blind_items(secret, items))
        opened = self._post(
            "/api/v1/psi/sessions",
            {"conditions": list(conditions), "match": match, "mode": mode},
        )
        answer = self._post(f"/api/v1/psi/sessions/{opened['id']}/intersect", {"items": blinded})
        try:
            doubled = protocol.decode(answer["items"])
            theirs = protocol.decode(answer["server_items"])
        except protocol.MalformedPoint as exc:
            raise PsiClientError(f"the server answered a malformed value ({exc})") from None
        if len(doubled) != len(items):
            raise PsiClientError("the server answered a different number of values")
        found = protocol.intersect(secret, doubled, theirs)
        which = answer["mode"] == "which"
        return PsiResult(
            session_id=str(opened["id"]),
            mode="which" if which else "count",
            count=len(found),
            items=len(items),
            server_items=len(theirs),
            matches=[items[i] for i in found] if which else None,
        )
