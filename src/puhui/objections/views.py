"""Objection pages: the enterprise raises one from its profile and follows its own, the
operators route the queue, the departments answer theirs, the regulators watch every open
objection and its age (overdue ones highlighted). Thin: parse, call one service
function, render."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from puhui.core.errors import ValidationFailed
from puhui.core.i18n import N_
from puhui.core.pagination import PageParams
from puhui.core.policy import Action, Actor
from puhui.core.web import (
    TxRoute,
    db,
    file_response,
    limited_download,
    page_params,
    redirect,
    register_nav,
    render,
    request_locale,
    require,
    validation_details,
)
from puhui.ingest import service as ingest
from puhui.objections import service
from puhui.objections.schemas import ObjectionAnswer, ObjectionCreate, ObjectionRoute

router = APIRouter(route_class=TxRoute, include_in_schema=False)
register_nav(N_("Objections"), "/objections", Action.OBJECTION_READ, order=58)
register_nav(N_("Open objections"), "/objections/overview", Action.OBJECTION_OVERVIEW, order=59)


def _invalid(exc: ValidationError) -> ValidationFailed:
    return ValidationFailed(details=validation_details(exc.errors()))


@router.get("/objections", response_class=HTMLResponse)
def objections_page(
    request: Request,
    status: Annotated[str, Query(max_length=12)] = "",
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.OBJECTION_READ),
    session: Session = Depends(db),
) -> HTMLResponse:
    page = service.list_for(session, actor=actor, status=status or None, params=params)
    items = service.read(session, page.items, locale=request_locale(request), actor=actor)
    sources = ingest.list_sources(session, params=PageParams(page=1, per_page=100)).items
    return render(
        request,
        "objections/list.html",
        {"page": page, "items": items, "status": status, "sources": sources},
        actor=actor,
    )


@router.get("/objections/overview", response_class=HTMLResponse)
def overview_page(
    request: Request,
    actor: Actor = require(Action.OBJECTION_OVERVIEW),
    session: Session = Depends(db),
) -> HTMLResponse:
    view = service.overview(session, locale=request_locale(request))
    return render(request, "objections/overview.html", {"view": view}, actor=actor)


@router.get("/objections/new", response_class=HTMLResponse)
def new_page(
    request: Request,
    indicator: Annotated[str, Query(max_length=40)] = "",
    period: Annotated[int | None, Query(ge=190001, le=299912)] = None,
    actor: Actor = require(Action.OBJECTION_RAISE),
) -> HTMLResponse:
    return render(
        request, "objections/new.html", {"indicator": indicator, "period": period}, actor=actor
    )


@router.post("/objections/new")
def new_submit(
    indicator: Annotated[str, Form(max_length=40)] = "",
    period: Annotated[str, Form(max_length=6)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    file: Annotated[UploadFile | None, File()] = None,
    actor: Actor = require(Action.OBJECTION_RAISE),
    session: Session = Depends(db),
) -> RedirectResponse:
    try:
        data = ObjectionCreate(
            indicator=indicator, period=int(period) if period.isdigit() else 0, reason=reason
        )
    except ValidationError as exc:
        raise _invalid(exc) from exc
    objection = service.submit(session, actor=actor, data=data)
    if file is not None and file.filename:
        content = file.file.read(service.MAX_ATTACHMENT_BYTES + 1)
        service.add_attachment(
            session, actor=actor, objection_id=objection.id, filename=file.filename, content=content
        )
    return redirect("/objections")


@router.get("/objections/{objection_id}/attachments/{attachment_id}")
def attachment(
    objection_id: int,
    attachment_id: int,
    actor: Actor = require(Action.OBJECTION_READ, obj="objection"),
    _download: None = limited_download(),
    session: Session = Depends(db),
) -> Response:
    row, content = service.attachment_file(
        session, actor=actor, objection_id=objection_id, attachment_id=attachment_id
    )
    return file_response(content, media_type=row.content_type, filename=row.filename)


@router.post("/objections/{objection_id}/withdraw")
def withdraw(
    objection_id: int,
    actor: Actor = require(Action.OBJECTION_RAISE, obj="objection"),
    session: Session = Depends(db),
) -> RedirectResponse:
    service.withdraw(session, actor=actor, objection_id=objection_id)
    return redirect("/objections")


@router.post("/objections/{objection_id}/close")
def close(
    objection_id: int,
    actor: Actor = require(Action.OBJECTION_RAISE, obj="objection"),
    session: Session = Depends(db),
) -> RedirectResponse:
    service.close(session, actor=actor, objection_id=objection_id)
    return redirect("/objections")


@router.post("/objections/{objection_id}/route")
def route(
    objection_id: int,
    source: Annotated[str, Form(max_length=16)] = "",
    actor: Actor = require(Action.OBJECTION_ROUTE, obj="objection"),
    session: Session = Depends(db),
) -> RedirectResponse:
    data = ObjectionRoute(source=source or None)
    service.route(session, actor=actor, objection_id=objection_id, data=data)
    return redirect("/objections")


@router.post("/objections/{objection_id}/answer")
def answer(
    objection_id: int,
    outcome: Annotated[str, Form(max_length=12)] = "",
    explanation: Annotated[str, Form(max_length=2000)] = "",
    corrected_value: Annotated[str, Form(max_length=500)] = "",
    actor: Actor = require(Action.OBJECTION_ANSWER, obj="objection"),
    session: Session = Depends(db),
) -> RedirectResponse:
    service.get(session, actor=actor, objection_id=objection_id)  # another's: not found
    try:
        data = ObjectionAnswer.model_validate(
            {
                "outcome": outcome,
                "explanation": explanation,
                "corrected_value": corrected_value or None,
            }
        )
    except ValidationError as exc:
        raise _invalid(exc) from exc
    service.answer(session, actor=actor, objection_id=objection_id, data=data)
    return redirect("/objections")
