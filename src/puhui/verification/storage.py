"""ID photos: checked to be real JPEG/PNG images and kept SM4-GCM encrypted on disk.

Stored by ``core.security.sealed_files`` with the magic ``PHID1`` and
``puhui-identity/1|<verification id>|<kind>`` as associated data, so a file moved to another
verification or kind does not decrypt; names are random."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from puhui.core.i18n import N_
from puhui.core.security import sealed_files

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
    return sealed_files.save(folder, magic=MAGIC, aad=_aad(verification_id, kind), data=data)


def load(folder: Path, *, stored_name: str, verification_id: int, kind: str) -> bytes | None:
    """The photo's bytes, or None when the file is gone."""
    return sealed_files.load(folder, stored_name, magic=MAGIC, aad=_aad(verification_id, kind))


def reseal(folder: Path, *, stored_name: str, verification_id: int, kind: str) -> bool:
    """Encrypt a photo again under the active data key when it is under an older one
    (``puhui keys rotate``). True when it was rewritten; False when current or gone."""
    return sealed_files.reseal(folder, stored_name, magic=MAGIC, aad=_aad(verification_id, kind))


delete = sealed_files.delete
older_files = sealed_files.older_files
