"""Identity verification over the API: `/api/v1/verification` (status, start, photos) for
enterprises, `/reviews` for operators, and the HTTP provider's signed callback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Request, UploadFile
from sqlalchemy.orm import Session

from puhui.core.pagination import PageParams, PageRead, page_of
from puhui.core.policy import Action, Actor
from puhui.core.web import TxRoute, db, page_params, public, require
from puhui.verification import service, storage
from puhui.verification.schemas import (
    ReviewDecision,
    ReviewDetail,
    ReviewItem,
    VerificationRead,
    VerificationStart,
    VerificationStatus,
)

router = APIRouter(prefix="/api/v1/verification", route_class=TxRoute, tags=["verification"])


async def raw_body(request: Request) -> bytes:
    """The body exactly as signed (read once, before any parsing)."""
    return await request.body()


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("", response_model=VerificationStatus, summary="My legal representative's status")
def get_status(
    actor: Actor = require(Action.IDENTITY_VERIFY), session: Session = Depends(db)
) -> VerificationStatus:
    return service.status(session, actor=actor)


@router.post("", status_code=201, response_model=VerificationRead, summary="Start verifying")
def start(
    request: Request,
    body: VerificationStart,
    actor: Actor = require(Action.IDENTITY_VERIFY),
    session: Session = Depends(db),
) -> VerificationRead:
    row = service.start(session, actor=actor, data=body, base_url=base_url(request))
    return service.read(row)


@router.post(
    "/documents",
    response_model=VerificationRead,
    summary="The ID-card photo and the photo holding it (manual provider; JPG or PNG, 5 MB)",
)
def documents(
    id_card: Annotated[UploadFile | None, File()] = None,
    holding: Annotated[UploadFile | None, File()] = None,
    actor: Actor = require(Action.IDENTITY_VERIFY),
    session: Session = Depends(db),
) -> VerificationRead:
    photos = {
        kind: (b"" if f is None else f.file.read(storage.MAX_BYTES + 1))
        for kind, f in (("id_card", id_card), ("holding", holding))
    }
    return service.read(service.upload_documents(session, actor=actor, photos=photos))


@router.get("/reviews", response_model=PageRead[ReviewItem], summary="The review queue")
def reviews(
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.IDENTITY_REVIEW),
    session: Session = Depends(db),
) -> PageRead[ReviewItem]:
    return page_of(service.queue(session, params=params))


@router.get("/reviews/{verification_id}", response_model=ReviewDetail, summary="One review")
def review(
    verification_id: int,
    actor: Actor = require(Action.IDENTITY_REVIEW, obj="verification"),
    session: Session = Depends(db),
) -> ReviewDetail:
    return service.review(session, actor=actor, verification_id=verification_id)


@router.post(
    "/reviews/{verification_id}/decision",
    response_model=VerificationRead,
    summary="Approve, or reject with a reason",
)
def decide(
    verification_id: int,
    body: ReviewDecision,
    actor: Actor = require(Action.IDENTITY_REVIEW, obj="verification"),
    session: Session = Depends(db),
) -> VerificationRead:
    row = service.decide(session, actor=actor, verification_id=verification_id, data=body)
    return service.read(row)


@router.post(
    "/callbacks/http",
    summary="The HTTP provider's signed result (docs/identity-verification.md)",
)
def callback(
    request: Request,
    body: bytes = Depends(raw_body),
    _: Actor | None = public(),
    session: Session = Depends(db),
) -> dict[str, str]:
    row = service.handle_callback(
        session, path=request.url.path, headers=dict(request.headers), body=body
    )
    return {"status": "accepted", "verification": row.status}
