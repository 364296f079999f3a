"""Saved filters, lead lists and invitations: what a lender does with the firms a filter
found.

Invariants
- A saved filter belongs to an institution: its lenders see, run and export it; only its
  owner changes or archives it. Anyone else gets a 404 (a filter's existence is not
  disclosed across institutions).
- A run keeps the ids it matched (sorted, delta-encoded, zlib) and the ids new since the
  run before, so "what is new" needs no row per lead. Pages and files read today's
  snapshot for the order and the values shown, and leave out entities that have since
  opted out of marketing.
- Exports are counted against a per-institution daily row quota (Shanghai day) by one
  conditional UPDATE (``repository.take_quota``): concurrent exports cannot pass it. An
  export that would pass it is refused whole, with the rows left; every export is audited.
- A lead is contacted only through an invitation: at most one pending per (institution,
  entity) (a unique ``pending_key``), none to an entity that opted out, none for
  ``acquisition_reinvite_days`` after the entity declined, at most
  ``acquisition_invitations_daily`` per institution a day. Accepting turns it into a demand
  directed to the institution, or into a ``query`` authorization for it, in the same
  transaction.
"""

from __future__ import annotations

import csv
import io
import zlib
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from openpyxl import Workbook
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from puhui.accounts import service as accounts
from puhui.acquisition import repository, service
from puhui.acquisition.errors import NotALender
from puhui.acquisition.models import FilterRun, Invitation, LeadExport, SavedFilter
from puhui.acquisition.schemas import (
    MAX_LEAD_PAGE,
    ExportQuotaRead,
    FilterDefinition,
    FilterHit,
    InvitationAccept,
    InvitationCreate,
    InvitationDecline,
    InvitationRead,
    LeadExportRequest,
    LeadPage,
    LeadScope,
    RunRead,
    SavedFilterCreate,
    SavedFilterRead,
    SavedFilterUpdate,
)
from puhui.audit import service as audit
from puhui.config import Settings, get_settings
from puhui.consent import service as consent
from puhui.consent.schemas import ConsentGrant, Purpose
from puhui.core.errors import Conflict, NotFound, PermissionDenied, field_error
from puhui.core.i18n import N_
from puhui.core.orm import utcnow
from puhui.core.pagination import Page, PageParams, paginate
from puhui.core.policy import LENDING_KINDS, Actor, Role
from puhui.entities import service as entities
from puhui.matching import service as matching
from puhui.notifications import service as notifications

SHANGHAI = ZoneInfo("Asia/Shanghai")
PERIODS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}
EXPORT_COLUMNS = (
    "uscc",
    "name",
    "kind",
    "district",
    "industry_section",
    "health_grade",
    "credit_grade",
)

notifications.register_template(
    "acquisition.new_leads",
    subject=N_("New leads"),
    body=N_("Your saved filter {name} found {new} new enterprises ({total} in all)."),
)
notifications.register_template(
    "acquisition.invited.demand",
    subject=N_("An invitation from {institution}"),
    body=N_(
        "{institution} invites your enterprise to apply for a loan. Open invitation {id} on "
        "the platform to accept or decline it before {expires}."
    ),
)
notifications.register_template(
    "acquisition.invited.authorization",
    subject=N_("An invitation from {institution}"),
    body=N_(
        "{institution} asks your enterprise to authorize it to read your credit information. "
        "Open invitation {id} on the platform to accept or decline it before {expires}."
    ),
)
notifications.register_template(
    "acquisition.answered.accepted",
    subject=N_("Invitation accepted"),
    body=N_("{entity} accepted your invitation {id}."),
)
notifications.register_template(
    "acquisition.answered.declined",
    subject=N_("Invitation declined"),
    body=N_("{entity} declined your invitation {id}."),
)


class ExportQuotaExceeded(Conflict):
    default_code = "export_quota_exceeded"
    default_message = "The export would pass your institution's daily quota."


class InvitationRefused(Conflict):
    default_code = "invitation_refused"
    default_message = "This invitation cannot be sent."


