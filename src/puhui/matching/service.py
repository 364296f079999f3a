"""Financing matching (一键可达): products, events, loan codes, demands from six
channels, claims by at most three institutions, progress, deadlines, callbacks.

Invariants
- A demand never has more than three active claims, and an institution never has more
  than one claim on a demand. The first holds because a slot is taken only by the
  conditional UPDATE in :func:`repository.take_slot`; the second by a unique constraint.
  ``Demand.active_claims`` always equals the number of its claims in an active state:
  every change of a claim into a final state frees exactly one slot, in the same
  transaction (:func:`_end_claim`).
- A claim changes state only along :mod:`puhui.matching.machine`; every change writes a
  :class:`ClaimEvent`, an audit event and notifications to both sides, in the caller's
  transaction.
- A demand is closed (granted, declined, cancelled, expired) only here; a closed demand
  cannot be claimed. It closes as granted when one claim is granted, as declined when
  three institutions looked at it and declined, as cancelled when the enterprise
  withdraws it and as expired when it stays unserved until its deadline. Otherwise a
  demand whose claims have all ended is back in the pool for other institutions.
- The contact details of a demand are shown only to its enterprise, to institutions
  holding a live claim on it (or that reached an outcome) and to operators.
- Raising a demand authorizes the institutions that claim it to read the entity's data
  for the ``query`` purpose (``consent.grant_with_demand``); the authorization ends when
  the claim ends without a loan.
"""

from __future__ import annotations

import math
import random
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from puhui.accounts import service as accounts
from puhui.audit import service as audit
from puhui.config import Settings, get_settings
from puhui.consent import service as consent
from puhui.core import jobs
from puhui.core.errors import PermissionDenied, ValidationFailed, field_error
from puhui.core.i18n import N_, gettext
from puhui.core.masking import mask_mobile, mask_name
from puhui.core.orm import utcnow
from puhui.core.pagination import Page, PageParams, paginate
from puhui.core.policy import LENDING_KINDS, Actor, Role
from puhui.entities import service as entities
from puhui.entities.errors import EntityNotFound, MalformedUSCC
from puhui.matching import machine, qr, repository, wechat
from puhui.matching.errors import (
    AlreadyClaimed,
    CallbackNotFound,
    ClaimNotFound,
    ClaimsFull,
    ClaimStepInvalid,
    DemandClosed,
    DemandNotFound,
    EventNotFound,
    LoanCodeNotFound,
    ProductNotFound,
    StepNeedsValue,
    WebhookRejected,
)
from puhui.matching.models import (
    Callback,
    Claim,
    ClaimEvent,
    Demand,
    EventInstitution,
    FinancingEvent,
    LoanCode,
    Product,
)
from puhui.matching.repository import PoolFilter
from puhui.matching.schemas import (
    LOAN_GRANTED,
    MAX_CLAIMS,
    CallbackRead,
    CallbackResult,
    CallbackSample,
    Channel,
    ClaimEventRead,
    ClaimRead,
    ClaimStatus,
    ClaimStep,
    CodeTarget,
    DemandCreate,
    DemandRead,
    DemandStatus,
    EventCreate,
    EventRead,
    Guarantee,
    LeagueMonth,
    LeagueReport,
    LeagueRow,
    LoanCodeCreate,
    LoanCodeRead,
    ProductCreate,
    ProductRead,
    Rating,
    SampleResult,
    SimpleDemand,
    bp_to_pct,
    fen_to_yuan,
    pct_to_bp,
    yuan_to_fen,
)
from puhui.notifications import service as notifications
from puhui.profile import service as profile

__all__ = ["MAX_CLAIMS", "PoolFilter"]

SIMPLE_PURPOSE = "demand.simple"
SIMPLE_SMS = N_(
    "[Puhui] Your code for the financing application is {code}, valid for {minutes} minutes."
)
MAX_OPEN_DEMANDS = 5  # open demands one entity may have at a time
INSTITUTION_ROLES = frozenset({Role.CUSTOMER_MANAGER, Role.RISK_MANAGER, Role.INSTITUTION_ADMIN})
STAFF_ROLES = frozenset({Role.CUSTOMER_MANAGER, Role.RISK_MANAGER})
CONSENT_EXTRA_DAYS = 30

# --- notifications -----------------------------------------------------------------------

TEMPLATES: dict[str, tuple[str, str]] = {
    "matching.received": (
        N_("Financing demand received"),
        N_(
            "[Puhui] Your financing demand {demand} for {amount} yuan was received. Up to "
            "three banks can take it up; you will be told when one does."
        ),
    ),
    "matching.directed": (
        N_("A demand for your institution"),
        N_("[Puhui] Financing demand {demand} ({amount} yuan) came in through {via}."),
    ),
    "matching.claimed": (
        N_("A bank took up your demand"),
        N_(
            "[Puhui] {institution} took up your financing demand {demand} and will contact "
            "you by {due}."
        ),
    ),
    "matching.claimed_bank": (
        N_("You claimed a demand"),
        N_("[Puhui] You claimed demand {demand}. Contact the enterprise by {due}."),
    ),
    "matching.remind_contact": (
        N_("Contact deadline near"),
        N_("[Puhui] Demand {demand}: {institution} must contact the enterprise by {due}."),
    ),
    "matching.remind_outcome": (
        N_("Outcome deadline near"),
        N_("[Puhui] Demand {demand}: {institution} owes an outcome by {due}."),
    ),
    "matching.back_in_pool": (
        N_("Demand back in the pool"),
        N_(
            "[Puhui] No bank is working on demand {demand} any more; it is open to other "
            "banks again."
        ),
    ),
}
STEP_TEMPLATES = {
    ClaimStatus.CONTACTED: N_("[Puhui] Demand {demand}: {institution} recorded contacting you."),
    ClaimStatus.UNDER_REVIEW: N_("[Puhui] Demand {demand}: {institution} is reviewing it."),
    ClaimStatus.APPROVED: N_(
        "[Puhui] Demand {demand}: {institution} approved {amount} yuan at {rate}% a year."
    ),
    ClaimStatus.GRANTED: N_(
        "[Puhui] Demand {demand}: {institution} granted {amount} yuan at {rate}% a year."
    ),
    ClaimStatus.DECLINED: N_("[Puhui] Demand {demand}: {institution} declined. Reason: {reason}"),
    ClaimStatus.RELEASED: N_(
        "[Puhui] Demand {demand}: {institution} released its claim. Reason: {reason}"
    ),
    ClaimStatus.CANCELLED: N_(
        "[Puhui] Demand {demand}: the claim of {institution} was cancelled. Reason: {reason}"
    ),
    ClaimStatus.EXPIRED: N_(
        "[Puhui] Demand {demand}: {institution} missed its deadline; the claim was released."
    ),
}
CLOSED_TEMPLATES = {
    DemandStatus.GRANTED: N_("[Puhui] Financing demand {demand} is closed: a loan was granted."),
    DemandStatus.DECLINED: N_(
        "[Puhui] Financing demand {demand} is closed: three banks looked at it and declined."
    ),
    DemandStatus.CANCELLED: N_("[Puhui] Financing demand {demand} is closed: you withdrew it."),
    DemandStatus.EXPIRED: N_(
        "[Puhui] Financing demand {demand} is closed: no bank took it up in time."
    ),
}
SUPERSEDED = N_("Another institution granted the loan.")
CHOSEN_OTHER = N_("The enterprise chose another institution.")
DEMAND_CANCELLED = N_("The enterprise cancelled the demand.")

for _key, (_subject, _body) in TEMPLATES.items():
    notifications.register_template(_key, subject=_subject, body=_body)
for _status, _body in STEP_TEMPLATES.items():
    notifications.register_template(
        f"matching.step.{_status.value}", subject=N_("Progress on your demand"), body=_body
    )
for _outcome, _body in CLOSED_TEMPLATES.items():
    notifications.register_template(
        f"matching.closed.{_outcome.value}", subject=N_("Demand closed"), body=_body
    )


def _tell(
    session: Session,
    template: str,
    params: dict[str, Any],
    *,
    user_id: int | None,
    mobile: str | None = None,
) -> None:
    if user_id is None and not mobile:
        return
    notifications.notify(session, template=template, params=params, user_id=user_id, mobile=mobile)


def _tell_enterprise(
    session: Session, demand: Demand, template: str, params: dict[str, Any]
) -> None:
    _tell(
        session,
        template,
        {"demand": demand.id, **params},
        user_id=demand.user_id,
        mobile=None if demand.user_id else demand.contact_mobile,
    )


