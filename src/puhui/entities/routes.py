from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.orm import Session

from puhui.core.pagination import PageParams, PageRead, page_read
from puhui.core.policy import Action, Actor
from puhui.core.web import TxRoute, db, page_params, require
from puhui.entities import service
from puhui.entities.schemas import EntityPublic

router = APIRouter(prefix="/api/v1/entities", route_class=TxRoute, tags=["entities"])


@router.get("", response_model=PageRead[EntityPublic], summary="Search entities by USCC or name")
def search_entities(
    q: Annotated[str, Query(min_length=1, max_length=100, description="USCC (or part) or name")],
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.ENTITY_READ),
    session: Session = Depends(db),
) -> PageRead[EntityPublic]:
    return page_read(EntityPublic, service.search_entities(session, q=q, params=params))


@router.get("/{uscc}", response_model=EntityPublic, summary="Public basic facts of one entity")
def get_entity(
    uscc: Annotated[str, Path(max_length=40)],
    actor: Actor = require(Action.ENTITY_READ),
    session: Session = Depends(db),
) -> EntityPublic:
    return EntityPublic.model_validate(service.get_public(session, code=uscc))
