"""Security primitives.

- :mod:`.passwords`: password hashing (Argon2id), random tokens, keyed digests.
- :mod:`.sm`: the Chinese national algorithms (SM3, HMAC-SM3, SM4-GCM, SM2 signatures),
  the one place that knows which library implements them.

The names below are the package's public surface; ``from puhui.core.security import
hash_password`` keeps working as it did when this was a single module.
"""

from __future__ import annotations

from puhui.core.security.passwords import (
    MIN_PASSWORD_LENGTH,
    _hasher,
    digest,
    hash_password,
    keyed_digest,
    needs_rehash,
    new_numeric_code,
    new_token,
    password_problem,
    verify_password,
)
from puhui.core.security.sm import (
    SM2_SIGNER_ID,
    Sm2PrivateKey,
    Sm2PublicKey,
    SmCryptoError,
    hmac_sm3,
    sm3,
    sm4_gcm_decrypt,
    sm4_gcm_encrypt,
)

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "SM2_SIGNER_ID",
    "Sm2PrivateKey",
    "Sm2PublicKey",
    "SmCryptoError",
    "_hasher",
    "digest",
    "hash_password",
    "hmac_sm3",
    "keyed_digest",
    "needs_rehash",
    "new_numeric_code",
    "new_token",
    "password_problem",
    "sm3",
    "sm4_gcm_decrypt",
    "sm4_gcm_encrypt",
    "verify_password",
]