def _tell_bank(session: Session, claim: Claim, template: str, params: dict[str, Any]) -> None:
    _tell(session, template, {"demand": claim.demand_id, **params}, user_id=claim.user_id)


def _local(value: datetime) -> str:
    return value.astimezone(machine.SHANGHAI).strftime("%Y-%m-%d %H:%M")


# --- helpers -----------------------------------------------------------------------------


def _now(now: datetime | None) -> datetime:
    return now or utcnow()


def _institution_actor(actor: Actor) -> int:
    if actor.role not in INSTITUTION_ROLES or actor.institution_id is None:
        raise PermissionDenied(action="demand.read")
    return actor.institution_id


def _names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    return accounts.institution_names(session, {i for i in ids if i is not None})


def _audit(
    session: Session, actor: Actor | None, action: str, kind: str, ref: object, **details: Any
) -> None:
    audit.record(
        session, actor=actor, action=action, target_type=kind, target_id=ref, details=details
    )


# --- products ----------------------------------------------------------------------------


def create_product(session: Session, *, actor: Actor, data: ProductCreate) -> Product:
    institution_id = _institution_actor(actor)
    institution = accounts.get_institution(session, actor=None, institution_id=institution_id)
    if institution.kind not in {k.value for k in LENDING_KINDS}:
        raise PermissionDenied(action="product.manage")
    product = Product(
        institution_id=institution_id,
        name=data.name,
        description=data.description,
        amount_min_fen=yuan_to_fen(data.amount_min),
        amount_max_fen=yuan_to_fen(data.amount_max),
        term_min_months=data.term_min_months,
        term_max_months=data.term_max_months,
        rate_min_bp=pct_to_bp(data.rate_min),
        rate_max_bp=pct_to_bp(data.rate_max),
        guarantee_types=[g.value for g in data.guarantee_types],
        entity_kinds=[k.value for k in data.entity_kinds],
        industries=data.industries,
        districts=data.districts,
        online_only=data.online_only,
        documents=data.documents,
        is_active=True,
        created_by=actor.user_id,
    )
    session.add(product)
    session.flush()
    _audit(session, actor, "product.create", "product", product.id, name=product.name)
    return product


def withdraw_product(session: Session, *, actor: Actor, product_id: int) -> Product:
    product = repository.product(session, product_id)
    if product is None or product.institution_id != actor.institution_id:
        raise ProductNotFound()
    product.is_active = False
    session.flush()
    _audit(session, actor, "product.withdraw", "product", product.id)
    return product


def get_product(session: Session, product_id: int) -> Product:
    product = repository.product(session, product_id)
    if product is None:
        raise ProductNotFound()
    return product


def list_products(
    session: Session,
    *,
    params: PageParams,
    institution_id: int | None = None,
    amount: Decimal | None = None,
    term_months: int | None = None,
    guarantee_type: str | None = None,
    entity_kind: str | None = None,
    district: str | None = None,
    include_withdrawn: bool = False,
) -> Page[ProductRead]:
    """Published products, newest first. The list filters (guarantee, kind, district)
    are applied in Python over JSON columns after the SQL range filters, one page at a
    time: an institution publishes tens of products, not millions."""
    stmt = repository.products_query(
        institution_id=institution_id,
        amount_fen=None if amount is None else yuan_to_fen(amount),
        term_months=term_months,
        guarantee_type=guarantee_type,
        entity_kind=entity_kind,
        district=district,
        active_only=not include_withdrawn,
    )
    rows = [
        p
        for p in session.scalars(stmt.limit(5000))
        if (not guarantee_type or guarantee_type in p.guarantee_types)
        and (not entity_kind or not p.entity_kinds or entity_kind in p.entity_kinds)
        and (not district or not p.districts or district in p.districts)
    ]
    start = params.offset
    chosen = rows[start : start + params.per_page]
    return Page(
        items=product_reads(session, chosen),
        total=len(rows),
        page=params.page,
        per_page=params.per_page,
    )


def product_reads(session: Session, products: Sequence[Product]) -> list[ProductRead]:
    names = _names(session, (p.institution_id for p in products))
    return [
        ProductRead(
            id=p.id,
            institution_id=p.institution_id,
            institution_name=names.get(p.institution_id, ""),
            name=p.name,
            description=p.description,
            amount_min=fen_to_yuan(p.amount_min_fen) or Decimal(0),
            amount_max=fen_to_yuan(p.amount_max_fen) or Decimal(0),
            term_min_months=p.term_min_months,
            term_max_months=p.term_max_months,
            rate_min=bp_to_pct(p.rate_min_bp) or Decimal(0),
            rate_max=bp_to_pct(p.rate_max_bp) or Decimal(0),
            guarantee_types=list(p.guarantee_types),
            entity_kinds=list(p.entity_kinds),
            industries=list(p.industries),
            districts=list(p.districts),
            online_only=p.online_only,
            documents=list(p.documents),
            is_active=p.is_active,
            created_at=p.created_at,
        )
        for p in products
    ]


# --- financing events --------------------------------------------------------------------


def event_state(ev: FinancingEvent, now: datetime | None = None) -> str:
    now = _now(now)
    if now < ev.starts_at:
        return "upcoming"
    return "live" if now < ev.ends_at else "ended"


def create_event(session: Session, *, actor: Actor, data: EventCreate) -> FinancingEvent:
    institutions = {i.id: i for i in accounts.lending_institutions(session)}
    unknown = [i for i in data.institution_ids if i not in institutions]
    if unknown:
        raise field_error(
            "institution_ids",
            N_("Only active lending institutions can take part (unknown: {ids})."),
            ids=",".join(map(str, unknown)),
        )
    for product_id in data.product_ids:
        product = repository.product(session, product_id)
        if product is None or not product.is_active:
            raise field_error("product_ids", N_("Unknown product {id}."), id=product_id)
        if product.institution_id not in data.institution_ids:
            raise field_error(
                "product_ids",
                N_("Product {id} belongs to an institution that does not take part."),
                id=product_id,
            )
    ev = FinancingEvent(
        name=data.name,
        description=data.description,
        starts_at=data.starts_at.astimezone(UTC),
        ends_at=data.ends_at.astimezone(UTC),
        product_ids=sorted(set(data.product_ids)),
        created_by=actor.user_id,
    )
    session.add(ev)
    session.flush()
    for institution_id in sorted(set(data.institution_ids)):
        session.add(EventInstitution(event_id=ev.id, institution_id=institution_id))
    session.flush()
    _audit(session, actor, "event.create", "financing_event", ev.id, name=ev.name)
    return ev


def get_event(session: Session, event_id: int) -> FinancingEvent:
    ev = repository.event(session, event_id)
    if ev is None:
        raise EventNotFound()
    return ev


def event_read(session: Session, ev: FinancingEvent, now: datetime | None = None) -> EventRead:
    ids = repository.event_institution_ids(session, ev.id)
    names = _names(session, ids)
    return EventRead(
        id=ev.id,
        name=ev.name,
        description=ev.description,
        starts_at=ev.starts_at,
        ends_at=ev.ends_at,
        state=event_state(ev, now),
        institutions=sorted(((i, names.get(i, "")) for i in ids), key=lambda t: t[1]),
        product_ids=list(ev.product_ids),
    )


def list_events(
    session: Session, *, params: PageParams, now: datetime | None = None
) -> Page[EventRead]:
    page = paginate(session, repository.events_query(), params)
    return Page(
        items=[event_read(session, ev, now) for ev in page.items],
        total=page.total,
        page=page.page,
        per_page=page.per_page,
    )


# --- loan codes --------------------------------------------------------------------------


def create_loan_code(session: Session, *, actor: Actor, data: LoanCodeCreate) -> LoanCode:
    """A customer manager makes codes for themself, their institution, a branch or one
    of its products; an institution admin for any of its managers too; an operator
    only for financing events."""
    code = LoanCode(
        code=secrets.token_urlsafe(8)[:10].replace("-", "x").replace("_", "y"),
        target=data.target.value,
        label=data.label.strip(),
        created_by=actor.user_id,
        is_active=True,
        scans=0,
    )
    if data.target is CodeTarget.EVENT:
        get_event(session, data.event_id or 0)
        code.event_id = data.event_id
        if actor.role is not Role.OPERATOR:
            if actor.institution_id not in repository.event_institution_ids(
                session, data.event_id or 0
            ):
                raise field_error("event_id", N_("Your institution does not take part in it."))
            code.institution_id = actor.institution_id
    else:
        if actor.role is Role.OPERATOR or actor.institution_id is None:
            raise field_error("target", N_("Operators make loan codes for events only."))
        code.institution_id = actor.institution_id
        if data.target is CodeTarget.BRANCH:
            code.branch = data.branch.strip()
        elif data.target is CodeTarget.MANAGER:
            code.manager_id = _manager_for(session, actor, data.manager_id)
        elif data.target is CodeTarget.PRODUCT:
            product = repository.product(session, data.product_id or 0)
            if product is None or product.institution_id != actor.institution_id:
                raise field_error("product_id", N_("Unknown product {id}."), id=data.product_id)
            code.product_id = product.id
    session.add(code)
    session.flush()
    _audit(session, actor, "loan_code.create", "loan_code", code.id, target=code.target)
    return code


