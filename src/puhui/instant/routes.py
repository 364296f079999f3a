"""Instant loans over the API: decision policies for an institution's online products, an
enterprise's application decided at once, and the decisions with their reasons."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.orm import Session

from puhui.core.pagination import PageParams, PageRead, page_of
from puhui.core.policy import Action, Actor
from puhui.core.web import TxRoute, db, page_params, require
from puhui.instant import service
from puhui.instant.schemas import DecisionRead, DecisionRequest, PolicyCreate, PolicyRead

router = APIRouter(prefix="/api/v1/instant", route_class=TxRoute, tags=["instant loans"])


@router.post(
    "/policies",
    response_model=PolicyRead,
    status_code=201,
    summary="Give an online product a new decision policy version (rules, score, cut-offs, "
    "bands); it replaces the active one",
)
def create_policy(
    body: PolicyCreate,
    actor: Actor = require(Action.INSTANT_POLICY_MANAGE),
    session: Session = Depends(db),
) -> PolicyRead:
    policy = service.create_policy(session, actor=actor, data=body)
    return service.policy_reads(session, [policy])[0]


@router.get("/policies", response_model=list[PolicyRead], summary="My institution's policies")
def list_policies(
    actor: Actor = require(Action.INSTANT_POLICY_READ), session: Session = Depends(db)
) -> list[PolicyRead]:
    return service.policies(session, actor=actor)


@router.post(
    "/products/{product_id}/decisions",
    response_model=DecisionRead,
    status_code=201,
    summary="Apply online: the product's policy approves (limit, rate), refers or declines "
    "at once, with reason codes. Needs authorize=true (the decision authorization).",
)
def decide(
    body: DecisionRequest,
    product_id: int = Path(ge=1, le=2**31 - 1),
    actor: Actor = require(Action.INSTANT_APPLY, obj="product"),
    session: Session = Depends(db),
) -> DecisionRead:
    decision = service.decide(session, actor=actor, product_id=product_id, data=body)
    return service.explain(session, decision)


@router.get(
    "/decisions",
    response_model=PageRead[DecisionRead],
    summary="Decisions: an enterprise's own, an institution's every one, the regulator's all",
)
def list_decisions(
    outcome: Literal["approve", "refer", "decline"] | None = Query(None),
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.INSTANT_READ),
    session: Session = Depends(db),
) -> PageRead[DecisionRead]:
    return page_of(service.list_decisions(session, actor=actor, params=params, outcome=outcome))


@router.get(
    "/decisions/{decision_id}", response_model=DecisionRead, summary="One decision, explained"
)
def get_decision(
    decision_id: int = Path(ge=1, le=2**31 - 1),
    actor: Actor = require(Action.INSTANT_READ),
    session: Session = Depends(db),
) -> DecisionRead:
    return service.explain(
        session, service.get_decision(session, actor=actor, decision_id=decision_id)
    )
