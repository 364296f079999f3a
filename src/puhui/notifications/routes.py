from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from puhui.core.errors import NotAuthenticated
from puhui.core.pagination import PageParams, PageRead, page_read
from puhui.core.policy import Action, Actor
from puhui.core.web import TxRoute, db, page_params, require
from puhui.notifications import service
from puhui.notifications.schemas import InboxMessageRead, MessageRead, UnreadCount

router = APIRouter(route_class=TxRoute, tags=["notifications"])

Status = Literal["pending", "sending", "sent", "delivered", "failed", "dead"]
Channel = Literal["inbox", "sms", "email"]


@router.get(
    "/api/v1/notifications/messages",
    response_model=PageRead[MessageRead],
    summary="The outbox of messages (recipients masked), with attempts and receipts",
)
def list_messages(
    status: Status | None = None,
    channel: Channel | None = None,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.MESSAGES_READ),
    session: Session = Depends(db),
) -> PageRead[MessageRead]:
    page = service.list_messages(session, status=status, channel=channel, params=params)
    out = page_read(MessageRead, page)
    receipts = service.receipts_by_message(session, [m.id for m in out.items])
    for item in out.items:
        item.receipts = receipts.get(item.id, [])
    return out


def _user_id(actor: Actor) -> int:
    if actor.user_id is None:  # an API key acts for an institution, not a person
        raise NotAuthenticated("An inbox belongs to a person: log in as a user.")
    return actor.user_id


@router.get(
    "/api/v1/me/inbox",
    response_model=PageRead[InboxMessageRead],
    summary="My in-app messages, newest first",
)
def my_inbox(
    unread: bool = False,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.SELF),
    session: Session = Depends(db),
) -> PageRead[InboxMessageRead]:
    page = service.inbox(session, user_id=_user_id(actor), unread_only=unread, params=params)
    return page_read(InboxMessageRead, page)


@router.get(
    "/api/v1/me/inbox/unread-count",
    response_model=UnreadCount,
    summary="How many of my in-app messages are unread",
)
def my_unread_count(
    actor: Actor = require(Action.SELF), session: Session = Depends(db)
) -> UnreadCount:
    return UnreadCount(unread=service.unread_count(session, user_id=_user_id(actor)))


@router.post(
    "/api/v1/me/inbox/{message_id}/read",
    response_model=InboxMessageRead,
    summary="Mark one of my in-app messages read (404 for anyone else's)",
)
def mark_read(
    message_id: int, actor: Actor = require(Action.SELF), session: Session = Depends(db)
) -> InboxMessageRead:
    message = service.mark_read(session, user_id=_user_id(actor), message_id=message_id)
    return InboxMessageRead.model_validate(message)