class InvitationClosed(Conflict):
    default_code = "invitation_closed"
    default_message = "This invitation is no longer open."


# --- id sets ---------------------------------------------------------------------------------


def encode_ids(ids: np.ndarray) -> bytes:
    """Sorted unique ids as zlib-compressed uint32 gaps (a run of 1 M ids is ~1 MB)."""
    ordered = np.asarray(ids, dtype=np.int64)
    gaps = np.diff(ordered, prepend=0).astype(np.uint32)
    return zlib.compress(gaps.tobytes(), 6)


def decode_ids(blob: bytes) -> np.ndarray:
    gaps = np.frombuffer(zlib.decompress(blob), dtype=np.uint32)
    return np.cumsum(gaps, dtype=np.int64)


# --- saved filters ---------------------------------------------------------------------------


def _lender(actor: Actor) -> int:
    if actor.role not in (Role.CUSTOMER_MANAGER, Role.RISK_MANAGER):
        raise PermissionDenied(action="leads.manage")
    if actor.institution_id is None or actor.institution_kind not in LENDING_KINDS:
        raise NotALender()
    return actor.institution_id


def _definition(saved: SavedFilter) -> FilterDefinition:
    return FilterDefinition.model_validate(saved.definition)


def _check_definition(session: Session, definition: FilterDefinition) -> dict[str, Any]:
    """The filter must run today (known key indicators, fitting ops): the same 422s as
    the filter itself, naming the condition under ``filter.``."""
    service.check(session, definition.request())
    return definition.model_dump(mode="json")


def create_saved(
    session: Session, *, actor: Actor, data: SavedFilterCreate, now: datetime | None = None
) -> SavedFilter:
    institution_id = _lender(actor)
    now = now or utcnow()
    if repository.saved_name_taken(session, institution_id, data.name):
        raise field_error("name", N_("Your institution already has a saved filter of this name."))
    saved = SavedFilter(
        institution_id=institution_id,
        owner_id=actor.user_id,
        name=data.name,
        definition=_check_definition(session, data.filter),
        schedule=data.schedule,
        next_run_at=now if data.schedule != "none" else None,
        archived=False,
        created_at=now,
    )
    repository.add(session, saved)
    _audit(session, actor, "leads.filter_save", "saved_filter", saved.id, name=saved.name)
    return saved


def get_saved(session: Session, *, actor: Actor, filter_id: int) -> SavedFilter:
    institution_id = _lender(actor)
    saved = repository.saved_filter(session, filter_id)
    if saved is None or saved.archived or saved.institution_id != institution_id:
        raise NotFound(N_("No saved filter {id}."), id=filter_id)
    return saved


def _own_saved(session: Session, actor: Actor, filter_id: int) -> SavedFilter:
    saved = get_saved(session, actor=actor, filter_id=filter_id)
    if saved.owner_id != actor.user_id:
        raise PermissionDenied(action="leads.manage")
    return saved


def update_saved(
    session: Session,
    *,
    actor: Actor,
    filter_id: int,
    data: SavedFilterUpdate,
    now: datetime | None = None,
) -> SavedFilter:
    saved = _own_saved(session, actor, filter_id)
    now = now or utcnow()
    if data.name is not None and data.name != saved.name:
        if repository.saved_name_taken(
            session, saved.institution_id, data.name, other_than=saved.id
        ):
            raise field_error(
                "name", N_("Your institution already has a saved filter of this name.")
            )
        saved.name = data.name
    if data.filter is not None:
        saved.definition = _check_definition(session, data.filter)
    if data.schedule is not None and data.schedule != saved.schedule:
        saved.schedule = data.schedule
        saved.next_run_at = now if data.schedule != "none" else None
    saved.updated_at = now
    session.flush()
    _audit(session, actor, "leads.filter_update", "saved_filter", saved.id, name=saved.name)
    return saved