def _manager_for(session: Session, actor: Actor, manager_id: int | None) -> int:
    if actor.role is Role.CUSTOMER_MANAGER:
        if manager_id not in (None, actor.user_id):
            raise field_error("manager_id", N_("A customer manager makes codes for themself."))
        return actor.user_id or 0
    if manager_id is None:
        raise field_error("manager_id", N_("Choose the customer manager."))
    user = accounts.get_user(session, actor=actor, user_id=manager_id)
    if user.role != Role.CUSTOMER_MANAGER.value:
        raise field_error("manager_id", N_("Choose a customer manager of your institution."))
    return user.id


def list_loan_codes(
    session: Session, *, actor: Actor, params: PageParams, base_url: str
) -> Page[LoanCodeRead]:
    if actor.role is Role.OPERATOR:
        stmt = repository.loan_codes_query(institution_id=None, manager_id=None)
    elif actor.role is Role.CUSTOMER_MANAGER:
        stmt = repository.loan_codes_query(
            institution_id=actor.institution_id, manager_id=actor.user_id
        )
    else:
        stmt = repository.loan_codes_query(institution_id=actor.institution_id, manager_id=None)
    page = paginate(session, stmt, params)
    return Page(
        items=loan_code_reads(session, page.items, base_url),
        total=page.total,
        page=page.page,
        per_page=page.per_page,
    )


def get_loan_code(session: Session, *, actor: Actor, code_id: int) -> LoanCode:
    code = repository.loan_code_by_id(session, code_id)
    if code is None or (
        actor.role is not Role.OPERATOR and code.institution_id != actor.institution_id
    ):
        raise LoanCodeNotFound()
    return code


def loan_code_url(base_url: str, code: LoanCode) -> str:
    return f"{base_url.rstrip('/')}/l/{code.code}"


def loan_code_image(code: LoanCode, base_url: str, fmt: str) -> bytes:
    url = loan_code_url(base_url, code)
    return qr.png(url) if fmt == "png" else qr.svg(url)


def loan_code_reads(
    session: Session, codes: Sequence[LoanCode], base_url: str
) -> list[LoanCodeRead]:
    names = _names(session, (c.institution_id for c in codes))
    counts = repository.demands_per_code(session, [c.id for c in codes])
    products = {
        c.product_id: repository.product(session, c.product_id) for c in codes if c.product_id
    }
    events = {c.event_id: repository.event(session, c.event_id) for c in codes if c.event_id}
    out = []
    for c in codes:
        product = products.get(c.product_id) if c.product_id else None
        ev = events.get(c.event_id) if c.event_id else None
        out.append(
            LoanCodeRead(
                id=c.id,
                code=c.code,
                target=c.target,
                label=c.label,
                institution_id=c.institution_id,
                institution_name=names.get(c.institution_id) if c.institution_id else None,
                branch=c.branch,
                manager_id=c.manager_id,
                product_id=c.product_id,
                product_name=product.name if product else None,
                event_id=c.event_id,
                event_name=ev.name if ev else None,
                scans=c.scans,
                demands=counts.get(c.id, 0),
                url=loan_code_url(base_url, c),
                is_active=c.is_active,
            )
        )
    return out


def resolve_loan_code(session: Session, raw: str) -> LoanCode:
    code = repository.loan_code(session, raw.strip())
    if code is None or not code.is_active:
        raise LoanCodeNotFound()
    return code


def scan_loan_code(session: Session, raw: str, base_url: str) -> LoanCodeRead:
    """Someone opened a loan code's page: count the scan and say what it is for."""
    code = resolve_loan_code(session, raw)
    repository.count_scan(session, code.id)
    session.refresh(code)
    return loan_code_reads(session, [code], base_url)[0]


# --- raising demands ---------------------------------------------------------------------


@dataclass
class _Route:
    """Where a new demand goes: which channel, product, event and institution."""

    channel: Channel
    product: Product | None = None
    event: FinancingEvent | None = None
    code: LoanCode | None = None
    target_institution_id: int | None = None
    referrer_id: int | None = None


def _route(
    session: Session,
    *,
    channel: Channel,
    product_id: int | None,
    event_id: int | None,
    loan_code: str | None,
    now: datetime,
) -> _Route:
    """Resolve the references of an application; unknown or closed ones are 422s."""
    route = _Route(channel=channel)
    if loan_code:
        code = repository.loan_code(session, loan_code.strip())
        if code is None or not code.is_active:
            raise field_error("loan_code", N_("Unknown loan code."))
        route.channel, route.code = Channel.LOAN_CODE, code
        product_id = product_id or code.product_id
        event_id = event_id or code.event_id
        if code.target != CodeTarget.EVENT.value:
            route.target_institution_id = code.institution_id
        route.referrer_id = code.manager_id
    if product_id is not None:
        product = repository.product(session, product_id)
        if product is None or not product.is_active:
            raise field_error("product_id", N_("Unknown product {id}."), id=product_id)
        if route.code is not None and route.code.institution_id not in (
            None,
            product.institution_id,
        ):
            raise field_error("product_id", N_("The product is not the loan code's institution's."))
        route.product = product
        route.target_institution_id = product.institution_id
        if route.channel is not Channel.LOAN_CODE:
            route.channel = Channel.PRODUCT
    if event_id is not None:
        ev = repository.event(session, event_id)
        if ev is None:
            raise field_error("event_id", N_("Unknown financing event {id}."), id=event_id)
        state = event_state(ev, now)
        if state != "live":
            raise field_error(
                "event_id",
                N_("The financing event {name} has ended.")
                if state == "ended"
                else N_("The financing event {name} has not started yet."),
                name=ev.name,
            )
        route.event = ev
        if route.product is not None and route.product.id not in ev.product_ids:
            raise field_error("product_id", N_("The product is not offered in this event."))
        if route.channel in (Channel.REGISTERED, Channel.SIMPLE, Channel.WECHAT):
            route.channel = Channel.EVENT
    return route


def check_product_fit(
    product: Product, entity: Any, amount_fen: int, term: int, guarantee: str
) -> None:
    if not product.amount_min_fen <= amount_fen <= product.amount_max_fen:
        raise field_error(
            "amount",
            N_("{product} lends between {low} and {high} yuan."),
            product=product.name,
            low=fen_to_yuan(product.amount_min_fen),
            high=fen_to_yuan(product.amount_max_fen),
        )
    if not product.term_min_months <= term <= product.term_max_months:
        raise field_error(
            "term_months",
            N_("{product} lends for {low} to {high} months."),
            product=product.name,
            low=product.term_min_months,
            high=product.term_max_months,
        )
    if guarantee not in product.guarantee_types:
        raise field_error(
            "guarantee_type", N_("{product} does not take this guarantee."), product=product.name
        )
    if (
        (product.entity_kinds and entity.kind not in product.entity_kinds)
        or (product.districts and entity.district not in product.districts)
        or (product.industries and entity.industry_section not in product.industries)
    ):
        raise field_error(
            "product_id", N_("{product} is not offered to this enterprise."), product=product.name
        )


def _entity(session: Session, uscc: str) -> Any:
    try:
        return entities.get_public(session, code=uscc)
    except EntityNotFound as exc:
        raise field_error("uscc", N_("This entity is not in the platform's registry yet.")) from exc


