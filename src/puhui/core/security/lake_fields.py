"""Personal text values in the indicator lake, encrypted at rest (SM4-GCM, the field keyring).

Which values: the ``value_text`` of every row whose indicator the catalog marks as
*protected* (a text indicator of sensitivity C2 or C3: the legal representative's name and
ID number, the contact mobile). The lake itself knows nothing of indicators (it is
domain-free), so the domain seals rows before ``Lake.append_*`` and reveals them after a
read: ingest seals every batch it writes (departments' files, derived values, objection
corrections), and the readers that show text values (the profile, post-loan downloads,
objections) reveal them.

Stored form: the keyring's ``sm4:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`` under the
purpose ``lake:<indicator code>:<entity id>``, so a ciphertext copied to another indicator
or another entity's row does not decrypt. Numbers, grades, dates and the public text
indicators stay in clear: the snapshot, filters and monitoring compute on them.

Reading is by form, so a catalog version that changes an indicator's sensitivity never
strands a value: a value of the encrypted form is decrypted whatever the indicator's
current protection; a protected value in clear (written before it was protected) is shown
as it is; a protected value that does not decrypt raises (it was tampered with or copied),
an unprotected one is taken as a department's text that merely looks encrypted.

Keys: ``puhui keys rewrap`` wraps the data keys under a new master key and touches no
value. ``puhui keys rotate`` makes a new data key active: new batches are sealed under it,
and the years of the lake that hold values under older keys are rewritten through
``reseal`` (a compaction with a transform: one Delta commit per year, readers go on reading
the previous version meanwhile). The replaced files stay readable for time travel until
``puhui lake vacuum`` removes them after the retention window; old data keys stay in the
keyring (they are never deleted), so nothing ever becomes unreadable.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import polars as pl

from puhui.core.security.fields import PREFIX, FieldCryptoError, Keyring, current, decrypt

ENCRYPTED_FORM = re.compile(rf"^{PREFIX}:\d+:[A-Za-z0-9+/]+=*$")


def purpose(code: str, entity_id: int) -> str:
    return f"lake:{code}:{entity_id}"


@dataclass(frozen=True)
class LakeFields:
    """Which indicators' text values are sealed (``protected``), and every text
    indicator's code by id (``codes``: the purposes of the values readers may meet)."""

    codes: Mapping[int, str]
    protected: frozenset[int]

    @classmethod
    def of(cls, codes: Mapping[int, str], protected: Collection[int]) -> LakeFields:
        return cls(codes=dict(codes), protected=frozenset(protected))

    def _touched(self, frame: pl.DataFrame, ids: Collection[int]) -> pl.Series | None:
        """Row numbers of ``frame`` with a text value and an indicator in ``ids``."""
        if not ids or frame.height == 0 or "value_text" not in frame.columns:
            return None
        where = frame.select(
            (pl.col("indicator_id").is_in(list(ids)) & pl.col("value_text").is_not_null())
            .arg_true()
            .alias("i")
        ).get_column("i")
        return where if where.len() else None

    def seal(self, frame: pl.DataFrame, keyring: Keyring | None = None) -> pl.DataFrame:
        """``frame`` (entity_id, indicator_id, value_text, …) with the text values of the
        protected indicators encrypted; other rows and columns unchanged."""
        where = self._touched(frame, self.protected)
        if where is None:
            return frame
        keyring = keyring or current()
        rows = frame.select(
            pl.col("entity_id").gather(where),
            pl.col("indicator_id").gather(where),
            pl.col("value_text").gather(where),
        )
        sealed = [keyring.encrypt(purpose(self.codes[i], e), t) for e, i, t in rows.iter_rows()]
        column = frame.get_column("value_text").clone()
        column.scatter(where, pl.Series(sealed, dtype=pl.String))
        return frame.with_columns(column)

    def reveal(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with every encrypted text value decrypted (see the module's rules)."""
        where = self._touched(frame, self.codes.keys())
        if where is None:
            return frame
        rows = frame.select(
            pl.col("entity_id").gather(where),
            pl.col("indicator_id").gather(where),
            pl.col("value_text").gather(where),
        )
        changed: list[int] = []
        plain: list[str] = []
        for n, (e, i, t) in zip(where.to_list(), rows.iter_rows(), strict=True):
            if not ENCRYPTED_FORM.match(t):
                continue
            try:
                plain.append(decrypt(purpose(self.codes[i], e), t))
            except FieldCryptoError:
                if i in self.protected:
                    raise
                continue
            changed.append(n)
        if not changed:
            return frame
        column = frame.get_column("value_text").clone()
        column.scatter(changed, pl.Series(plain, dtype=pl.String))
        return frame.with_columns(column)

    def reseal(self, frame: pl.DataFrame, keyring: Keyring | None = None) -> pl.DataFrame:
        """``frame`` with every encrypted text value that is under another data key than
        the active one encrypted again under the active key (``puhui keys rotate``)."""
        keyring = keyring or current()
        where = self._touched(frame, self.codes.keys())
        if where is None:
            return frame
        active = f"{PREFIX}:{keyring.active}:"
        rows = frame.select(
            pl.col("entity_id").gather(where),
            pl.col("indicator_id").gather(where),
            pl.col("value_text").gather(where),
        )
        changed: list[int] = []
        again: list[str] = []
        for n, (e, i, t) in zip(where.to_list(), rows.iter_rows(), strict=True):
            if t.startswith(active) or not ENCRYPTED_FORM.match(t):
                continue
            name = purpose(self.codes[i], e)
            try:
                plain = decrypt(name, t)
            except FieldCryptoError:
                if i in self.protected:
                    raise
                continue
            again.append(keyring.encrypt(name, plain))
            changed.append(n)
        if not changed:
            return frame
        column = frame.get_column("value_text").clone()
        column.scatter(changed, pl.Series(again, dtype=pl.String))
        return frame.with_columns(column)


def key_counts(frame: pl.DataFrame) -> dict[int, int]:
    """How many values of ``frame.value_text`` are encrypted under each data key."""
    keys = (
        frame.lazy()
        .select(pl.col("value_text"))
        .filter(pl.col("value_text").str.contains(ENCRYPTED_FORM.pattern))
        .select(pl.col("value_text").str.split(":").list.get(1).cast(pl.Int64).alias("key"))
        .group_by("key")
        .len()
        .collect()
    )
    return {int(k): int(n) for k, n in keys.iter_rows()}
