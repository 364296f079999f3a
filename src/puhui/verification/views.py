"""Identity-verification pages: the enterprise's own page (status, start, photos) and
the operators' review queue (list with age, one review with its photos, decision).
Thin: parse, call one service function, render. A header banner tells an enterprise
account that still has to verify where to go."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from puhui.accounts import service as accounts
from puhui.core.errors import ValidationFailed, field_error
from puhui.core.i18n import N_
from puhui.core.pagination import PageParams
from puhui.core.policy import Action, Actor, Role
from puhui.core.web import (
    TxRoute,
    db,
    page_params,
    redirect,
    register_context,
    register_nav,
    render,
    require,
    validation_details,
)
from puhui.verification import service, storage
from puhui.verification.schemas import ReviewDecision, VerificationStart

router = APIRouter(route_class=TxRoute, include_in_schema=False)
register_nav(N_("Identity verification"), "/verification", Action.IDENTITY_VERIFY, order=57)
register_nav(N_("Identity reviews"), "/verification/reviews", Action.IDENTITY_REVIEW, order=60)


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _banner(request: Request, actor: Actor | None) -> dict[str, Any]:
    """Whether the header tells an enterprise account to verify (one indexed read)."""
    session = request.state._state.get("db")
    if actor is None or actor.role is not Role.ENTERPRISE or session is None:
        return {}
    if not session.in_transaction():  # an error page after the request's rollback
        return {}
    return {"identity_unverified": service.needs_verification(session, actor=actor)}


register_context(_banner)


@router.get("/verification", response_class=HTMLResponse)
def verification_page(
    request: Request,
    actor: Actor = require(Action.IDENTITY_VERIFY),
    session: Session = Depends(db),
) -> HTMLResponse:
    view = service.status(session, actor=actor)
    return render(request, "verification/status.html", {"view": view}, actor=actor)


@router.post("/verification/start")
def start(
    request: Request,
    legal_rep_name: Annotated[str, Form(max_length=50)] = "",
    legal_rep_id_number: Annotated[str, Form(max_length=30)] = "",
    actor: Actor = require(Action.IDENTITY_VERIFY),
    session: Session = Depends(db),
) -> RedirectResponse:
    try:
        data = VerificationStart(
            legal_rep_name=legal_rep_name, legal_rep_id_number=legal_rep_id_number
        )
    except ValidationError as exc:
        raise ValidationFailed(details=validation_details(exc.errors())) from exc
    row = service.start(session, actor=actor, data=data, base_url=base_url(request))
    if row.redirect_url:
        return redirect(row.redirect_url)
    return redirect("/verification")


@router.post("/verification/documents")
def documents(
    id_card: Annotated[UploadFile | None, File()] = None,
    holding: Annotated[UploadFile | None, File()] = None,
    actor: Actor = require(Action.IDENTITY_VERIFY),
    session: Session = Depends(db),
) -> RedirectResponse:
    photos = {
        kind: (b"" if f is None else f.file.read(storage.MAX_BYTES + 1))
        for kind, f in (("id_card", id_card), ("holding", holding))
    }
    service.upload_documents(session, actor=actor, photos=photos)
    return redirect("/verification")


@router.get("/verification/reviews", response_class=HTMLResponse)
def reviews_page(
    request: Request,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.IDENTITY_REVIEW),
    session: Session = Depends(db),
) -> HTMLResponse:
    page = service.queue(session, params=params)
    return render(request, "verification/queue.html", {"page": page}, actor=actor)


@router.get("/verification/reviews/{verification_id}", response_class=HTMLResponse)
def review_page(
    request: Request,
    verification_id: int,
    otp: Annotated[str, Query(max_length=32)] = "",
    actor: Actor = require(Action.IDENTITY_REVIEW, obj="verification"),
    session: Session = Depends(db),
) -> HTMLResponse:
    """The review: the whole ID number and the photos after a recent second-factor check
    (the code is entered on this page); masked, with the code form, before."""
    if otp:
        actor = accounts.step_up_on_page(session, actor=actor, code=otp)
    full = accounts.second_factor_recent(actor, request.app.state.settings)
    item = service.review(session, actor=actor, verification_id=verification_id, full=full)
    return render(request, "verification/review.html", {"item": item, "full": full}, actor=actor)


@router.get("/verification/reviews/{verification_id}/photos/{kind}")
def photo(
    verification_id: int,
    kind: Literal["id_card", "holding"],
    actor: Actor = require(Action.IDENTITY_REVIEW, obj="verification"),
    session: Session = Depends(db),
) -> Response:
    content_type, content = service.document(
        session, actor=actor, verification_id=verification_id, kind=kind
    )
    return Response(
        content,
        media_type=content_type,
        headers={"Cache-Control": "no-store", "Content-Disposition": "inline"},
    )


@router.post("/verification/reviews/{verification_id}/decision")
def decide(
    verification_id: int,
    decision: Annotated[str, Form(max_length=8)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
    actor: Actor = require(Action.IDENTITY_REVIEW, obj="verification"),
    session: Session = Depends(db),
) -> RedirectResponse:
    if decision not in ("approve", "reject"):
        raise field_error("decision", N_("Choose approve or reject."))
    data = ReviewDecision(approve=decision == "approve", reason=reason)
    service.decide(session, actor=actor, verification_id=verification_id, data=data)
    return redirect("/verification/reviews")
