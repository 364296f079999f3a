"""Queries of matching. The one write that must hold under concurrency lives here:
:func:`take_slot`, a conditional ``UPDATE`` that either takes one of a demand's three
claim slots or changes nothing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Select,
    and_,
    case,
    exists,
    extract,
    false,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

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
from puhui.matching.schemas import MAX_CLAIMS


@dataclass(frozen=True)
class PoolFilter:
    amount_min_fen: int | None = None
    amount_max_fen: int | None = None
    term_max_months: int | None = None
    guarantee_type: str | None = None
    district: str | None = None
    industry_section: str | None = None
    entity_kind: str | None = None
    grades: tuple[str, ...] = ()
    channel: str | None = None


# --- products, events, codes -------------------------------------------------------------


def product(session: Session, product_id: int) -> Product | None:
    return session.get(Product, product_id)


def products_query(
    *,
    institution_id: int | None,
    amount_fen: int | None,
    term_months: int | None,
    guarantee_type: str | None,
    entity_kind: str | None,
    district: str | None,
    active_only: bool,
) -> Select[Any]:
    stmt = select(Product)
    if active_only:
        stmt = stmt.where(Product.is_active.is_(True))
    if institution_id is not None:
        stmt = stmt.where(Product.institution_id == institution_id)
    if amount_fen is not None:
        stmt = stmt.where(
            Product.amount_min_fen <= amount_fen, Product.amount_max_fen >= amount_fen
        )
    if term_months is not None:
        stmt = stmt.where(
            Product.term_min_months <= term_months, Product.term_max_months >= term_months
        )
    return stmt.order_by(Product.created_at.desc(), Product.id.desc())


def event(session: Session, event_id: int) -> FinancingEvent | None:
    return session.get(FinancingEvent, event_id)


def event_institution_ids(session: Session, event_id: int) -> list[int]:
    return list(
        session.scalars(
            select(EventInstitution.institution_id).where(EventInstitution.event_id == event_id)
        )
    )


def events_of(session: Session, institution_id: int) -> list[int]:
    return list(
        session.scalars(
            select(EventInstitution.event_id).where(
                EventInstitution.institution_id == institution_id
            )
        )
    )


def events_query() -> Select[Any]:
    return select(FinancingEvent).order_by(FinancingEvent.starts_at.desc(), FinancingEvent.id)


def loan_code(session: Session, code: str) -> LoanCode | None:
    return session.scalars(select(LoanCode).where(LoanCode.code == code)).one_or_none()


def loan_code_by_id(session: Session, code_id: int) -> LoanCode | None:
    return session.get(LoanCode, code_id)


def loan_codes_query(*, institution_id: int | None, manager_id: int | None) -> Select[Any]:
    stmt = select(LoanCode)
    if institution_id is not None:
        stmt = stmt.where(LoanCode.institution_id == institution_id)
    if manager_id is not None:
        stmt = stmt.where(or_(LoanCode.manager_id == manager_id, LoanCode.created_by == manager_id))
    return stmt.order_by(LoanCode.id.desc())


def demands_per_code(session: Session, code_ids: Sequence[int]) -> dict[int, int]:
    if not code_ids:
        return {}
    rows = session.execute(
        select(Demand.loan_code_id, func.count())
        .where(Demand.loan_code_id.in_(code_ids))
        .group_by(Demand.loan_code_id)
    )
    return {int(k): int(n) for k, n in rows if k is not None}


def count_scan(session: Session, code_id: int) -> None:
    session.execute(update(LoanCode).where(LoanCode.id == code_id).values(scans=LoanCode.scans + 1))


# --- demands and claims ------------------------------------------------------------------


def demand(session: Session, demand_id: int, *, lock: bool = False) -> Demand | None:
    return session.get(Demand, demand_id, with_for_update=lock or None)


def open_demand_count(session: Session, entity_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Demand)
            .where(Demand.entity_id == entity_id, Demand.status == "open")
        )
        or 0
    )


def open_demand_grades(session: Session) -> list[tuple[int, int, str | None]]:
    """(demand id, entity id, grade) of every open demand."""
    rows = session.execute(
        select(Demand.id, Demand.entity_id, Demand.health_grade).where(Demand.status == "open")
    )
    return [(int(d), int(e), g) for d, e, g in rows]


def set_grades(session: Session, changes: Sequence[tuple[int, str | None]]) -> None:
    for start in range(0, len(changes), 1000):
        for demand_id, grade in changes[start : start + 1000]:
            session.execute(
                update(Demand)
                .where(Demand.id == demand_id)
                .values(health_grade=grade)
                .execution_options(synchronize_session=False)
            )


def demand_by_ref(session: Session, ref: str) -> Demand | None:
    return session.scalars(select(Demand).where(Demand.external_ref == ref)).one_or_none()


def take_slot(session: Session, demand_id: int, now: datetime) -> bool:
    """Take one claim slot of an open demand, or change nothing. On PostgreSQL the row
    lock makes concurrent claimers wait and re-check ``active_claims``; SQLite runs one
    writer at a time (``BEGIN IMMEDIATE``). Either way no more than three succeed."""
    result = session.execute(
        update(Demand)
        .where(
            Demand.id == demand_id,
            Demand.status == "open",
            Demand.active_claims < MAX_CLAIMS,
            Demand.expires_at > now,
        )
        .values(active_claims=Demand.active_claims + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def free_slot(session: Session, demand_id: int) -> None:
    session.execute(
        update(Demand)
        .where(Demand.id == demand_id, Demand.active_claims > 0)
        .values(active_claims=Demand.active_claims - 1)
        .execution_options(synchronize_session=False)
    )


def claim_of(session: Session, demand_id: int, institution_id: int) -> Claim | None:
    return session.scalars(
        select(Claim).where(Claim.demand_id == demand_id, Claim.institution_id == institution_id)
    ).one_or_none()


def claim(session: Session, claim_id: int, *, lock: bool = False) -> Claim | None:
    return session.get(Claim, claim_id, with_for_update=lock or None)


def claims_of_demand(session: Session, demand_id: int) -> list[Claim]:
    return list(
        session.scalars(select(Claim).where(Claim.demand_id == demand_id).order_by(Claim.id))
    )


def claims_of_demands(session: Session, demand_ids: Iterable[int]) -> list[Claim]:
    ids = sorted(set(demand_ids))
    if not ids:
        return []
    return list(session.scalars(select(Claim).where(Claim.demand_id.in_(ids)).order_by(Claim.id)))


def events_of_demand(session: Session, demand_id: int) -> list[ClaimEvent]:
    return list(
        session.scalars(
            select(ClaimEvent)
            .where(ClaimEvent.demand_id == demand_id)
            .order_by(ClaimEvent.at, ClaimEvent.id)
        )
    )


def _pool_filters(stmt: Select[Any], f: PoolFilter) -> Select[Any]:
    if f.amount_min_fen is not None:
        stmt = stmt.where(Demand.amount_fen >= f.amount_min_fen)
    if f.amount_max_fen is not None:
        stmt = stmt.where(Demand.amount_fen <= f.amount_max_fen)
    if f.term_max_months is not None:
        stmt = stmt.where(Demand.term_months <= f.term_max_months)
    for column, value in (
        (Demand.guarantee_type, f.guarantee_type),
        (Demand.district, f.district),
        (Demand.industry_section, f.industry_section),
        (Demand.entity_kind, f.entity_kind),
        (Demand.channel, f.channel),
    ):
        if value:
            stmt = stmt.where(column == value)
    if f.grades:
        stmt = stmt.where(Demand.health_grade.in_(f.grades))
    return stmt


def pool_query(
    *, institution_id: int, event_ids: Sequence[int], now: datetime, f: PoolFilter
) -> Select[Any]:
    """Open demands this institution may claim: the public pool, demands raised in its
    events and demands directed to it, which it has not claimed, with a slot left."""
    visible = or_(
        and_(Demand.target_institution_id.is_(None), Demand.event_id.is_(None)),
        Demand.target_institution_id == institution_id,
        and_(Demand.target_institution_id.is_(None), Demand.event_id.in_(event_ids))
        if event_ids
        else false(),
    )
    claimed = exists().where(Claim.demand_id == Demand.id, Claim.institution_id == institution_id)
    stmt = select(Demand).where(
        Demand.status == "open",
        Demand.active_claims < MAX_CLAIMS,
        Demand.expires_at > now,
        visible,
        ~claimed,
    )
    return _pool_filters(stmt, f).order_by(Demand.created_at.desc(), Demand.id.desc())


def demands_of_entity(entity_id: int, status: str | None) -> Select[Any]:
    stmt = select(Demand).where(Demand.entity_id == entity_id)
    if status:
        stmt = stmt.where(Demand.status == status)
    return stmt.order_by(Demand.created_at.desc(), Demand.id.desc())


def demands_claimed_by(
    institution_id: int, *, user_id: int | None, active_only: bool, status: str | None
) -> Select[Any]:
    inner = select(Claim.demand_id).where(Claim.institution_id == institution_id)
    if user_id is not None:
        inner = inner.where(Claim.user_id == user_id)
    if active_only:
        inner = inner.where(Claim.status.in_(("claimed", "contacted", "under_review", "approved")))
    stmt = select(Demand).where(Demand.id.in_(inner))
    if status:
        stmt = stmt.where(Demand.status == status)
    return stmt.order_by(Demand.created_at.desc(), Demand.id.desc())


def all_demands(status: str | None) -> Select[Any]:
    stmt = select(Demand)
    if status:
        stmt = stmt.where(Demand.status == status)
    return stmt.order_by(Demand.created_at.desc(), Demand.id.desc())


def stalled_query(now: datetime, since: datetime) -> Select[Any]:
    """Open demands no bank is working on although they were raised before ``since``,
    and demands whose claim missed a deadline."""
    overdue = exists().where(Claim.demand_id == Demand.id, Claim.overdue.is_(True))
    return (
        select(Demand)
        .where(
            Demand.status == "open",
            or_(and_(Demand.active_claims == 0, Demand.created_at < since), overdue),
        )
        .order_by(Demand.created_at, Demand.id)
    )


def due_for_reminder(
    session: Session, *, now: datetime, horizon: datetime, kind: str
) -> list[Claim]:
    """Active claims whose contact (or outcome) deadline falls before ``horizon`` and
    that were not yet reminded of it."""
    if kind == "contact":
        cond = and_(
            Claim.status == "claimed",
            Claim.contact_due_at <= horizon,
            Claim.contact_due_at > now,
            Claim.contact_reminded_at.is_(None),
        )
    else:
        cond = and_(
            Claim.status.in_(("claimed", "contacted", "under_review")),
            Claim.outcome_due_at <= horizon,
            Claim.outcome_due_at > now,
            Claim.outcome_reminded_at.is_(None),
        )
    return list(session.scalars(select(Claim).where(cond).order_by(Claim.id).limit(1000)))


def overdue_claims(session: Session, now: datetime) -> list[Claim]:
    return list(
        session.scalars(
            select(Claim)
            .where(
                or_(
                    and_(Claim.status == "claimed", Claim.contact_due_at <= now),
                    and_(
                        Claim.status.in_(("claimed", "contacted", "under_review")),
                        Claim.outcome_due_at <= now,
                    ),
                )
            )
            .order_by(Claim.id)
            .limit(1000)
        )
    )


def expired_demands(session: Session, now: datetime) -> list[Demand]:
    return list(
        session.scalars(
            select(Demand)
            .where(Demand.status == "open", Demand.active_claims == 0, Demand.expires_at <= now)
            .order_by(Demand.id)
            .limit(1000)
        )
    )


# --- callbacks and the league table ------------------------------------------------------


def callback(session: Session, callback_id: int) -> Callback | None:
    return session.get(Callback, callback_id)


def callbacks_query(status: str | None) -> Select[Any]:
    stmt = select(Callback)
    if status:
        stmt = stmt.where(Callback.status == status)
    return stmt.order_by(Callback.status.desc(), Callback.created_at, Callback.id)


def sample_candidates(session: Session, since: datetime) -> list[int]:
    """Demands raised since ``since`` that have not been called about yet."""
    called = exists().where(Callback.demand_id == Demand.id)
    return list(
        session.scalars(
            select(Demand.id).where(Demand.created_at >= since, ~called).order_by(Demand.id)
        )
    )


def stalled_ids(session: Session, now: datetime, since: datetime) -> list[int]:
    called = exists().where(Callback.demand_id == Demand.id)
    inner = stalled_query(now, since).where(~called).with_only_columns(Demand.id)
    return list(session.scalars(inner.limit(10_000)))


def _month(session: Session, column: Any) -> Any:
    """The calendar month of a UTC timestamp in Asia/Shanghai, as ``YYYY-MM`` (literals,
    not bound parameters, so PostgreSQL sees the same expression in SELECT and GROUP BY)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(
            func.timezone(literal_column("'Asia/Shanghai'"), column),
            literal_column("'YYYY-MM'"),
        )
    return func.strftime(literal_column("'%Y-%m'"), column, literal_column("'+8 hours'"))