def archive_saved(session: Session, *, actor: Actor, filter_id: int) -> None:
    saved = _own_saved(session, actor, filter_id)
    saved.archived = True
    saved.next_run_at = None
    session.flush()
    _audit(session, actor, "leads.filter_archive", "saved_filter", saved.id, name=saved.name)


def list_saved(session: Session, *, actor: Actor) -> list[SavedFilterRead]:
    return saved_reads(session, repository.saved_filters(session, _lender(actor)))


def saved_reads(session: Session, rows: list[SavedFilter]) -> list[SavedFilterRead]:
    runs = repository.runs_by_id(session, {r.last_run_id for r in rows if r.last_run_id})
    owners = accounts.user_names(session, {r.owner_id for r in rows})
    out = []
    for row in rows:
        last = runs.get(row.last_run_id) if row.last_run_id else None
        out.append(
            SavedFilterRead(
                id=row.id,
                name=row.name,
                owner_id=row.owner_id,
                owner_name=owners.get(row.owner_id, ""),
                schedule=row.schedule,
                next_run_at=row.next_run_at,
                definition=row.definition,
                summary=service.filter_summary(_definition(row).request()),
                created_at=row.created_at,
                updated_at=row.updated_at,
                last_run=run_read(last) if last else None,
            )
        )
    return out


# --- runs --------------------------------------------------------------------------------------


def run_read(run: FilterRun) -> RunRead:
    return RunRead.model_validate(run, from_attributes=True)


def run_saved(
    session: Session,
    *,
    saved: SavedFilter,
    actor: Actor | None,
    now: datetime | None = None,
) -> FilterRun:
    """Run a saved filter now: every match, and what is new and gone since its last run."""
    now = now or utcnow()
    matched = service.match_set(session, _definition(saved).request())
    previous = repository.run(session, saved.last_run_id) if saved.last_run_id else None
    before = decode_ids(previous.ids) if previous else np.zeros(0, dtype=np.int64)
    new = np.setdiff1d(matched.ids, before, assume_unique=True)
    gone = np.setdiff1d(before, matched.ids, assume_unique=True)
    run = FilterRun(
        saved_filter_id=saved.id,
        user_id=actor.user_id if actor else None,
        trigger="manual" if actor else "schedule",
        snapshot_version=matched.snapshot_version,
        total=int(matched.ids.size),
        new_count=int(new.size),
        gone_count=int(gone.size),
        previous_run_id=previous.id if previous else None,
        ids=encode_ids(matched.ids),
        new_ids=encode_ids(new),
        created_at=now,
    )
    repository.add(session, run)
    saved.last_run_id = run.id
    if saved.schedule in PERIODS:
        saved.next_run_at = now + PERIODS[saved.schedule]
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="leads.run",
        target_type="saved_filter",
        target_id=saved.id,
        details={
            "run": run.id,
            "trigger": run.trigger,
            "total": run.total,
            "new": run.new_count,
            "gone": run.gone_count,
            "snapshot_version": run.snapshot_version,
            "institution_id": saved.institution_id,
        },
    )
    if actor is None and run.new_count:
        notifications.notify(
            session,
            template="acquisition.new_leads",
            params={"name": saved.name, "new": run.new_count, "total": run.total},
            user_id=saved.owner_id,
            channels=("inbox",),
        )
    return run


def run_now(session: Session, *, actor: Actor, filter_id: int) -> FilterRun:
    return run_saved(
        session, saved=get_saved(session, actor=actor, filter_id=filter_id), actor=actor
    )


def run_due(session: Session, *, now: datetime | None = None) -> int:
    """Run every scheduled filter whose time has come (the periodic job). A filter that
    can no longer run (a catalog change took an indicator out of the key set) is audited
    and moved to its next period instead of failing the others."""
    now = now or utcnow()
    done = 0
    for saved in repository.due_filters(session, now):
        try:
            with session.begin_nested():
                run_saved(session, saved=saved, actor=None, now=now)
            done += 1
        except (service.InvalidFilter, ValueError) as exc:
            saved.next_run_at = now + PERIODS.get(saved.schedule, timedelta(days=1))
            audit.record(
                session,
                actor=None,
                action="leads.run",
                target_type="saved_filter",
                target_id=saved.id,
                outcome="failed",
                details={"error": str(exc)[:500]},
            )
    return done


