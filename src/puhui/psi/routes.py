"""PSI over the API: open a session (`POST /api/v1/psi/sessions`), run it once
(`POST /api/v1/psi/sessions/{id}/intersect`), look at it; operators grant *which* mode
(`/api/v1/psi/grants/{institution_id}`). The bank's side of the protocol is
:mod:`puhui.psi.client` (and `puhui psi intersect`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from puhui.core.policy import Action, Actor
from puhui.core.web import TxRoute, allow_large_bodies, db, require
from puhui.psi import service
from puhui.psi.schemas import (
    PsiGrantRead,
    PsiIntersectRequest,
    PsiIntersectResult,
    PsiSessionCreate,
    PsiSessionRead,
)

router = APIRouter(prefix="/api/v1/psi", route_class=TxRoute, tags=["psi"])
# a 100 k-item list is ~4.5 MB of JSON: the upload cap applies, not the general body cap
allow_large_bodies(r"^/api/v1/psi/sessions/[^/]+/intersect$")


@router.post(
    "/sessions",
    response_model=PsiSessionRead,
    status_code=201,
    summary="Open a private set intersection session against a filtered set",
)
def open_session(
    body: PsiSessionCreate,
    actor: Actor = require(Action.PSI_RUN),
    session: Session = Depends(db),
) -> PsiSessionRead:
    return service.open_session(session, actor=actor, data=body)


@router.get("/sessions/{session_id}", response_model=PsiSessionRead, summary="A PSI session")
def get_session(
    session_id: str,
    actor: Actor = require(Action.PSI_RUN, obj="psi_session"),
    session: Session = Depends(db),
) -> PsiSessionRead:
    return service.get_session(session, actor=actor, public_id=session_id)


@router.post(
    "/sessions/{session_id}/intersect",
    response_model=PsiIntersectResult,
    summary="Send the blinded list; get it re-blinded and the filtered set blinded (once)",
)
def intersect(
    session_id: str,
    body: PsiIntersectRequest,
    actor: Actor = require(Action.PSI_RUN, obj="psi_session"),
    session: Session = Depends(db),
) -> PsiIntersectResult:
    return service.intersect(session, actor=actor, public_id=session_id, data=body)


@router.get(
    "/grants/{institution_id}",
    response_model=PsiGrantRead,
    summary="Whether an institution may learn which of its items matched",
)
def grant_state(
    institution_id: int,
    actor: Actor = require(Action.PSI_GRANT, obj="institution"),
    session: Session = Depends(db),
) -> PsiGrantRead:
    return service.grant_state(session, actor=actor, institution_id=institution_id)


@router.put(
    "/grants/{institution_id}",
    response_model=PsiGrantRead,
    summary="Allow an institution to learn which of its items matched",
)
def grant(
    institution_id: int,
    actor: Actor = require(Action.PSI_GRANT, obj="institution"),
    session: Session = Depends(db),
) -> PsiGrantRead:
    return service.grant(session, actor=actor, institution_id=institution_id)


@router.delete(
    "/grants/{institution_id}",
    response_model=PsiGrantRead,
    summary="Withdraw an institution's permission to learn which items matched",
)
def revoke(
    institution_id: int,
    actor: Actor = require(Action.PSI_GRANT, obj="institution"),
    session: Session = Depends(db),
) -> PsiGrantRead:
    return service.revoke(session, actor=actor, institution_id=institution_id)
