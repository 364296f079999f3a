"""Pages of financing matching, for each role: products and applying (public and
enterprise), the loan-code and WeChat landing pages (mobile), my demands, the pool and
my claims (customer managers), loan codes, events, callbacks, stalled demands and the
league table (operators)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from puhui.accounts.errors import InvalidCode
from puhui.consent import service as consent
from puhui.core.errors import PuhuiError
from puhui.core.i18n import N_
from puhui.core.pagination import PageParams
from puhui.core.policy import Action, Actor, Role
from puhui.core.web import (
    TxRoute,
    client_ip,
    db,
    field_messages,
    page_params,
    public,
    redirect,
    register_nav,
    render,
    require,
    translate,
    validation_details,
)
from puhui.entities.service import DISTRICTS
from puhui.matching import service
from puhui.matching.schemas import (
    CallbackResult,
    CallbackSample,
    Channel,
    ClaimStep,
    CodeTarget,
    DemandCancel,
    DemandCreate,
    EventCreate,
    Guarantee,
    LoanCodeCreate,
    ProductCreate,
    Rating,
    SimpleCodeRequest,
    SimpleDemand,
    yuan_to_fen,
)

router = APIRouter(route_class=TxRoute, include_in_schema=False)
register_nav(N_("Loan products"), "/products", Action.CATALOG_READ, order=50)
register_nav(N_("Financing demands"), "/demands", Action.DEMAND_READ, order=51)
register_nav(N_("Demand pool"), "/pool", Action.DEMAND_CLAIM, order=52)
register_nav(N_("Loan codes"), "/loan-codes", Action.LOAN_CODE_MANAGE, order=53)
register_nav(N_("Financing events"), "/ops/events", Action.EVENT_MANAGE, order=54)
register_nav(N_("Callbacks"), "/ops/callbacks", Action.CALLBACK_MANAGE, order=55)
register_nav(N_("Bank response"), "/matching/league", Action.MATCHING_STATS_READ, order=56)
SHANGHAI = ZoneInfo("Asia/Shanghai")
GUARANTEES = [g.value for g in Guarantee]


def _errors(request: Request, exc: Exception) -> dict[str, str]:
    """``{field: message}`` for re-rendering a form; what belongs to no one field (a
    range check across fields, a refused reference) is the form's own message."""
    if isinstance(exc, ValidationError):
        errors = field_messages(request, validation_details(exc.errors())) or {
            "form": translate(request, N_("This value is not valid."))
        }
    else:
        assert isinstance(exc, PuhuiError)
        errors = field_messages(request, exc.details) or {
            "form": translate(request, exc.message, **exc.params)
        }
    if "body" in errors:
        errors.setdefault("form", errors.pop("body"))
    return errors


def _decimal(raw: str) -> Decimal | None:
    try:
        return Decimal(raw.strip().replace(",", "")) if raw.strip() else None
    except InvalidOperation:
        return None


def _int(raw: str) -> int | None:
    return int(raw) if raw.strip().isdigit() else None


def _local_input(raw: str) -> datetime | None:
    """A ``datetime-local`` form value, read as Shanghai time."""
    try:
        return datetime.fromisoformat(raw.strip()).replace(tzinfo=SHANGHAI).astimezone(UTC)
    except ValueError:
        return None


# --- products ----------------------------------------------------------------------------


@router.get("/products", response_class=HTMLResponse)
def products_page(
    request: Request,
    amount: Annotated[str, Query(max_length=20)] = "",
    term_months: Annotated[str, Query(max_length=4)] = "",
    guarantee_type: Annotated[str, Query(max_length=12)] = "",
    district: Annotated[str, Query(max_length=6)] = "",
    params: PageParams = Depends(page_params),
    actor: Actor | None = public(),
    session: Session = Depends(db),
) -> HTMLResponse:
    wanted = _decimal(amount)
    page = service.list_products(
        session,
        params=params,
        amount=wanted if wanted is not None and wanted > 0 else None,
        term_months=_int(term_months),
        guarantee_type=guarantee_type if guarantee_type in GUARANTEES else None,
        district=district if district in DISTRICTS else None,
    )
    filters = {
        "amount": amount,
        "term_months": term_months,
        "guarantee_type": guarantee_type,
        "district": district,
    }
    query = "".join(f"&{k}={v}" for k, v in filters.items() if v)
    ctx = {
        "page": page,
        "filters": filters,
        "query": query,
        "guarantees": GUARANTEES,
        "districts": DISTRICTS,
        "form": {},
        "errors": {},
    }
    return render(request, "matching/products.html", ctx, actor=actor)


