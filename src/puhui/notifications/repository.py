from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from puhui.notifications.models import Message


def messages_query(status: str | None = None) -> Select[Any]:
    stmt = select(Message)
    if status:
        stmt = stmt.where(Message.status == status)
    return stmt.order_by(Message.id.desc())
