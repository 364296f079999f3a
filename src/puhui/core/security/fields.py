"""Sensitive fields encrypted at rest (SM4-GCM) and their blind indexes (HMAC-SM3).

Keys
- The **master key** (``PUHUI_MASTER_KEY``, 32 hex digits = an SM4 key) never encrypts data:
  it wraps the keys in the keyring. In development and tests, when it is not set, it is
  derived from ``PUHUI_SECRET_KEY``; anywhere else a missing master key is an error the first
  time a field is encrypted or decrypted.
- The **keyring** (``PUHUI_KEYRING_FILE``, default ``DATA_DIR/keys/data-keys.json``) holds
  the data keys and the blind-index key, each SM4-GCM-wrapped under the master key with its
  id as associated data, and names the active data key. It is created on first use;
  ``puhui keys rotate`` adds a data key, makes it active and re-encrypts every encrypted
  column (old keys stay, so rows written by a process that has not yet re-read the keyring
  remain readable; a second rotate or ``--reencrypt`` picks them up).

Stored form of an encrypted value: ``sm4:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>``, with
``puhui-field/1|<table.column>`` as associated data, so a ciphertext copied into another
column does not decrypt. A blind index is ``hex(HMAC-SM3(index key, purpose ‖ 0x00 ‖ value))``:
equal values give equal indexes (exact lookup) and nothing else can be learnt without the key.

:class:`EncryptedString` is the column type: services and schemas see plain strings.
"""

from __future__ import annotations

import base64
import binascii
import collections
import contextlib
import fcntl
import json
import logging
import multiprocessing
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, String, bindparam, select, update
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from puhui.core.security.sm import (
    SM4_KEY_SIZE,
    SmCryptoError,
    hmac_sm3,
    sm4_gcm_decrypt,
    sm4_gcm_encrypt,
)

log = logging.getLogger(__name__)

PREFIX = "sm4"
KEYRING_VERSION = 1


class FieldCryptoError(SmCryptoError):
    """The keyring or the master key cannot be used, or a stored value does not decrypt."""


def _wrap_aad(name: str) -> bytes:
    return f"puhui-keyring/1|{name}".encode()


def _field_aad(purpose: str) -> bytes:
    return f"puhui-field/1|{purpose}".encode()


