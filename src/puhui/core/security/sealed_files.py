"""Files kept SM4-GCM encrypted on disk under a data key of the field keyring.

Identity photos and objection attachments (ID cards, letters with numbers on them) are
personal data the platform must keep as files. A stored file is
``magic ‖ key id (4 bytes, big-endian) ‖ nonce ‖ ciphertext ‖ tag``; the caller's
associated data binds it to its owner (a file moved to another record does not decrypt).
Names are random, never derived from the content (a hash of a file would let anyone
holding the file confirm it is stored here). Files are written to a hidden temporary name
and renamed, so a reader never sees half a file; mode 0600 in a 0700 folder.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from puhui.core.security import fields
from puhui.core.security.sm import SmCryptoError, sm4_gcm_decrypt, sm4_gcm_encrypt

KEY_ID_BYTES = 4


def _write(path: Path, data: bytes) -> None:
    tmp = path.parent / f".{path.name}.part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    tmp.replace(path)


def _sealed(magic: bytes, data: bytes, aad: bytes) -> bytes:
    keyring = fields.current()
    key_id = keyring.active
    blob = sm4_gcm_encrypt(keyring.data_keys[key_id], data, aad)
    return magic + key_id.to_bytes(KEY_ID_BYTES, "big") + blob


def save(folder: Path, *, magic: bytes, aad: bytes, data: bytes) -> str:
    """Encrypt and write ``data`` under a new random name; returns the name."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = secrets.token_hex(16)
    _write(folder / name, _sealed(magic, data, aad))
    return name


def _key_id(path: Path, raw: bytes, magic: bytes) -> int:
    if not raw.startswith(magic) or len(raw) < len(magic) + KEY_ID_BYTES:
        raise fields.FieldCryptoError(f"{path}: not an encrypted file of this kind")
    return int.from_bytes(raw[len(magic) : len(magic) + KEY_ID_BYTES], "big")


def load(folder: Path, name: str, *, magic: bytes, aad: bytes) -> bytes | None:
    """The file's plaintext, or None when the file is gone; :class:`FieldCryptoError`
    when it was changed or belongs to another record."""
    path = folder / name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    key_id = _key_id(path, raw, magic)
    key = fields.current().data_keys.get(key_id)
    if key is None:
        raise fields.FieldCryptoError(f"{path}: encrypted with data key {key_id}, not in keyring")
    try:
        return sm4_gcm_decrypt(key, raw[len(magic) + KEY_ID_BYTES :], aad)
    except SmCryptoError as exc:
        raise fields.FieldCryptoError(f"{path}: changed, or not this record's file") from exc


def reseal(folder: Path, name: str, *, magic: bytes, aad: bytes) -> bool:
    """Encrypt the file again under the active data key when it is under an older one
    (``puhui keys rotate``), replaced atomically under its name. True when rewritten."""
    path = folder / name
    try:
        head = path.read_bytes()[: len(magic) + KEY_ID_BYTES]
    except FileNotFoundError:
        return False
    if _key_id(path, head, magic) == fields.current().active:
        return False
    data = load(folder, name, magic=magic, aad=aad)
    if data is None:
        return False
    _write(path, _sealed(magic, data, aad))
    return True


def delete(folder: Path, name: str) -> None:
    (folder / name).unlink(missing_ok=True)


def older_files(folder: Path, *, before: float) -> list[str]:
    """Names of finished files last changed before ``before`` (a POSIX time)."""
    if not folder.exists():
        return []
    return [
        p.name
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.stat().st_mtime < before
    ]
