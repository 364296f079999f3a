"""Authorizations and query records over the API (`/api/v1/consents`,
`/api/v1/me/query-records`, `/api/v1/query-records`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.orm import Session

from puhui.consent import service
from puhui.consent.schemas import (
    ConsentDecision,
    ConsentGrant,
    ConsentRead,
    ConsentRequest,
    InstitutionChoice,
    QueryCount,
    QueryRecordRead,
)
from puhui.core.pagination import PageParams, PageRead, page_of
from puhui.core.policy import Action, Actor
from puhui.core.web import TxRoute, db, page_params, require

router = APIRouter(prefix="/api/v1", route_class=TxRoute, tags=["consent"])
ConsentId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Status = Literal["requested", "granted", "declined", "revoked"]


@router.get(
    "/consents",
    response_model=PageRead[ConsentRead],
    summary="Authorizations: an enterprise's own, or those given to the caller's institution",
)
def list_consents(
    status: Status | None = None,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.CONSENT_READ),
    session: Session = Depends(db),
) -> PageRead[ConsentRead]:
    return page_of(service.list_consents(session, actor=actor, status=status, params=params))


@router.get(
    "/consents/institutions",
    response_model=list[InstitutionChoice],
    summary="Institutions an enterprise can authorize",
)
def institutions(
    actor: Actor = require(Action.CONSENT_GRANT), session: Session = Depends(db)
) -> list[InstitutionChoice]:
    return service.institution_choices(session)


@router.post(
    "/consents",
    status_code=201,
    response_model=ConsentRead,
    summary="An enterprise authorizes an institution",
)
def grant(
    body: ConsentGrant,
    actor: Actor = require(Action.CONSENT_GRANT),
    session: Session = Depends(db),
) -> ConsentRead:
    return service.read(session, service.grant(session, actor=actor, data=body))


@router.post(
    "/consents/requests",
    status_code=201,
    response_model=ConsentRead,
    summary="An institution asks an enterprise for an authorization (the enterprise gets an SMS)",
)
def request_consent(
    body: ConsentRequest,
    actor: Actor = require(Action.CONSENT_REQUEST),
    session: Session = Depends(db),
) -> ConsentRead:
    return service.read(session, service.request(session, actor=actor, data=body))


@router.get("/consents/{consent_id}", response_model=ConsentRead, summary="One authorization")
def get_consent(
    consent_id: ConsentId,
    actor: Actor = require(Action.CONSENT_READ, obj="consent"),
    session: Session = Depends(db),
) -> ConsentRead:
    return service.get_consent(session, actor=actor, consent_id=consent_id)


@router.post(
    "/consents/{consent_id}/approve", response_model=ConsentRead, summary="Approve a request"
)
def approve(
    consent_id: ConsentId,
    body: ConsentDecision | None = None,
    actor: Actor = require(Action.CONSENT_GRANT, obj="consent"),
    session: Session = Depends(db),
) -> ConsentRead:
    consent = service.approve(
        session, actor=actor, consent_id=consent_id, data=body or ConsentDecision()
    )
    return service.read(session, consent)


@router.post(
    "/consents/{consent_id}/decline", response_model=ConsentRead, summary="Decline a request"
)
def decline(
    consent_id: ConsentId,
    body: ConsentDecision | None = None,
    actor: Actor = require(Action.CONSENT_GRANT, obj="consent"),
    session: Session = Depends(db),
) -> ConsentRead:
    consent = service.decline(
        session, actor=actor, consent_id=consent_id, data=body or ConsentDecision()
    )
    return service.read(session, consent)


@router.post(
    "/consents/{consent_id}/revoke",
    response_model=ConsentRead,
    summary="Revoke an authorization (reads stop at once)",
)
def revoke(
    consent_id: ConsentId,
    actor: Actor = require(Action.CONSENT_GRANT, obj="consent"),
    session: Session = Depends(db),
) -> ConsentRead:
    return service.read(session, service.revoke(session, actor=actor, consent_id=consent_id))


@router.get(
    "/me/query-records",
    response_model=PageRead[QueryRecordRead],
    summary="Who read my entity's data, when and why (an institution: its own staff's reads)",
)
def my_query_records(
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.QUERY_RECORDS_READ),
    session: Session = Depends(db),
) -> PageRead[QueryRecordRead]:
    return page_of(service.query_records(session, actor=actor, params=params))


@router.get(
    "/query-records/summary",
    response_model=list[QueryCount],
    summary="Reads of entity data counted by institution and purpose (regulator)",
)
def query_summary(
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
    actor: Actor = require(Action.QUERY_STATS_READ),
    session: Session = Depends(db),
) -> list[QueryCount]:
    return service.query_counts(session, since=since, until=until)
