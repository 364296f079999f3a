"""The audit chain's format (version 1): the bytes that are hashed and signed, the export
lines, and the verifier. README.md ("Audit chain") restates this for third parties.

Record hash
    ``hash = SM3(prev_hash ‖ body)``, where ``prev_hash`` is the previous record's hash as
    32 raw bytes (32 zero bytes before record 1) and ``body`` is the record's canonical JSON
    in UTF-8: one object with exactly the keys of :data:`RECORD_FIELDS`, keys sorted, no
    whitespace (``,`` and ``:`` separators), non-ASCII characters unescaped, absent values
    as ``null``, ``occurred_at`` as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, six digits). In
    the export each record carries its body as a JSON string, so a verifier needs no JSON
    canonicaliser: it hashes those UTF-8 bytes.

Checkpoint signature
    An SM2 signature (SM3, signer ID ``1234567812345678``, DER, base64 in the export) over
    the canonical JSON of ``{"format", "head_hash", "key_id", "seq", "signed_at"}`` with
    ``format`` = ``puhui-audit-checkpoint/1`` (stored checkpoints) or ``puhui-audit-export/1``
    (the signed end line of an export).

Export (JSON Lines)
    a ``header`` line; the ``checkpoint`` lines in ``seq`` order; the ``record`` lines in
    ``seq`` order; a signed ``end`` line naming the head the export was cut at.

The verifier reads the lines once, keeping only the checkpoints and the gaps it has seen
(constant memory in the number of records), and reports every problem it can pinpoint.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from puhui.core.security import Sm2PublicKey, sm3

FORMAT = "puhui-audit-chain/1"
CHECKPOINT_FORMAT = "puhui-audit-checkpoint/1"
EXPORT_END_FORMAT = "puhui-audit-export/1"
GENESIS_HASH = "0" * 64
RECORD_FIELDS = (
    "action",
    "api_key_id",
    "details",
    "institution_id",
    "ip",
    "occurred_at",
    "outcome",
    "role",
    "seq",
    "target_id",
    "target_type",
    "user_id",
    "username",
)
MAX_REPORTED = 50  # problems listed one by one; the rest are counted


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def format_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("audit times are timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_body(fields: dict[str, Any]) -> bytes:
    """The canonical body of a record; ``fields`` holds every name of RECORD_FIELDS."""
    missing = set(RECORD_FIELDS) - fields.keys()
    if missing:
        raise ValueError(f"audit record lacks {sorted(missing)}")
    values = {name: fields[name] for name in RECORD_FIELDS}
    if isinstance(values["occurred_at"], datetime):
        values["occurred_at"] = format_time(values["occurred_at"])
    return canonical_json(values)


def link(prev_hash: str, body: bytes) -> str:
    """``SM3(prev_hash ‖ body)`` in lower-case hex."""
    return sm3(bytes.fromhex(prev_hash) + body).hex()


def signed_message(*, format: str, seq: int, head_hash: str, signed_at: str, key_id: str) -> bytes:
    return canonical_json(
        {
            "format": format,
            "head_hash": head_hash,
            "key_id": key_id,
            "seq": seq,
            "signed_at": signed_at,
        }
    )


# --- export lines ---------------------------------------------------------------------------


def header_line(
    *, exported_at: datetime, head_seq: int, head_hash: str, keys: dict[str, str]
) -> dict[str, Any]:
    return {
        "type": "header",
        "format": FORMAT,
        "exported_at": format_time(exported_at),
        "head_seq": head_seq,
        "head_hash": head_hash,
        "signing_keys": [{"key_id": k, "public_key_pem": pem} for k, pem in sorted(keys.items())],
    }


def checkpoint_line(
    *, seq: int, head_hash: str, signed_at: datetime, key_id: str, signature: str
) -> dict[str, Any]:
    return {
        "type": "checkpoint",
        "seq": seq,
        "head_hash": head_hash,
        "signed_at": format_time(signed_at),
        "key_id": key_id,
        "signature": signature,
    }


def record_line(*, seq: int, prev_hash: str, hash: str, body: bytes) -> dict[str, Any]:
    return {
        "type": "record",
        "seq": seq,
        "prev_hash": prev_hash,
        "hash": hash,
        "body": body.decode("utf-8"),
    }


def end_line(
    *,
    seq: int,
    head_hash: str,
    signed_at: datetime | None = None,
    key_id: str | None = None,
    signature: str | None = None,
) -> dict[str, Any]:
    line: dict[str, Any] = {"type": "end", "seq": seq, "head_hash": head_hash}
    if signature is not None and signed_at is not None:
        line |= {"signed_at": format_time(signed_at), "key_id": key_id, "signature": signature}
    return line


def dumps_line(line: dict[str, Any]) -> str:
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n"


# --- verification ---------------------------------------------------------------------------

EDITED = "edited"
DELETED = "deleted"
INSERTED = "inserted"
REORDERED = "reordered"
TRUNCATED = "truncated"
FORGED = "forged_checkpoint"
BROKEN_LINK = "broken_link"
MALFORMED = "malformed"


@dataclass(frozen=True)
class Problem:
    kind: str
    message: str
    seq: int | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}[{self.kind}] {self.message}"


@dataclass
class Report:
    records: int = 0
    checkpoints: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    problems: list[Problem] = field(default_factory=list)
    more_problems: int = 0
    keys_from_file: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def kinds(self) -> set[str]:
        return {p.kind for p in self.problems}


@dataclass
class _Checkpoint:
    seq: int
    head_hash: str
    line: int
    matched: bool = False


def _is_hex64(value: object) -> bool:
    if not isinstance(value, str) or len(value) != 64:
        return False
    try:
        bytes.fromhex(value)
    except ValueError:
        return False
    return value == value.lower()


class Verifier:
    """Checks a chain given as export lines (dicts), one at a time.

    ``keys`` are the trusted public keys by key id; when empty, the keys of the file's
    header are used (and :attr:`Report.keys_from_file` says so). ``require_signed_end``
    is off only for the database's own chain, whose end is its live head row.
    """

    def __init__(
        self, keys: dict[str, Sm2PublicKey] | None = None, *, require_signed_end: bool = True
    ) -> None:
        self.keys = dict(keys or {})
        self.require_signed_end = require_signed_end
        self.report = Report()
        self._checkpoints: dict[int, _Checkpoint] = {}
        self._missing: list[list[int]] = []  # [first, last] ranges of seqs not seen (yet)
        self._max_seq = 0
        self._max_hash = GENESIS_HASH
        self._seen_record = False
        self._header: dict[str, Any] | None = None
        self._end: dict[str, Any] | None = None
        self._line = 0

    # problems
    def _problem(self, kind: str, message: str, seq: int | None = None) -> None:
        if len(self.report.problems) >= MAX_REPORTED:
            self.report.more_problems += 1
            return
        self.report.problems.append(Problem(kind, message, seq, self._line or None))

    def feed(self, line: dict[str, Any]) -> None:
        self._line += 1
        if self._end is not None:
            self._problem(MALFORMED, "a line after the end line (appended to the file)")
            return
        kind = line.get("type") if isinstance(line, dict) else None
        if kind == "header":
            self._header_line(line)
        elif kind == "checkpoint":
            self._checkpoint_line(line)
        elif kind == "record":
            self._record_line(line)
        elif kind == "end":
            self._end = line
        else:
            self._problem(MALFORMED, f"unknown line type {kind!r}")

    def _header_line(self, line: dict[str, Any]) -> None:
        if self._header is not None or self._seen_record:
            self._problem(MALFORMED, "a second header, or a header after the records")
            return
        self._header = line
        if line.get("format") != FORMAT:
            self._problem(MALFORMED, f"format {line.get('format')!r}, expected {FORMAT!r}")
        if not self.keys:
            self.report.keys_from_file = True
            for entry in line.get("signing_keys") or []:
                try:
                    key = Sm2PublicKey.from_pem(str(entry.get("public_key_pem", "")))
                except Exception:
                    self._problem(MALFORMED, "a signing key in the header is not an SM2 key")
                    continue
                self.keys[key.fingerprint()] = key

    def _verify_signature(self, line: dict[str, Any], format: str) -> str | None:
        """Why the line's signature does not hold, or None."""
        key_id = line.get("key_id")
        key = self.keys.get(key_id) if isinstance(key_id, str) else None
        if key is None:
            return f"signed by an unknown key {key_id!r}"
        try:
            signature = base64.b64decode(str(line.get("signature", "")), validate=True)
            message = signed_message(
                format=format,
                seq=int(line["seq"]),
                head_hash=str(line["head_hash"]),
                signed_at=str(line["signed_at"]),
                key_id=str(key_id),
            )
        except (KeyError, TypeError, ValueError, binascii.Error):
            return "the signature or a signed field is malformed"
        if not key.verify(message, signature):
            return "the SM2 signature does not verify"
        return None

    def _checkpoint_line(self, line: dict[str, Any]) -> None:
        seq, head_hash = line.get("seq"), line.get("head_hash")
        if self._seen_record:
            self._problem(MALFORMED, "a checkpoint line among the records (moved)", None)
        if not isinstance(seq, int) or seq < 1 or not _is_hex64(head_hash):
            self._problem(FORGED, "a checkpoint without a valid seq and head hash")
            return
        self.report.checkpoints += 1
        why = self._verify_signature(line, CHECKPOINT_FORMAT)
        if why is not None:
            self._problem(FORGED, f"checkpoint at seq {seq}: {why}", seq)
            return
        known = self._checkpoints.get(seq)
        if known is not None and known.head_hash != head_hash:
            self._problem(FORGED, f"two checkpoints at seq {seq} name different heads", seq)
            return
        self._checkpoints[seq] = _Checkpoint(seq, str(head_hash), self._line)

    def _take_missing(self, seq: int) -> bool:
        """Remove ``seq`` from the gaps; whether it was one."""
        for i, (first, last) in enumerate(self._missing):
            if first <= seq <= last:
                parts = [[first, seq - 1], [seq + 1, last]]
                self._missing[i : i + 1] = [p for p in parts if p[0] <= p[1]]
                return True
        return False

    def _record_line(self, line: dict[str, Any]) -> None:
        self._seen_record = True
        seq, prev_hash, claimed = line.get("seq"), line.get("prev_hash"), line.get("hash")
        body = line.get("body")
        if (
            not isinstance(seq, int)
            or seq < 1
            or not _is_hex64(prev_hash)
            or not _is_hex64(claimed)
            or not isinstance(body, str)
        ):
            self._problem(MALFORMED, "a record line without seq, prev_hash, hash and body")
            return
        self.report.records += 1
        body_bytes = body.encode("utf-8")
        try:
            fields = json.loads(body)
        except ValueError:
            fields = None
        if not isinstance(fields, dict) or fields.get("seq") != seq:
            self._problem(EDITED, f"record seq {seq}: its body does not hold the same seq", seq)
        elif link(str(prev_hash), body_bytes) != claimed:
            self._problem(EDITED, f"record seq {seq}: its content does not match its hash", seq)

        if seq == self._max_seq + 1:
            if prev_hash != self._max_hash:
                self._problem(
                    BROKEN_LINK,
                    f"record seq {seq}: prev_hash is not the hash of record seq {seq - 1} "
                    f"(record {seq - 1} was changed and re-hashed, or {seq} was inserted)",
                    seq,
                )
        elif seq > self._max_seq:
            self._missing.append([self._max_seq + 1, seq - 1])
        elif self._take_missing(seq):
            self._problem(
                REORDERED, f"record seq {seq} comes after record seq {self._max_seq}", seq
            )
        else:
            self._problem(
                INSERTED, f"record seq {seq} appears more than once (a record was inserted)", seq
            )
        if seq > self._max_seq:
            self._max_seq, self._max_hash = seq, str(claimed)
            self.report.head_seq, self.report.head_hash = seq, str(claimed)
        checkpoint = self._checkpoints.get(seq)
        if checkpoint is not None:
            checkpoint.matched = True
            if checkpoint.head_hash != claimed:
                self._problem(
                    EDITED,
                    f"the chain's hash at seq {seq} is not the one the checkpoint signed: "
                    f"records up to seq {seq} were changed, inserted or deleted",
                    seq,
                )

    def finish(self) -> Report:
        self._line = 0
        if self._header is None and self.require_signed_end:
            self._problem(MALFORMED, "no header line")
        for first, last in self._missing:
            what = f"seq {first}" if first == last else f"seqs {first}-{last}"
            self._problem(DELETED, f"record {what} missing (deleted)", first)
        for cp in sorted(self._checkpoints.values(), key=lambda c: c.seq):
            if not cp.matched and cp.seq > self._max_seq:
                self._problem(
                    TRUNCATED,
                    f"a checkpoint signed seq {cp.seq} but the records end at seq "
                    f"{self._max_seq} (truncated)",
                    cp.seq,
                )
        self._finish_end()
        return self.report

    def _finish_end(self) -> None:
        end = self._end
        if end is None:
            self._problem(
                TRUNCATED, f"no end line: the chain is cut off after record seq {self._max_seq}"
            )
            return
        seq, head_hash = end.get("seq"), end.get("head_hash")
        if not isinstance(seq, int) or not _is_hex64(head_hash):
            self._problem(MALFORMED, "the end line has no valid seq and head hash")
            return
        if self.require_signed_end:
            why = self._verify_signature(end, EXPORT_END_FORMAT)
            if why is not None:
                self._problem(FORGED, f"the end line: {why}", seq)
                return
        if self._header is not None and (
            self._header.get("head_seq") != seq or self._header.get("head_hash") != head_hash
        ):
            self._problem(MALFORMED, "the header and the end line name different heads", seq)
        if seq > self._max_seq:
            first = self._max_seq + 1
            what = f"seq {first}" if first == seq else f"seqs {first}-{seq}"
            self._problem(TRUNCATED, f"records {what} are missing at the end (truncated)", seq)
        elif seq < self._max_seq:
            self._problem(
                INSERTED, f"records after the head seq {seq} (up to {self._max_seq})", seq
            )
        elif head_hash != self._max_hash:
            self._problem(
                EDITED, f"the chain's hash at seq {seq} is not the head's: records changed", seq
            )


def verify_lines(
    lines: Iterable[dict[str, Any]],
    keys: dict[str, Sm2PublicKey] | None = None,
    *,
    require_signed_end: bool = True,
) -> Report:
    verifier = Verifier(keys, require_signed_end=require_signed_end)
    for line in lines:
        verifier.feed(line)
    return verifier.finish()


def parse_jsonl(text_lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Lines of a JSON Lines file as dicts; a line that is not JSON becomes a marker the
    verifier reports as malformed."""
    for raw in text_lines:
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            value = {"type": "<not JSON>"}
        yield value if isinstance(value, dict) else {"type": "<not an object>"}
