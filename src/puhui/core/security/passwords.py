"""Password hashing (Argon2id), random tokens, keyed digests.

Tokens handed to clients (session ids, bearer tokens, API keys, one-time codes) are
stored only as digests, so a copy of the database cannot be replayed as a log-in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from puhui.core.i18n import N_


@lru_cache(maxsize=1)
def _hasher() -> tuple[PasswordHasher, str]:
    """The hasher with the configured cost, and a real hash of a random password:
    verifying against it for an unknown user costs as much as for a known one, so
    timing does not tell whether a username exists."""
    from puhui.config import get_settings

    settings = get_settings()
    hasher = PasswordHasher(
        time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib
    )
    return hasher, hasher.hash(secrets.token_urlsafe(16))


MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher()[0].hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    hasher, dummy = _hasher()
    try:
        return hasher.verify(password_hash or dummy, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher()[0].check_needs_rehash(password_hash)


def password_problem(password: str) -> str | None:
    """Why a new password is not acceptable, or None. Message ids are translated later."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return N_("The password must be at least {n} characters long.")
    classes = sum(
        [
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        ]
    )
    if classes < 3:
        return N_(
            "The password must mix at least three of: lower case, upper case, digits, symbols."
        )
    return None


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def digest(token: str) -> str:
    """SHA-256 of a high-entropy token (safe without a slow hash: it cannot be guessed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def keyed_digest(key: str, value: str) -> str:
    """HMAC-SHA256, for low-entropy values such as one-time codes and mobile numbers."""
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


def new_numeric_code(digits: int = 6) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(digits))