@router.post("/products", response_class=HTMLResponse)
def products_submit(
    request: Request,
    name: Annotated[str, Form(max_length=100)] = "",
    description: Annotated[str, Form(max_length=2000)] = "",
    amount_min: Annotated[str, Form(max_length=20)] = "",
    amount_max: Annotated[str, Form(max_length=20)] = "",
    term_min_months: Annotated[str, Form(max_length=4)] = "",
    term_max_months: Annotated[str, Form(max_length=4)] = "",
    rate_min: Annotated[str, Form(max_length=8)] = "",
    rate_max: Annotated[str, Form(max_length=8)] = "",
    guarantee_types: Annotated[list[str] | None, Form()] = None,
    districts: Annotated[list[str] | None, Form()] = None,
    online_only: Annotated[str, Form(max_length=2)] = "",
    documents: Annotated[str, Form(max_length=2000)] = "",
    actor: Actor = require(Action.PRODUCT_MANAGE),
    session: Session = Depends(db),
) -> Response:
    form = {
        "name": name,
        "description": description,
        "amount_min": amount_min,
        "amount_max": amount_max,
        "term_min_months": term_min_months,
        "term_max_months": term_max_months,
        "rate_min": rate_min,
        "rate_max": rate_max,
        "guarantee_types": guarantee_types or [],
        "districts": districts or [],
        "online_only": bool(online_only),
        "documents": documents,
    }
    try:
        data = ProductCreate.model_validate(
            {
                **form,
                "documents": [d.strip() for d in documents.splitlines() if d.strip()],
            }
        )
        product = service.create_product(session, actor=actor, data=data)
    except (ValidationError, PuhuiError) as exc:
        session.rollback()
        page = service.list_products(
            session, params=PageParams(), institution_id=actor.institution_id
        )
        ctx = {
            "page": page,
            "filters": {},
            "query": "",
            "guarantees": GUARANTEES,
            "districts": DISTRICTS,
            "form": form,
            "errors": _errors(request, exc),
        }
        return render(request, "matching/products.html", ctx, status_code=422, actor=actor)
    return redirect(f"/products/{product.id}")


@router.get("/products/{product_id}", response_class=HTMLResponse)
def product_page(
    request: Request,
    product_id: int,
    actor: Actor | None = public(),
    session: Session = Depends(db),
) -> HTMLResponse:
    product = service.product_reads(session, [service.get_product(session, product_id)])[0]
    return render(
        request, "matching/product.html", {"p": product, "districts": DISTRICTS}, actor=actor
    )


@router.post("/products/{product_id}/withdraw", response_class=HTMLResponse)
def product_withdraw(
    product_id: int,
    actor: Actor = require(Action.PRODUCT_MANAGE, obj="product"),
    session: Session = Depends(db),
) -> Response:
    service.withdraw_product(session, actor=actor, product_id=product_id)
    return redirect(f"/products/{product_id}")


# --- applying ----------------------------------------------------------------------------


def _apply_context(
    session: Session,
    *,
    product_id: int | None,
    event_id: int | None,
    code: str | None,
    base_url: str,
) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "guarantees": GUARANTEES,
        "product": None,
        "event": None,
        "code": None,
        "errors": {},
        "form": {"term_months": "12", "guarantee_type": "credit"},
        "via_wechat": False,
    }
    if product_id:
        ctx["product"] = service.product_reads(session, [service.get_product(session, product_id)])[
            0
        ]
    if event_id:
        ctx["event"] = service.event_read(session, service.get_event(session, event_id))
    if code:
        ctx["code"] = service.scan_loan_code(session, code, base_url)
    return ctx


