"""The platform's SM2 signing key (audit checkpoints, signed exports).

The key lives in a PEM file: ``PUHUI_SIGNING_KEY_FILE``, or ``DATA_DIR/keys/platform-sm2.pem``
when that is not set. The first process that needs it and finds no file generates one and
publishes it atomically (written to a private temporary file, then hard-linked into place,
which fails if another process got there first; the loser reads the winner's key). The
file is created readable by its owner only.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from puhui.core.security.sm import Sm2PrivateKey, SmCryptoError

_lock = threading.Lock()
_cache: dict[tuple[str, int], Sm2PrivateKey] = {}


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = Sm2PrivateKey.generate().to_pem().encode("ascii")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        # a FileExistsError means another process published its key first: use that one
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_signing_key(path: Path, *, create: bool = True) -> Sm2PrivateKey:
    """The key in ``path``, generated there first when missing and ``create`` is set."""
    with _lock:
        if not path.exists():
            if not create:
                raise SmCryptoError(f"no signing key at {path}")
            _create(path)
        stat = path.stat()
        cache_key = (str(path.resolve()), stat.st_mtime_ns)
        key = _cache.get(cache_key)
        if key is None:
            try:
                key = Sm2PrivateKey.from_pem(path.read_bytes())
            except SmCryptoError as exc:
                raise SmCryptoError(f"{path}: {exc}") from exc
            _cache.clear()
            _cache[cache_key] = key
        return key
