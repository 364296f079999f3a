"""Acquisition over the API: `/api/v1/acquisition/filter`, the key indicators a filter
can use, saved filters with their runs, lead pages and files, invitations, and an
enterprise's marketing opt-out and invitations (`/api/v1/me/...`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from puhui.acquisition import leads, service
from puhui.acquisition.schemas import (
    MAX_LEAD_PAGE,
    ExportQuotaRead,
    FilterRequest,
    FilterResult,
    InvitationAccept,
    InvitationCreate,
    InvitationDecline,
    InvitationRead,
    InvitationStatus,
    KeyIndicator,
    LeadExportRequest,
    LeadPage,
    LeadScope,
    MarketingPreference,
    MarketingUpdate,
    RunRead,
    SavedFilterCreate,
    SavedFilterRead,
    SavedFilterUpdate,
)
from puhui.core.pagination import PageParams, PageRead, page_of
from puhui.core.policy import Action, Actor
from puhui.core.web import TxRoute, db, limited_download, page_params, require

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


# --- saved filters, runs and lead files ------------------------------------------------------


@router.post(
    "/acquisition/saved-filters",
    response_model=SavedFilterRead,
    status_code=201,
    summary="Save a filter, optionally to run daily or weekly",
)
def create_saved_filter(
    body: SavedFilterCreate,
    actor: Actor = require(Action.LEADS_MANAGE),
    session: Session = Depends(db),
) -> SavedFilterRead:
    saved = leads.create_saved(session, actor=actor, data=body)
    return leads.saved_reads(session, [saved])[0]


@router.get(
    "/acquisition/saved-filters",
    response_model=list[SavedFilterRead],
    summary="My institution's saved filters, with their last runs",
)
def list_saved_filters(
    actor: Actor = require(Action.LEADS_MANAGE), session: Session = Depends(db)
) -> list[SavedFilterRead]:
    return leads.list_saved(session, actor=actor)


@router.get("/acquisition/saved-filters/{filter_id}", response_model=SavedFilterRead)
def get_saved_filter(
    filter_id: int = Path(ge=1, le=2**31 - 1),
    actor: Actor = require(Action.LEADS_MANAGE),
    session: Session = Depends(db),
) -> SavedFilterRead:
    return leads.saved_reads(session, [leads.get_saved(session, actor=actor, filter_id=filter_id)])[
        0
    ]


@router.patch(
    "/acquisition/saved-filters/{filter_id}",
    response_model=SavedFilterRead,
    summary="Rename, change or reschedule a saved filter (its owner only)",
)
def update_saved_filter(
    body: SavedFilterUpdate,
    filter_id: int = Path(ge=1, le=2**31 - 1),
    actor: Actor = require(Action.LEADS_MANAGE),
    session: Session = Depends(db),
) -> SavedFilterRead:
    saved = leads.update_saved(session, actor=actor, filter_id=filter_id, data=body)
    return leads.saved_reads(session, [saved])[0]


@router.delete(
    "/acquisition/saved-filters/{filter_id}",
    status_code=204,
    response_class=Response,
    summary="Archive a saved filter (its owner only); its runs and exports stay on record",
)
def archive_saved_filter(
    filter_id: int = Path(ge=1, le=2**31 - 1),
    actor: Actor = require(Action.LEADS_MANAGE),
    session: Session = Depends(db),
) -> Response:
    leads.archive_saved(session, actor=actor, filter_id=filter_id)
    return Response(status_code=204)


@router.post(
    "/acquisition/saved-filters/{filter_id}/runs",
    response_model=RunRead,
    status_code=201,
    summary="Run a saved filter now: how many match, and how many are new since its last run",
)
def run_saved_filter(
    filter_id: int = Path(ge=1, le=2**31 - 1),
    actor: Actor = require(Action.LEADS_MANAGE),
    session: Session = Depends(db),
) -> RunRead:
    return leads.run_read(leads.run_now(session, actor=actor, filter_id=filter_id))


@router.get("/acquisition/saved-filters/{filter_id}/runs", response_model=list[RunRead])
def list_runs(
    filter_id: int = Path(ge=1, le=2**31 - 1),
    actor: Actor = require(Action.LEADS_MANAGE),
    session: Session = Depends(db),
) -> list[RunRead]:
    return leads.runs(session, actor=actor, filter_id=filter_id)


@router.get(
    "/acquisition/runs/{run_id}/leads",
    response_model=LeadPage,
    summary="One page of a run's leads (scope=new: only those new since the run before)",
)
def run_leads(
    run_id: int = Path(ge=1, le=2**31 - 1),
    scope: LeadScope = Query("all"),
    limit: int = Query(20, ge=1, le=MAX_LEAD_PAGE),
    offset: int = Query(0, ge=0, le=10_000_000),
    actor: Actor = require(Action.LEADS_MANAGE),
    session: Session = Depends(db),
) -> LeadPage:
    return leads.lead_page(
        session, actor=actor, run_id=run_id, scope=scope, limit=limit, offset=offset
    )


@router.post(
    "/acquisition/runs/{run_id}/exports",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, leads.XLSX: {}}}},
    summary="Export a run's leads as CSV or XLSX, counted against the daily quota (409 beyond)",
)
def export_run(
    body: LeadExportRequest,
    run_id: int = Path(ge=1, le=2**31 - 1),
    actor: Actor = require(Action.LEADS_MANAGE),
    _: None = limited_download(),
    session: Session = Depends(db),
) -> Response:
    file = leads.export_leads(session, actor=actor, run_id=run_id, data=body)
    return _file_response(file)


def _file_response(file: leads.LeadFile) -> Response:
    return Response(
        content=file.content,
        media_type=file.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{file.filename}"',
            "X-Rows": str(file.rows),
        },
    )


@router.get(
    "/acquisition/export-quota",
    response_model=ExportQuotaRead,
    summary="Lead rows my institution may still export today",
)
def export_quota(
    actor: Actor = require(Action.LEADS_MANAGE), session: Session = Depends(db)
) -> ExportQuotaRead:
    return leads.quota(session, actor=actor)


# --- invitations -----------------------------------------------------------------------------


@router.post(
    "/acquisition/invitations",
    response_model=InvitationRead,
    status_code=201,
    summary="Invite a lead to apply or to authorize (the only way to contact a lead)",
)
def create_invitation(
    body: InvitationCreate,
    actor: Actor = require(Action.LEADS_MANAGE),
    session: Session = Depends(db),
) -> InvitationRead:
    invitation = leads.invite(session, actor=actor, data=body)
    return leads.invitation_reads(session, [invitation])[0]


@router.get(
    "/acquisition/invitations",
    response_model=PageRead[InvitationRead],
    summary="My institution's invitations",
)
def list_invitations(
    status: InvitationStatus | None = Query(None),
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.LEADS_MANAGE),
    session: Session = Depends(db),
) -> PageRead[InvitationRead]:
    return page_of(
        leads.institution_invitations(session, actor=actor, params=params, status=status)
    )


@router.post(
    "/acquisition/invitations/{invitation_id}/withdraw",
    response_model=InvitationRead,
    summary="Withdraw a pending invitation",
)
def withdraw_invitation(
    invitation_id: int = Path(ge=1, le=2**31 - 1),
    actor: Actor = require(Action.LEADS_MANAGE),
    session: Session = Depends(db),
) -> InvitationRead:
    invitation = leads.withdraw(session, actor=actor, invitation_id=invitation_id)
    return leads.invitation_reads(session, [invitation])[0]


@router.get(
    "/me/invitations",
    response_model=PageRead[InvitationRead],
    summary="Invitations lenders sent to my entity",
)
def my_invitations(
    status: InvitationStatus | None = Query(None),
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.INVITATION_RESPOND),
    session: Session = Depends(db),
) -> PageRead[InvitationRead]:
    return page_of(leads.my_invitations(session, actor=actor, params=params, status=status))


@router.post(
    "/me/invitations/{invitation_id}/accept",
    response_model=InvitationRead,
    summary="Accept an invitation: it becomes a demand directed to the institution, or an "
    "authorization for it",
)
def accept_invitation(
    body: InvitationAccept,
    invitation_id: int = Path(ge=1, le=2**31 - 1),
    actor: Actor = require(Action.INVITATION_RESPOND),
    session: Session = Depends(db),
) -> InvitationRead:
    invitation = leads.accept(session, actor=actor, invitation_id=invitation_id, data=body)
    return leads.invitation_reads(session, [invitation])[0]


@router.post(
    "/me/invitations/{invitation_id}/decline",
    response_model=InvitationRead,
    summary="Decline an invitation",
)
def decline_invitation(
    body: InvitationDecline,
    invitation_id: int = Path(ge=1, le=2**31 - 1),
    actor: Actor = require(Action.INVITATION_RESPOND),
    session: Session = Depends(db),
) -> InvitationRead:
    invitation = leads.decline(session, actor=actor, invitation_id=invitation_id, data=body)
    return leads.invitation_reads(session, [invitation])[0]
