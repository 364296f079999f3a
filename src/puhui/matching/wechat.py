"""The WeChat official account's inbound messages (the platform's documented protocol is
WeChat's own "server configuration" one; docs/wechat.md).

- Every request carries ``signature``, ``timestamp`` and ``nonce`` query parameters;
  ``signature`` is the hex SHA-1 of the token, the timestamp and the nonce sorted and
  joined. A ``GET`` with ``echostr`` is WeChat checking the server: answer ``echostr``.
- A ``POST`` body is the XML of one message. A text message whose content starts with
  ``贷款`` (or ``融资``, ``loan``) becomes a financing demand::

      贷款 <USCC> <amount> [<term>] <mobile> [<purpose…>]

  The amount is yuan, or ten-thousands of yuan with ``万``/``万元`` (``50万``); the term
  is months (``12个月``, ``12月``, ``12m``; 12 when left out). Tokens may come in any
  order; what is left over is the purpose.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

MAX_BODY = 16 * 1024
KEYWORDS = ("贷款", "融资", "loan")
MOBILE = re.compile(r"^1[3-9]\d{9}$")
USCC = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
AMOUNT = re.compile(r"^(\d{1,10}(?:\.\d{1,2})?)(万元|万|元|w|W)?$")
TERM = re.compile(r"^(\d{1,3})(个月|月|m|M)$")


@dataclass(frozen=True)
class Message:
    to_user: str
    from_user: str
    created: int
    kind: str
    content: str
    msg_id: str


@dataclass(frozen=True)
class LoanText:
    uscc: str
    amount: Decimal  # yuan
    term_months: int
    mobile: str
    purpose: str


class BadLoanText(ValueError):
    """The text is not a loan request in the documented form; ``reason`` is a msgid."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def signature(token: str, timestamp: str, nonce: str) -> str:
    joined = "".join(sorted([token, timestamp, nonce]))
    return hashlib.sha1(joined.encode(), usedforsecurity=False).hexdigest()


def check_signature(token: str, sig: str, timestamp: str, nonce: str) -> bool:
    return hmac.compare_digest(signature(token, timestamp, nonce), sig.lower())


def parse_message(body: bytes) -> Message:
    """One inbound message; ValueError when the body is not WeChat's message XML."""
    if len(body) > MAX_BODY:
        raise ValueError("message too large")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise ValueError("document type declarations are refused")
    try:
        root = ET.fromstring(body)  # noqa: S314 - no DTDs (refused above), size-capped
    except ET.ParseError as exc:
        raise ValueError(f"not XML: {exc}") from exc
    if root.tag != "xml":
        raise ValueError("root element must be <xml>")

    def text(tag: str, required: bool = True) -> str:
        node = root.find(tag)
        value = "" if node is None or node.text is None else node.text.strip()
        if required and not value:
            raise ValueError(f"<{tag}> is missing or empty")
        return value

    created = text("CreateTime")
    if not created.isdigit():
        raise ValueError("<CreateTime> must be a number")
    return Message(
        to_user=text("ToUserName"),
        from_user=text("FromUserName"),
        created=int(created),
        kind=text("MsgType"),
        content=text("Content", required=False),
        msg_id=text("MsgId", required=False),
    )


def is_loan_text(content: str) -> bool:
    head = content.strip()[:4].lower()
    return any(head.startswith(k) for k in KEYWORDS)


def parse_loan_text(content: str) -> LoanText:
    """The demand in a loan text message, or :class:`BadLoanText` saying what is wrong."""
    words = content.replace("，", " ").replace(",", " ").split()
    if not words or not is_loan_text(words[0]):
        raise BadLoanText("Start the message with 贷款 (loan).")
    first = words[0]
    keyword = next(k for k in KEYWORDS if first.lower().startswith(k))
    rest = ([first[len(keyword) :]] if len(first) > len(keyword) else []) + words[1:]
    uscc = mobile = None
    amount: Decimal | None = None
    term: int | None = None
    purpose: list[str] = []
    for word in rest:
        upper = word.upper()
        if uscc is None and USCC.fullmatch(upper):
            uscc = upper
        elif mobile is None and MOBILE.fullmatch(word):
            mobile = word
        elif term is None and (m := TERM.fullmatch(word)):
            term = int(m.group(1))
        elif amount is None and (m := AMOUNT.fullmatch(word)):
            amount = _yuan(m.group(1), m.group(2))
        else:
            purpose.append(word)
    if uscc is None:
        raise BadLoanText("Give the enterprise's 18-character unified social credit code.")
    if mobile is None:
        raise BadLoanText("Give an 11-digit mobile number the bank can call.")
    if amount is None or amount <= 0:
        raise BadLoanText("Give the amount, for example 50万 or 500000.")
    if term is not None and not 1 <= term <= 360:
        raise BadLoanText("The term is 1 to 360 months.")
    return LoanText(
        uscc=uscc,
        amount=amount,
        term_months=term or 12,
        mobile=mobile,
        purpose=" ".join(purpose)[:300],
    )


def _yuan(number: str, unit: str | None) -> Decimal:
    try:
        value = Decimal(number)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
        raise BadLoanText("Give the amount, for example 50万 or 500000.") from exc
    if unit in {"万", "万元", "w", "W"}:
        value *= 10000
    return value.quantize(Decimal("0.01"))


def reply(message: Message, content: str, now: int) -> str:
    """WeChat's passive text reply to ``message``."""

    def cdata(value: str) -> str:
        return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"

    return (
        "<xml>"
        f"<ToUserName>{cdata(message.from_user)}</ToUserName>"
        f"<FromUserName>{cdata(message.to_user)}</FromUserName>"
        f"<CreateTime>{now}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{cdata(content)}</Content>"
        "</xml>"
    )