@router.get("/apply", response_class=HTMLResponse)
def apply_page(
    request: Request,
    product_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    event_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    actor: Actor | None = public(),
    session: Session = Depends(db),
) -> HTMLResponse:
    ctx = _apply_context(
        session, product_id=product_id, event_id=event_id, code=None, base_url=str(request.base_url)
    )
    return render(request, "matching/apply.html", ctx, actor=actor)


@router.get("/l/{code}", response_class=HTMLResponse)
def loan_code_page(
    request: Request,
    code: str,
    actor: Actor | None = public(),
    session: Session = Depends(db),
) -> HTMLResponse:
    """What a scanned loan code opens: a mobile form prefilled with who it is for."""
    ctx = _apply_context(
        session, product_id=None, event_id=None, code=code[:16], base_url=str(request.base_url)
    )
    return render(request, "matching/apply.html", ctx, actor=actor)


@router.get("/wx", response_class=HTMLResponse)
def wechat_page(
    request: Request, actor: Actor | None = public(), session: Session = Depends(db)
) -> HTMLResponse:
    """The landing page the WeChat official account's menu opens."""
    ctx = _apply_context(
        session, product_id=None, event_id=None, code=None, base_url=str(request.base_url)
    )
    ctx["via_wechat"] = True
    return render(request, "matching/apply.html", ctx, actor=actor)


@router.post("/apply/code", response_class=HTMLResponse)
def apply_code(
    request: Request,
    mobile: Annotated[str, Form(max_length=20)] = "",
    actor: Actor | None = public(),
    session: Session = Depends(db),
) -> Response:
    """Send the simple flow's one-time code (an HTMX partial answers in place)."""
    try:
        service.request_simple_code(
            session, mobile=SimpleCodeRequest(mobile=mobile).mobile, ip=client_ip(request)
        )
    except (ValidationError, PuhuiError) as exc:
        session.rollback()
        message = next(iter(_errors(request, exc).values()))
        return HTMLResponse(
            f'<span class="field-error" role="alert">{message}</span>', status_code=422
        )
    text = translate(request, N_("A code was sent to {mobile}."), mobile=mobile)
    return HTMLResponse(f'<span class="ok" role="status">{text}</span>')


@router.post("/apply", response_class=HTMLResponse)
def apply_submit(
    request: Request,
    amount: Annotated[str, Form(max_length=20)] = "",
    term_months: Annotated[str, Form(max_length=4)] = "12",
    purpose: Annotated[str, Form(max_length=300)] = "",
    guarantee_type: Annotated[str, Form(max_length=12)] = "credit",
    contact_name: Annotated[str, Form(max_length=50)] = "",
    contact_mobile: Annotated[str, Form(max_length=20)] = "",
    mobile: Annotated[str, Form(max_length=20)] = "",
    code: Annotated[str, Form(max_length=8)] = "",
    uscc: Annotated[str, Form(max_length=40)] = "",
    product_id: Annotated[str, Form(max_length=12)] = "",
    event_id: Annotated[str, Form(max_length=12)] = "",
    loan_code: Annotated[str, Form(max_length=16)] = "",
    via_wechat: Annotated[str, Form(max_length=2)] = "",
    actor: Actor | None = public(),
    session: Session = Depends(db),
) -> Response:
    """A logged-in enterprise applies with the full form; anyone else through the simple
    flow (mobile, one-time code, USCC, amount)."""
    form = {
        "amount": amount,
        "term_months": term_months,
        "purpose": purpose,
        "guarantee_type": guarantee_type,
        "contact_name": contact_name,
        "contact_mobile": contact_mobile,
        "mobile": mobile,
        "uscc": uscc,
    }
    try:
        if actor is not None and actor.role is Role.ENTERPRISE:
            data = DemandCreate.model_validate(
                {
                    "amount": amount or "0",
                    "term_months": term_months or "0",
                    "purpose": purpose,
                    "guarantee_type": guarantee_type,
                    "contact_name": contact_name,
                    "contact_mobile": contact_mobile or None,
                    "product_id": _int(product_id),
                    "event_id": _int(event_id),
                    "loan_code": loan_code or None,
                }
            )
            demand = service.create_demand(session, actor=actor, data=data)
            return redirect(f"/demands/{demand.id}")
        simple = SimpleDemand.model_validate(
            {
                "mobile": mobile,
                "code": code,
                "uscc": uscc,
                "amount": amount or "0",
                "term_months": term_months or "12",
                "purpose": purpose or "Working capital",
                "guarantee_type": guarantee_type,
                "contact_name": contact_name,
                "loan_code": loan_code or None,
                "via_wechat": bool(via_wechat),
            }
        )
        checked = service.check_simple(session, simple)
        try:
            demand = service.create_simple_demand(
                session, data=simple, ip=client_ip(request), checked=checked
            )
        except InvalidCode as exc:
            errors = _errors(request, exc)  # the attempt count commits
            return _apply_again(
                request, session, actor, form, errors, product_id, event_id, loan_code, via_wechat
            )
    except (ValidationError, PuhuiError) as exc:
        session.rollback()
        return _apply_again(
            request,
            session,
            actor,
            form,
            _errors(request, exc),
            product_id,
            event_id,
            loan_code,
            via_wechat,
        )
    return render(
        request, "matching/applied.html", {"demand_id": demand.id, "mobile": mobile}, actor=actor
    )