def runs(session: Session, *, actor: Actor, filter_id: int) -> list[RunRead]:
    saved = get_saved(session, actor=actor, filter_id=filter_id)
    return [run_read(r) for r in repository.runs_of(session, saved.id)]


def _scoped_run(session: Session, actor: Actor, run_id: int) -> tuple[FilterRun, SavedFilter]:
    run = repository.run(session, run_id)
    if run is None:
        raise NotFound(N_("No run {id}."), id=run_id)
    try:
        saved = get_saved(session, actor=actor, filter_id=run.saved_filter_id)
    except NotFound as exc:
        raise NotFound(N_("No run {id}."), id=run_id) from exc
    return run, saved


def _scope_ids(run: FilterRun, scope: LeadScope) -> np.ndarray:
    return decode_ids(run.new_ids if scope == "new" else run.ids)


def lead_page(
    session: Session,
    *,
    actor: Actor,
    run_id: int,
    scope: LeadScope = "all",
    limit: int = 20,
    offset: int = 0,
) -> LeadPage:
    run, saved = _scoped_run(session, actor, run_id)
    limit = max(1, min(limit, MAX_LEAD_PAGE))
    offset = max(0, offset)
    total, items = service.ranked(
        session, _definition(saved).request(), _scope_ids(run, scope), limit=limit, offset=offset
    )
    _audit(
        session,
        actor,
        "leads.view",
        "filter_run",
        run.id,
        scope=scope,
        offset=offset,
        returned=len(items),
    )
    return LeadPage(
        run=run_read(run), scope=scope, total=total, limit=limit, offset=offset, items=items
    )


# --- exports -----------------------------------------------------------------------------------


def _day(now: datetime) -> date:
    return now.astimezone(SHANGHAI).date()


def quota(
    session: Session, *, actor: Actor, now: datetime | None = None, settings: Settings | None = None
) -> ExportQuotaRead:
    institution_id = _lender(actor)
    settings = settings or get_settings()
    day = _day(now or utcnow())
    used = repository.quota_used(session, institution_id, day)
    limit = settings.acquisition_export_daily_rows
    return ExportQuotaRead(day=day, limit=limit, used=used, remaining=max(0, limit - used))


@dataclass(frozen=True)
class LeadFile:
    filename: str
    media_type: str
    content: bytes
    rows: int


def export_leads(
    session: Session,
    *,
    actor: Actor,
    run_id: int,
    data: LeadExportRequest,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> LeadFile:
    """A run's leads (or its new ones) as CSV or XLSX, within the daily quota."""
    settings = settings or get_settings()
    now = now or utcnow()
    run, saved = _scoped_run(session, actor, run_id)
    ids = _scope_ids(run, data.scope)
    wanted = ids.size if data.limit is None else min(ids.size, data.limit)
    total, hits = service.ranked(
        session, _definition(saved).request(), ids, limit=max(1, wanted), offset=0
    )
    rows = len(hits)
    day = _day(now)
    limit = settings.acquisition_export_daily_rows
    if rows and not repository.take_quota(session, saved.institution_id, day, rows, limit):
        left = max(0, limit - repository.quota_used(session, saved.institution_id, day))
        raise ExportQuotaExceeded(
            N_(
                "This file has {rows} rows but your institution may export only {left} more "
                "today (daily quota {limit}); export fewer rows with a limit."
            ),
            rows=rows,
            left=left,
            limit=limit,
        )
    codes = _value_codes(hits)
    content, media, ext = (
        (_xlsx(hits, codes), XLSX, "xlsx")
        if data.format == "xlsx"
        else (_csv(hits, codes), CSV, "csv")
    )
    repository.add(
        session,
        LeadExport(
            institution_id=saved.institution_id,
            user_id=actor.user_id,
            run_id=run.id,
            scope=data.scope,
            format=data.format,
            rows=rows,
            day=day,
            created_at=now,
        ),
    )
    _audit(
        session,
        actor,
        "leads.export",
        "filter_run",
        run.id,
        scope=data.scope,
        format=data.format,
        rows=rows,
        eligible=total,
    )
    stamp = now.astimezone(SHANGHAI).strftime("%Y%m%d-%H%M")
    return LeadFile(
        filename=f"leads-{saved.id}-run{run.id}-{data.scope}-{stamp}.{ext}",
        media_type=media,
        content=content,
        rows=rows,
    )


CSV = "text/csv; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _value_codes(hits: list[FilterHit]) -> list[str]:
    return list(dict.fromkeys(code for h in hits for code in h.values))


def _row(hit: FilterHit, codes: list[str]) -> list[Any]:
    fixed = [getattr(hit, c) for c in EXPORT_COLUMNS]
    return [
        *(v if v is not None else "" for v in fixed),
        *(_cell(hit.values.get(c)) for c in codes),
    ]


def _cell(value: Any) -> Any:
    return "" if value is None else value


def _csv(hits: list[FilterHit], codes: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*EXPORT_COLUMNS, *codes])
    for hit in hits:
        writer.writerow(_row(hit, codes))
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM makes Excel read UTF-8


