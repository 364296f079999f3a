from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from puhui.core.i18n import N_
from puhui.core.pagination import PageParams
from puhui.core.policy import Action, Actor
from puhui.core.web import TxRoute, db, is_htmx, page_params, register_nav, render, require
from puhui.entities import service

router = APIRouter(route_class=TxRoute, include_in_schema=False)
register_nav(N_("Entity search"), "/entities", Action.ENTITY_READ, order=30)


@router.get("/entities", response_class=HTMLResponse)
def entities_page(
    request: Request,
    q: Annotated[str, Query(max_length=100)] = "",
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.ENTITY_READ),
    session: Session = Depends(db),
) -> HTMLResponse:
    page = service.search_entities(session, q=q, params=params) if q.strip() else None
    ctx = {
        "page": page,
        "q": q,
        "registered": service.count(session),
        "district_names": service.DISTRICTS,
    }
    template = "entities/_results.html" if is_htmx(request) else "entities/search.html"
    return render(request, template, ctx, actor=actor)
