"""The Chinese national algorithms (国密): SM3 hashes, HMAC-SM3, SM4-GCM and SM2 signatures.

This module is the only place that knows which library implements them:

- SM3, HMAC-SM3 and SM4 come from ``cryptography`` (its bundled OpenSSL);
- SM2 comes from ``tongsuopy`` (the Tongsuo project's SDK), because ``cryptography`` has no
  SM2. Swapping it (for ``gmssl-pyx``, say) changes the two SM2 classes below and nothing
  else: callers only ever see PEM text and DER signature bytes.

Invariants
- SM2 signatures are made over SM3 with the signer ID ``1234567812345678`` (GB/T 35276's
  default, which Tongsuo applies) and are DER-encoded ``SEQUENCE {r, s}``. They verify with
  ``openssl pkeyutl -verify -rawin -digest sm3 -pkeyopt distid:1234567812345678`` and the
  other way round (tested in ``tests/core/test_sm.py``).
- An SM4-GCM blob is ``nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)``; the nonce is fresh
  and random for every encryption. Decryption of a changed blob, a changed associated
  data or under the wrong key raises :class:`SmCryptoError`, never returns bytes.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from tongsuopy.crypto import exceptions as _tongsuo_errors
from tongsuopy.crypto import hashes as _tongsuo_hashes
from tongsuopy.crypto import serialization as _tongsuo_serialization
from tongsuopy.crypto.asymciphers import ec as _tongsuo_ec

SM2_SIGNER_ID = b"1234567812345678"
SM3_DIGEST_SIZE = 32
SM4_KEY_SIZE = 16
GCM_NONCE_SIZE = 12
GCM_TAG_SIZE = 16


class SmCryptoError(Exception):
    """A key, ciphertext or signature that cannot be used (the message says why)."""


# --- SM3 and HMAC-SM3 ---------------------------------------------------------------------


def sm3(data: bytes) -> bytes:
    """The 32-byte SM3 digest of ``data`` (GB/T 32905)."""
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC (RFC 2104) over SM3: 32 bytes."""
    if not key:
        raise SmCryptoError("HMAC-SM3 needs a non-empty key")
    mac = _hmac.HMAC(key, hashes.SM3())
    mac.update(data)
    return mac.finalize()


# --- SM4-GCM -------------------------------------------------------------------------------


def _sm4_key(key: bytes) -> algorithms.SM4:
    if len(key) != SM4_KEY_SIZE:
        raise SmCryptoError(f"an SM4 key is {SM4_KEY_SIZE} bytes, not {len(key)}")
    return algorithms.SM4(key)