def _apply_again(
    request: Request,
    session: Session,
    actor: Actor | None,
    form: dict[str, Any],
    errors: dict[str, str],
    product_id: str,
    event_id: str,
    loan_code: str,
    via_wechat: str,
) -> HTMLResponse:
    ctx: dict[str, Any] = {
        "guarantees": GUARANTEES,
        "product": None,
        "event": None,
        "code": None,
        "via_wechat": bool(via_wechat),
    }
    try:
        ctx = _apply_context(
            session,
            product_id=_int(product_id),
            event_id=_int(event_id),
            code=None,
            base_url=str(request.base_url),
        )
        ctx["via_wechat"] = bool(via_wechat)
        if loan_code:
            code = service.resolve_loan_code(session, loan_code)
            ctx["code"] = service.loan_code_reads(session, [code], str(request.base_url))[0]
    except PuhuiError:
        pass  # the reference itself was the error; the form says so
    ctx.update(form=form, errors=errors)
    return render(request, "matching/apply.html", ctx, status_code=422, actor=actor)


# --- demands -----------------------------------------------------------------------------


@router.get("/demands", response_class=HTMLResponse)
def demands_page(
    request: Request,
    status: Annotated[str, Query(max_length=12)] = "",
    mine: Annotated[str, Query(max_length=2)] = "",
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.DEMAND_READ),
    session: Session = Depends(db),
) -> HTMLResponse:
    wanted = status if status in {"open", "granted", "declined", "cancelled", "expired"} else None
    page = service.list_demands(
        session, actor=actor, params=params, status=wanted, mine_only=bool(mine)
    )
    ctx = {"page": page, "status": status, "mine": mine}
    return render(request, "matching/demands.html", ctx, actor=actor)


@router.get("/demands/{demand_id}", response_class=HTMLResponse)
def demand_page(
    request: Request,
    demand_id: int,
    actor: Actor = require(Action.DEMAND_READ, obj="demand"),
    session: Session = Depends(db),
) -> HTMLResponse:
    return _demand_page(request, session, actor, demand_id, {})


def _demand_page(
    request: Request,
    session: Session,
    actor: Actor,
    demand_id: int,
    errors: dict[str, str],
    status_code: int = 200,
) -> HTMLResponse:
    demand = service.get_demand(session, actor=actor, demand_id=demand_id)
    ctx = {"d": demand, "errors": errors, "districts": DISTRICTS}
    return render(request, "matching/demand.html", ctx, status_code=status_code, actor=actor)


def _on_demand(
    request: Request,
    session: Session,
    actor: Actor,
    demand_id: int,
    change: Callable[[], object],
) -> Response:
    """Make one change from a demand's page. A refusal rolls it back and shows the page
    again with the message and the refusal's status; an unknown demand stays a 404."""
    try:
        change()
    except (ValidationError, PuhuiError) as exc:
        if isinstance(exc, PuhuiError) and exc.status == 404:
            raise
        session.rollback()
        status = exc.status if isinstance(exc, PuhuiError) else 422
        return _demand_page(request, session, actor, demand_id, _errors(request, exc), status)
    return redirect(f"/demands/{demand_id}")


