from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from puhui.core.i18n import N_
from puhui.core.pagination import PageParams
from puhui.core.policy import Action, Actor
from puhui.core.web import TxRoute, db, page_params, register_nav, render, require
from puhui.notifications import service

router = APIRouter(route_class=TxRoute, include_in_schema=False)
register_nav(N_("Messages"), "/ops/messages", Action.MESSAGES_READ, order=85)


@router.get("/ops/messages", response_class=HTMLResponse)
def messages_page(
    request: Request,
    status: Annotated[Literal["", "pending", "sent"], Query()] = "",
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.MESSAGES_READ),
    session: Session = Depends(db),
) -> HTMLResponse:
    page = service.list_messages(session, status=status or None, params=params)
    return render(
        request, "notifications/messages.html", {"page": page, "status": status}, actor=actor
    )
