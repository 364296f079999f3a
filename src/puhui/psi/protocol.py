"""DH private set intersection over X25519: the arithmetic both sides run.

The protocol (one round after the session is opened; the client learns, the server does not):

1. The client hashes each of its items ``x`` to a curve point ``H(x)``, picks a fresh secret
   scalar ``a`` and sends ``H(x)^a`` (written multiplicatively; on the curve it is ``[a]H(x)``).
2. The server, holding a fresh secret ``b`` for the session, answers ``(H(x)^a)^b`` for each
   of them — in the client's order only in *which* mode, in a random order in *count* mode —
   and ``H(y)^b`` for each ``y`` of its own set, in a random order.
3. The client raises the server's values to ``a``: ``(H(y)^b)^a = (H(x)^a)^b`` exactly when
   ``x = y``. In *which* mode it knows which of its items matched; in *count* mode it only
   learns how many did, because the server's answer carries no order.

Why X25519 and how the pieces fit (the security argument; see docs/decisions/0011):

- **Group and library.** ``cryptography``'s ``X25519PrivateKey.exchange`` is the only
  scalar multiplication it exposes that takes an arbitrary point: RFC 7748's x-only
  Montgomery ladder, constant time, ~35 µs here. No hand-written field arithmetic.
  ``openmined-psi`` would do the same on P-256 but pins ``protobuf==6.30.2``, which clashes
  with optbinning's ortools.
- **Hash to group.** ``H(x)`` is the first 32 bytes of SHA-512 over a domain-separation tag
  and the normalised item, used as a u-coordinate (RFC 7748 masks the top bit). A random
  u-coordinate is on the curve or on its quadratic twist, each with probability ~1/2.
- **Twist security and clamping.** Curve25519 is twist secure: the twist's group order is
  4·ℓ' with ℓ' a 253-bit prime, so a ladder on a twist point is as hard to invert as on the
  curve. Clamping (RFC 7748) makes every scalar a multiple of 8, which clears the cofactor
  of both the curve (8) and the twist (4): every blinded value lies in a large prime-order
  subgroup, and low-order inputs (which would leak ``a mod 8``) collapse to the all-zero
  output that ``cryptography`` refuses; such an input is rejected as malformed.
- **Commutativity.** For clamped scalars ``a``, ``b`` and any u-coordinate ``u``:
  ``X25519(a, X25519(b, u)) = u([a][b]P) = u([b][a]P) = X25519(b, X25519(a, u))`` — on the
  curve and on the twist alike, because the x-only ladder computes the same u for ``P`` and
  ``-P``. That equality is all the intersection needs.
- **What is revealed (semi-honest model, random-oracle H, DDH in both prime-order
  subgroups).** The server sees ``H(x)^a`` — values indistinguishable from random points
  without ``a`` — so never the client's items, nor their plain hashes, nor how they relate
  to its own set. The client sees ``H(y)^b`` for the server's set: without ``b`` these say
  nothing about a ``y`` it does not hold (it learns the set's size). Count mode's shuffle
  removes the position that would link a match to an item. Keys are fresh per session, so
  values from two sessions cannot be linked.
- **Limits of the model.** A malicious client can ask about one item per session; the
  service bounds sessions per institution and audits each one (mode, filter, sizes).
  A malicious server could answer with a different set; the platform is trusted to run its
  published filter (what this protects is the bank's list, and the platform's set beyond the
  intersection).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

POINT_BYTES = 32
HASH_TAG = b"puhui/psi/v1/hash-to-u\x00"
KEY_TAG = b"puhui/psi/v1/session-key\x00"


class MalformedPoint(ValueError):
    """A value that is not a usable point: its position in the list says which."""

    def __init__(self, index: int) -> None:
        self.index = index
        super().__init__(f"item {index} is not a valid blinded value")


def hash_to_point(item: str) -> bytes:
    """``H(item)``: a u-coordinate (32 bytes, top bit clear) from SHA-512 with a domain tag.
    ``item`` must already be normalised (both sides hash the same text)."""
    digest = bytearray(hashlib.sha512(HASH_TAG + item.encode("utf-8")).digest()[:POINT_BYTES])
    digest[31] &= 0x7F
    return bytes(digest)


def new_secret() -> bytes:
    """A fresh secret scalar (clamped by X25519 itself when used)."""
    key = X25519PrivateKey.generate()
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def derive_secret(master: bytes, nonce: str) -> bytes:
    """The server's session scalar: HMAC-SHA256 of the platform secret and the session's
    random nonce, so no key material is ever stored in the database."""
    return hmac.new(master, KEY_TAG + nonce.encode("ascii"), hashlib.sha256).digest()


def blind(secret: bytes, points: Iterable[bytes]) -> list[bytes]:
    """``p^secret`` for each point; raises :class:`MalformedPoint` naming the first bad one."""
    key = X25519PrivateKey.from_private_bytes(secret)
    out = []
    for i, point in enumerate(points):
        if len(point) != POINT_BYTES:
            raise MalformedPoint(i)
        try:
            out.append(key.exchange(X25519PublicKey.from_public_bytes(point)))
        except ValueError:  # a low-order point: the shared value would be all zero
            raise MalformedPoint(i) from None
    return out


def blind_items(secret: bytes, items: Iterable[str]) -> list[bytes]:
    """``H(x)^secret`` for each (normalised) item."""
    return blind(secret, (hash_to_point(x) for x in items))


def shuffled(values: Sequence[bytes]) -> list[bytes]:
    """A uniformly random permutation from the system's CSPRNG (Fisher-Yates)."""
    out = list(values)
    for i in range(len(out) - 1, 0, -1):
        j = secrets.randbelow(i + 1)
        out[i], out[j] = out[j], out[i]
    return out


def encode(values: Iterable[bytes]) -> list[str]:
    return [base64.b64encode(v).decode("ascii") for v in values]


def decode(values: Iterable[str]) -> list[bytes]:
    """Base64 values to bytes; raises :class:`MalformedPoint` naming the first bad one."""
    out = []
    for i, text in enumerate(values):
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedPoint(i) from None
        if len(raw) != POINT_BYTES:
            raise MalformedPoint(i)
        out.append(raw)
    return out


def intersect(
    secret: bytes, doubled: Sequence[bytes], server_blinded: Iterable[bytes]
) -> list[int]:
    """The client's last step: positions in ``doubled`` (the server's ``H(x)^ab``) that
    equal some ``(H(y)^b)^a``. In count mode the positions are meaningless, their number
    is the answer."""
    theirs = set(blind(secret, server_blinded))
    return [i for i, value in enumerate(doubled) if value in theirs]
