"""SMPP delivery receipts: the text of a ``deliver_sm`` receipt (SMPP 3.4, Appendix B) and
the ``message_state`` optional parameter, parsed into a :class:`ReceiptText`.

The text looks like ``id:0123456789 sub:001 dlvrd:001 submit date:2601011200 done
date:2601011201 stat:DELIVRD err:000 text:…``. Only ``id`` and ``stat`` are required; SMSCs
differ in case, in seconds on the dates and in the fields they leave out. Dates carry no time
zone; they are read as UTC. Anything that is not a receipt raises :class:`ReceiptFormatError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

# receipt stat -> the message status it settles on (None: not final yet)
STATS: dict[str, str | None] = {
    "DELIVRD": "delivered",
    "EXPIRED": "failed",
    "DELETED": "failed",
    "UNDELIV": "failed",
    "REJECTD": "failed",
    "ACCEPTD": None,
    "ENROUTE": None,
    "UNKNOWN": None,
}
# SMPP 3.4 message_state values (5.2.28) as receipt stats
MESSAGE_STATES = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}

_FIELD = re.compile(
    r"(?i)(?:^|\s)(id|sub|dlvrd|submit date|done date|stat|err|text):",
)
_ID = re.compile(r"[!-~]{1,64}")  # printable ASCII, no spaces
_STAT = re.compile(r"[A-Z]{1,8}")
_DATE = re.compile(r"\d{10}(\d{2})?")


class ReceiptFormatError(ValueError):
    """The text is not a delivery receipt this parser understands."""


@dataclass(frozen=True)
class ReceiptText:
    id: str
    stat: str
    sub: str = ""
    dlvrd: str = ""
    submit_date: datetime | None = None
    done_date: datetime | None = None
    err: str = ""
    text: str = ""

    @property
    def outcome(self) -> str | None:
        return STATS.get(self.stat)


def parse_date(value: str) -> datetime | None:
    """``YYMMDDhhmm`` or ``YYMMDDhhmmss`` as UTC; None when it is not a real date."""
    if not _DATE.fullmatch(value):
        return None
    try:
        return datetime.strptime(
            value, "%y%m%d%H%M%S" if len(value) == 12 else "%y%m%d%H%M"
        ).replace(tzinfo=UTC)
    except ValueError:
        return None


def parse_receipt_text(raw: str | bytes) -> ReceiptText:
    """Parse a receipt's text; raises :class:`ReceiptFormatError` when it is not one."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise ReceiptFormatError("a delivery receipt is ASCII text") from exc
    if len(raw) > 1000:
        raise ReceiptFormatError("too long for a delivery receipt")
    matches = list(_FIELD.finditer(raw))
    if not matches or raw[: matches[0].start()].strip():
        raise ReceiptFormatError("no receipt fields")
    fields: dict[str, str] = {}
    for i, match in enumerate(matches):
        name = match.group(1).lower()
        if name in fields:
            raise ReceiptFormatError(f"field {name!r} appears twice")
        if name == "text":  # free text runs to the end, whatever it contains
            fields[name] = raw[match.end() :]
            break
        end = matches[i + 1].start() if i + 1 < len(matches) else len(raw)
        fields[name] = raw[match.end() : end].strip()
    ident, stat = fields.get("id", ""), fields.get("stat", "").upper()
    if not _ID.fullmatch(ident):
        raise ReceiptFormatError("the receipt has no valid id")
    if not _STAT.fullmatch(stat):
        raise ReceiptFormatError("the receipt has no valid stat")
    return ReceiptText(
        id=ident,
        stat=stat,
        sub=fields.get("sub", ""),
        dlvrd=fields.get("dlvrd", ""),
        submit_date=parse_date(fields.get("submit date", "")),
        done_date=parse_date(fields.get("done date", "")),
        err=fields.get("err", "")[:8],
        text=fields.get("text", ""),
    )


def format_receipt_text(receipt: ReceiptText) -> str:
    """The standard text of a receipt (what an SMSC sends; used by the test SMSC)."""

    def date(value: datetime | None) -> str:
        return value.astimezone(UTC).strftime("%y%m%d%H%M") if value else ""

    return (
        f"id:{receipt.id} sub:{receipt.sub or '001'} dlvrd:{receipt.dlvrd or '001'} "
        f"submit date:{date(receipt.submit_date)} done date:{date(receipt.done_date)} "
        f"stat:{receipt.stat} err:{receipt.err or '000'} text:{receipt.text}"
    )
