from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from puhui.core.errors import PermissionDenied
from puhui.core.i18n import N_
from puhui.core.pagination import PageParams
from puhui.core.policy import Action, Actor
from puhui.core.web import (
    TxRoute,
    db,
    page_params,
    redirect,
    register_context,
    register_nav,
    render,
    require,
)
from puhui.notifications import service
from puhui.notifications.models import CHANNELS, STATUSES
from puhui.notifications.schemas import mask_recipient

router = APIRouter(route_class=TxRoute, include_in_schema=False)
# statuses and channels the pages show through _() (marked here for the catalog)
LABELS = (N_("sending"), N_("delivered"), N_("inbox"), N_("sms"), N_("email"))
register_nav(N_("Messages"), "/ops/messages", Action.MESSAGES_READ, order=85)

StatusFilter = Literal["", "pending", "sending", "sent", "delivered", "failed", "dead"]
ChannelFilter = Literal["", "inbox", "sms", "email"]


def _unread_in_header(request: Request, actor: Actor | None) -> dict[str, Any]:
    """The unread count beside the inbox link of every page (one indexed count)."""
    session = request.state._state.get("db")
    if actor is None or actor.user_id is None or session is None:
        return {}
    if not session.in_transaction():  # an error page after the request's rollback
        return {}
    return {"inbox_unread": service.unread_count(session, user_id=actor.user_id)}


register_context(_unread_in_header)


def _person(actor: Actor) -> int:
    if actor.user_id is None:
        raise PermissionDenied("An inbox belongs to a person: log in as a user.")
    return actor.user_id


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(
    request: Request,
    unread: Annotated[bool, Query()] = False,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.SELF),
    session: Session = Depends(db),
) -> HTMLResponse:
    user_id = _person(actor)
    page = service.inbox(session, user_id=user_id, unread_only=unread, params=params)
    return render(
        request,
        "notifications/inbox.html",
        {"page": page, "unread": unread},
        actor=actor,
    )


@router.post("/inbox/{message_id}/read")
def inbox_mark_read(
    message_id: int,
    actor: Actor = require(Action.SELF),
    session: Session = Depends(db),
) -> RedirectResponse:
    service.mark_read(session, user_id=_person(actor), message_id=message_id)
    return redirect("/inbox")


@router.post("/inbox/read-all")
def inbox_mark_all_read(
    actor: Actor = require(Action.SELF), session: Session = Depends(db)
) -> RedirectResponse:
    service.mark_all_read(session, user_id=_person(actor))
    return redirect("/inbox")


@router.get("/ops/messages", response_class=HTMLResponse)
def messages_page(
    request: Request,
    status: Annotated[StatusFilter, Query()] = "",
    channel: Annotated[ChannelFilter, Query()] = "",
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.MESSAGES_READ),
    session: Session = Depends(db),
) -> HTMLResponse:
    page = service.list_messages(
        session, status=status or None, channel=channel or None, params=params
    )
    receipts = service.receipts_by_message(session, [m.id for m in page.items])
    return render(
        request,
        "notifications/messages.html",
        {
            "page": page,
            "status": status,
            "channel": channel,
            "receipts": receipts,
            "masked": mask_recipient,
            "statuses": STATUSES,
            "channels": CHANNELS,
        },
        actor=actor,
    )


@router.post("/ops/messages/{message_id}/retry")
def retry_message(
    message_id: int,
    actor: Actor = require(Action.JOBS_MANAGE),
    session: Session = Depends(db),
) -> RedirectResponse:
    service.retry_message(session, actor=actor, message_id=message_id)
    return redirect("/ops/messages")