def _raise(
    session: Session,
    *,
    actor: Actor | None,
    entity: Any,
    user_id: int | None,
    route: _Route,
    amount_fen: int,
    term_months: int,
    purpose: str,
    guarantee_type: str,
    contact_name: str,
    contact_mobile: str,
    now: datetime,
    external_ref: str | None = None,
    settings: Settings | None = None,
) -> Demand:
    settings = settings or get_settings()
    if route.product is not None:
        check_product_fit(route.product, entity, amount_fen, term_months, guarantee_type)
    open_count = repository.open_demand_count(session, entity.id)
    if open_count >= MAX_OPEN_DEMANDS:
        raise ValidationFailed(
            N_("This enterprise already has {n} open demands; close one before raising another."),
            code="too_many_demands",
            details=[{"field": "amount", "message": "too many open demands"}],
            n=open_count,
        )
    demand = Demand(
        entity_id=entity.id,
        user_id=user_id,
        channel=route.channel.value,
        amount_fen=amount_fen,
        term_months=term_months,
        purpose=purpose,
        guarantee_type=guarantee_type,
        contact_name=contact_name,
        contact_mobile=contact_mobile,
        product_id=route.product.id if route.product else None,
        event_id=route.event.id if route.event else None,
        loan_code_id=route.code.id if route.code else None,
        target_institution_id=route.target_institution_id,
        referrer_id=route.referrer_id,
        external_ref=external_ref,
        entity_kind=entity.kind,
        district=entity.district,
        industry_section=entity.industry_section,
        health_grade=profile.health_grade(entity.id, settings=settings),
        status=DemandStatus.OPEN.value,
        active_claims=0,
        expires_at=now + timedelta(days=settings.matching_demand_days),
        created_at=now,
    )
    session.add(demand)
    session.flush()
    _audit(
        session,
        actor,
        "demand.create",
        "demand",
        demand.id,
        channel=demand.channel,
        uscc=entity.uscc,
        amount_fen=amount_fen,
        product_id=demand.product_id,
        event_id=demand.event_id,
        loan_code_id=demand.loan_code_id,
    )
    amount = fen_to_yuan(amount_fen)
    _tell_enterprise(session, demand, "matching.received", {"amount": amount})
    if route.referrer_id is not None:
        via = route.code.label or route.code.code if route.code else ""
        _tell(
            session,
            "matching.directed",
            {"demand": demand.id, "amount": amount, "via": via},
            user_id=route.referrer_id,
        )
    return demand


def create_demand(
    session: Session,
    *,
    actor: Actor,
    data: DemandCreate,
    now: datetime | None = None,
    direct_to: int | None = None,
    referrer_id: int | None = None,
) -> Demand:
    """A logged-in enterprise applies (registered, product, event or loan-code channel).
    ``direct_to`` sends the demand straight to one institution (an accepted invitation),
    whose ``referrer_id`` is told."""
    if actor.role is not Role.ENTERPRISE or not actor.entity_uscc:
        raise PermissionDenied(action="demand.create")
    now = _now(now)
    route = _route(
        session,
        channel=Channel.REGISTERED,
        product_id=data.product_id,
        event_id=data.event_id,
        loan_code=data.loan_code,
        now=now,
    )
    if direct_to is not None:
        if route.target_institution_id not in (None, direct_to):
            raise field_error("product_id", N_("The product is not the inviting institution's."))
        route.target_institution_id = direct_to
        route.referrer_id = route.referrer_id or referrer_id
    entity = _entity(session, actor.entity_uscc)
    mobile = data.contact_mobile or accounts.user_mobile(session, actor.user_id)
    if not mobile:
        raise field_error("contact_mobile", N_("Give a mobile number the bank can call."))
    return _raise(
        session,
        actor=actor,
        entity=entity,
        user_id=actor.user_id,
        route=route,
        amount_fen=yuan_to_fen(data.amount),
        term_months=data.term_months,
        purpose=data.purpose,
        guarantee_type=data.guarantee_type.value,
        contact_name=data.contact_name,
        contact_mobile=mobile,
        now=now,
    )


def request_simple_code(session: Session, *, mobile: str, ip: str | None) -> None:
    accounts.request_mobile_code(
        session, mobile=mobile, purpose=SIMPLE_PURPOSE, ip=ip, message=SIMPLE_SMS
    )


def check_simple(
    session: Session, data: SimpleDemand, now: datetime | None = None
) -> tuple[Any, _Route]:
    """Everything of a simple application that can be wrong besides the code, checked
    before the code is used up (a typo must not burn it)."""
    now = _now(now)
    channel = Channel.WECHAT if data.via_wechat else Channel.SIMPLE
    route = _route(
        session, channel=channel, product_id=None, event_id=None, loan_code=data.loan_code, now=now
    )
    entity = _entity(session, data.uscc)
    return entity, route


def create_simple_demand(
    session: Session,
    *,
    data: SimpleDemand,
    ip: str | None,
    now: datetime | None = None,
    checked: tuple[Any, _Route] | None = None,
) -> Demand:
    """No account needed: the one-time code proves the mobile; the demand is linked to
    the entity's account, or an account is created that the owner completes by
    registering with the same mobile. Raises ``InvalidCode`` after counting a wrong
    code: the caller must let that count commit."""
    now = _now(now)
    entity, route = checked or check_simple(session, data, now)
    accounts.consume_mobile_code(
        session, mobile=data.mobile, code=data.code, purpose=SIMPLE_PURPOSE
    )
    user_id, _created = accounts.enterprise_account_for(
        session, uscc=entity.uscc, mobile=data.mobile, ip=ip
    )
    return _raise(
        session,
        actor=None,
        entity=entity,
        user_id=user_id,
        route=route,
        amount_fen=yuan_to_fen(data.amount),
        term_months=data.term_months,
        purpose=data.purpose,
        guarantee_type=data.guarantee_type.value,
        contact_name=data.contact_name or mask_name(entity.legal_rep_name) or entity.name[:50],
        contact_mobile=data.mobile,
        now=now,
    )


def wechat_check(settings: Settings, signature: str, timestamp: str, nonce: str) -> None:
    token = settings.wechat_token
    if not token or not wechat.check_signature(token, signature, timestamp, nonce):
        raise WebhookRejected()
    try:
        sent = int(timestamp)
    except ValueError as exc:
        raise WebhookRejected() from exc
    if abs(datetime.now(UTC).timestamp() - sent) > 300:
        raise WebhookRejected()


WX_HELP = N_(
    "To ask for a loan, send: 贷款 <unified social credit code> <amount, e.g. 50万> "
    "[<term, e.g. 12个月>] <mobile> [purpose]"
)
WX_OK = N_(
    "Received: financing demand {demand} for {amount} yuan. Banks on the platform will "
    "contact {mobile}."
)


def wechat_message(
    session: Session, body: bytes, *, locale: str, now: datetime | None = None
) -> str:
    """Turn one inbound WeChat message into a demand; the reply is WeChat's XML. A message
    seen before (same MsgId) answers the first demand again and creates nothing."""
    now = _now(now)
    try:
        message = wechat.parse_message(body)
    except ValueError as exc:
        raise field_error("body", N_("Not a WeChat message: {problem}"), problem=str(exc)) from exc
    stamp = int(now.timestamp())

    def answer(text: str, **params: Any) -> str:
        return wechat.reply(message, gettext(locale, text, **params), stamp)

    if message.kind != "text" or not wechat.is_loan_text(message.content):
        return answer(WX_HELP)
    ref = f"wx:{message.msg_id or message.from_user + ':' + str(message.created)}"
    seen = repository.demand_by_ref(session, ref)
    if seen is not None:
        return answer(
            WX_OK,
            demand=seen.id,
            amount=fen_to_yuan(seen.amount_fen),
            mobile=mask_mobile(seen.contact_mobile),
        )
    try:
        loan = wechat.parse_loan_text(message.content)
    except wechat.BadLoanText as exc:
        return answer(exc.reason) + ""
    try:
        entity = _entity(session, loan.uscc)
        contacts = accounts.enterprise_contacts(session, entity.uscc)
        demand = _raise(
            session,
            actor=None,
            entity=entity,
            user_id=contacts[0][0] if contacts else None,
            route=_Route(channel=Channel.WECHAT),
            amount_fen=yuan_to_fen(loan.amount),
            term_months=loan.term_months,
            purpose=loan.purpose or gettext(locale, N_("Working capital")),
            guarantee_type=Guarantee.CREDIT.value,
            contact_name=entity.name[:50],
            contact_mobile=loan.mobile,
            now=now,
            external_ref=ref,
        )
    except ValidationFailed as exc:
        problem = (
            exc.details[0]["message"]
            if isinstance(exc.details, list) and exc.details
            else exc.message
        )
        return answer(problem, **exc.params)
    except MalformedUSCC as exc:
        return answer(exc.message, **exc.params)
    return answer(
        WX_OK,
        demand=demand.id,
        amount=fen_to_yuan(demand.amount_fen),
        mobile=mask_mobile(loan.mobile),
    )


