"""The batch download package: a zip that anyone can verify and only the key holder opens.

Layout (outer zip, stored uncompressed: the payload is ciphertext)::

    manifest.json   public, signed: package id, institution, requester, created_at, format,
                    indicators, periods, entity and row counts, the SM3 and SHA-256 of
                    payload.sm4, the signing key's fingerprint, the algorithms
    payload.sm4     SM4-GCM (nonce ‖ ciphertext ‖ tag) of the inner zip, under a fresh
                    random 128-bit content key; the associated data is the SM3 of
                    manifest.json, so a payload cannot be moved under another manifest
    signature.sm2   the platform's SM2 signature (over SM3, DER) of
                    ``DOMAIN ‖ manifest.json``

The inner zip holds the data file (``data.csv`` or ``data.parquet``) and an inner
``manifest.json`` that adds the entities (USCC, name) and the SM3 / SHA-256 of the data
file; :func:`open_package` checks those after decrypting.

Invariants
- :func:`verify` checks the signature first and the payload digests second; any change to
  any byte of any member (or a missing or extra member) raises :class:`PackageInvalid`.
- :func:`open_package` verifies before it decrypts; it never returns unverified bytes.
- The content key is not in the package; the platform never stores it either.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any

from puhui.core.security.sm import (
    SM4_KEY_SIZE,
    Sm2PrivateKey,
    Sm2PublicKey,
    SmCryptoError,
    sm3,
    sm4_gcm_decrypt,
    sm4_gcm_encrypt,
)

FORMAT_VERSION = 1
DOMAIN = b"puhui.download.v1\n"
MANIFEST = "manifest.json"
PAYLOAD = "payload.sm4"
SIGNATURE = "signature.sm2"
MEMBERS = (MANIFEST, PAYLOAD, SIGNATURE)
DATA_FILES = {"csv": "data.csv", "parquet": "data.parquet"}
MAX_PACKAGE_BYTES = 512 * 1024 * 1024


class PackageInvalid(Exception):
    """A package that does not verify or open (the message says why)."""


@dataclass(frozen=True)
class Built:
    package: bytes
    key: bytes
    manifest: dict[str, Any]


@dataclass(frozen=True)
class Opened:
    manifest: dict[str, Any]  # the public one
    inner: dict[str, Any]  # the inner one, with the entities
    data_name: str
    data: bytes


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _zip(members: list[tuple[str, bytes]], *, compress: bool) -> bytes:
    out = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(out, "w", compression=method) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            zf.writestr(info, data)
    return out.getvalue()


def _unzip(blob: bytes, expected: tuple[str, ...]) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            names = zf.namelist()
            if sorted(names) != sorted(expected) or len(set(names)) != len(names):
                raise PackageInvalid(
                    f"the package holds {sorted(names)}, expected exactly {sorted(expected)}"
                )
            return {name: zf.read(name) for name in names}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise PackageInvalid(f"not a readable zip file: {exc}") from exc
    except (RuntimeError, NotImplementedError, zlib.error) as exc:
        # a changed flag or method: "encrypted", an unknown compression, a broken stream
        raise PackageInvalid(f"a member cannot be read: {exc}") from exc
    except OSError as exc:  # a damaged member (CRC error is raised as BadZipFile above)
        raise PackageInvalid(f"a member cannot be read: {exc}") from exc


def build(
    *,
    signer: Sm2PrivateKey,
    header: dict[str, Any],
    entities: list[dict[str, str]],
    data_format: str,
    data: bytes,
    key: bytes,
) -> Built:
    """Pack, encrypt and sign. ``header`` is the public part of the manifest (ids, counts,
    indicators, periods); ``key`` the fresh 16-byte content key."""
    if len(key) != SM4_KEY_SIZE:
        raise ValueError("the content key is 16 bytes")
    data_name = DATA_FILES[data_format]
    inner = {
        **header,
        "entities": entities,
        "data_file": data_name,
        "data_sm3": sm3(data).hex(),
        "data_sha256": hashlib.sha256(data).hexdigest(),
    }
    plain = _zip([(data_name, data), (MANIFEST, _json(inner))], compress=True)
    # the payload's AAD is the SM3 of the manifest without the payload digests (which can
    # only be known after encrypting); the signature then covers the whole manifest
    public = {
        **header,
        "format_version": FORMAT_VERSION,
        "data_file": data_name,
        "encryption": "SM4-GCM-128",
        "signature": "SM2-with-SM3",
        "signer_fingerprint": signer.public_key().fingerprint(),
    }
    aad = sm3(_json(public))
    payload = sm4_gcm_encrypt(key, plain, aad)
    manifest = {
        **public,
        "payload_sm3": sm3(payload).hex(),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
    }
    manifest_bytes = _json(manifest)
    signature = signer.sign(DOMAIN + manifest_bytes)
    package = _zip(
        [(MANIFEST, manifest_bytes), (PAYLOAD, payload), (SIGNATURE, signature)], compress=False
    )
    return Built(package=package, key=key, manifest=manifest)


def _public_part(manifest: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in manifest.items() if k not in ("payload_sm3", "payload_sha256")}


def verify(package: bytes, keys: list[Sm2PublicKey]) -> dict[str, Any]:
    """The manifest of a package whose signature verifies under one of ``keys`` and whose
    payload matches the digests it names; raises :class:`PackageInvalid` otherwise."""
    if len(package) > MAX_PACKAGE_BYTES:
        raise PackageInvalid("the package is too large")
    members = _unzip(package, MEMBERS)
    manifest_bytes = members[MANIFEST]
    signed = DOMAIN + manifest_bytes
    signature = members[SIGNATURE]
    if not any(_verifies(key, signed, signature) for key in keys):
        raise PackageInvalid(
            "the SM2 signature does not verify: the package was changed, or not signed "
            "by this platform"
        )
    try:
        manifest = json.loads(manifest_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:  # signed, yet not JSON
        raise PackageInvalid(f"the manifest is not JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        raise PackageInvalid("unknown package format version")
    payload = members[PAYLOAD]
    if sm3(payload).hex() != manifest.get("payload_sm3") or (
        hashlib.sha256(payload).hexdigest() != manifest.get("payload_sha256")
    ):
        raise PackageInvalid("the payload does not match the digests in the signed manifest")
    return dict(manifest)


def _verifies(key: Sm2PublicKey, data: bytes, signature: bytes) -> bool:
    try:
        return key.verify(data, signature)
    except SmCryptoError:
        return False


def open_package(package: bytes, key: bytes, keys: list[Sm2PublicKey]) -> Opened:
    """Verify, then decrypt with the content ``key`` and check the data file's digests."""
    manifest = verify(package, keys)
    if len(key) != SM4_KEY_SIZE:
        raise PackageInvalid(f"the content key is {SM4_KEY_SIZE} bytes (32 hex digits)")
    payload = _unzip(package, MEMBERS)[PAYLOAD]
    aad = sm3(_json(_public_part(manifest)))
    try:
        plain = sm4_gcm_decrypt(key, payload, aad)
    except SmCryptoError as exc:
        raise PackageInvalid("the content key does not open this package") from exc
    data_name = str(manifest.get("data_file"))
    if data_name not in DATA_FILES.values():
        raise PackageInvalid("unknown data file in the manifest")
    inner_members = _unzip(plain, (data_name, MANIFEST))
    data = inner_members[data_name]
    try:
        inner = json.loads(inner_members[MANIFEST])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PackageInvalid(f"the inner manifest is not JSON: {exc}") from exc
    if sm3(data).hex() != inner.get("data_sm3") or (
        hashlib.sha256(data).hexdigest() != inner.get("data_sha256")
    ):
        raise PackageInvalid("the data file does not match its digests")
    return Opened(manifest=manifest, inner=inner, data_name=data_name, data=data)
