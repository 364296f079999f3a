"""Notification tables: the outbox of messages, the parts an SMS gateway accepted, and the
delivery receipts it sent back.

A message's ``status`` moves ``pending → sending → sent → delivered | failed``; ``dead``
when its retries ran out or its outcome is unknown (see ``puhui.notifications.service``).
In-app (``inbox``) messages are ``delivered`` when they are created and carry ``read_at``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, validates
from sqlalchemy.sql.elements import ColumnElement

from puhui.core.orm import Base, CreatedAtMixin, UTCDateTime
from puhui.core.security.fields import EncryptedString, blind_index

INBOX, SMS, EMAIL = "inbox", "sms", "email"
CHANNELS = (INBOX, SMS, EMAIL)

PENDING, SENDING, SENT, DELIVERED, FAILED, DEAD = (
    "pending",
    "sending",
    "sent",
    "delivered",
    "failed",
    "dead",
)
STATUSES = (PENDING, SENDING, SENT, DELIVERED, FAILED, DEAD)
FINAL = frozenset({DELIVERED, FAILED})

_ID = BigInteger().with_variant(Integer, "sqlite")
RECIPIENT_PURPOSE = "messages.recipient"


def recipient_index(address: str) -> str | None:
    """The blind index a recipient is looked up by (None for the inbox's empty address)."""
    return blind_index(RECIPIENT_PURPOSE, address) if address else None


class Message(CreatedAtMixin, Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))  # inbox, sms, email
    gateway: Mapped[str] = mapped_column(String(16))  # inbox, log, smpp, smtp
    # mobile number or e-mail address ("" for inbox), SM4-GCM encrypted
    recipient: Mapped[str] = mapped_column(EncryptedString(RECIPIENT_PURPOSE))
    # HMAC-SM3 blind index of the recipient: the SMS rate limit counts by it
    recipient_bidx: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    purpose: Mapped[str] = mapped_column(String(40))
    template: Mapped[str | None] = mapped_column(String(80))
    locale: Mapped[str] = mapped_column(String(8), default="zh_CN")
    subject: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # pending: not before; sending: the claim's lease ends
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    claim_token: Mapped[str | None] = mapped_column(String(32))
    # when the current (or last) hand-over to the gateway was claimed; the rate limit counts it
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    gateway_ref: Mapped[str | None] = mapped_column(String(64))
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)

    __table_args__ = (
        Index("ix_messages_status", "status"),
        Index("ix_messages_inbox", "user_id", "channel", "read_at"),
        Index("ix_messages_recipient_bidx_submitted", "recipient_bidx", "submitted_at"),
    )

    @validates("recipient")
    def _index_recipient(self, key: str, value: str) -> str:
        self.recipient_bidx = recipient_index(value)
        return value

    @classmethod
    def sent_to(cls, address: str) -> ColumnElement[bool]:
        """The condition "addressed to ``address``" (through the blind index)."""
        return cls.recipient_bidx == recipient_index(address)

    @property
    def reference(self) -> str:
        """The stable reference a gateway is given for this message (every attempt)."""
        return f"puhui-{self.id}"

    def is_final(self) -> bool:
        return self.status in FINAL


class MessagePart(Base):
    """One part a gateway accepted (a long SMS is several), found again by its receipt."""

    __tablename__ = "message_parts"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    part: Mapped[int] = mapped_column(Integer)
    gateway: Mapped[str] = mapped_column(String(16))
    gateway_ref: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=SENT)  # sent, delivered, failed
    receipt_stat: Mapped[str | None] = mapped_column(String(8))

    __table_args__ = (
        UniqueConstraint("gateway", "gateway_ref"),
        Index("ix_message_parts_message_id", "message_id"),
    )


class DeliveryReceipt(CreatedAtMixin, Base):
    """A delivery receipt as the gateway sent it (``created_at`` is when it arrived).

    Kept even when no message matches yet (``message_id`` empty): it is matched when the
    part it names is recorded. A receipt sent twice is stored once."""

    __tablename__ = "delivery_receipts"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    gateway: Mapped[str] = mapped_column(String(16))
    gateway_ref: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    stat: Mapped[str] = mapped_column(String(8))
    error_code: Mapped[str] = mapped_column(String(8), default="")
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # the number the receipt names (SM4-GCM encrypted)
    destination: Mapped[str] = mapped_column(
        EncryptedString("delivery_receipts.destination"), default=""
    )
    user_reference: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(300), default="")

    __table_args__ = (
        UniqueConstraint("gateway", "gateway_ref", "stat"),
        Index("ix_delivery_receipts_message_id", "message_id"),
    )