# --- reading demands ---------------------------------------------------------------------


def _can_see_contact(actor: Actor, demand: Demand, claims: Sequence[Claim]) -> bool:
    if actor.role is Role.OPERATOR:
        return True
    if actor.role is Role.ENTERPRISE:
        return True  # only its own demands reach here
    mine = [c for c in claims if c.institution_id == actor.institution_id]
    return any(c.status not in {"released", "expired", "cancelled"} for c in mine)


def _visible_to_institution(
    session: Session, demand: Demand, institution_id: int, claims: Sequence[Claim]
) -> bool:
    if any(c.institution_id == institution_id for c in claims):
        return True
    if demand.status != DemandStatus.OPEN.value:
        return False
    if demand.target_institution_id is not None:
        return demand.target_institution_id == institution_id
    if demand.event_id is not None:
        return institution_id in repository.event_institution_ids(session, demand.event_id)
    return True


def _own_entity_id(session: Session, actor: Actor) -> int:
    if not actor.entity_uscc:
        return 0
    return entities.ids_for(session, [actor.entity_uscc]).get(actor.entity_uscc, 0)


def _scoped_demand(
    session: Session, actor: Actor, demand_id: int, *, lock: bool = False
) -> tuple[Demand, list[Claim]]:
    demand = repository.demand(session, demand_id, lock=lock)
    if demand is None:
        raise DemandNotFound()
    claims = repository.claims_of_demand(session, demand.id)
    if actor.role is Role.ENTERPRISE:
        if demand.entity_id != _own_entity_id(session, actor):
            raise DemandNotFound()
    elif actor.role in INSTITUTION_ROLES:
        if actor.institution_id is None or not _visible_to_institution(
            session, demand, actor.institution_id, claims
        ):
            raise DemandNotFound()
    elif actor.role not in {Role.OPERATOR, Role.REGULATOR}:
        raise DemandNotFound()
    return demand, claims


def _side(actor: Actor) -> str:
    return machine.ENTERPRISE if actor.role is Role.ENTERPRISE else machine.BANK


def demand_reads(
    session: Session,
    actor: Actor,
    demands: Sequence[Demand],
    *,
    with_detail: bool = False,
    claims: Sequence[Claim] | None = None,
) -> list[DemandRead]:
    all_claims = (
        list(claims)
        if claims is not None
        else repository.claims_of_demands(session, [d.id for d in demands])
    )
    by_demand: dict[int, list[Claim]] = {}
    for c in all_claims:
        by_demand.setdefault(c.demand_id, []).append(c)
    briefs = entities.briefs(session, [d.entity_id for d in demands])
    product_names = {
        d.product_id: p.name
        for d in demands
        if d.product_id and (p := repository.product(session, d.product_id)) is not None
    }
    event_names = {
        d.event_id: e.name
        for d in demands
        if d.event_id and (e := repository.event(session, d.event_id)) is not None
    }
    names = _names(
        session,
        [c.institution_id for c in all_claims] + [d.target_institution_id for d in demands],
    )
    managers = accounts.user_names(session, {c.user_id for c in all_claims if c.user_id})
    side = _side(actor)
    out = []
    for d in demands:
        mine = by_demand.get(d.id, [])
        see = _can_see_contact(actor, d, mine)
        uscc, name = briefs.get(d.entity_id, ("", ""))
        shown_claims = [
            c
            for c in mine
            if actor.role in {Role.ENTERPRISE, Role.OPERATOR, Role.REGULATOR}
            or c.institution_id == actor.institution_id
        ]
        read = DemandRead(
            id=d.id,
            uscc=uscc,
            entity_name=name,
            entity_kind=d.entity_kind,
            district=d.district,
            industry_section=d.industry_section,
            health_grade=d.health_grade,
            channel=d.channel,
            amount=fen_to_yuan(d.amount_fen) or Decimal(0),
            term_months=d.term_months,
            purpose=d.purpose,
            guarantee_type=d.guarantee_type,
            contact_name=d.contact_name if see else mask_name(d.contact_name),
            contact_mobile=d.contact_mobile if see else mask_mobile(d.contact_mobile),
            contact_masked=not see,
            product_id=d.product_id,
            product_name=product_names.get(d.product_id) if d.product_id else None,
            event_id=d.event_id,
            event_name=event_names.get(d.event_id) if d.event_id else None,
            target_institution_id=d.target_institution_id,
            target_institution_name=names.get(d.target_institution_id)
            if d.target_institution_id
            else None,
            status=d.status,
            active_claims=d.active_claims,
            slots_left=max(0, MAX_CLAIMS - d.active_claims) if d.status == "open" else 0,
            created_at=d.created_at,
            expires_at=d.expires_at,
            closed_at=d.closed_at,
            claims=[_claim_read(c, names, managers, side, actor) for c in shown_claims],
        )
        if with_detail:
            shown_ids = {c.id for c in shown_claims}
            read.timeline = [
                ClaimEventRead(
                    id=e.id,
                    claim_id=e.claim_id,
                    institution_name=names.get(
                        next((c.institution_id for c in mine if c.id == e.claim_id), 0), ""
                    ),
                    from_status=e.from_status,
                    to_status=e.to_status,
                    by_side=e.by_side,
                    at=e.at,
                    reason=e.reason,
                    amount=fen_to_yuan(e.amount_fen),
                    rate=bp_to_pct(e.rate_bp),
                )
                for e in repository.events_of_demand(session, d.id)
                if e.claim_id in shown_ids
            ]
        out.append(read)
    return out


def _claim_read(
    c: Claim, names: dict[int, str], managers: dict[int, str], side: str, actor: Actor
) -> ClaimRead:
    may_act = (side == machine.ENTERPRISE) or (
        c.institution_id == actor.institution_id and actor.role in STAFF_ROLES
    )
    return ClaimRead(
        id=c.id,
        demand_id=c.demand_id,
        institution_id=c.institution_id,
        institution_name=names.get(c.institution_id, ""),
        manager=managers.get(c.user_id) if c.user_id else None,
        status=c.status,
        active=c.status in machine.ACTIVE,
        claimed_at=c.created_at,
        contact_due_at=c.contact_due_at,
        outcome_due_at=c.outcome_due_at,
        contacted_at=c.contacted_at,
        ended_at=c.ended_at,
        overdue=c.overdue,
        amount=fen_to_yuan(c.amount_fen),
        rate=bp_to_pct(c.rate_bp),
        reason=c.reason,
        chosen=c.chosen,
        rating=c.rating,
        next_steps=machine.next_steps(c.status, side) if may_act else [],
    )


def claim_read(session: Session, *, actor: Actor, claim: Claim) -> ClaimRead:
    """One claim as its bank or the enterprise sees it (after a change to it)."""
    names = _names(session, [claim.institution_id])
    managers = accounts.user_names(session, {claim.user_id} if claim.user_id else set())
    return _claim_read(claim, names, managers, _side(actor), actor)


def get_demand(session: Session, *, actor: Actor, demand_id: int) -> DemandRead:
    demand, claims = _scoped_demand(session, actor, demand_id)
    return demand_reads(session, actor, [demand], with_detail=True, claims=claims)[0]


def list_demands(
    session: Session,
    *,
    actor: Actor,
    params: PageParams,
    status: str | None = None,
    mine_only: bool = False,
) -> Page[DemandRead]:
    """An enterprise's own demands; an institution's claimed demands (a customer
    manager's own with ``mine_only``); every demand for operators and the regulator."""
    if actor.role is Role.ENTERPRISE:
        stmt = repository.demands_of_entity(_own_entity_id(session, actor), status)
    elif actor.role in INSTITUTION_ROLES and actor.institution_id is not None:
        stmt = repository.demands_claimed_by(
            actor.institution_id,
            user_id=actor.user_id if mine_only else None,
            active_only=False,
            status=status,
        )
    elif actor.role in {Role.OPERATOR, Role.REGULATOR}:
        stmt = repository.all_demands(status)
    else:
        raise PermissionDenied(action="demand.read")
    page = paginate(session, stmt, params)
    return Page(
        items=demand_reads(session, actor, page.items),
        total=page.total,
        page=page.page,
        per_page=page.per_page,
    )


