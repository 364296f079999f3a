"""Financing matching over the API: `/api/v1/products`, `/api/v1/events`,
`/api/v1/loan-codes`, `/api/v1/demands` (with the pool and claims), `/api/v1/callbacks`,
`/api/v1/matching/league` and the WeChat webhook."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.orm import Session

from puhui.accounts.errors import InvalidCode
from puhui.core.pagination import PageParams, PageRead, page_of
from puhui.core.policy import Action, Actor
from puhui.core.web import (
    TxRoute,
    client_ip,
    db,
    error_response,
    page_params,
    public,
    request_locale,
    require,
)
from puhui.matching import service
from puhui.matching.schemas import (
    DISTRICT_CODE,
    CallbackRead,
    CallbackResult,
    CallbackSample,
    Channel,
    ClaimRead,
    ClaimStep,
    DemandCancel,
    DemandCreate,
    DemandRead,
    EventCreate,
    EventRead,
    Guarantee,
    LeagueRow,
    LoanCodeCreate,
    LoanCodeRead,
    ProductCreate,
    ProductRead,
    Rating,
    SampleResult,
    SimpleCodeRequest,
    SimpleDemand,
    yuan_to_fen,
)

router = APIRouter(prefix="/api/v1", route_class=TxRoute, tags=["matching"])
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
BigId = Annotated[int, Path(ge=1, le=2**62)]
DemandStatusQ = Literal["open", "granted", "declined", "cancelled", "expired"]


# --- products ----------------------------------------------------------------------------


@router.get("/products", response_model=PageRead[ProductRead], summary="Published loan products")
def list_products(
    institution_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    amount: Annotated[Decimal | None, Query(gt=0, le=Decimal("1e10"))] = None,
    term_months: Annotated[int | None, Query(ge=1, le=360)] = None,
    guarantee_type: Guarantee | None = None,
    entity_kind: Annotated[str | None, Query(max_length=24)] = None,
    district: Annotated[str | None, Query(pattern=DISTRICT_CODE)] = None,
    params: PageParams = Depends(page_params),
    actor: Actor | None = public(),
    session: Session = Depends(db),
) -> PageRead[ProductRead]:
    return page_of(
        service.list_products(
            session,
            params=params,
            institution_id=institution_id,
            amount=amount,
            term_months=term_months,
            guarantee_type=guarantee_type.value if guarantee_type else None,
            entity_kind=entity_kind,
            district=district,
        )
    )


@router.post(
    "/products", status_code=201, response_model=ProductRead, summary="Publish a loan product"
)
def create_product(
    body: ProductCreate,
    actor: Actor = require(Action.PRODUCT_MANAGE),
    session: Session = Depends(db),
) -> ProductRead:
    product = service.create_product(session, actor=actor, data=body)
    return service.product_reads(session, [product])[0]


@router.get("/products/{product_id}", response_model=ProductRead, summary="One loan product")
def get_product(
    product_id: Id, actor: Actor | None = public(), session: Session = Depends(db)
) -> ProductRead:
    return service.product_reads(session, [service.get_product(session, product_id)])[0]


@router.post(
    "/products/{product_id}/withdraw", response_model=ProductRead, summary="Withdraw a product"
)
def withdraw_product(
    product_id: Id,
    actor: Actor = require(Action.PRODUCT_MANAGE, obj="product"),
    session: Session = Depends(db),
) -> ProductRead:
    product = service.withdraw_product(session, actor=actor, product_id=product_id)
    return service.product_reads(session, [product])[0]


# --- events ------------------------------------------------------------------------------


@router.get("/events", response_model=PageRead[EventRead], summary="Financing events")
def list_events(
    params: PageParams = Depends(page_params),
    actor: Actor | None = public(),
    session: Session = Depends(db),
) -> PageRead[EventRead]:
    return page_of(service.list_events(session, params=params))


@router.post(
    "/events", status_code=201, response_model=EventRead, summary="Create a financing event"
)
def create_event(
    body: EventCreate, actor: Actor = require(Action.EVENT_MANAGE), session: Session = Depends(db)
) -> EventRead:
    return service.event_read(session, service.create_event(session, actor=actor, data=body))


@router.get("/events/{event_id}", response_model=EventRead, summary="One financing event")
def get_event(
    event_id: Id, actor: Actor | None = public(), session: Session = Depends(db)
) -> EventRead:
    return service.event_read(session, service.get_event(session, event_id))


# --- loan codes --------------------------------------------------------------------------


def _base(request: Request) -> str:
    return str(request.base_url)


@router.get(
    "/loan-codes",
    response_model=PageRead[LoanCodeRead],
    summary="Loan codes (mine or my institution's)",
)
def list_loan_codes(
    request: Request,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.LOAN_CODE_MANAGE),
    session: Session = Depends(db),
) -> PageRead[LoanCodeRead]:
    return page_of(
        service.list_loan_codes(session, actor=actor, params=params, base_url=_base(request))
    )


@router.post(
    "/loan-codes", status_code=201, response_model=LoanCodeRead, summary="Make a QR loan code"
)
def create_loan_code(
    request: Request,
    body: LoanCodeCreate,
    actor: Actor = require(Action.LOAN_CODE_MANAGE),
    session: Session = Depends(db),
) -> LoanCodeRead:
    code = service.create_loan_code(session, actor=actor, data=body)
    return service.loan_code_reads(session, [code], _base(request))[0]


@router.get(
    "/loan-codes/{code_id}/qr.{fmt}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/svg+xml": {}}}},
    summary="The loan code's QR image (PNG to print, SVG for the web)",
)
def loan_code_image(
    request: Request,
    code_id: Id,
    fmt: Literal["png", "svg"],
    actor: Actor = require(Action.LOAN_CODE_MANAGE, obj="loan_code"),
    session: Session = Depends(db),
) -> Response:
    code = service.get_loan_code(session, actor=actor, code_id=code_id)
    media = "image/png" if fmt == "png" else "image/svg+xml"
    return Response(
        service.loan_code_image(code, _base(request), fmt),
        media_type=media,
        headers={"Content-Disposition": f'inline; filename="loan-code-{code.code}.{fmt}"'},
    )


# --- demands -----------------------------------------------------------------------------


@router.post(
    "/demands",
    status_code=201,
    response_model=DemandRead,
    summary="An enterprise asks for financing",
)
def create_demand(
    body: DemandCreate, actor: Actor = require(Action.DEMAND_CREATE), session: Session = Depends(db)
) -> DemandRead:
    demand = service.create_demand(session, actor=actor, data=body)
    return service.get_demand(session, actor=actor, demand_id=demand.id)


@router.post(
    "/demands/simple/code",
    status_code=202,
    response_model=dict[str, str],
    summary="Simple flow, step 1: send a one-time code to a mobile (no account needed)",
)
def simple_code(
    request: Request,
    body: SimpleCodeRequest,
    actor: Actor | None = public(),
    session: Session = Depends(db),
) -> dict[str, str]:
    service.request_simple_code(session, mobile=body.mobile, ip=client_ip(request))
    return {"status": "sent"}


@router.post(
    "/demands/simple",
    status_code=201,
    response_model=dict[str, Any],
    summary="Simple flow, step 2: mobile + code + USCC + amount raise a demand",
)
def simple_demand(
    request: Request,
    body: SimpleDemand,
    actor: Actor | None = public(),
    session: Session = Depends(db),
) -> Any:
    checked = service.check_simple(session, body)
    try:
        demand = service.create_simple_demand(
            session, data=body, ip=client_ip(request), checked=checked
        )
    except InvalidCode as exc:
        return error_response(request, exc)  # the attempt count commits
    return {"id": demand.id, "status": demand.status, "channel": demand.channel}


@router.get(
    "/demands",
    response_model=PageRead[DemandRead],
    summary="Demands: my own, my institution's claimed, or all",
)
def list_demands(
    status: DemandStatusQ | None = None,
    mine: bool = False,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.DEMAND_READ),
    session: Session = Depends(db),
) -> PageRead[DemandRead]:
    return page_of(
        service.list_demands(session, actor=actor, params=params, status=status, mine_only=mine)
    )


@router.get(
    "/demands/pool",
    response_model=PageRead[DemandRead],
    summary="Open demands my institution may claim",
)
def demand_pool(
    amount_min: Annotated[Decimal | None, Query(gt=0, le=Decimal("1e10"))] = None,
    amount_max: Annotated[Decimal | None, Query(gt=0, le=Decimal("1e10"))] = None,
    term_max_months: Annotated[int | None, Query(ge=1, le=360)] = None,
    guarantee_type: Guarantee | None = None,
    district: Annotated[str | None, Query(pattern=DISTRICT_CODE)] = None,
    industry_section: Annotated[str | None, Query(pattern="^[A-T]$")] = None,
    entity_kind: Annotated[str | None, Query(max_length=24)] = None,
    grade: Annotated[list[Literal["A", "B", "C", "D", "E"]] | None, Query()] = None,
    channel: Channel | None = None,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.DEMAND_CLAIM),
    session: Session = Depends(db),
) -> PageRead[DemandRead]:
    filters = service.PoolFilter(
        amount_min_fen=yuan_to_fen(amount_min) if amount_min else None,
        amount_max_fen=yuan_to_fen(amount_max) if amount_max else None,
        term_max_months=term_max_months,
        guarantee_type=guarantee_type.value if guarantee_type else None,
        district=district,
        industry_section=industry_section,
        entity_kind=entity_kind,
        grades=tuple(grade or ()),
        channel=channel.value if channel else None,
    )
    return page_of(service.pool(session, actor=actor, params=params, filters=filters))


@router.get(
    "/demands/stalled",
    response_model=PageRead[DemandRead],
    summary="Demands no bank is serving (operators)",
)
def stalled_demands(
    hours: Annotated[int, Query(ge=1, le=24 * 30)] = 24,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.CALLBACK_MANAGE),
    session: Session = Depends(db),
) -> PageRead[DemandRead]:
    return page_of(service.stalled(session, actor=actor, params=params, hours=hours))


@router.get(
    "/demands/{demand_id}",
    response_model=DemandRead,
    summary="One demand with its claims and timeline",
)
def get_demand(
    demand_id: BigId,
    actor: Actor = require(Action.DEMAND_READ, obj="demand"),
    session: Session = Depends(db),
) -> DemandRead:
    return service.get_demand(session, actor=actor, demand_id=demand_id)


@router.post(
    "/demands/{demand_id}/cancel",
    response_model=DemandRead,
    summary="The enterprise withdraws its demand",
)
def cancel_demand(
    demand_id: BigId,
    body: DemandCancel,
    actor: Actor = require(Action.DEMAND_DECIDE, obj="demand"),
    session: Session = Depends(db),
) -> DemandRead:
    service.cancel_demand(session, actor=actor, demand_id=demand_id, reason=body.reason)
    return service.get_demand(session, actor=actor, demand_id=demand_id)


@router.post(
    "/demands/{demand_id}/claims",
    status_code=201,
    response_model=ClaimRead,
    summary="Claim a demand for my institution (at most 3 institutions, 1 claim each)",
    responses={409: {"description": "Three institutions hold it already, or mine has claimed it"}},
)
def claim_demand(
    demand_id: BigId,
    actor: Actor = require(Action.DEMAND_CLAIM, obj="demand"),
    session: Session = Depends(db),
) -> ClaimRead:
    claim = service.claim_demand(session, actor=actor, demand_id=demand_id)
    return service.claim_read(session, actor=actor, claim=claim)


@router.post(
    "/demands/{demand_id}/claims/{claim_id}/events",
    status_code=201,
    response_model=ClaimRead,
    summary="Move a claim along its states (contacted, under review, approved, granted, ...)",
)
def claim_step(
    demand_id: BigId,
    claim_id: BigId,
    body: ClaimStep,
    actor: Actor = require(Action.DEMAND_PROGRESS, obj="demand"),
    session: Session = Depends(db),
) -> ClaimRead:
    claim = service.step(session, actor=actor, demand_id=demand_id, claim_id=claim_id, data=body)
    return service.claim_read(session, actor=actor, claim=claim)


@router.post(
    "/demands/{demand_id}/claims/{claim_id}/choose",
    response_model=ClaimRead,
    summary="The enterprise chooses this institution",
)
def choose_claim(
    demand_id: BigId,
    claim_id: BigId,
    actor: Actor = require(Action.DEMAND_DECIDE, obj="demand"),
    session: Session = Depends(db),
) -> ClaimRead:
    claim = service.choose(session, actor=actor, demand_id=demand_id, claim_id=claim_id)
    return service.claim_read(session, actor=actor, claim=claim)


@router.post(
    "/demands/{demand_id}/claims/{claim_id}/rating",
    response_model=ClaimRead,
    summary="The enterprise rates an institution's service",
)
def rate_claim(
    demand_id: BigId,
    claim_id: BigId,
    body: Rating,
    actor: Actor = require(Action.DEMAND_DECIDE, obj="demand"),
    session: Session = Depends(db),
) -> ClaimRead:
    claim = service.rate(session, actor=actor, demand_id=demand_id, claim_id=claim_id, data=body)
    return service.claim_read(session, actor=actor, claim=claim)


# --- callbacks and the league table ------------------------------------------------------


@router.post(
    "/callbacks/sample",
    status_code=201,
    response_model=SampleResult,
    summary="Queue callbacks: a random share plus every stalled demand",
)
def sample_callbacks(
    body: CallbackSample,
    actor: Actor = require(Action.CALLBACK_MANAGE),
    session: Session = Depends(db),
) -> SampleResult:
    return service.sample_callbacks(session, actor=actor, data=body)


@router.get("/callbacks", response_model=PageRead[CallbackRead], summary="The callback queue")
def list_callbacks(
    status: Literal["queued", "done"] | None = None,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.CALLBACK_MANAGE),
    session: Session = Depends(db),
) -> PageRead[CallbackRead]:
    return page_of(service.list_callbacks(session, status=status, params=params))


@router.post("/callbacks/{callback_id}", response_model=dict[str, Any], summary="Record a callback")
def record_callback(
    callback_id: BigId,
    body: CallbackResult,
    actor: Actor = require(Action.CALLBACK_MANAGE, obj="callback"),
    session: Session = Depends(db),
) -> dict[str, Any]:
    callback = service.record_callback(session, actor=actor, callback_id=callback_id, data=body)
    return {"id": callback.id, "status": callback.status}


@router.get(
    "/matching/league",
    response_model=list[LeagueRow],
    summary="How banks respond to the demands they claim",
)
def league(
    since: Annotated[datetime | None, Query()] = None,
    actor: Actor = require(Action.MATCHING_STATS_READ),
    session: Session = Depends(db),
) -> list[LeagueRow]:
    return service.league(session, since=since)


# --- WeChat official account -------------------------------------------------------------


@router.get(
    "/webhooks/wechat",
    response_class=PlainTextResponse,
    summary="WeChat's server check: answers echostr when the signature is right",
)
def wechat_check(
    request: Request,
    signature: Annotated[str, Query(max_length=64)],
    timestamp: Annotated[str, Query(max_length=16)],
    nonce: Annotated[str, Query(max_length=64)],
    echostr: Annotated[str, Query(max_length=128)],
    actor: Actor | None = public(),
) -> str:
    service.wechat_check(request.app.state.settings, signature, timestamp, nonce)
    return echostr


@router.post(
    "/webhooks/wechat",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}}},
    summary="An inbound WeChat message (signed); a loan text becomes a demand (docs/wechat.md)",
)
def wechat_inbound(
    request: Request,
    signature: Annotated[str, Query(max_length=64)],
    timestamp: Annotated[str, Query(max_length=16)],
    nonce: Annotated[str, Query(max_length=64)],
    body: Annotated[bytes, Body(media_type="application/xml")],
    actor: Actor | None = public(),
    session: Session = Depends(db),
) -> Response:
    service.wechat_check(request.app.state.settings, signature, timestamp, nonce)
    xml = service.wechat_message(session, body, locale=request_locale(request))
    return Response(xml, media_type="application/xml")