def sm4_gcm_encrypt(key: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """Encrypt and authenticate: ``nonce ‖ ciphertext ‖ tag``."""
    nonce = os.urandom(GCM_NONCE_SIZE)
    encryptor = Cipher(_sm4_key(key), modes.GCM(nonce)).encryptor()
    if aad:
        encryptor.authenticate_additional_data(aad)
    ciphertext = encryptor.update(plaintext) + encryptor.finalize()
    return nonce + ciphertext + encryptor.tag


def sm4_gcm_decrypt(key: bytes, blob: bytes, aad: bytes = b"") -> bytes:
    """The plaintext of an :func:`sm4_gcm_encrypt` blob, or :class:`SmCryptoError`."""
    algorithm = _sm4_key(key)
    if len(blob) < GCM_NONCE_SIZE + GCM_TAG_SIZE:
        raise SmCryptoError(
            f"an SM4-GCM blob has at least {GCM_NONCE_SIZE + GCM_TAG_SIZE} bytes "
            f"(nonce and tag), this one {len(blob)}"
        )
    nonce, ciphertext, tag = (
        blob[:GCM_NONCE_SIZE],
        blob[GCM_NONCE_SIZE:-GCM_TAG_SIZE],
        blob[-GCM_TAG_SIZE:],
    )
    decryptor = Cipher(algorithm, modes.GCM(nonce, tag)).decryptor()
    if aad:
        decryptor.authenticate_additional_data(aad)
    try:
        return decryptor.update(ciphertext) + decryptor.finalize()
    except InvalidTag as exc:
        raise SmCryptoError(
            "SM4-GCM authentication failed: the data or its associated data was changed, "
            "or the key is not the one it was encrypted with"
        ) from exc


# --- SM2 -----------------------------------------------------------------------------------

_SM2_SIGNATURE = _tongsuo_ec.ECDSA(_tongsuo_hashes.SM3())


def _require_sm2(key: object, what: str) -> None:
    curve = getattr(key, "curve", None)
    if getattr(curve, "name", None) != "SM2":
        raise SmCryptoError(f"the {what} is not an SM2 key")


class Sm2PublicKey:
    """An SM2 public key: verifies DER signatures made with the default signer ID."""

    def __init__(self, key: _tongsuo_ec.EllipticCurvePublicKey) -> None:
        _require_sm2(key, "public key")
        self._key = key

    @classmethod
    def from_pem(cls, pem: bytes | str) -> Sm2PublicKey:
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            key = _tongsuo_serialization.load_pem_public_key(data)
        except (ValueError, TypeError, _tongsuo_errors.UnsupportedAlgorithm) as exc:
            raise SmCryptoError("not a PEM SubjectPublicKeyInfo (public key)") from exc
        return cls(key)

    def to_der(self) -> bytes:
        return bytes(
            self._key.public_bytes(
                _tongsuo_serialization.Encoding.DER,
                _tongsuo_serialization.PublicFormat.SubjectPublicKeyInfo,
            )
        )

    def to_pem(self) -> str:
        return bytes(
            self._key.public_bytes(
                _tongsuo_serialization.Encoding.PEM,
                _tongsuo_serialization.PublicFormat.SubjectPublicKeyInfo,
            )
        ).decode("ascii")

    def fingerprint(self) -> str:
        """Hex SM3 of the DER SubjectPublicKeyInfo: names the key in signed records."""
        return sm3(self.to_der()).hex()

    def verify(self, data: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (DER) is this key's SM2 signature of ``data``."""
        try:
            self._key.verify(bytes(signature), data, _SM2_SIGNATURE)
        except (
            _tongsuo_errors.InvalidSignature,
            _tongsuo_errors.InternalError,
            ValueError,
            TypeError,
        ):
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sm2PublicKey) and self.to_der() == other.to_der()

    def __hash__(self) -> int:
        return hash(self.to_der())


class Sm2PrivateKey:
    """An SM2 private key: signs with SM3 and the default signer ID, DER output."""

    def __init__(self, key: _tongsuo_ec.EllipticCurvePrivateKey) -> None:
        _require_sm2(key, "private key")
        self._key = key

    @classmethod
    def generate(cls) -> Sm2PrivateKey:
        return cls(_tongsuo_ec.generate_private_key(_tongsuo_ec.SM2()))

    @classmethod
    def from_pem(cls, pem: bytes | str, password: bytes | None = None) -> Sm2PrivateKey:
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            key = _tongsuo_serialization.load_pem_private_key(data, password)
        except (ValueError, TypeError, _tongsuo_errors.UnsupportedAlgorithm) as exc:
            raise SmCryptoError(
                "not a PEM private key, or the password is missing or wrong"
            ) from exc
        return cls(key)

    def to_pem(self, password: bytes | None = None) -> str:
        """PKCS#8 PEM (what ``openssl genpkey -algorithm SM2`` writes), encrypted when a
        password is given."""
        encryption: _tongsuo_serialization.KeySerializationEncryption = (
            _tongsuo_serialization.BestAvailableEncryption(password)
            if password
            else _tongsuo_serialization.NoEncryption()
        )
        return bytes(
            self._key.private_bytes(
                _tongsuo_serialization.Encoding.PEM,
                _tongsuo_serialization.PrivateFormat.PKCS8,
                encryption,
            )
        ).decode("ascii")

    def public_key(self) -> Sm2PublicKey:
        return Sm2PublicKey(self._key.public_key())

    def sign(self, data: bytes) -> bytes:
        """The DER SM2 signature of ``data`` (a fresh random k each time)."""
        return bytes(self._key.sign(data, _SM2_SIGNATURE))
