"""Pages: online products that decide at once (`/instant`), the application form and its
answer (`/instant/{product}`, `/instant/decisions/{id}`), the decisions list, and the
policies an institution writes (`/instant/policies`, JSON in a text area, checked exactly
as the API checks it)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from puhui.core.errors import PuhuiError
from puhui.core.i18n import N_
from puhui.core.pagination import PageParams
from puhui.core.policy import Action, Actor
from puhui.core.web import (
    TxRoute,
    db,
    field_messages,
    redirect,
    register_nav,
    render,
    require,
    translate,
    validation_details,
)
from puhui.instant import service
from puhui.instant.schemas import DecisionRequest, PolicyCreate
from puhui.matching import service as matching

router = APIRouter(route_class=TxRoute, include_in_schema=False)
register_nav(N_("Instant loans"), "/instant", Action.INSTANT_READ, order=57)

POLICY_EXAMPLE = {
    "product_id": 0,
    "rules": [
        {
            "reason": "R_ABNORMAL",
            "label": "经营异常名录在列",
            "action": "decline",
            "when": {"indicator": "NEG_ABNORMAL_OPERATION", "op": "is_true"},
        },
        {
            "reason": "R_TAX_DROP",
            "label": "纳税额同比下降超过30%",
            "action": "refer",
            "when": {"indicator": "OPR_TAX_TOTAL_YOY", "op": "lt", "value": -0.3},
        },
    ],
    "score_source": "health",
    "approve_min": 70,
    "refer_min": 55,
    "bands": [
        {"min_score": 85, "limit": "1000000", "rate": "3.45"},
        {"min_score": 70, "limit": "300000", "rate": "3.95"},
    ],
}


def _errors(request: Request, exc: Exception) -> dict[str, str]:
    if isinstance(exc, ValidationError):
        errors = field_messages(request, validation_details(exc.errors()))
    else:
        assert isinstance(exc, PuhuiError)
        errors = field_messages(request, exc.details)
        if not errors:
            errors = {"form": translate(request, exc.message, **exc.params)}
    return errors or {"form": translate(request, N_("This value is not valid."))}


@router.get("/instant", response_class=HTMLResponse)
def instant_home(
    request: Request,
    actor: Actor = require(Action.INSTANT_READ),
    session: Session = Depends(db),
) -> HTMLResponse:
    ctx = {"products": service.instant_products(session)}
    return render(request, "instant/home.html", ctx, actor=actor)


def _apply_page(
    request: Request,
    session: Session,
    actor: Actor,
    product_id: int,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    if service.active_policy(session, product_id) is None:
        raise service.NoInstantDecision()
    product = matching.product_reads(session, [matching.get_product(session, product_id)])[0]
    ctx = {"product": product, "form": form or {}, "errors": errors or {}}
    return render(request, "instant/apply.html", ctx, status_code=status_code, actor=actor)


@router.get("/instant/products/{product_id}", response_class=HTMLResponse)
def apply_page(
    request: Request,
    product_id: int,
    actor: Actor = require(Action.INSTANT_APPLY, obj="product"),
    session: Session = Depends(db),
) -> HTMLResponse:
    return _apply_page(request, session, actor, product_id)


@router.post("/instant/products/{product_id}", response_class=HTMLResponse)
def apply_submit(
    request: Request,
    product_id: int,
    amount: Annotated[str, Form(max_length=20)] = "",
    term_months: Annotated[str, Form(max_length=4)] = "",
    authorize: Annotated[str, Form(max_length=2)] = "",
    authorization_days: Annotated[str, Form(max_length=4)] = "30",
    actor: Actor = require(Action.INSTANT_APPLY, obj="product"),
    session: Session = Depends(db),
) -> Response:
    form = {"amount": amount, "term_months": term_months, "authorization_days": authorization_days}
    try:
        data = DecisionRequest.model_validate(
            {
                "amount": amount.strip().replace(",", "") or None,
                "term_months": term_months.strip() or None,
                "authorize": authorize == "1",
                "authorization_days": authorization_days.strip() or 30,
            }
        )
        decision = service.decide(session, actor=actor, product_id=product_id, data=data)
    except (ValidationError, PuhuiError) as exc:
        if isinstance(exc, PuhuiError) and exc.status == 404:
            raise
        session.rollback()
        status = exc.status if isinstance(exc, PuhuiError) else 422
        return _apply_page(request, session, actor, product_id, form, _errors(request, exc), status)
    return redirect(f"/instant/decisions/{decision.id}")


@router.get("/instant/decisions", response_class=HTMLResponse)
def decisions_page(
    request: Request,
    outcome: Annotated[str, Query(max_length=8)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    actor: Actor = require(Action.INSTANT_READ),
    session: Session = Depends(db),
) -> HTMLResponse:
    chosen = outcome if outcome in ("approve", "refer", "decline") else None
    listed = service.list_decisions(
        session, actor=actor, params=PageParams(page=page), outcome=chosen
    )
    ctx = {"page": listed, "outcome": chosen or ""}
    return render(request, "instant/decisions.html", ctx, actor=actor)


@router.get("/instant/decisions/{decision_id}", response_class=HTMLResponse)
def decision_page(
    request: Request,
    decision_id: int,
    actor: Actor = require(Action.INSTANT_READ),
    session: Session = Depends(db),
) -> HTMLResponse:
    decision = service.get_decision(session, actor=actor, decision_id=decision_id)
    ctx = {"d": service.explain(session, decision)}
    return render(request, "instant/decision.html", ctx, actor=actor)


def _policies_page(
    request: Request,
    session: Session,
    actor: Actor,
    text: str | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    ctx = {
        "policies": service.policies(session, actor=actor),
        "text": text
        if text is not None
        else json.dumps(POLICY_EXAMPLE, ensure_ascii=False, indent=2),
        "errors": errors or {},
        "can_write": actor.can(Action.INSTANT_POLICY_MANAGE),
    }
    return render(request, "instant/policies.html", ctx, status_code=status_code, actor=actor)


@router.get("/instant/policies", response_class=HTMLResponse)
def policies_page(
    request: Request,
    actor: Actor = require(Action.INSTANT_POLICY_READ),
    session: Session = Depends(db),
) -> HTMLResponse:
    return _policies_page(request, session, actor)


@router.post("/instant/policies", response_class=HTMLResponse)
def policies_submit(
    request: Request,
    policy: Annotated[str, Form(max_length=50_000)] = "",
    actor: Actor = require(Action.INSTANT_POLICY_MANAGE),
    session: Session = Depends(db),
) -> Response:
    try:
        raw: Any = json.loads(policy)
    except json.JSONDecodeError as exc:
        message = translate(
            request,
            N_("Not valid JSON: {error} (line {line}, column {column})."),
            error=exc.msg,
            line=exc.lineno,
            column=exc.colno,
        )
        return _policies_page(request, session, actor, policy, {"form": message}, 422)
    try:
        service.create_policy(session, actor=actor, data=PolicyCreate.model_validate(raw))
    except (ValidationError, PuhuiError) as exc:
        if isinstance(exc, PuhuiError) and exc.status not in (409, 422):
            raise
        session.rollback()
        status = exc.status if isinstance(exc, PuhuiError) else 422
        return _policies_page(request, session, actor, policy, _errors(request, exc), status)
    return redirect("/instant/policies")
