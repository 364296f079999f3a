"""Acquisition over the API: `/api/v1/acquisition/filter`, the key indicators a filter
can use, and an enterprise's marketing opt-out (`/api/v1/me/marketing`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from puhui.acquisition import service
from puhui.acquisition.schemas import (
    FilterRequest,
    FilterResult,
    KeyIndicator,
    MarketingPreference,
    MarketingUpdate,
)
from puhui.core.policy import Action, Actor
from puhui.core.web import TxRoute, db, require

router = APIRouter(prefix="/api/v1", route_class=TxRoute, tags=["acquisition"])


@router.post(
    "/acquisition/filter",
    response_model=FilterResult,
    summary="Find prospects: count and one sorted page of entities matching conditions on "
    "the 50 key indicators (opted-out entities excluded)",
)
def run_filter(
    body: FilterRequest,
    actor: Actor = require(Action.ACQUISITION_FILTER),
    session: Session = Depends(db),
) -> FilterResult:
    return service.run_filter(session, actor=actor, request=body)


@router.get(
    "/acquisition/indicators",
    response_model=list[KeyIndicator],
    summary="The key indicators a filter can use, with the ops each one takes",
)
def key_indicators(
    actor: Actor = require(Action.ACQUISITION_FILTER), session: Session = Depends(db)
) -> list[KeyIndicator]:
    return service.key_indicator_choices(session)


@router.get(
    "/me/marketing",
    response_model=MarketingPreference,
    summary="Whether my entity opted out of marketing filters",
)
def my_marketing(
    actor: Actor = require(Action.MARKETING_MANAGE), session: Session = Depends(db)
) -> MarketingPreference:
    return service.marketing_preference(session, actor=actor)


@router.put(
    "/me/marketing",
    response_model=MarketingPreference,
    summary="Opt my entity out of (or back into) marketing filters",
)
def set_my_marketing(
    body: MarketingUpdate,
    actor: Actor = require(Action.MARKETING_MANAGE),
    session: Session = Depends(db),
) -> MarketingPreference:
    return service.set_marketing(session, actor=actor, data=body)