def _xlsx(hits: list[FilterHit], codes: list[str]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("leads")
    sheet.append([*EXPORT_COLUMNS, *codes])
    for hit in hits:
        sheet.append(_row(hit, codes))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- invitations -------------------------------------------------------------------------------


def invite(
    session: Session,
    *,
    actor: Actor,
    data: InvitationCreate,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> Invitation:
    institution_id = _lender(actor)
    settings = settings or get_settings()
    now = now or utcnow()
    entity_id = entities.ids_for(session, [data.uscc]).get(data.uscc)
    if entity_id is None:
        raise field_error("uscc", N_("This entity is not in the platform's registry."))
    if service.opted_out(session, entity_id):
        raise InvitationRefused(
            N_("This enterprise does not accept marketing invitations."), code="opted_out"
        )
    if data.saved_filter_id is not None:
        try:
            get_saved(session, actor=actor, filter_id=data.saved_filter_id)
        except NotFound as exc:
            raise field_error(
                "saved_filter_id", N_("No saved filter {id}."), id=data.saved_filter_id
            ) from exc
    if data.product_id is not None:
        product = matching.get_product(session, data.product_id)
        if product.institution_id != institution_id or not product.is_active:
            raise field_error(
                "product_id", N_("Invite only to your institution's active products.")
            )
        if data.kind != "demand":
            raise field_error("product_id", N_("Only an invitation to apply names a product."))
    start_of_day = datetime.combine(_day(now), time(), SHANGHAI)
    sent = repository.invitations_since(session, institution_id, start_of_day)
    if sent >= settings.acquisition_invitations_daily:
        raise InvitationRefused(
            N_("Your institution has sent its {limit} invitations for today."),
            code="invitation_quota",
            limit=settings.acquisition_invitations_daily,
        )
    declined = repository.last_declined(session, institution_id, entity_id)
    if declined is not None and now - declined < timedelta(days=settings.acquisition_reinvite_days):
        raise InvitationRefused(
            N_("This enterprise declined your invitation on {day}; ask again after {after}."),
            code="declined_recently",
            day=_day(declined).isoformat(),
            after=_day(declined + timedelta(days=settings.acquisition_reinvite_days)).isoformat(),
        )
    invitation = Invitation(
        institution_id=institution_id,
        user_id=actor.user_id,
        entity_id=entity_id,
        saved_filter_id=data.saved_filter_id,
        product_id=data.product_id,
        kind=data.kind,
        message=data.message,
        status="pending",
        pending_key=f"{institution_id}:{entity_id}",
        expires_at=now + timedelta(days=settings.acquisition_invitation_days),
        response_note="",
        created_at=now,
    )
    try:
        with session.begin_nested():
            repository.add(session, invitation)
    except IntegrityError as exc:
        raise InvitationRefused(
            N_("Your institution already has a pending invitation to this enterprise."),
            code="already_invited",
        ) from exc
    institution = accounts.institution_names(session, {institution_id}).get(institution_id, "")
    params = {
        "institution": institution,
        "id": invitation.id,
        "expires": invitation.expires_at.astimezone(SHANGHAI).strftime("%Y-%m-%d"),
    }
    for user_id, mobile in accounts.enterprise_contacts(session, data.uscc):
        notifications.notify(
            session,
            template=f"acquisition.invited.{data.kind}",
            params=params,
            user_id=user_id,
            mobile=mobile,
        )
    _audit(
        session,
        actor,
        "invitation.create",
        "invitation",
        invitation.id,
        uscc=data.uscc,
        kind=data.kind,
        product_id=data.product_id,
        saved_filter_id=data.saved_filter_id,
    )
    return invitation


def institution_invitations(
    session: Session, *, actor: Actor, params: PageParams, status: str | None = None
) -> Page[InvitationRead]:
    institution_id = _lender(actor)
    page = paginate(
        session, repository.invitations_query(institution_id=institution_id, status=status), params
    )
    return replace(page, items=invitation_reads(session, page.items))


def my_invitations(
    session: Session, *, actor: Actor, params: PageParams, status: str | None = None
) -> Page[InvitationRead]:
    entity_id = _own_entity(session, actor)
    page = paginate(
        session, repository.invitations_query(entity_id=entity_id, status=status), params
    )
    return replace(page, items=invitation_reads(session, page.items))


def _own_entity(session: Session, actor: Actor) -> int:
    if actor.role is not Role.ENTERPRISE or not actor.entity_uscc:
        raise PermissionDenied(action="invitation.respond")
    found = entities.ids_for(session, [actor.entity_uscc]).get(actor.entity_uscc)
    if found is None:
        raise NotFound(N_("Your account is not linked to an entity in the registry."))
    return found


def get_invitation(session: Session, *, actor: Actor, invitation_id: int) -> Invitation:
    """An invitation as its entity or its institution's lenders see it (404 for others)."""
    invitation = repository.invitation(session, invitation_id)
    visible = invitation is not None and (
        (actor.role is Role.ENTERPRISE and invitation.entity_id == _own_entity(session, actor))
        or (
            actor.role in (Role.CUSTOMER_MANAGER, Role.RISK_MANAGER)
            and actor.institution_id == invitation.institution_id
        )
    )
    if not visible or invitation is None:
        raise NotFound(N_("No invitation {id}."), id=invitation_id)
    return invitation


def _pending(session: Session, invitation: Invitation, now: datetime) -> None:
    if invitation.status == "pending" and invitation.expires_at <= now:
        _close(invitation, "expired", now)
        session.flush()
    if invitation.status != "pending":
        raise InvitationClosed(
            N_("This invitation is {state} and can no longer be answered."),
            state=invitation.status,
        )


def _close(invitation: Invitation, status: str, now: datetime, note: str = "") -> None:
    invitation.status = status
    invitation.pending_key = None
    invitation.responded_at = now
    invitation.response_note = note


def accept(
    session: Session,
    *,
    actor: Actor,
    invitation_id: int,
    data: InvitationAccept,
    now: datetime | None = None,
) -> Invitation:
    now = now or utcnow()
    get_invitation(session, actor=actor, invitation_id=invitation_id)
    invitation = repository.invitation(session, invitation_id, for_update=True)
    assert invitation is not None
    _pending(session, invitation, now)
    if invitation.kind == "demand":
        if data.demand is None:
            raise field_error("demand", N_("Say how much you need, for how long and why."))
        if data.demand.product_id or data.demand.event_id or data.demand.loan_code:
            raise field_error(
                "demand", N_("An invitation's demand takes no product, event or loan code.")
            )
        terms = data.demand.model_copy(update={"product_id": invitation.product_id})
        demand = matching.create_demand(
            session,
            actor=actor,
            data=terms,
            now=now,
            direct_to=invitation.institution_id,
            referrer_id=invitation.user_id,
        )
        invitation.demand_id = demand.id
    else:
        grant = consent.grant(
            session,
            actor=actor,
            data=ConsentGrant(
                institution_id=invitation.institution_id,
                purposes=[Purpose.QUERY],
                expires_at=now + timedelta(days=data.authorization_days),
                note=f"invitation {invitation.id}",
            ),
        )
        invitation.consent_id = grant.id
    _close(invitation, "accepted", now)
    session.flush()
    _answered(session, actor, invitation)
    return invitation


def decline(
    session: Session,
    *,
    actor: Actor,
    invitation_id: int,
    data: InvitationDecline,
    now: datetime | None = None,
) -> Invitation:
    now = now or utcnow()
    get_invitation(session, actor=actor, invitation_id=invitation_id)
    invitation = repository.invitation(session, invitation_id, for_update=True)
    assert invitation is not None
    if actor.role is not Role.ENTERPRISE:
        raise PermissionDenied(action="invitation.respond")
    _pending(session, invitation, now)
    _close(invitation, "declined", now, " ".join(data.note.split()))
    session.flush()
    _answered(session, actor, invitation)
    return invitation


def withdraw(
    session: Session, *, actor: Actor, invitation_id: int, now: datetime | None = None
) -> Invitation:
    now = now or utcnow()
    _lender(actor)
    get_invitation(session, actor=actor, invitation_id=invitation_id)
    invitation = repository.invitation(session, invitation_id, for_update=True)
    assert invitation is not None
    _pending(session, invitation, now)
    _close(invitation, "withdrawn", now)
    session.flush()
    _audit(session, actor, "invitation.withdraw", "invitation", invitation.id)
    return invitation


def expire_invitations(session: Session, *, now: datetime | None = None) -> int:
    now = now or utcnow()
    stale = repository.stale_invitations(session, now)
    for invitation in stale:
        _close(invitation, "expired", now)
    session.flush()
    return len(stale)


def _answered(session: Session, actor: Actor, invitation: Invitation) -> None:
    found = entities.many(session, [invitation.entity_id])
    name = found[0].name if found else ""
    notifications.notify(
        session,
        template=f"acquisition.answered.{invitation.status}",
        params={"entity": name, "id": invitation.id},
        user_id=invitation.user_id,
        channels=("inbox",),
    )
    _audit(
        session,
        actor,
        f"invitation.{'accept' if invitation.status == 'accepted' else 'decline'}",
        "invitation",
        invitation.id,
        demand_id=invitation.demand_id,
        consent_id=invitation.consent_id,
    )


def invitation_reads(session: Session, rows: list[Invitation]) -> list[InvitationRead]:
    institutions = accounts.institution_names(session, {r.institution_id for r in rows})
    users = accounts.user_names(session, {r.user_id for r in rows})
    found = {e.id: e for e in entities.many(session, sorted({r.entity_id for r in rows}))}
    products = {
        pid: matching.get_product(session, pid).name
        for pid in {r.product_id for r in rows if r.product_id}
    }
    out = []
    for r in rows:
        entity = found.get(r.entity_id)
        out.append(
            InvitationRead(
                id=r.id,
                institution_id=r.institution_id,
                institution_name=institutions.get(r.institution_id, ""),
                inviter_name=users.get(r.user_id, ""),
                uscc=entity.uscc if entity else "",
                entity_name=entity.name if entity else "",
                kind=r.kind,
                product_id=r.product_id,
                product_name=products.get(r.product_id) if r.product_id else None,
                message=r.message,
                status=r.status,
                created_at=r.created_at,
                expires_at=r.expires_at,
                responded_at=r.responded_at,
                response_note=r.response_note,
                demand_id=r.demand_id,
                consent_id=r.consent_id,
            )
        )
    return out


def _audit(
    session: Session,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: object,
    **details: Any,
) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        details={"institution_id": actor.institution_id, **details} if details else None,
    )