@router.post("/demands/{demand_id}/claim", response_class=HTMLResponse)
def demand_claim(
    request: Request,
    demand_id: int,
    actor: Actor = require(Action.DEMAND_CLAIM, obj="demand"),
    session: Session = Depends(db),
) -> Response:
    return _on_demand(
        request,
        session,
        actor,
        demand_id,
        lambda: service.claim_demand(session, actor=actor, demand_id=demand_id),
    )


@router.post("/demands/{demand_id}/claims/{claim_id}/step", response_class=HTMLResponse)
def claim_step(
    request: Request,
    demand_id: int,
    claim_id: int,
    to: Annotated[str, Form(max_length=14)] = "",
    reason: Annotated[str, Form(max_length=300)] = "",
    amount: Annotated[str, Form(max_length=20)] = "",
    rate: Annotated[str, Form(max_length=8)] = "",
    actor: Actor = require(Action.DEMAND_PROGRESS, obj="demand"),
    session: Session = Depends(db),
) -> Response:
    def change() -> object:
        data = ClaimStep.model_validate(
            {"to": to, "reason": reason, "amount": amount or None, "rate": rate or None}
        )
        return service.step(session, actor=actor, demand_id=demand_id, claim_id=claim_id, data=data)

    return _on_demand(request, session, actor, demand_id, change)


@router.post("/demands/{demand_id}/claims/{claim_id}/choose", response_class=HTMLResponse)
def claim_choose(
    request: Request,
    demand_id: int,
    claim_id: int,
    actor: Actor = require(Action.DEMAND_DECIDE, obj="demand"),
    session: Session = Depends(db),
) -> Response:
    return _on_demand(
        request,
        session,
        actor,
        demand_id,
        lambda: service.choose(session, actor=actor, demand_id=demand_id, claim_id=claim_id),
    )


@router.post("/demands/{demand_id}/claims/{claim_id}/rating", response_class=HTMLResponse)
def claim_rate(
    request: Request,
    demand_id: int,
    claim_id: int,
    rating: Annotated[str, Form(max_length=1)] = "",
    comment: Annotated[str, Form(max_length=300)] = "",
    actor: Actor = require(Action.DEMAND_DECIDE, obj="demand"),
    session: Session = Depends(db),
) -> Response:
    def change() -> object:
        data = Rating.model_validate({"rating": rating or "0", "comment": comment})
        return service.rate(session, actor=actor, demand_id=demand_id, claim_id=claim_id, data=data)

    return _on_demand(request, session, actor, demand_id, change)


@router.post("/demands/{demand_id}/cancel", response_class=HTMLResponse)
def demand_cancel(
    request: Request,
    demand_id: int,
    reason: Annotated[str, Form(max_length=300)] = "",
    actor: Actor = require(Action.DEMAND_DECIDE, obj="demand"),
    session: Session = Depends(db),
) -> Response:
    def change() -> object:
        data = DemandCancel.model_validate({"reason": reason.strip()})
        return service.cancel_demand(session, actor=actor, demand_id=demand_id, reason=data.reason)

    return _on_demand(request, session, actor, demand_id, change)


# --- the pool ----------------------------------------------------------------------------


@router.get("/pool", response_class=HTMLResponse)
def pool_page(
    request: Request,
    amount_min: Annotated[str, Query(max_length=20)] = "",
    amount_max: Annotated[str, Query(max_length=20)] = "",
    guarantee_type: Annotated[str, Query(max_length=12)] = "",
    district: Annotated[str, Query(max_length=6)] = "",
    grade: Annotated[str, Query(max_length=1)] = "",
    channel: Annotated[str, Query(max_length=12)] = "",
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.DEMAND_CLAIM),
    session: Session = Depends(db),
) -> HTMLResponse:
    low, high = _decimal(amount_min), _decimal(amount_max)
    filters = service.PoolFilter(
        amount_min_fen=yuan_to_fen(low) if low and low > 0 else None,
        amount_max_fen=yuan_to_fen(high) if high and high > 0 else None,
        guarantee_type=guarantee_type if guarantee_type in GUARANTEES else None,
        district=district if district in DISTRICTS else None,
        grades=(grade,) if grade in {"A", "B", "C", "D", "E"} else (),
        channel=channel if channel in {c.value for c in Channel} else None,
    )
    form = {
        "amount_min": amount_min,
        "amount_max": amount_max,
        "guarantee_type": guarantee_type,
        "district": district,
        "grade": grade,
        "channel": channel,
    }
    ctx = {
        "page": service.pool(session, actor=actor, params=params, filters=filters),
        "filters": form,
        "query": "".join(f"&{k}={v}" for k, v in form.items() if v),
        "guarantees": GUARANTEES,
        "districts": DISTRICTS,
        "channels": [c.value for c in Channel],
    }
    return render(request, "matching/pool.html", ctx, actor=actor)