def _hours(session: Session, later: Any, earlier: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return extract("epoch", later - earlier) / 3600.0
    return (func.julianday(later) - func.julianday(earlier)) * 24.0


def league_months(
    session: Session, *, since: datetime | None, now: datetime, active: Sequence[str]
) -> list[tuple[Any, ...]]:
    """Per institution and month the claim was made (Asia/Shanghai): claims, still
    active, contacted within the contact deadline, whose contact is known (contacted, or
    the deadline passed, or the claim ended), granted, missed a deadline, the sum and
    number of the enterprises' ratings."""
    is_active = Claim.status.in_(list(active))
    month = _month(session, Claim.created_at).label("month")
    stmt = select(
        Claim.institution_id,
        month,
        func.count(),
        func.sum(case((is_active, 1), else_=0)),
        func.sum(case((Claim.contacted_at <= Claim.contact_due_at, 1), else_=0)),
        func.sum(
            case(
                (Claim.contacted_at.is_not(None), 1),
                (or_(Claim.contact_due_at <= now, ~is_active), 1),
                else_=0,
            )
        ),
        func.sum(case((Claim.status == "granted", 1), else_=0)),
        func.sum(case((Claim.overdue.is_(True), 1), else_=0)),
        func.coalesce(func.sum(Claim.rating), 0),
        func.count(Claim.rating),
    )
    if since is not None:
        stmt = stmt.where(Claim.created_at >= since)
    stmt = stmt.group_by(Claim.institution_id, month)
    return [tuple(row) for row in session.execute(stmt)]


def league_medians(session: Session, *, since: datetime | None) -> list[tuple[Any, ...]]:
    """The middle contact time(s) (hours from claim to first contact) of every
    institution, institution and month, and month: rows ``(scope, institution, month,
    hours)`` where scope is ``i`` (institution), ``m`` (institution and month) or ``p``
    (the platform in a month); the median of a group is the mean of its rows. Window
    functions rank the contact times so that only the one or two middle ones leave the
    database."""
    month = _month(session, Claim.created_at)
    hours = _hours(session, Claim.contacted_at, Claim.created_at)
    inner = select(
        Claim.institution_id.label("inst"),
        month.label("month"),
        hours.label("h"),
        func.row_number()
        .over(partition_by=[Claim.institution_id, month], order_by=hours)
        .label("rm"),
        func.count().over(partition_by=[Claim.institution_id, month]).label("nm"),
        func.row_number().over(partition_by=Claim.institution_id, order_by=hours).label("ri"),
        func.count().over(partition_by=Claim.institution_id).label("ni"),
        func.row_number().over(partition_by=month, order_by=hours).label("rp"),
        func.count().over(partition_by=month).label("np"),
    ).where(Claim.contacted_at.is_not(None))
    if since is not None:
        inner = inner.where(Claim.created_at >= since)
    sub = inner.subquery()

    def middle(rank: Any, n: Any) -> Any:  # 2r in {n, n+1, n+2}: one or two middle rows
        return and_(2 * rank >= n, 2 * rank <= n + 2)

    rows = session.execute(
        select(sub.c.inst, sub.c.month, sub.c.h, sub.c.rm, sub.c.nm, sub.c.ri, sub.c.ni)
        .add_columns(sub.c.rp, sub.c.np)
        .where(
            or_(middle(sub.c.rm, sub.c.nm), middle(sub.c.ri, sub.c.ni), middle(sub.c.rp, sub.c.np))
        )
    )
    out: list[tuple[Any, ...]] = []
    for inst, m, h, rm, nm, ri, ni, rp, np_ in rows:
        if nm <= 2 * rm <= nm + 2:
            out.append(("m", int(inst), m, float(h)))
        if ni <= 2 * ri <= ni + 2:
            out.append(("i", int(inst), None, float(h)))
        if np_ <= 2 * rp <= np_ + 2:
            out.append(("p", None, m, float(h)))
    return out


def contact_hours(session: Session) -> list[tuple[Any, ...]]:
    """Every contacted claim's institution, month (Asia/Shanghai) and hours from claim to
    first contact, computed by the same expression as :func:`league_medians` (for the
    quality rollups, which take exact medians of them)."""
    month = _month(session, Claim.created_at)
    hours = _hours(session, Claim.contacted_at, Claim.created_at)
    stmt = select(Claim.institution_id, month, hours).where(Claim.contacted_at.is_not(None))
    return [tuple(row) for row in session.execute(stmt)]


def league_callbacks(session: Session, *, since: datetime | None) -> list[tuple[Any, ...]]:
    """Per institution that claimed the demand called about and the month of its claim:
    the sum and number of callback satisfaction scores, and the complaints (a callback
    with a complaint recorded)."""
    month = _month(session, Claim.created_at).label("month")
    stmt = (
        select(
            Claim.institution_id,
            month,
            func.coalesce(func.sum(Callback.satisfaction), 0),
            func.count(Callback.satisfaction),
            func.sum(case((Callback.complaint != "", 1), else_=0)),
        )
        .join(Callback, Callback.demand_id == Claim.demand_id)
        .where(Callback.status == "done")
    )
    if since is not None:
        stmt = stmt.where(Claim.created_at >= since)
    stmt = stmt.group_by(Claim.institution_id, month)
    return [tuple(row) for row in session.execute(stmt)]


# --- inclusive-finance coverage -------------------------------------------------------------


def first_loans(session: Session) -> list[tuple[Any, ...]]:
    """Entities that got a loan through the platform (a demand granted), counted by the
    district and industry section copied onto the demand and the month (Asia/Shanghai)
    of their first grant: rows ``(district, section, month, entities)``."""
    first = (
        select(
            Demand.entity_id,
            func.min(Demand.district).label("district"),
            func.min(Demand.industry_section).label("section"),
            func.min(Demand.closed_at).label("at"),
        )
        .where(Demand.status == "granted")
        .group_by(Demand.entity_id)
        .subquery()
    )
    month = _month(session, first.c.at).label("month")
    stmt = select(first.c.district, first.c.section, month, func.count()).group_by(
        first.c.district, first.c.section, month
    )
    return [tuple(row) for row in session.execute(stmt)]


def total_fen(session: Session) -> Decimal:
    value = session.scalar(select(func.sum(Claim.amount_fen)).where(Claim.status == "granted"))
    return Decimal(value or 0)
