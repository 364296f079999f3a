from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from puhui.core.pagination import PageParams, PageRead, page_read
from puhui.core.policy import Action, Actor
from puhui.core.web import TxRoute, db, page_params, require
from puhui.notifications import service
from puhui.notifications.schemas import MessageRead

router = APIRouter(prefix="/api/v1/notifications", route_class=TxRoute, tags=["notifications"])


@router.get(
    "/messages",
    response_model=PageRead[MessageRead],
    summary="The outbox of messages (recipients masked)",
)
def list_messages(
    status: Literal["pending", "sent"] | None = None,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.MESSAGES_READ),
    session: Session = Depends(db),
) -> PageRead[MessageRead]:
    return page_read(MessageRead, service.list_messages(session, status=status, params=params))