# --- loan codes --------------------------------------------------------------------------


@router.get("/loan-codes", response_class=HTMLResponse)
def loan_codes_page(
    request: Request,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.LOAN_CODE_MANAGE),
    session: Session = Depends(db),
) -> HTMLResponse:
    return _codes_page(request, session, actor, params, {}, {})


def _codes_page(
    request: Request,
    session: Session,
    actor: Actor,
    params: PageParams,
    form: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> HTMLResponse:
    products = (
        service.list_products(
            session, params=PageParams(per_page=100), institution_id=actor.institution_id
        ).items
        if actor.institution_id and actor.role is not Role.OPERATOR
        else []
    )
    ctx = {
        "page": service.list_loan_codes(
            session, actor=actor, params=params, base_url=str(request.base_url)
        ),
        "targets": [t.value for t in CodeTarget],
        "products": products,
        "events": service.list_events(session, params=PageParams(per_page=100)).items,
        "form": form,
        "errors": errors,
    }
    return render(request, "matching/loan_codes.html", ctx, status_code=status_code, actor=actor)


@router.post("/loan-codes", response_class=HTMLResponse)
def loan_codes_submit(
    request: Request,
    target: Annotated[str, Form(max_length=12)] = "",
    label: Annotated[str, Form(max_length=100)] = "",
    branch: Annotated[str, Form(max_length=100)] = "",
    product_id: Annotated[str, Form(max_length=12)] = "",
    event_id: Annotated[str, Form(max_length=12)] = "",
    actor: Actor = require(Action.LOAN_CODE_MANAGE),
    session: Session = Depends(db),
) -> Response:
    form = {
        "target": target,
        "label": label,
        "branch": branch,
        "product_id": product_id,
        "event_id": event_id,
    }
    try:
        data = LoanCodeCreate.model_validate(
            {
                "target": target,
                "label": label,
                "branch": branch,
                "product_id": _int(product_id),
                "event_id": _int(event_id),
            }
        )
        service.create_loan_code(session, actor=actor, data=data)
    except (ValidationError, PuhuiError) as exc:
        session.rollback()
        return _codes_page(request, session, actor, PageParams(), form, _errors(request, exc), 422)
    return redirect("/loan-codes")


# --- operators: events, callbacks, stalled demands, the league table ---------------------


@router.get("/ops/events", response_class=HTMLResponse)
def events_page(
    request: Request,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.EVENT_MANAGE),
    session: Session = Depends(db),
) -> HTMLResponse:
    return _events_page(request, session, actor, params, {}, {})


