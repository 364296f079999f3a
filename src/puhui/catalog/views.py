from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from puhui.catalog import service
from puhui.core.i18n import N_
from puhui.core.pagination import PageParams
from puhui.core.policy import Action, Actor
from puhui.core.web import TxRoute, db, page_params, register_nav, render, require

router = APIRouter(route_class=TxRoute, include_in_schema=False)
register_nav(N_("Indicator catalog"), "/catalog", Action.CATALOG_READ, order=40)


@router.get("/catalog", response_class=HTMLResponse)
def catalog_page(
    request: Request,
    category: Annotated[str, Query(max_length=24)] = "",
    set_: Annotated[str, Query(alias="set", pattern=r"^(|key|warning)$")] = "",
    q: Annotated[str, Query(max_length=50)] = "",
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.CATALOG_READ),
    session: Session = Depends(db),
) -> HTMLResponse:
    cat = category if category in service.CATEGORIES else None
    page = service.list_indicators(
        session,
        category=cat,
        key=True if set_ == "key" else None,
        warning=True if set_ == "warning" else None,
        q=q or None,
        params=params,
    )
    ctx = {
        "page": page,
        "categories": service.CATEGORIES,
        "category": cat or "",
        "set": set_,
        "q": q,
        "version": service.current_version(session),
        "counts": service.counts(session),
    }
    return render(request, "catalog/indicators.html", ctx, actor=actor)