def pool(
    session: Session,
    *,
    actor: Actor,
    params: PageParams,
    filters: PoolFilter,
    now: datetime | None = None,
) -> Page[DemandRead]:
    """Open demands the caller's institution may claim, newest first, contacts masked."""
    institution_id = _institution_actor(actor)
    stmt = repository.pool_query(
        institution_id=institution_id,
        event_ids=repository.events_of(session, institution_id),
        now=_now(now),
        f=filters,
    )
    page = paginate(session, stmt, params)
    return Page(
        items=demand_reads(session, actor, page.items, claims=[]),
        total=page.total,
        page=page.page,
        per_page=page.per_page,
    )


# --- claims ------------------------------------------------------------------------------


def claim_demand(
    session: Session, *, actor: Actor, demand_id: int, now: datetime | None = None
) -> Claim:
    """A customer manager takes up a demand for their institution: 409 when three
    institutions already hold it, when the institution has claimed it before or when it
    is closed."""
    now = _now(now)
    settings = get_settings()
    if actor.role is not Role.CUSTOMER_MANAGER or actor.institution_id is None:
        raise PermissionDenied(action="demand.claim")
    if actor.institution_kind not in LENDING_KINDS:
        raise PermissionDenied(action="demand.claim")
    demand, claims = _scoped_demand(session, actor, demand_id)
    if any(c.institution_id == actor.institution_id for c in claims):
        raise AlreadyClaimed()
    if not repository.take_slot(session, demand.id, now):
        session.refresh(demand)
        if demand.status != DemandStatus.OPEN.value or demand.expires_at <= now:
            raise DemandClosed(state=demand.status)
        raise ClaimsFull()
    session.expire(demand, ["active_claims"])  # the UPDATE changed it behind the ORM
    contact_due = machine.add_working_days(
        now, settings.matching_contact_working_days, settings.matching_holidays
    )
    outcome_due = now + timedelta(days=settings.matching_outcome_days)
    claim = Claim(
        demand_id=demand.id,
        institution_id=actor.institution_id,
        user_id=actor.user_id,
        status=ClaimStatus.CLAIMED.value,
        contact_due_at=contact_due,
        outcome_due_at=outcome_due,
        created_at=now,
        overdue=False,
        chosen=False,
        reason="",
    )
    session.add(claim)
    try:
        session.flush()
    except IntegrityError as exc:  # the same institution racing itself; the caller rolls back
        raise AlreadyClaimed() from exc
    claim.consent_id = consent.grant_with_demand(
        session,
        actor=actor,
        entity_id=demand.entity_id,
        institution_id=actor.institution_id,
        expires_at=outcome_due + timedelta(days=CONSENT_EXTRA_DAYS),
        note=f"financing demand {demand.id}",
    )
    _record_step(session, claim, None, ClaimStatus.CLAIMED, machine.BANK, actor.user_id, now, "")
    _audit(session, actor, "demand.claim", "demand", demand.id, claim_id=claim.id)
    institution = _names(session, [actor.institution_id]).get(actor.institution_id, "")
    _tell_enterprise(
        session,
        demand,
        "matching.claimed",
        {"institution": institution, "due": _local(contact_due)},
    )
    _tell_bank(session, claim, "matching.claimed_bank", {"due": _local(contact_due)})
    return claim


def _record_step(
    session: Session,
    claim: Claim,
    before: str | None,
    after: ClaimStatus,
    side: str,
    user_id: int | None,
    now: datetime,
    reason: str,
) -> None:
    session.add(
        ClaimEvent(
            claim_id=claim.id,
            demand_id=claim.demand_id,
            from_status=before,
            to_status=after.value,
            by_side=side,
            user_id=user_id,
            at=now,
            reason=reason,
            amount_fen=claim.amount_fen if after in machine.NEEDS_TERMS else None,
            rate_bp=claim.rate_bp if after in machine.NEEDS_TERMS else None,
        )
    )
    session.flush()


def _scoped_claim(
    session: Session, actor: Actor, demand_id: int, claim_id: int
) -> tuple[Demand, Claim]:
    demand, claims = _scoped_demand(session, actor, demand_id, lock=True)
    session.refresh(demand)
    claim = next((c for c in claims if c.id == claim_id), None)
    if claim is None:
        raise ClaimNotFound()
    if actor.role is not Role.ENTERPRISE and claim.institution_id != actor.institution_id:
        raise ClaimNotFound()
    session.refresh(claim)
    return demand, claim


def step(
    session: Session,
    *,
    actor: Actor,
    demand_id: int,
    claim_id: int,
    data: ClaimStep,
    now: datetime | None = None,
) -> Claim:
    """Move a claim one step (``POST …/claims/{id}/events``)."""
    now = _now(now)
    if actor.role not in {Role.ENTERPRISE, *STAFF_ROLES}:
        raise PermissionDenied(action="demand.progress")
    demand, claim = _scoped_claim(session, actor, demand_id, claim_id)
    side = _side(actor)
    if not machine.allowed(claim.status, data.to, side):
        raise ClaimStepInvalid(state=claim.status, to=data.to.value)
    if data.to in machine.NEEDS_REASON and len(data.reason) < 2:
        raise StepNeedsValue(
            details=[
                {"field": "reason", "message": N_("Give the reason (at least 2 characters).")}
            ],
            to=data.to.value,
            field="reason",
        )
    if data.to in machine.NEEDS_TERMS:
        amount = data.amount if data.amount is not None else fen_to_yuan(claim.amount_fen)
        rate = data.rate if data.rate is not None else bp_to_pct(claim.rate_bp)
        for field, value in (("amount", amount), ("rate", rate)):
            if value is None:
                raise StepNeedsValue(
                    details=[{"field": field, "message": N_("Give the {field}.")}],
                    to=data.to.value,
                    field=field,
                )
        claim.amount_fen = yuan_to_fen(amount or Decimal(0))
        claim.rate_bp = pct_to_bp(rate or Decimal(0))
    _advance(session, actor, demand, claim, data.to, side, now, data.reason)
    return claim


def _advance(
    session: Session,
    actor: Actor | None,
    demand: Demand,
    claim: Claim,
    to: ClaimStatus,
    side: str,
    now: datetime,
    reason: str,
) -> None:
    before = claim.status
    claim.status = to.value
    if to is ClaimStatus.CONTACTED:
        claim.contacted_at = now
    if (
        to in {ClaimStatus.APPROVED, ClaimStatus.DECLINED, ClaimStatus.GRANTED}
        and claim.outcome_at is None
    ):
        claim.outcome_at = now
    if to in machine.NEEDS_REASON or to is ClaimStatus.EXPIRED:
        claim.reason = reason
    if to is ClaimStatus.EXPIRED:
        claim.overdue = True
    _record_step(session, claim, before, to, side, actor.user_id if actor else None, now, reason)
    _audit(
        session,
        actor,
        f"claim.{to.value}",
        "claim",
        claim.id,
        demand_id=demand.id,
        before=before,
        reason=reason,
        amount_fen=claim.amount_fen if to in machine.NEEDS_TERMS else None,
        rate_bp=claim.rate_bp if to in machine.NEEDS_TERMS else None,
    )
    institution = _names(session, [claim.institution_id]).get(claim.institution_id, "")
    params = {
        "institution": institution,
        "reason": gettext(get_settings().default_locale, reason) if reason else "",
        "amount": fen_to_yuan(claim.amount_fen),
        "rate": bp_to_pct(claim.rate_bp),
    }
    template = f"matching.step.{to.value}"
    _tell_enterprise(session, demand, template, params)
    _tell_bank(session, claim, template, params)
    if to in machine.FINAL:
        _end_claim(session, actor, demand, claim, now)


def _end_claim(
    session: Session, actor: Actor | None, demand: Demand, claim: Claim, now: datetime
) -> None:
    """A claim reached a final state: free its slot, end its authorization unless a loan
    was granted, and settle the demand."""
    claim.ended_at = now
    demand.active_claims = max(0, demand.active_claims - 1)
    if claim.status != ClaimStatus.GRANTED.value and claim.consent_id is not None:
        consent.end_demand_grant(session, actor=actor, consent_id=claim.consent_id)
    session.flush()
    if claim.status == ClaimStatus.GRANTED.value:
        _close(session, demand, DemandStatus.GRANTED, now)
        jobs.publish(
            session,
            LOAN_GRANTED,
            {
                "claim_id": claim.id,
                "institution_id": claim.institution_id,
                "entity_id": demand.entity_id,
                "user_id": claim.user_id,
            },
            dedupe_key=f"claim:{claim.id}",
        )
        for other in repository.claims_of_demand(session, demand.id):
            if other.id != claim.id and other.status in machine.ACTIVE:
                _advance(
                    session,
                    None,
                    demand,
                    other,
                    ClaimStatus.CANCELLED,
                    machine.PLATFORM,
                    now,
                    SUPERSEDED,
                )
        return
    if demand.status != DemandStatus.OPEN.value or demand.active_claims > 0:
        return
    claims = repository.claims_of_demand(session, demand.id)
    if sum(c.status == ClaimStatus.DECLINED.value for c in claims) >= MAX_CLAIMS:
        _close(session, demand, DemandStatus.DECLINED, now)
    elif demand.expires_at > now:
        demand.returned_at = now
        session.flush()
        _tell_enterprise(session, demand, "matching.back_in_pool", {})


