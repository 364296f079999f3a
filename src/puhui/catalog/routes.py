from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.orm import Session

from puhui.catalog import service
from puhui.catalog.schemas import IndicatorRead
from puhui.core.pagination import PageParams, PageRead, page_read
from puhui.core.policy import Action, Actor
from puhui.core.web import TxRoute, db, page_params, require

router = APIRouter(prefix="/api/v1/catalog", route_class=TxRoute, tags=["catalog"])
Category = Literal[
    "basic", "property", "financial", "operating", "positive", "negative", "credit_evaluation"
]


@router.get("/indicators", response_model=PageRead[IndicatorRead], summary="The indicator catalog")
def list_indicators(
    category: Category | None = None,
    key: Annotated[
        bool | None, Query(description="Only the 50 key (filterable) indicators")
    ] = None,
    warning: Annotated[bool | None, Query(description="Only the 27 warning indicators")] = None,
    source: Annotated[str | None, Query(max_length=16)] = None,
    q: Annotated[str | None, Query(max_length=50, description="Code or name contains")] = None,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.CATALOG_READ),
    session: Session = Depends(db),
) -> PageRead[IndicatorRead]:
    page = service.list_indicators(
        session, category=category, key=key, warning=warning, q=q, source=source, params=params
    )
    return page_read(IndicatorRead, page)


@router.get("/indicators/{code}", response_model=IndicatorRead, summary="One indicator")
def get_indicator(
    code: Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_]+$")],
    actor: Actor = require(Action.CATALOG_READ),
    session: Session = Depends(db),
) -> IndicatorRead:
    return IndicatorRead.model_validate(service.get(session, code=code.upper()))
