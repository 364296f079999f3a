"""ID photos: checked to be real JPEG/PNG images and kept SM4-GCM encrypted on disk.

A stored file is ``PHID1 ‖ key id (4 bytes, big-endian) ‖ nonce ‖ ciphertext ‖ tag`` under
a data key of the field keyring (``core.security.fields``), with
``puhui-identity/1|<verification id>|<kind>`` as associated data, so a file moved to another
verification or kind does not decrypt. Names are random, never derived from the content
(an SM3 of a photo would let anyone holding the photo confirm it is stored here)."""

from __future__ import annotations

import os
import secrets
import struct
import zlib
from pathlib import Path

from puhui.core.i18n import N_
from puhui.core.security import SmCryptoError, fields, sm4_gcm_decrypt, sm4_gcm_encrypt

MAGIC = b"PHID1"
MAX_BYTES = 5 * 1024 * 1024
MIN_SIDE, MAX_SIDE = 200, 12_000


class ImageProblem(ValueError):
    """Not an image we accept; the message is a catalog message id."""


def _png_size(data: bytes) -> tuple[int, int]:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise ImageProblem(N_("The photo is not a complete PNG image."))
    length = struct.unpack(">I", data[8:12])[0]
    chunk = data[12 : 16 + length]
    crc = struct.unpack(">I", data[16 + length : 20 + length])[0]
    if length != 13 or zlib.crc32(chunk) != crc:
        raise ImageProblem(N_("The photo is not a complete PNG image."))
    if not data.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82"):
        raise ImageProblem(N_("The photo is not a complete PNG image."))
    width, height = struct.unpack(">II", data[16:24])
    return width, height


SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int, int]:
    if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise ImageProblem(N_("The photo is not a complete JPEG image."))
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ImageProblem(N_("The photo is not a complete JPEG image."))
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if length < 2:
            break
        if marker in SOF_MARKERS and i + 9 <= len(data):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    raise ImageProblem(N_("The photo is not a complete JPEG image."))


def check_image(data: bytes) -> str:
    """The content type of an acceptable photo (JPEG or PNG, 5 MB at most, each side
    200-12 000 pixels), judged from its bytes; :class:`ImageProblem` otherwise."""
    if not data:
        raise ImageProblem(N_("Choose a photo to upload."))
    if len(data) > MAX_BYTES:
        raise ImageProblem(N_("The photo is larger than 5 MB."))
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        kind, (width, height) = "image/png", _png_size(data)
    elif data.startswith(b"\xff\xd8\xff"):
        kind, (width, height) = "image/jpeg", _jpeg_size(data)
    else:
        raise ImageProblem(N_("Upload a JPG or PNG photo."))
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise ImageProblem(N_("The photo must be at least 200 × 200 pixels."))
    return kind


def _aad(verification_id: int, kind: str) -> bytes:
    return f"puhui-identity/1|{verification_id}|{kind}".encode()


def save(folder: Path, *, verification_id: int, kind: str, data: bytes) -> str:
    """Encrypt and write one photo; returns its stored name."""
    keyring = fields.current()
    key_id = keyring.active
    blob = sm4_gcm_encrypt(keyring.data_keys[key_id], data, _aad(verification_id, kind))
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = secrets.token_hex(16)
    tmp = folder / f".{name}.part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(MAGIC + key_id.to_bytes(4, "big") + blob)
    tmp.replace(folder / name)
    return name


def load(folder: Path, *, stored_name: str, verification_id: int, kind: str) -> bytes | None:
    """The photo's bytes, or None when the file is gone."""
    path = folder / stored_name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    if not raw.startswith(MAGIC) or len(raw) < len(MAGIC) + 4:
        raise fields.FieldCryptoError(f"{path}: not an encrypted identity document")
    key_id = int.from_bytes(raw[len(MAGIC) : len(MAGIC) + 4], "big")
    key = fields.current().data_keys.get(key_id)
    if key is None:
        raise fields.FieldCryptoError(f"{path}: encrypted with data key {key_id}, not in keyring")
    try:
        return sm4_gcm_decrypt(key, raw[len(MAGIC) + 4 :], _aad(verification_id, kind))
    except SmCryptoError as exc:
        raise fields.FieldCryptoError(f"{path}: changed, or not this document's file") from exc


def reseal(folder: Path, *, stored_name: str, verification_id: int, kind: str) -> bool:
    """Encrypt a photo again under the active data key when it is under an older one
    (``puhui keys rotate``); the file is replaced atomically under its name. True when it
    was rewritten; False when it is current or gone."""
    path = folder / stored_name
    try:
        head = path.read_bytes()[: len(MAGIC) + 4]
    except FileNotFoundError:
        return False
    keyring = fields.current()
    if head[len(MAGIC) :] == keyring.active.to_bytes(4, "big"):
        return False
    data = load(folder, stored_name=stored_name, verification_id=verification_id, kind=kind)
    if data is None:
        return False
    blob = sm4_gcm_encrypt(keyring.data_keys[keyring.active], data, _aad(verification_id, kind))
    tmp = folder / f".{stored_name}.part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(MAGIC + keyring.active.to_bytes(4, "big") + blob)
    tmp.replace(path)
    return True


def delete(folder: Path, stored_name: str) -> None:
    (folder / stored_name).unlink(missing_ok=True)


def older_files(folder: Path, *, before: float) -> list[str]:
    """Names of finished files last changed before ``before`` (a POSIX time)."""
    if not folder.exists():
        return []
    return [
        p.name
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.stat().st_mtime < before
    ]