def _close(session: Session, demand: Demand, status: DemandStatus, now: datetime) -> None:
    if demand.status != DemandStatus.OPEN.value:
        return
    demand.status = status.value
    demand.closed_at = now
    session.flush()
    _audit(session, None, f"demand.{status.value}", "demand", demand.id)
    _tell_enterprise(session, demand, f"matching.closed.{status.value}", {})


def choose(
    session: Session, *, actor: Actor, demand_id: int, claim_id: int, now: datetime | None = None
) -> Claim:
    """The enterprise chooses one of the institutions working on its demand; the others'
    claims are cancelled."""
    now = _now(now)
    if actor.role is not Role.ENTERPRISE:
        raise PermissionDenied(action="demand.progress")
    demand, claim = _scoped_claim(session, actor, demand_id, claim_id)
    if claim.status not in machine.ACTIVE:
        raise ClaimStepInvalid(state=claim.status, to="chosen")
    claim.chosen = True
    _audit(session, actor, "claim.choose", "claim", claim.id, demand_id=demand.id)
    for other in repository.claims_of_demand(session, demand.id):
        if other.id != claim.id and other.status in machine.ACTIVE:
            _advance(
                session,
                actor,
                demand,
                other,
                ClaimStatus.CANCELLED,
                machine.ENTERPRISE,
                now,
                CHOSEN_OTHER,
            )
    session.flush()
    return claim


def rate(session: Session, *, actor: Actor, demand_id: int, claim_id: int, data: Rating) -> Claim:
    """The enterprise rates an institution's service on its demand (once it was contacted)."""
    if actor.role is not Role.ENTERPRISE:
        raise PermissionDenied(action="demand.progress")
    demand, claim = _scoped_claim(session, actor, demand_id, claim_id)
    if claim.contacted_at is None and claim.status in machine.ACTIVE:
        raise ClaimStepInvalid(state=claim.status, to="rated")
    claim.rating = data.rating
    claim.rating_comment = data.comment
    session.flush()
    _audit(session, actor, "claim.rate", "claim", claim.id, demand_id=demand.id, rating=data.rating)
    return claim


def cancel_demand(
    session: Session, *, actor: Actor, demand_id: int, reason: str, now: datetime | None = None
) -> Demand:
    """The enterprise withdraws its demand; every active claim is cancelled."""
    now = _now(now)
    if actor.role is not Role.ENTERPRISE:
        raise PermissionDenied(action="demand.progress")
    demand, claims = _scoped_demand(session, actor, demand_id, lock=True)
    session.refresh(demand)
    if demand.status != DemandStatus.OPEN.value:
        raise DemandClosed(state=demand.status)
    _close(session, demand, DemandStatus.CANCELLED, now)
    for claim in claims:
        session.refresh(claim)
        if claim.status in machine.ACTIVE:
            _advance(
                session,
                actor,
                demand,
                claim,
                ClaimStatus.CANCELLED,
                machine.ENTERPRISE,
                now,
                reason or DEMAND_CANCELLED,
            )
    _audit(session, actor, "demand.cancel", "demand", demand.id, reason=reason)
    return demand


# --- deadlines ---------------------------------------------------------------------------


@dataclass
class SweepResult:
    reminded: int = 0
    expired_claims: int = 0
    expired_demands: int = 0


def sweep(
    session: Session, *, now: datetime | None = None, settings: Settings | None = None
) -> SweepResult:
    """Remind both sides before a deadline, expire overdue claims (back to the pool,
    counted against the bank) and close demands nobody took up in time. Idempotent: a
    second run at the same instant changes nothing."""
    now = _now(now)
    settings = settings or get_settings()
    result = SweepResult()
    horizon = now + timedelta(hours=settings.matching_remind_hours)
    for kind in ("contact", "outcome"):
        for claim in repository.due_for_reminder(session, now=now, horizon=horizon, kind=kind):
            demand = repository.demand(session, claim.demand_id)
            if demand is None:
                continue
            due = claim.contact_due_at if kind == "contact" else claim.outcome_due_at
            params = {
                "institution": _names(session, [claim.institution_id]).get(
                    claim.institution_id, ""
                ),
                "due": _local(due),
            }
            _tell_enterprise(session, demand, f"matching.remind_{kind}", params)
            _tell_bank(session, claim, f"matching.remind_{kind}", params)
            if kind == "contact":
                claim.contact_reminded_at = now
            else:
                claim.outcome_reminded_at = now
            result.reminded += 1
    session.flush()
    for claim in repository.overdue_claims(session, now):
        demand = repository.demand(session, claim.demand_id, lock=True)
        if demand is None:
            continue
        session.refresh(demand)
        session.refresh(claim)
        if claim.status not in machine.AWAITING_OUTCOME:
            continue
        missed = (
            N_("No contact by the deadline.")
            if claim.status == "claimed" and claim.contact_due_at <= now
            else N_("No outcome by the deadline.")
        )
        _advance(session, None, demand, claim, ClaimStatus.EXPIRED, machine.PLATFORM, now, missed)
        result.expired_claims += 1
    for demand in repository.expired_demands(session, now):
        _close(session, demand, DemandStatus.EXPIRED, now)
        result.expired_demands += 1
    return result


def refresh_grades(session: Session, *, settings: Settings | None = None) -> int:
    """Copy the current business-health grade onto every open demand whose grade changed
    (after each snapshot change), so the pool shows and filters on today's grade. Returns
    how many demands changed."""
    rows = repository.open_demand_grades(session)
    grades = profile.health_grades([e for _, e, _ in rows], settings=settings)
    changes = [(d, g) for (d, _, old), g in zip(rows, grades, strict=True) if g != old]
    repository.set_grades(session, changes)
    return len(changes)


# --- callbacks and the league table ------------------------------------------------------


def sample_callbacks(
    session: Session, *, actor: Actor, data: CallbackSample, now: datetime | None = None
) -> SampleResult:
    """Queue calls: a random share of the demands raised since ``since`` (7 days by
    default) and every stalled one (no bank on it for ``stalled_hours``, or a claim
    that missed a deadline). A demand is called about at most once."""
    now = _now(now)
    since = data.since or now - timedelta(days=7)
    stalled = repository.stalled_ids(session, now, now - timedelta(hours=data.stalled_hours))
    for demand_id in stalled:
        session.add(
            Callback(demand_id=demand_id, reason="stalled", status="queued", created_at=now)
        )
    session.flush()
    candidates = repository.sample_candidates(session, since)
    k = math.ceil(len(candidates) * data.share) if candidates else 0
    chosen = random.Random(data.seed).sample(candidates, k)  # noqa: S311 - sampling, not secrets
    for demand_id in sorted(chosen):
        session.add(
            Callback(demand_id=demand_id, reason="sampled", status="queued", created_at=now)
        )
    session.flush()
    _audit(session, actor, "callback.sample", "callback", None, sampled=k, stalled=len(stalled))
    return SampleResult(sampled=k, stalled=len(stalled))


def list_callbacks(
    session: Session, *, status: str | None, params: PageParams
) -> Page[CallbackRead]:
    page = paginate(session, repository.callbacks_query(status), params)
    demands = {d.id: d for d in (repository.demand(session, c.demand_id) for c in page.items) if d}
    briefs = entities.briefs(session, [d.entity_id for d in demands.values()])
    items = []
    for c in page.items:
        d = demands.get(c.demand_id)
        uscc, name = briefs.get(d.entity_id, ("", "")) if d else ("", "")
        items.append(
            CallbackRead(
                id=c.id,
                demand_id=c.demand_id,
                uscc=uscc,
                entity_name=name,
                contact_mobile=d.contact_mobile if d else "",
                reason=c.reason,
                status=c.status,
                called_at=c.called_at,
                reached=c.reached,
                contacted_by_bank=c.contacted_by_bank,
                satisfaction=c.satisfaction,
                complaint=c.complaint,
                note=c.note,
                created_at=c.created_at,
            )
        )
    return Page(items=items, total=page.total, page=page.page, per_page=page.per_page)


