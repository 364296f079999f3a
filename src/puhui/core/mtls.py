"""How the application sees the client certificate of a request (decision 0018).

Two ways, and only these:

1. ``puhui serve --tls-cert … --tls-key … --client-ca …`` terminates TLS itself. Uvicorn
   (0.54) verifies the client certificate against the client CA during the handshake but
   does not hand it to the application, so :mod:`.mtls_uvicorn` wraps its HTTP protocol
   and adds the ASGI TLS extension to every request's scope: ``scope["extensions"]["tls"]``
   with ``client_cert_chain`` (PEM, leaf first; the leaf only before Python 3.13),
   ``tls_version`` and ``cipher_suite``. When uvicorn implements the extension itself the
   scope it builds is used as it is.
2. A TLS-terminating reverse proxy (nginx ``ssl_verify_client``) forwards the verified
   certificate URL-encoded in a header (``PUHUI_CLIENT_CERT_HEADER``). The header is
   believed only when the TCP peer is one of ``PUHUI_TRUSTED_PROXIES``; from anyone else it
   is ignored. The TCP peer is the address before any ``X-Forwarded-For`` rewriting: the
   protocol wrapper records it as ``scope["extensions"]["puhui.peer"]``; without the
   wrapper (tests, other servers) ``scope["client"]`` is taken.

Either way the application gets DER bytes and compares their SHA-256 with the
fingerprints of certificates the platform CA issued; expiry and revocation are checked
there, not by the TLS layer.
"""

from __future__ import annotations

import ssl
from ipaddress import ip_address
from typing import Any
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from starlette.requests import Request

TLS_EXTENSION = "tls"
PEER_EXTENSION = "puhui.peer"


def _pem(der: bytes) -> str:
    return ssl.DER_cert_to_PEM_cert(der)


def tls_extension(ssl_object: Any) -> dict[str, Any]:
    """The ASGI TLS extension (spec 0.2) for one TLS connection."""
    chain: list[str] = []
    get_chain = getattr(ssl_object, "get_verified_chain", None)  # Python 3.13+
    if get_chain is not None:
        try:
            # ssl.Certificate.public_bytes() gives PEM text by default
            chain = [str(c.public_bytes()) for c in get_chain() or []]
        except (ssl.SSLError, ValueError, AttributeError):
            chain = []
    if not chain:
        der = ssl_object.getpeercert(binary_form=True)
        if der:
            chain = [_pem(der)]
    cipher = ssl_object.cipher()
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": ssl_object.version(),
        "cipher_suite": cipher[0] if cipher else None,
    }


def _tcp_peer(request: Request) -> str | None:
    ext = request.scope.get("extensions") or {}
    peer = ext.get(PEER_EXTENSION) or request.scope.get("client")
    return str(peer[0]) if peer else None


def _from_proxy(request: Request, settings: Any) -> bytes | None:
    value = request.headers.get(settings.client_cert_header)
    networks = settings.trusted_proxy_networks
    if not value or not networks:
        return None
    peer = _tcp_peer(request)
    try:
        address = ip_address(peer or "")
    except ValueError:
        return None
    if not any(address in net for net in networks):
        return None
    try:
        cert = x509.load_pem_x509_certificate(unquote(value).encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return None
    return cert.public_bytes(serialization.Encoding.DER)


def client_certificate(request: Request, settings: Any) -> bytes | None:
    """DER bytes of the client certificate this request came with, if any (see above)."""
    ext = request.scope.get("extensions") or {}
    tls = ext.get(TLS_EXTENSION)
    if tls and tls.get("client_cert_chain"):
        leaf = tls["client_cert_chain"][0]
        try:
            return ssl.PEM_cert_to_DER_cert(leaf if isinstance(leaf, str) else leaf.decode())
        except ValueError:
            return None
    return _from_proxy(request, settings)


def server_ssl_options(
    *, cert: str, key: str, client_ca: str | None, require_client_cert: bool
) -> dict[str, Any]:
    """Uvicorn options for TLS, asking for a client certificate signed by ``client_ca``."""
    options: dict[str, Any] = {"ssl_certfile": cert, "ssl_keyfile": key}
    if client_ca:
        options["ssl_ca_certs"] = client_ca
        options["ssl_cert_reqs"] = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return options
