"""Queries of the notifications domain."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from puhui.notifications.models import (
    DEAD,
    INBOX,
    PENDING,
    SENDING,
    SMS,
    DeliveryReceipt,
    Message,
    MessagePart,
)


def messages_query(status: str | None = None, channel: str | None = None) -> Select[Any]:
    stmt = select(Message)
    if status:
        stmt = stmt.where(Message.status == status)
    if channel:
        stmt = stmt.where(Message.channel == channel)
    return stmt.order_by(Message.id.desc())


def message(session: Session, message_id: int, *, for_update: bool = False) -> Message | None:
    return session.get(Message, message_id, with_for_update=for_update or None)


def by_dedupe_key(session: Session, key: str) -> Message | None:
    return session.scalar(select(Message).where(Message.dedupe_key == key))


def inbox_query(user_id: int, *, unread_only: bool) -> Select[Any]:
    stmt = select(Message).where(Message.user_id == user_id, Message.channel == INBOX)
    if unread_only:
        stmt = stmt.where(Message.read_at.is_(None))
    return stmt.order_by(Message.id.desc())


def unread_count(session: Session, user_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.user_id == user_id,
                Message.channel == INBOX,
                Message.read_at.is_(None),
            )
        )
        or 0
    )


def mark_all_read(session: Session, user_id: int, when: datetime) -> int:
    result = session.execute(
        update(Message)
        .where(Message.user_id == user_id, Message.channel == INBOX, Message.read_at.is_(None))
        .values(read_at=when)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def recent_submissions(
    session: Session, *, recipient: str, since: datetime, exclude_id: int
) -> list[datetime]:
    """When SMS to ``recipient`` were handed to a gateway after ``since``, oldest first."""
    rows = session.scalars(
        select(Message.submitted_at)
        .where(
            Message.sent_to(recipient),
            Message.channel == SMS,
            Message.submitted_at > since,
            Message.status != PENDING,
            Message.id != exclude_id,
        )
        .order_by(Message.submitted_at)
    )
    return [row for row in rows if row is not None]


def parts(session: Session, message_id: int) -> list[MessagePart]:
    return list(
        session.scalars(
            select(MessagePart)
            .where(MessagePart.message_id == message_id)
            .order_by(MessagePart.part)
        )
    )


def part_by_ref(session: Session, gateway: str, ref: str) -> MessagePart | None:
    return session.scalar(
        select(MessagePart).where(MessagePart.gateway == gateway, MessagePart.gateway_ref == ref)
    )


def receipt(session: Session, gateway: str, ref: str, stat: str) -> DeliveryReceipt | None:
    return session.scalar(
        select(DeliveryReceipt).where(
            DeliveryReceipt.gateway == gateway,
            DeliveryReceipt.gateway_ref == ref,
            DeliveryReceipt.stat == stat,
        )
    )


def unmatched_receipts(
    session: Session, gateway: str, refs: Iterable[str]
) -> list[DeliveryReceipt]:
    return list(
        session.scalars(
            select(DeliveryReceipt)
            .where(
                DeliveryReceipt.gateway == gateway,
                DeliveryReceipt.gateway_ref.in_(list(refs)),
                DeliveryReceipt.message_id.is_(None),
            )
            .order_by(DeliveryReceipt.id)
        )
    )


def orphan_receipts_by_reference(
    session: Session, gateway: str, user_reference: int, since: datetime
) -> list[DeliveryReceipt]:
    return list(
        session.scalars(
            select(DeliveryReceipt)
            .where(
                DeliveryReceipt.gateway == gateway,
                DeliveryReceipt.user_reference == user_reference,
                DeliveryReceipt.message_id.is_(None),
                DeliveryReceipt.created_at >= since,
            )
            .order_by(DeliveryReceipt.id)
        )
    )


def unsettled_by_reference(session: Session, gateway: str, user_reference: int) -> list[Message]:
    """SMS whose hand-over outcome is unknown (still ``sending`` or parked ``dead`` with no
    part recorded) and whose id matches a receipt's 16-bit user reference."""
    has_parts = select(MessagePart.id).where(MessagePart.message_id == Message.id).exists()
    return list(
        session.scalars(
            select(Message)
            .where(
                Message.gateway == gateway,
                Message.channel == SMS,
                Message.status.in_([SENDING, DEAD]),
                Message.submitted_at.is_not(None),
                Message.id % 65536 == user_reference,
                ~has_parts,
            )
            .order_by(Message.id.desc())
            .limit(20)
        )
    )


def receipts_of(session: Session, message_ids: Iterable[int]) -> list[DeliveryReceipt]:
    ids = list(message_ids)
    if not ids:
        return []
    return list(
        session.scalars(
            select(DeliveryReceipt)
            .where(DeliveryReceipt.message_id.in_(ids))
            .order_by(DeliveryReceipt.id)
        )
    )