def record_callback(
    session: Session,
    *,
    actor: Actor,
    callback_id: int,
    data: CallbackResult,
    now: datetime | None = None,
) -> Callback:
    callback = repository.callback(session, callback_id)
    if callback is None:
        raise CallbackNotFound()
    callback.status = "done"
    callback.operator_id = actor.user_id
    callback.called_at = _now(now)
    callback.reached = data.reached
    callback.contacted_by_bank = data.contacted_by_bank if data.reached else None
    callback.satisfaction = data.satisfaction if data.reached else None
    callback.complaint = data.complaint
    callback.note = data.note
    session.flush()
    _audit(
        session,
        actor,
        "callback.record",
        "callback",
        callback.id,
        demand_id=callback.demand_id,
        reached=data.reached,
        satisfaction=callback.satisfaction,
        complaint=bool(data.complaint),
    )
    return callback


def stalled(
    session: Session,
    *,
    actor: Actor,
    params: PageParams,
    hours: int = 24,
    now: datetime | None = None,
) -> Page[DemandRead]:
    now = _now(now)
    page = paginate(session, repository.stalled_query(now, now - timedelta(hours=hours)), params)
    return Page(
        items=demand_reads(session, actor, page.items),
        total=page.total,
        page=page.page,
        per_page=page.per_page,
    )


@dataclass
class _Tally:
    claims: int = 0
    active: int = 0
    in_sla: int = 0
    contact_known: int = 0
    granted: int = 0
    overdue: int = 0
    rating_sum: int = 0
    ratings: int = 0
    complaints: int = 0
    middle: list[float] | None = None

    def add(self, other: _Tally) -> None:
        for name in (
            "claims",
            "active",
            "in_sla",
            "contact_known",
            "granted",
            "overdue",
            "rating_sum",
            "ratings",
            "complaints",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def figures(self) -> dict[str, Any]:
        """The league's definitions, the one place they are computed."""
        ended = self.claims - self.active
        return {
            "claims": self.claims,
            "active": self.active,
            "median_contact_hours": round(sum(self.middle) / len(self.middle), 1)
            if self.middle
            else None,
            "within_sla": round(self.in_sla / self.contact_known, 3)
            if self.contact_known
            else None,
            "granted": self.granted,
            "grant_rate": round(self.granted / ended, 3) if ended else None,
            "overdue": self.overdue,
            "satisfaction": round(self.rating_sum / self.ratings, 2) if self.ratings else None,
            "ratings": self.ratings,
            "complaints": self.complaints,
        }


def league_report(
    session: Session, *, since: datetime | None = None, now: datetime | None = None
) -> LeagueReport:
    """How each institution serves the demands it claims, over the whole period and
    month by month (the month the claim was made, Asia/Shanghai): median hours from claim
    to contact, the share contacted within the deadline (of the claims whose contact is
    known), grants and the grant rate (of ended claims), missed deadlines, satisfaction
    (the enterprises' ratings and the operators' callbacks together) and complaints.
    Everything is aggregated in the database (docs/quality.md has the SQL)."""
    now = _now(now)
    months: dict[tuple[int | None, str], _Tally] = {}
    for (
        inst,
        month,
        claims,
        active,
        in_sla,
        known,
        granted,
        overdue,
        r_sum,
        r_n,
    ) in repository.league_months(session, since=since, now=now, active=sorted(machine.ACTIVE)):
        months[(int(inst), str(month))] = _Tally(
            claims=int(claims),
            active=int(active or 0),
            in_sla=int(in_sla or 0),
            contact_known=int(known or 0),
            granted=int(granted or 0),
            overdue=int(overdue or 0),
            rating_sum=int(r_sum or 0),
            ratings=int(r_n or 0),
        )
    for inst, month, s_sum, s_n, complaints in repository.league_callbacks(session, since=since):
        t = months.setdefault((int(inst), str(month)), _Tally())
        t.rating_sum += int(s_sum or 0)
        t.ratings += int(s_n or 0)
        t.complaints += int(complaints or 0)
    return _league(session, months, repository.league_medians(session, since=since))


def league_from(
    session: Session,
    months: dict[tuple[int, str], dict[str, int]],
    medians: Iterable[tuple[str, int | None, str | None, float]],
) -> LeagueReport:
    """The league from precomputed counts per (institution, month) (the fields of
    :class:`_Tally`) and medians ``(scope, institution, month, hours)`` — scope ``i``, ``m``
    or ``p`` as in :func:`repository.league_medians`, hours the median itself — with the
    same definitions, ranking and rounding as :func:`league_report`."""
    tallies: dict[tuple[int | None, str], _Tally] = {
        key: _Tally(**counts)  # type: ignore[arg-type]  # the int fields only
        for key, counts in months.items()
    }
    return _league(session, tallies, medians)


def _league(
    session: Session,
    months: dict[tuple[int | None, str], _Tally],
    medians: Iterable[tuple[Any, ...]],
) -> LeagueReport:
    totals: dict[int, _Tally] = {}
    platform: dict[str, _Tally] = {}
    for (inst, month), t in months.items():
        assert inst is not None
        totals.setdefault(inst, _Tally()).add(t)
        platform.setdefault(month, _Tally()).add(t)
    for scope, inst, month, hours in medians:
        target: _Tally | None
        if scope == "i":
            target = totals.get(inst)
        elif scope == "m":
            target = months.get((inst, month))
        else:
            target = platform.get(month)
        if target is not None:
            target.middle = [*(target.middle or []), hours]
    names = _names(session, totals)
    rows = [
        LeagueRow(institution_id=inst, institution_name=names.get(inst, ""), **t.figures())
        for inst, t in totals.items()
    ]
    rows.sort(
        key=lambda row: (
            -(row.within_sla or 0),
            row.median_contact_hours or 1e9,
            row.institution_name,
        )
    )
    trend = [
        LeagueMonth(institution_id=inst, month=month, **t.figures())
        for (inst, month), t in sorted(months.items(), key=lambda kv: (kv[0][1], kv[0][0] or 0))
    ]
    trend += [
        LeagueMonth(institution_id=None, month=month, **t.figures())
        for month, t in sorted(platform.items())
    ]
    return LeagueReport(rows=rows, months=trend)


def league(session: Session, *, since: datetime | None = None) -> list[LeagueRow]:
    """The league table, best first (see :func:`league_report`)."""
    return league_report(session, since=since).rows


def contact_hours(session: Session) -> list[tuple[int, str, float]]:
    """``(institution, "YYYY-MM", hours from claim to first contact)`` of every contacted
    claim, the values the league's medians are taken of."""
    return [(int(i), str(m), float(h)) for i, m, h in repository.contact_hours(session)]


def league_counts(
    session: Session, *, now: datetime | None = None
) -> dict[tuple[int, str], dict[str, int]]:
    """The league's counts per (institution, month of the claim) over all claims, as of
    ``now`` (the fields of the league's tallies), for rollups read by :func:`league_from`."""
    now = _now(now)
    out: dict[tuple[int, str], dict[str, int]] = {}
    keys = ("claims", "active", "in_sla", "contact_known", "granted", "overdue")
    for inst, month, *rest in repository.league_months(
        session, since=None, now=now, active=sorted(machine.ACTIVE)
    ):
        counts = {k: int(v or 0) for k, v in zip(keys, rest[:6], strict=True)}
        counts.update(rating_sum=int(rest[6] or 0), ratings=int(rest[7] or 0), complaints=0)
        out[(int(inst), str(month))] = counts
    for inst, month, s_sum, s_n, complaints in repository.league_callbacks(session, since=None):
        c = out.setdefault(
            (int(inst), str(month)),
            dict.fromkeys((*keys, "rating_sum", "ratings", "complaints"), 0),
        )
        c["rating_sum"] += int(s_sum or 0)
        c["ratings"] += int(s_n or 0)
        c["complaints"] += int(complaints or 0)
    return out


def first_loans(session: Session) -> list[tuple[str, str | None, str, int]]:
    """Entities that got a loan through the platform (a demand of theirs was granted),
    by district and industry section (as copied onto the demand) and the month
    (Asia/Shanghai) of their first grant: ``(district, section, "YYYY-MM", entities)``."""
    return [(str(d), s, str(m), int(n)) for d, s, m, n in repository.first_loans(session) if m]
