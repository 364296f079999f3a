"""Uvicorn's HTTP/1.1 protocol, adding the ASGI TLS extension and the TCP peer to every
request's scope (see :mod:`.mtls`). ``puhui serve`` names it as
``puhui.core.mtls_uvicorn:TlsH11Protocol`` when it serves TLS itself."""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from puhui.core.mtls import PEER_EXTENSION, TLS_EXTENSION, tls_extension

PROTOCOL = "puhui.core.mtls_uvicorn:TlsH11Protocol"


class TlsH11Protocol(H11Protocol):
    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        extensions: dict[str, Any] = {PEER_EXTENSION: self.client}
        if ssl_object is not None:
            # the handshake is complete here: uvicorn's protocol starts on a TLS transport
            extensions[TLS_EXTENSION] = tls_extension(ssl_object)
        inner = self.app

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope.get("type") in {"http", "websocket"}:
                mine = scope.setdefault("extensions", {})
                for name, value in extensions.items():
                    mine.setdefault(name, value)
            await inner(scope, receive, send)

        self.app = app