@dataclass
class Keyring:
    """Unwrapped keys in memory; ``path`` is where they are kept, wrapped."""

    path: Path
    active: int
    data_keys: dict[int, bytes]
    index_key: bytes
    rewrapped: bool = False  # the file is under another master key now (see ``current``)

    @staticmethod
    def _load(path: Path, master: bytes) -> Keyring:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("version") != KEYRING_VERSION:
                raise FieldCryptoError(f"{path}: keyring version {doc.get('version')!r}")
            index_key = sm4_gcm_decrypt(
                master, base64.b64decode(doc["index_key"]), _wrap_aad("index")
            )
            data_keys = {
                int(k["id"]): sm4_gcm_decrypt(
                    master, base64.b64decode(k["wrapped"]), _wrap_aad(f"data:{k['id']}")
                )
                for k in doc["data_keys"]
            }
            active = int(doc["active"])
        except FieldCryptoError:
            raise
        except SmCryptoError as exc:
            raise FieldCryptoError(
                f"{path}: the keyring does not open with this master key (PUHUI_MASTER_KEY)"
            ) from exc
        except (OSError, ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise FieldCryptoError(f"{path}: not a readable keyring ({exc})") from exc
        if active not in data_keys:
            raise FieldCryptoError(f"{path}: the active data key {active} is not in the keyring")
        return Keyring(path=path, active=active, data_keys=data_keys, index_key=index_key)

    def document(self, master: bytes) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat()
        return {
            "version": KEYRING_VERSION,
            "active": self.active,
            "index_key": base64.b64encode(
                sm4_gcm_encrypt(master, self.index_key, _wrap_aad("index"))
            ).decode(),
            "data_keys": [
                {
                    "id": key_id,
                    "wrapped": base64.b64encode(
                        sm4_gcm_encrypt(master, key, _wrap_aad(f"data:{key_id}"))
                    ).decode(),
                    "saved_at": now,
                }
                for key_id, key in sorted(self.data_keys.items())
            ],
        }

    # values
    def encrypt(self, purpose: str, value: str) -> str:
        blob = sm4_gcm_encrypt(
            self.data_keys[self.active], value.encode("utf-8"), _field_aad(purpose)
        )
        return f"{PREFIX}:{self.active}:{base64.b64encode(blob).decode('ascii')}"

    def key_of(self, stored: str) -> int | None:
        """The data key id a stored value is encrypted with (None: not an encrypted value)."""
        parts = stored.split(":", 2)
        if len(parts) != 3 or parts[0] != PREFIX or not parts[1].isdigit():
            return None
        return int(parts[1])

    def decrypt(self, purpose: str, stored: str) -> str:
        key_id = self.key_of(stored)
        if key_id is None:
            raise FieldCryptoError(f"{purpose}: the stored value is not an encrypted value")
        key = self.data_keys.get(key_id)
        if key is None:
            raise FieldCryptoError(f"{purpose}: encrypted with data key {key_id}, not in keyring")
        try:
            blob = base64.b64decode(stored.split(":", 2)[2], validate=True)
            return sm4_gcm_decrypt(key, blob, _field_aad(purpose)).decode("utf-8")
        except (SmCryptoError, binascii.Error, UnicodeDecodeError) as exc:
            raise FieldCryptoError(
                f"{purpose}: the stored value was changed or belongs to another column"
            ) from exc

    def blind_index(self, purpose: str, value: str) -> str:
        return hmac_sm3(self.index_key, purpose.encode() + b"\0" + value.encode("utf-8")).hex()


# --- the process's keyring ----------------------------------------------------------------

_lock = threading.Lock()
_cache: dict[str, tuple[int, bytes, Keyring]] = {}  # path: (mtime, master, keyring)


def master_key() -> bytes:
    from puhui.config import get_settings

    settings = get_settings()
    if settings.master_key:
        return bytes.fromhex(settings.master_key)
    if settings.env in {"development", "test"}:
        return hmac_sm3(settings.secret_key.encode(), b"puhui-master-key/1")[:SM4_KEY_SIZE]
    raise FieldCryptoError(
        "PUHUI_MASTER_KEY is not set: sensitive fields cannot be encrypted or read "
        "(32 hex digits; keep it outside the database and the data folder)"
    )


def keyring_path() -> Path:
    from puhui.config import get_settings

    settings = get_settings()
    if settings.keyring_file is not None:
        return settings.keyring_file
    return settings.data_dir / "keys" / "data-keys.json"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _save(keyring: Keyring, master: bytes) -> None:
    tmp = keyring.path.with_name(f".{keyring.path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(keyring.document(master), out, indent=1)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, keyring.path)


def current() -> Keyring:
    """The keyring, created on first use and re-read when its file changes."""
    path, master = keyring_path(), master_key()
    with _lock:
        if not path.exists():
            with _file_lock(path):
                if not path.exists():
                    _save(
                        Keyring(
                            path=path,
                            active=1,
                            data_keys={1: os.urandom(SM4_KEY_SIZE)},
                            index_key=os.urandom(SM4_KEY_SIZE),
                        ),
                        master,
                    )
        mtime = path.stat().st_mtime_ns
        cached = _cache.get(str(path))
        if cached is not None and cached[0] == mtime and cached[1] == master:
            return cached[2]
        try:
            keyring = Keyring._load(path, master)
        except FieldCryptoError:
            if cached is None or cached[1] != master:
                raise
            # ``puhui keys rewrap`` wrapped the file under a new master key while this
            # process runs with the old one: the data keys it holds are unchanged, so it
            # goes on with them (no downtime) until it is restarted with the new key
            if not cached[2].rewrapped:
                log.warning(
                    "%s: wrapped under another master key; running on the keys read at "
                    "start until restarted with the new PUHUI_MASTER_KEY",
                    path,
                )
                cached[2].rewrapped = True
            return cached[2]
        _cache[str(path)] = (mtime, master, keyring)
        return keyring


def add_data_key() -> Keyring:
    """A new active data key (the old ones stay to read what they encrypted)."""
    keyring = current()
    master = master_key()
    with _lock, _file_lock(keyring.path):
        fresh = Keyring._load(keyring.path, master)  # under the lock: another rotation's keys
        new_id = max(fresh.data_keys) + 1
        fresh.data_keys[new_id] = os.urandom(SM4_KEY_SIZE)
        fresh.active = new_id
        _save(fresh, master)
        _cache.pop(str(keyring.path), None)
    return current()


def rewrap(new_master: bytes) -> Keyring:
    """Wrap every key of the keyring under ``new_master`` (then set PUHUI_MASTER_KEY to it):
    no stored value changes."""
    if len(new_master) != SM4_KEY_SIZE:
        raise FieldCryptoError(f"a master key is {SM4_KEY_SIZE} bytes (32 hex digits)")
    keyring = current()
    with _lock, _file_lock(keyring.path):
        fresh = Keyring._load(keyring.path, master_key())
        _save(fresh, new_master)
        _cache.pop(str(keyring.path), None)
    return fresh


def encrypt(purpose: str, value: str) -> str:
    return current().encrypt(purpose, value)


def decrypt(purpose: str, stored: str) -> str:
    keyring = current()
    key_id = keyring.key_of(stored)
    if key_id is not None and key_id not in keyring.data_keys:
        with _lock:
            _cache.clear()  # rotated by another process since: read the file again
        keyring = current()
    return keyring.decrypt(purpose, stored)


def blind_index(purpose: str, value: str | None) -> str | None:
    return None if value is None else current().blind_index(purpose, value.strip())


def encrypt_many(purpose: str, values: Sequence[str | None]) -> list[str | None]:
    """:func:`encrypt` of each value (None stays None), under one snapshot of the keyring."""
    keyring = current()
    return [None if v is None else keyring.encrypt(purpose, v) for v in values]


def blind_index_many(purpose: str, values: Sequence[str | None]) -> list[str | None]:
    keyring = current()
    return [None if v is None else keyring.blind_index(purpose, v.strip()) for v in values]


# --- many values at once, in worker processes -----------------------------------------------

# (purpose, blind index?) of each column a bulk load protects
ColumnSpec = tuple[str, bool]
_pool_keyring: Keyring | None = None


def _protect(
    keyring: Keyring, specs: Sequence[ColumnSpec], columns: Sequence[Sequence[str | None]]
) -> list[list[str | None]]:
    out: list[list[str | None]] = []
    for (purpose, index), values in zip(specs, columns, strict=True):
        if index:
            out.append(
                [None if v is None else keyring.blind_index(purpose, v.strip()) for v in values]
            )
        else:
            out.append([None if v is None else keyring.encrypt(purpose, v) for v in values])
    return out


def _pool_init(keyring: Keyring) -> None:
    global _pool_keyring  # noqa: PLW0603 - one keyring per worker process
    _pool_keyring = keyring


def _pool_protect(
    specs: Sequence[ColumnSpec], columns: Sequence[Sequence[str | None]]
) -> list[list[str | None]]:
    assert _pool_keyring is not None, "a protect worker without its keyring"
    return _protect(_pool_keyring, specs, columns)


def protect_chunks(
    specs: Sequence[ColumnSpec],
    chunks: Iterable[Sequence[Sequence[str | None]]],
    *,
    workers: int = 1,
) -> Iterator[list[list[str | None]]]:
    """For each chunk (one list of values per spec), the encrypted values or blind indexes,
    in order. With ``workers`` > 1 the chunks are encrypted in that many processes, at most
    two chunks per worker ahead of the consumer (memory stays bounded), while the caller
    writes the ones already done. The workers are given the unwrapped keyring (never the
    master key) and need no settings."""
    keyring = current()
    if workers <= 1:
        for columns in chunks:
            yield _protect(keyring, specs, columns)
        return
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_pool_init, initargs=(keyring,)
    ) as pool:
        ahead: collections.deque[Future[list[list[str | None]]]] = collections.deque()
        for columns in chunks:
            ahead.append(pool.submit(_pool_protect, specs, columns))
            if len(ahead) >= 2 * workers:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()


class EncryptedString(TypeDecorator[str]):
    """A string column stored SM4-GCM encrypted; ``purpose`` is its ``table.column``."""

    impl = String()
    cache_ok = True

    def __init__(self, purpose: str) -> None:
        super().__init__()
        self.purpose = purpose

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else encrypt(self.purpose, value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else decrypt(self.purpose, value)


class EncryptedBytes(EncryptedString):
    """Bytes stored SM4-GCM encrypted (their base64 is the encrypted text): rotated with the
    string columns."""

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return encrypt(self.purpose, base64.b64encode(bytes(value)).decode("ascii"))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else base64.b64decode(decrypt(self.purpose, value))


# --- rotation ------------------------------------------------------------------------------


def encrypted_columns(metadata: MetaData) -> list[tuple[str, str, str]]:
    """(table, column, purpose) of every :class:`EncryptedString` column."""
    return [
        (table.name, column.name, column.type.purpose)
        for table in metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, EncryptedString)
    ]


def reencrypt(
    factory: sessionmaker[Session], metadata: MetaData, *, chunk: int = 1000
) -> dict[str, int]:
    """Re-encrypt, under the active data key, every value of every encrypted column that is
    under another key; one short transaction per chunk (rows change one at a time, so
    readers never see a half-rotated row). Returns the rows changed per ``table.column``."""
    keyring = current()
    done: dict[str, int] = {}
    for table_name, column_name, purpose in encrypted_columns(metadata):
        table = metadata.tables[table_name]
        (pk,) = table.primary_key.columns
        raw = sa_table(table_name, sa_column(pk.name), sa_column(column_name, String()))
        key_col, value_col = raw.c[pk.name], raw.c[column_name]
        current_prefix = f"{PREFIX}:{keyring.active}:"
        changed, after = 0, None
        while True:
            stmt = (
                select(key_col, value_col)
                .where(value_col.is_not(None), ~value_col.startswith(current_prefix))
                .order_by(key_col)
                .limit(chunk)
            )
            if after is not None:
                stmt = stmt.where(key_col > after)
            with factory() as session, session.begin():
                rows = session.execute(stmt).all()
                if rows:  # one statement for the chunk, each row only if unchanged since read
                    session.execute(
                        update(raw)
                        .where(key_col == bindparam("_key"), value_col == bindparam("_old"))
                        .values({column_name: bindparam("_new")}),
                        [
                            {
                                "_key": key_value,
                                "_old": stored,
                                "_new": keyring.encrypt(purpose, decrypt(purpose, stored)),
                            }
                            for key_value, stored in rows
                        ],
                    )
            if not rows:
                break
            changed += len(rows)
            after = rows[-1][0]
        done[f"{table_name}.{column_name}"] = changed
    return done