def _events_page(
    request: Request,
    session: Session,
    actor: Actor,
    params: PageParams,
    form: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> HTMLResponse:
    ctx = {
        "page": service.list_events(session, params=params),
        "institutions": consent.institution_choices(session),
        "form": form,
        "errors": errors,
    }
    return render(request, "matching/events.html", ctx, status_code=status_code, actor=actor)


@router.post("/ops/events", response_class=HTMLResponse)
def events_submit(
    request: Request,
    name: Annotated[str, Form(max_length=100)] = "",
    description: Annotated[str, Form(max_length=2000)] = "",
    starts_at: Annotated[str, Form(max_length=20)] = "",
    ends_at: Annotated[str, Form(max_length=20)] = "",
    institution_ids: Annotated[list[str] | None, Form()] = None,
    actor: Actor = require(Action.EVENT_MANAGE),
    session: Session = Depends(db),
) -> Response:
    form = {
        "name": name,
        "description": description,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "institution_ids": institution_ids or [],
    }
    try:
        data = EventCreate.model_validate(
            {
                "name": name,
                "description": description,
                "starts_at": _local_input(starts_at),
                "ends_at": _local_input(ends_at),
                "institution_ids": [int(i) for i in institution_ids or [] if i.isdigit()],
            }
        )
        service.create_event(session, actor=actor, data=data)
    except (ValidationError, PuhuiError) as exc:
        session.rollback()
        return _events_page(request, session, actor, PageParams(), form, _errors(request, exc), 422)
    return redirect("/ops/events")


@router.get("/ops/callbacks", response_class=HTMLResponse)
def callbacks_page(
    request: Request,
    status: Annotated[str, Query(max_length=6)] = "queued",
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.CALLBACK_MANAGE),
    session: Session = Depends(db),
) -> HTMLResponse:
    return _callbacks_page(request, session, actor, params, status, {})


def _callbacks_page(
    request: Request,
    session: Session,
    actor: Actor,
    params: PageParams,
    status: str,
    errors: dict[str, str],
    status_code: int = 200,
    sampled: Any = None,
) -> HTMLResponse:
    wanted = status if status in {"queued", "done"} else None
    ctx = {
        "page": service.list_callbacks(session, status=wanted, params=params),
        "status": status,
        "errors": errors,
        "sampled": sampled,
        "stalled": service.stalled(session, actor=actor, params=PageParams(per_page=20)),
    }
    return render(request, "matching/callbacks.html", ctx, status_code=status_code, actor=actor)


@router.post("/ops/callbacks/sample", response_class=HTMLResponse)
def callbacks_sample(
    request: Request,
    share: Annotated[str, Form(max_length=6)] = "10",
    actor: Actor = require(Action.CALLBACK_MANAGE),
    session: Session = Depends(db),
) -> Response:
    try:
        percent = _decimal(share)
        data = CallbackSample.model_validate({"share": float(percent / 100) if percent else 0})
        result = service.sample_callbacks(session, actor=actor, data=data)
    except ValidationError as exc:
        session.rollback()
        return _callbacks_page(
            request,
            session,
            actor,
            PageParams(),
            "queued",
            {"share": translate(request, N_("Give a share between 1 and 100 per cent."))}
            | _errors(request, exc),
            422,
        )
    return _callbacks_page(request, session, actor, PageParams(), "queued", {}, sampled=result)


@router.post("/ops/callbacks/{callback_id}", response_class=HTMLResponse)
def callbacks_record(
    request: Request,
    callback_id: int,
    reached: Annotated[str, Form(max_length=3)] = "",
    contacted_by_bank: Annotated[str, Form(max_length=3)] = "",
    satisfaction: Annotated[str, Form(max_length=1)] = "",
    complaint: Annotated[str, Form(max_length=1000)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
    actor: Actor = require(Action.CALLBACK_MANAGE, obj="callback"),
    session: Session = Depends(db),
) -> Response:
    try:
        data = CallbackResult.model_validate(
            {
                "reached": reached == "yes",
                "contacted_by_bank": {"yes": True, "no": False}.get(contacted_by_bank),
                "satisfaction": _int(satisfaction),
                "complaint": complaint,
                "note": note,
            }
        )
        service.record_callback(session, actor=actor, callback_id=callback_id, data=data)
    except (ValidationError, PuhuiError) as exc:
        if isinstance(exc, PuhuiError) and exc.status == 404:
            raise
        session.rollback()
        errors = {f"cb{callback_id}": next(iter(_errors(request, exc).values()))}
        return _callbacks_page(request, session, actor, PageParams(), "queued", errors, 422)
    return redirect("/ops/callbacks")


@router.get("/matching/league", response_class=HTMLResponse)
def league_page(
    request: Request,
    actor: Actor = require(Action.MATCHING_STATS_READ),
    session: Session = Depends(db),
) -> HTMLResponse:
    return render(request, "matching/league.html", {"rows": service.league(session)}, actor=actor)
